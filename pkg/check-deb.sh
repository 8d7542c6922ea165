#!/usr/bin/env bash
# Installs the Debian package that `cargo deb -p babble-presence` built, checks what it
# installed, and runs the service the way its systemd unit does: the unit's ExecStart, as an
# unprivileged user holding only CAP_NET_BIND_SERVICE, with the unit's StateDirectory and a
# notify socket and watchdog played by this script. It then checks readiness, an OPTIONS
# answered on UDP 5060, a call routed by the Kamailio recipe (interop/kamailio/) whose BLF
# watchers see it through the service, a reload (SIGHUP), the state directory used, and a
# clean stop; and removes the package again.
#
# systemd itself is not booted: on these machines PID 1 is not systemd, and booting one in a
# PID namespace runs the machine's boot units (it wiped /tmp and stopped PostgreSQL when
# tried). What the unit file asks of systemd is checked with `systemd-analyze verify`.
set -euo pipefail
cd "$(dirname "$0")/.."

deb="$(ls -t target/debian/babble-presence_*.deb | head -n 1)"
echo "== installing $deb"
dpkg -i "$deb" >/dev/null
trap 'dpkg --purge babble-presence >/dev/null 2>&1 || true' EXIT

unit=/lib/systemd/system/babble-presence.service
for installed in /usr/bin/babble-presence /etc/babble-presence/babble-presence.toml "$unit" \
    /usr/share/doc/babble-presence/copyright; do
    test -e "$installed" || { echo "missing from the package: $installed"; exit 1; }
done
grep -qx '/etc/babble-presence/babble-presence.toml' /var/lib/dpkg/info/babble-presence.conffiles
systemd-analyze verify "$unit"
babble-presence check-config /etc/babble-presence/babble-presence.toml >/dev/null

# The unit's command line, environment and user, as systemd would run them.
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
state_root="$(mktemp -d)"
chmod 0755 "$state_root"
state="$state_root/babble-presence"
mkdir -m 0700 "$state"
chown nobody:nogroup "$state"
work="$(mktemp -d)"
chmod 0777 "$work"
echo "== running: $exec_start"
# The Kamailio interop test over UDP, against this service: the packaged defaults (SIP on 5060,
# the API on 127.0.0.1:8080). One call: a second from the same test process would reuse SIPp's
# Call-ID. Its row is not recorded again in the interop matrix.
recipe="env -u BABBLE_INTEROP_RESULTS BABBLE_KAMAILIO_AGAINST=127.0.0.1:5060,127.0.0.1:8080 \
    cargo test --locked -q -p babble-presence --test server kamailio_publishes_call_state_that_blf_watchers_see_over_udp"
python3 pkg/service_manager.py --state-directory "$state" --workdir "$work" --while "$recipe" -- \
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service -- $exec_start
test -s "$state/babble-presence.sqlite3" || { echo "nothing stored in the StateDirectory $state"; exit 1; }
echo "== the package installs and its service runs"

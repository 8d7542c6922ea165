#!/usr/bin/env python3
"""PJSIP (pjsua2) presence interop check against babble-presence.

One pjsua2 Endpoint, two accounts, no registration, both sending every request
through the server as outbound proxy:

  A = sip:1001@HOST  publishes its presence (PUBLISH, application/pidf+xml)
  B = sip:1002@HOST  subscribes to A as a buddy (SUBSCRIBE/NOTIFY, Event: presence)

Steps, each waited for with a deadline:
  (a) A goes online with note "Available"     -> B sees ONLINE, note "Available"
  (b) A changes its note to "In a meeting"    -> B sees ONLINE, note "In a meeting"
  (c) A goes offline                          -> B sees OFFLINE (basic closed)

Prints one line per onBuddyState callback on stdout (PJSIP's own log goes to
stderr) and exits 0 only when the three states were seen in that order.
Exit codes: 0 pass, 1 fail (expectation not met, setup error, or the hard
watchdog fired because the run outlived --timeout plus the shutdown grace),
2 usage.

Endpoint set-up, the watchdog, the --server/--transport/--timeout/--log-level
options and the polling helpers are shared with mwi_register.py in
pjsip_common.py (next to this file).
"""

import argparse
import os
import sys
import time

# pjsip_common.py lives next to this script. Python normally puts the script's directory
# on sys.path, but not under -P/-I; add it so the import works from any directory.
_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from pjsip_common import (  # noqa: E402  (exits 1 when pjsua2 is missing)
    InteropEndpoint, add_log_level_arg, add_server_args, publisher_and_watcher,
    add_timeout_arg, describe, make_err, pj, proxy_uri, uri_host,
)

err = make_err("presence_buddy")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_args(ap, "babble-presence address (used as outbound proxy and SIP domain)")
    add_timeout_arg(ap, "all three buddy states")
    ap.add_argument("--offline-activity", choices=("none", "away"), default="none",
                    help="RPID activity A sets when going offline. 'none' (default) is plain "
                         "pjsua: a closed tuple and no <dm:person>; 'away' adds a <dm:person> "
                         "with <rpid:away/> (diagnostic variant)")
    add_log_level_arg(ap)
    args = ap.parse_args()

    host, port = args.server
    domain = uri_host(host)  # the server's entity is the Request-URI user@host
    proxy = proxy_uri(host, port, args.transport)
    uri_a = f"sip:1001@{domain}"
    uri_b = f"sip:1002@{domain}"

    lib = InteropEndpoint(args.timeout)  # arms the watchdog, libCreate()
    t0, deadline = lib.t0, lib.deadline
    acc_a = acc_b = buddy = None
    result = 1
    try:
        tp_id = lib.start(args.transport, host, args.log_level, args.ca)
        err(f"pjsua2 {lib.version()}, transport {args.transport}, proxy {proxy}")

        acc_a, acc_b, buddy = publisher_and_watcher(uri_a, uri_b, proxy, tp_id, t0, err)

        # Let B's subscription settle first, so that A's changes reach B as
        # NOTIFYs on an existing subscription (not just as the initial state).
        lib.pump_until(lambda: "ACTIVE" in buddy.sub_states or "TERMINATED" in buddy.sub_states,
                       min(deadline, time.monotonic() + max(1.0, args.timeout / 4)))
        if "ACTIVE" not in buddy.sub_states:
            err("warning: B's subscription is not ACTIVE yet "
                f"(seen {buddy.sub_states}); continuing")

        def set_status(online, note):
            ps = pj.PresenceStatus()
            ps.status = pj.PJSUA_BUDDY_STATUS_ONLINE if online else pj.PJSUA_BUDDY_STATUS_OFFLINE
            ps.activity = pj.PJRPID_ACTIVITY_UNKNOWN
            if not online and args.offline_activity == "away":
                ps.activity = pj.PJRPID_ACTIVITY_AWAY
            ps.note = note
            acc_a.setOnlineStatus(ps)

        steps = [
            ("a", "A online, note 'Available'", (True, "Available"),
             lambda r: r["status"] == "ONLINE" and r["note"] == "Available"),
            ("b", "A online, note 'In a meeting'", (True, "In a meeting"),
             lambda r: r["status"] == "ONLINE" and r["note"] == "In a meeting"),
            ("c", "A offline", (False, ""),
             lambda r: r["status"] == "OFFLINE"
             and r["sub"] != "TERMINATED"),
        ]
        seen_upto = len(buddy.states)  # only states after each action count
        passed = []
        for label, desc, (online, note), want in steps:
            err(f"step ({label}): {desc}")
            set_status(online, note)
            start = seen_upto

            def matched():
                return next((i for i in range(start, len(buddy.states))
                             if want(buddy.states[i])), None) is not None

            if not lib.pump_until(matched, deadline):
                print(f"FAIL step ({label}) {desc}: expected buddy state not seen "
                      f"within {args.timeout:g}s", flush=True)
                break
            seen_upto = next(i for i in range(start, len(buddy.states))
                             if want(buddy.states[i])) + 1
            passed.append(label)
            print(f"ok step ({label}) {desc}: matched buddy-state #{seen_upto}", flush=True)

        if len(passed) == len(steps):
            print(f"PASS over {args.transport}: all {len(steps)} presence states seen in order",
                  flush=True)
            result = 0
        else:
            print(f"FAIL over {args.transport}: passed steps {passed or 'none'}; "
                  f"subscription states {buddy.sub_states}; buddy states seen:", flush=True)
            for n, rec in enumerate(buddy.states, 1):
                print(f"  #{n} {describe(rec)}", flush=True)
            if not buddy.states:
                print("  (none)", flush=True)
    except pj.Error as exc:
        print(f"FAIL: pjsua2 error: {exc.info()}", flush=True)
        result = 1
    finally:
        # Clean shutdown: buddy (unsubscribe), then accounts (unpublish), then the library.
        del buddy
        lib.close([acc_b, acc_a], err)
    return result


if __name__ == "__main__":
    sys.exit(main())

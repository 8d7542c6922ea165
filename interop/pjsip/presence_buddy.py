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
"""

import argparse
import faulthandler
import os
import sys
import time

try:
    import pjsua2 as pj
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"cannot import pjsua2 ({exc}); install it with: pip install pjsua2-python",
          file=sys.stderr)
    sys.exit(1)

SHUTDOWN_GRACE = 5.0  # seconds allowed for unsubscribe/unpublish + libDestroy

STATUS_NAMES = {
    pj.PJSUA_BUDDY_STATUS_UNKNOWN: "UNKNOWN",
    pj.PJSUA_BUDDY_STATUS_ONLINE: "ONLINE",
    pj.PJSUA_BUDDY_STATUS_OFFLINE: "OFFLINE",
}
ACTIVITY_NAMES = {
    pj.PJRPID_ACTIVITY_UNKNOWN: "unknown",
    pj.PJRPID_ACTIVITY_AWAY: "away",
    pj.PJRPID_ACTIVITY_BUSY: "busy",
}
EVSUB_NAMES = {
    pj.PJSIP_EVSUB_STATE_NULL: "NULL",
    pj.PJSIP_EVSUB_STATE_SENT: "SENT",
    pj.PJSIP_EVSUB_STATE_ACCEPTED: "ACCEPTED",
    pj.PJSIP_EVSUB_STATE_PENDING: "PENDING",
    pj.PJSIP_EVSUB_STATE_ACTIVE: "ACTIVE",
    pj.PJSIP_EVSUB_STATE_TERMINATED: "TERMINATED",
    pj.PJSIP_EVSUB_STATE_UNKNOWN: "UNKNOWN",
}


def err(msg):
    print(msg, file=sys.stderr, flush=True)


class StderrLogWriter(pj.LogWriter):
    """Sends PJSIP's log to stderr so stdout only carries buddy-state lines."""

    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")
        sys.stderr.flush()


class WatcherBuddy(pj.Buddy):
    """B's buddy entry for A: records every presence state PJSIP reports."""

    def __init__(self, t0):
        pj.Buddy.__init__(self)
        self.t0 = t0
        self.states = []  # list of dicts, in callback order
        self.sub_states = []

    def onBuddyState(self):
        info = self.getInfo()
        ps = info.presStatus
        rec = {
            "t": time.monotonic() - self.t0,
            "status": ps.status,
            "status_name": STATUS_NAMES.get(ps.status, str(ps.status)),
            "status_text": ps.statusText,
            "note": ps.note,
            "activity": ACTIVITY_NAMES.get(ps.activity, str(ps.activity)),
            "sub_state": EVSUB_NAMES.get(info.subState, str(info.subState)),
        }
        self.states.append(rec)
        print(f"buddy-state #{len(self.states)} t={rec['t']:.2f}s {format_state(rec)}",
              flush=True)

    def onBuddyEvSubState(self, prm):
        info = self.getInfo()
        name = EVSUB_NAMES.get(info.subState, str(info.subState))
        self.sub_states.append(name)
        err(f"[presence_buddy] B's subscription to A: {name} "
            f"(last SIP code {info.subTermCode}, reason {info.subTermReason!r})")


def format_state(rec):
    return (f"status={rec['status_name']} statusText={rec['status_text']!r} "
            f"note={rec['note']!r} activity={rec['activity']} sub={rec['sub_state']}")


def parse_server(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:5060")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, type=parse_server, metavar="HOST:PORT",
                    help="babble-presence address (used as outbound proxy and SIP domain)")
    ap.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds to wait for all three buddy states (default 20); "
                         f"shutdown gets {SHUTDOWN_GRACE:.0f} s more, then a watchdog exits")
    ap.add_argument("--offline-activity", choices=("none", "away"), default="none",
                    help="RPID activity A sets when going offline. 'none' (default) is plain "
                         "pjsua: a closed tuple and no <dm:person>; 'away' adds a <dm:person> "
                         "with <rpid:away/> (diagnostic variant)")
    ap.add_argument("--log-level", type=int, default=2,
                    help="PJSIP log level on stderr (0-6; 5 shows the SIP messages; default 2)")
    args = ap.parse_args()

    host, port = args.server
    hostpart = f"[{host}]" if ":" in host else host
    domain = hostpart  # the server's entity is the Request-URI user@host
    proxy = f"sip:{hostpart}:{port};transport={args.transport};lr"
    uri_a = f"sip:1001@{domain}"
    uri_b = f"sip:1002@{domain}"

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    # Hard stop that needs neither the GIL nor the main thread: if anything
    # (including libDestroy) blocks, the process exits on its own.
    faulthandler.dump_traceback_later(args.timeout + SHUTDOWN_GRACE + 1.0, exit=True)

    # libCreate() prints a few lines before our log writer is installed; keep
    # them off stdout.
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    ep = pj.Endpoint()
    try:
        ep.libCreate()
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)

    writer = StderrLogWriter()
    acc_a = acc_b = buddy = None
    result = 1
    try:
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0          # no worker threads: we poll
        ep_cfg.uaConfig.mainThreadOnly = True  # callbacks run in libHandleEvents
        ep_cfg.uaConfig.userAgent = "babble-interop-pjsua2"
        ep_cfg.logConfig.level = args.log_level
        ep_cfg.logConfig.consoleLevel = args.log_level
        ep_cfg.logConfig.msgLogging = 1 if args.log_level >= 5 else 0
        ep_cfg.logConfig.writer = writer
        ep_cfg.medConfig.noVad = True
        ep.libInit(ep_cfg)

        tp_cfg = pj.TransportConfig()
        tp_cfg.port = 0  # any free local port
        tp_cfg.boundAddress = "127.0.0.1" if host in ("127.0.0.1", "localhost") else ""
        tp_type = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
        tp_id = ep.transportCreate(tp_type, tp_cfg)
        ep.libStart()
        ep.audDevManager().setNullDev()
        err(f"[presence_buddy] pjsua2 {ep.libVersion().full}, transport {args.transport}, "
            f"proxy {proxy}")

        def acc_config(uri, publish, priority):
            cfg = pj.AccountConfig()
            cfg.idUri = uri
            # pjsua picks the account for a buddy's SUBSCRIBE by matching the
            # buddy URI's domain (pjsua_acc_find_for_outgoing); both accounts
            # share HOST, so the higher priority (B) must win, or A would end
            # up watching itself.
            cfg.priority = priority
            cfg.regConfig.registrarUri = ""     # the server has no registrar (REGISTER -> 405)
            cfg.regConfig.registerOnAdd = False
            cfg.sipConfig.proxies.append(proxy)
            cfg.sipConfig.transportId = tp_id
            cfg.presConfig.publishEnabled = publish
            cfg.mediaConfig.transportConfig.port = 0
            return cfg

        acc_a = pj.Account()
        acc_a.create(acc_config(uri_a, True, 0))
        acc_b = pj.Account()
        acc_b.create(acc_config(uri_b, False, 10))

        buddy = WatcherBuddy(t0)
        bcfg = pj.BuddyConfig()
        bcfg.uri = uri_a
        bcfg.subscribe = True
        buddy.create(acc_b, bcfg)

        def pump_until(pred, until):
            while time.monotonic() < until:
                if pred():
                    return True
                ep.libHandleEvents(50)
            return pred()

        # Let B's subscription settle first, so that A's changes reach B as
        # NOTIFYs on an existing subscription (not just as the initial state).
        pump_until(lambda: "ACTIVE" in buddy.sub_states or "TERMINATED" in buddy.sub_states,
                   min(deadline, time.monotonic() + max(1.0, args.timeout / 4)))
        if "ACTIVE" not in buddy.sub_states:
            err("[presence_buddy] warning: B's subscription is not ACTIVE yet "
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
             lambda r: r["status"] == pj.PJSUA_BUDDY_STATUS_ONLINE and r["note"] == "Available"),
            ("b", "A online, note 'In a meeting'", (True, "In a meeting"),
             lambda r: r["status"] == pj.PJSUA_BUDDY_STATUS_ONLINE and r["note"] == "In a meeting"),
            ("c", "A offline", (False, ""),
             lambda r: r["status"] == pj.PJSUA_BUDDY_STATUS_OFFLINE
             and r["sub_state"] != "TERMINATED"),
        ]
        seen_upto = len(buddy.states)  # only states after each action count
        passed = []
        for label, desc, (online, note), want in steps:
            err(f"[presence_buddy] step ({label}): {desc}")
            set_status(online, note)
            start = seen_upto

            def matched():
                return next((i for i in range(start, len(buddy.states))
                             if want(buddy.states[i])), None) is not None

            if not pump_until(matched, deadline):
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
                print(f"  #{n} t={rec['t']:.2f}s {format_state(rec)}", flush=True)
            if not buddy.states:
                print("  (none)", flush=True)
    except pj.Error as exc:
        print(f"FAIL: pjsua2 error: {exc.info()}", flush=True)
        result = 1
    finally:
        # Clean shutdown: buddy (unsubscribe), then accounts (unpublish), then the library.
        try:
            if buddy is not None:
                del buddy
            if acc_b is not None:
                acc_b.shutdown()
            if acc_a is not None:
                acc_a.shutdown()
            # Give the un-SUBSCRIBE / un-PUBLISH a moment, bounded.
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                ep.libHandleEvents(50)
            del acc_b, acc_a
        except pj.Error as exc:
            err(f"[presence_buddy] shutdown error: {exc.info()}")
        ep.libDestroy()
        del ep
        faulthandler.cancel_dump_traceback_later()
    return result


if __name__ == "__main__":
    sys.exit(main())

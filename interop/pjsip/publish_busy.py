#!/usr/bin/env python3
"""PJSIP (pjsua2) PUBLISH interop check against babble-presence: busy, then unpublished.

One pjsua2 Endpoint, two accounts, no registration, both sending every request through
the server as outbound proxy:

  A = sip:1001@HOST  publishes its presence (AccountPresConfig.publishEnabled: PUBLISH,
                     application/pidf+xml, RFC 3903)
  B = sip:1002@HOST  watches A as a buddy (SUBSCRIBE/NOTIFY, Event: presence)

Steps, each waited for with a deadline (--timeout, counted from the start):
  (0) B's subscription to A becomes active and reports a first state;
  (a) A calls setOnlineStatus(ONLINE, activity PJRPID_ACTIVITY_BUSY, note "In a meeting")
      -> B sees ONLINE, activity busy, note "In a meeting";
  (b) A's account is shut down, which withdraws its publication (PUBLISH with
      Expires: 0 and the entity tag it was given)
      -> B sees OFFLINE on a subscription that is still active. That holds when the
      server shows an entity nobody reports on as offline ([notifier] unknown_presence =
      "offline"); with the default ("available") B would see ONLINE again.

Only buddy states reported after a step's action count for it.

With --pause, the script stops after (a) and after (b), prints `CHECK busy` or
`CHECK unpublished`, and keeps PJSIP running until a line `next` arrives on stdin (any
other line, or end of input, fails the run). The test that drives it uses the pauses to
look at the server's state through its HTTP API while A's publication is live and after
it was withdrawn.

Stdout carries the script's own lines (PJSIP's log goes to stderr):
  buddy-state #N t=... status=... note=... activity=... sub=...   one per onBuddyState
  ok step (x) ...                                                 a step passed
  CHECK busy / CHECK unpublished                                  with --pause only
  PASS ... / FAIL ...                                             the verdict

Exit codes: 0 pass, 1 fail (expectation not met, setup error, a pause not released with
`next`, or the watchdog fired because the run outlived --timeout plus the shutdown grace),
2 usage. Shared plumbing is in pjsip_common.py (next to this file).
"""

import argparse
import os
import select
import sys
import time

# pjsip_common.py lives next to this script. Python normally puts the script's directory
# on sys.path, but not under -P/-I; add it so the import works from any directory.
_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from pjsip_common import (  # noqa: E402  (exits 1 when pjsua2 is missing)
    InteropEndpoint, add_log_level_arg, add_server_args, publisher_and_watcher,
    add_timeout_arg, describe, make_err, out, pj, proxy_uri, uri_host,
)

NOTE = "In a meeting"

err = make_err("publish_busy")


def wait_for_next(lib, label, deadline):
    """Prints `CHECK label` and handles PJSIP events until stdin gives the line `next`
    (True) or something else, end of input or the deadline (False)."""
    out(f"CHECK {label}")
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if ready:
            line = sys.stdin.readline()
            if line.strip() == "next":
                return True
            err(f"pause {label}: got {line.strip()!r} instead of 'next'")
            return False
        lib.ep.libHandleEvents(50)
    err(f"pause {label}: no 'next' before the deadline")
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_args(ap, "babble-presence address (used as outbound proxy and SIP domain)")
    add_timeout_arg(ap, "the whole run (subscription, busy, unpublished)")
    ap.add_argument("--pause", action="store_true",
                    help="after each step print CHECK <step> and wait for 'next' on stdin")
    add_log_level_arg(ap)
    args = ap.parse_args()

    host, port = args.server
    domain = uri_host(host)
    proxy = proxy_uri(host, port, args.transport)
    uri_a = f"sip:1001@{domain}"
    uri_b = f"sip:1002@{domain}"

    lib = InteropEndpoint(args.timeout)  # arms the watchdog, libCreate()
    t0, deadline = lib.t0, lib.deadline
    acc_a = acc_b = buddy = None
    a_alive = False
    result = 1
    try:
        tp_id = lib.start(args.transport, host, args.log_level, args.ca)
        err(f"pjsua2 {lib.version()}, transport {args.transport}, proxy {proxy}")

        acc_a, acc_b, buddy = publisher_and_watcher(uri_a, uri_b, proxy, tp_id, t0, err)
        a_alive = True

        def settled():
            return "ACTIVE" in buddy.sub_states and buddy.states

        # (0) B watches A before A changes anything, so the changes arrive as NOTIFYs
        # on a live subscription.
        if not lib.pump_until(settled, deadline):
            out(f"FAIL over {args.transport}: B's subscription to A never became active "
                f"(subscription states {buddy.sub_states}, buddy states {len(buddy.states)})")
            return result
        out(f"ok step (0) B watches A: {describe(buddy.states[-1])}")

        def wait_state(label, desc, want):
            start = len(buddy.states)

            def seen():
                return any(want(r) for r in buddy.states[start:])

            if lib.pump_until(seen, deadline):
                rec = next(r for r in buddy.states[start:] if want(r))
                out(f"ok step ({label}) {desc}: {describe(rec)}")
                return True
            out(f"FAIL step ({label}) {desc}: not seen within {args.timeout:g}s; "
                f"buddy states since the action:")
            for rec in buddy.states[start:] or []:
                out(f"  {describe(rec)}")
            if not buddy.states[start:]:
                out("  (none)")
            return False

        # (a) busy, with a note.
        ps = pj.PresenceStatus()
        ps.status = pj.PJSUA_BUDDY_STATUS_ONLINE
        ps.activity = pj.PJRPID_ACTIVITY_BUSY
        ps.note = NOTE
        acc_a.setOnlineStatus(ps)
        if not wait_state("a", f"A busy, note {NOTE!r}",
                          lambda r: r["status"] == "ONLINE" and r["activity"] == "busy"
                          and r["note"] == NOTE):
            return result
        if args.pause and not wait_for_next(lib, "busy", deadline):
            out(f"FAIL over {args.transport}: the pause after (a) was not released")
            return result

        # (b) A's account goes away: pjsua withdraws the publication (Expires: 0).
        acc_a.shutdown()
        a_alive = False
        if not wait_state("b", "A's account shut down (publication withdrawn)",
                          lambda r: r["status"] == "OFFLINE" and r["sub"] != "TERMINATED"):
            return result
        if args.pause and not wait_for_next(lib, "unpublished", deadline):
            out(f"FAIL over {args.transport}: the pause after (b) was not released")
            return result

        out(f"PASS over {args.transport}: B saw A busy ({NOTE!r}), then offline once A's "
            f"publication was withdrawn")
        result = 0
    except pj.Error as exc:
        out(f"FAIL: pjsua2 error: {exc.info()}")
        result = 1
    finally:
        del buddy  # its un-SUBSCRIBE goes out with the accounts' shutdown
        lib.close([acc_b, acc_a if a_alive else None], err)
    return result


if __name__ == "__main__":
    sys.exit(main())

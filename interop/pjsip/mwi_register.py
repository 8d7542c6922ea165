#!/usr/bin/env python3
"""PJSIP (pjsua2) registrar + message-waiting (MWI) interop check against babble-presence.

One pjsua2 Endpoint, one account sip:USER@HOST that

  1. REGISTERs with the server as registrar (regConfig.registrarUri), answering a digest
     challenge with USER/--password when one is given;
  2. subscribes to its own mailbox (mwiConfig.enabled: SUBSCRIBE, Event: message-summary,
     RFC 3842), which pjsua starts once the registration succeeded;
  3. waits for the first NOTIFY (`Messages-Waiting: no`, zero counts: no voicemail system
     has reported yet) and then for one with `Messages-Waiting: yes` and
     `Voice-Message: NEW/OLD` equal to --expect-counts.

Requests go through the server as outbound proxy (sip:HOST:PORT;transport=...;lr), so the
MWI SUBSCRIBE, whose Request-URI is the account URI (no port), reaches it too.

Stdout carries one line per event (PJSIP's own log goes to stderr):
  registered code=200 expires=N        the REGISTER succeeded
  registration failed code=N reason=.. the REGISTER was refused (then FAIL, exit 1)
  READY                                registered and the MWI subscription reported active
  mwi body=<body, CR/LF escaped>       one per onMwiInfo callback (each MWI NOTIFY)
  unregistered code=N                  the un-REGISTER (Expires: 0) was answered
  PASS ... / FAIL ...                  the verdict

pjsua2 has no callback for the MWI subscription's own state; it is only known when a NOTIFY
arrives, and OnMwiInfoParam.state is the state before that NOTIFY is applied (ACCEPTED on the
first one). So READY is printed when the registration succeeded and an MWI NOTIFY carried
`Subscription-State: active`.

Exit codes: 0 pass, 1 fail (registration refused, expectation not met, setup error, or the
hard watchdog fired because the run outlived --timeout plus the shutdown grace), 2 usage.

Endpoint set-up, the watchdog, the --server/--transport/--timeout/--log-level options and the
polling helpers are shared with presence_buddy.py in pjsip_common.py (next to this file).
"""

import argparse
import os
import re
import sys
import time

# pjsip_common.py lives next to this script. Python normally puts the script's directory
# on sys.path, but not under -P/-I; add it so the import works from any directory.
_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from pjsip_common import (  # noqa: E402  (exits 1 when pjsua2 is missing)
    SHUTDOWN_GRACE, InteropEndpoint, add_log_level_arg, add_server_args, add_timeout_arg,
    evsub_name, make_err, out, pj, proxy_uri, server_uri, uri_host,
)

VOICE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)(?:\s*\(?\s*(\d+)\s*/\s*(\d+)\s*\)?)?\s*$")

err = make_err("mwi_register")


def escape(text):
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def split_message(whole):
    """(headers, body) of a raw SIP message; body '' when there is none."""
    for sep in ("\r\n\r\n", "\n\n"):
        head, found, body = whole.partition(sep)
        if found:
            return head, body
    return whole, ""


def header(head, name):
    """First value of header `name` (long form only) in a raw header block, or None."""
    for line in head.splitlines()[1:]:
        hname, sep, value = line.partition(":")
        if sep and hname.strip().lower() == name.lower():
            return value.strip()
    return None


def parse_summary(body):
    """Messages-Waiting and Voice-Message of a simple-message-summary body (RFC 3842 §5)."""
    waiting = voice = account = None
    for line in body.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.strip()
        if name == "messages-waiting":
            waiting = value.lower()
        elif name == "message-account":
            account = value
        elif name == "voice-message":
            m = VOICE_RE.match(value)
            voice = tuple(int(g) if g is not None else 0 for g in m.groups()) if m else value
    return {"waiting": waiting, "account": account, "voice": voice}


class MwiAccount(pj.Account):
    """The phone: records registration results and every MWI NOTIFY."""

    def __init__(self, t0):
        pj.Account.__init__(self)
        self.t0 = t0
        self.reg_events = []    # (code, reason, expiration)
        self.registered = False
        self.reg_failed = None  # (code, reason) of a refused REGISTER
        self.unregistering = False
        self.unregistered = None
        self.mwi = []           # dicts, in callback order
        self.ready = False      # READY printed

    def onRegState(self, prm):
        try:
            code, reason, expires = prm.code, prm.reason, prm.expiration
            self.reg_events.append((code, reason, expires))
            err(f"onRegState code={code} reason={reason!r} expiration={expires} "
                f"status={prm.status}")
            if self.unregistering:
                self.unregistered = code
                out(f"unregistered code={code}")
            elif code // 100 == 2 and expires > 0:
                if not self.registered:
                    out(f"registered code={code} expires={expires}")
                self.registered = True
            elif code // 100 != 2 and self.reg_failed is None:
                # Transport errors show as 408/503 etc. with status != PJ_SUCCESS.
                self.reg_failed = (code, reason)
                out(f"registration failed code={code} reason={reason!r}")
        except Exception as exc:  # never let an exception vanish inside a callback
            err(f"onRegState error: {exc!r}")

    def onMwiInfo(self, prm):
        try:
            whole = prm.rdata.wholeMsg if prm.rdata is not None else ""
            head, body = split_message(whole)
            state = evsub_name(prm.state)
            rec = {
                "t": time.monotonic() - self.t0,
                "state": state,
                "body": body,
                "sub_state": header(head, "Subscription-State"),
                "start": head.splitlines()[0] if head else "",
                "src": prm.rdata.srcAddress if prm.rdata is not None else "",
            }
            rec.update(parse_summary(body))
            self.mwi.append(rec)
            err(f"MWI NOTIFY #{len(self.mwi)} t={rec['t']:.2f}s from {rec['src']} "
                f"subscription={state} Subscription-State: {rec['sub_state']} "
                f"({rec['start']})")
            out(f"mwi body={escape(body)}")
            # READY as soon as registered and the MWI subscription is active. pjsua2 has no
            # MWI subscription-state callback, and OnMwiInfoParam.state is the state *before*
            # this NOTIFY is applied (ACCEPTED on the first one), so the NOTIFY's
            # Subscription-State header decides.
            if (not self.ready and self.registered
                    and (state == "ACTIVE"
                         or (rec["sub_state"] or "").lower().startswith("active"))):
                self.ready = True
                out("READY")
        except Exception as exc:
            err(f"onMwiInfo error: {exc!r}")


def parse_counts(value):
    m = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not m:
        raise argparse.ArgumentTypeError("expected NEW/OLD, e.g. 2/5")
    new, old = int(m.group(1)), int(m.group(2))
    if new == 0:
        raise argparse.ArgumentTypeError("NEW must be > 0: Messages-Waiting is yes only "
                                         "when there are new messages")
    return new, old


def describe(rec):
    return (f"t={rec['t']:.2f}s subscription={rec['state']} "
            f"Messages-Waiting={rec['waiting']} Voice-Message={rec['voice']} "
            f"body={escape(rec['body'])!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_args(ap, "babble-presence address (registrar, outbound proxy, SIP domain)")
    ap.add_argument("--user", default="1001", help="account user part (default 1001)")
    ap.add_argument("--password", default=None,
                    help="digest password for USER (realm '*'); none: no credentials")
    add_timeout_arg(ap, "registration and the MWI NOTIFYs")
    ap.add_argument("--expect-counts", type=parse_counts, default=(2, 5), metavar="NEW/OLD",
                    help="Voice-Message counts the NOTIFY after the zero-count one must carry "
                         "(with Messages-Waiting: yes); default 2/5")
    add_log_level_arg(ap)
    args = ap.parse_args()

    host, port = args.server
    registrar = server_uri(host, port, args.transport)
    proxy = proxy_uri(host, port, args.transport)
    acc_uri = f"sip:{args.user}@{uri_host(host)}"
    want_new, want_old = args.expect_counts

    lib = InteropEndpoint(args.timeout)  # arms the watchdog, libCreate()
    t0, deadline = lib.t0, lib.deadline
    acc = None
    result = 1

    try:
        tp_id = lib.start(args.transport, host, args.log_level, args.ca)
        err(f"pjsua2 {lib.version()}, transport {args.transport}, account {acc_uri}, "
            f"registrar {registrar}, proxy {proxy}, "
            f"credentials {'yes' if args.password is not None else 'none'}")

        cfg = pj.AccountConfig()
        cfg.idUri = acc_uri
        cfg.regConfig.registrarUri = registrar
        cfg.regConfig.registerOnAdd = True
        cfg.regConfig.retryIntervalSec = 0     # a refused REGISTER is final for this check
        cfg.regConfig.timeoutSec = 300
        cfg.regConfig.unregWaitMsec = 1000
        cfg.sipConfig.proxies.append(proxy)
        cfg.sipConfig.transportId = tp_id
        if args.password is not None:
            cfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
        cfg.mwiConfig.enabled = True           # SUBSCRIBE to message-summary after REGISTER
        cfg.mwiConfig.expirationSec = 3600
        cfg.presConfig.publishEnabled = False
        cfg.mediaConfig.transportConfig.port = 0

        acc = MwiAccount(t0)
        acc.create(cfg)

        # 1. Registration.
        if not lib.pump_until(lambda: acc.registered or acc.reg_failed is not None, deadline):
            out(f"FAIL over {args.transport}: no REGISTER result within {args.timeout:g}s "
                f"(onRegState seen: {acc.reg_events or 'none'})")
            return result
        if not acc.registered:
            code, reason = acc.reg_failed
            out(f"FAIL over {args.transport}: registration failed code={code} "
                f"reason={reason!r}")
            return result

        # 2. READY is printed by onMwiInfo; wait for the first MWI NOTIFY.
        if not lib.pump_until(lambda: acc.mwi, deadline):
            err("no MWI NOTIFY: the message-summary subscription never reported")
        elif not acc.ready:
            err("MWI subscription not reported active (Subscription-State seen: "
                f"{[r['sub_state'] for r in acc.mwi]})")

        # 3. First a zero-count NOTIFY, then the expected counts.
        def verdict():
            first = acc.mwi[0] if acc.mwi else None
            if first is None or first["waiting"] != "no":
                return None
            for i in range(1, len(acc.mwi)):
                rec = acc.mwi[i]
                v = rec["voice"]
                if (rec["waiting"] == "yes" and isinstance(v, tuple)
                        and v[0] == want_new and v[1] == want_old):
                    return i
            return None

        lib.pump_until(lambda: verdict() is not None
                       or (acc.mwi and acc.mwi[0]["waiting"] != "no"), deadline)
        match = verdict()
        if match is not None:
            rec = acc.mwi[match]
            v = rec["voice"]
            out(f"PASS over {args.transport}: registered, MWI NOTIFY #1 Messages-Waiting: no, "
                f"then #{match + 1} Messages-Waiting: yes Voice-Message: {v[0]}/{v[1]} "
                f"({v[2]}/{v[3]})")
            result = 0
        else:
            first = acc.mwi[0] if acc.mwi else None
            if first is None:
                why = "no MWI NOTIFY seen"
            elif first["waiting"] != "no":
                why = (f"the first MWI NOTIFY is not Messages-Waiting: no "
                       f"(got {first['waiting']!r})")
            else:
                why = (f"no NOTIFY with Messages-Waiting: yes and Voice-Message: "
                       f"{want_new}/{want_old} after the zero-count one")
            out(f"FAIL over {args.transport}: {why} "
                f"(after {lib.elapsed():.1f}s of {args.timeout:g}s); MWI NOTIFYs seen:")
            for n, rec in enumerate(acc.mwi, 1):
                out(f"  #{n} {describe(rec)}")
            if not acc.mwi:
                out("  (none)")
    except pj.Error as exc:
        out(f"FAIL: pjsua2 error: {exc.info()}")
        result = 1
    finally:
        # Clean shutdown: un-REGISTER (Expires: 0) and wait for its answer, then delete the
        # account (un-SUBSCRIBEs message-summary, ends the server's presence subscription
        # to us), then the library.
        try:
            if acc is not None:
                if acc.registered:
                    acc.unregistering = True
                    acc.setRegistration(False)
                    lib.pump_until(lambda: acc.unregistered is not None,
                                   time.monotonic() + min(3.0, SHUTDOWN_GRACE / 2))
                    if acc.unregistered is None:
                        err("no answer to the un-REGISTER")
                acc.shutdown()
                lib.pump_for(1.0)
                del acc
        except pj.Error as exc:
            err(f"shutdown error: {exc.info()}")
        lib.destroy()
    return result


if __name__ == "__main__":
    sys.exit(main())

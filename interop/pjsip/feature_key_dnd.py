#!/usr/bin/env python3
"""PJSIP (pjsua2) feature-key check against babble-presence: DND set by a raw SUBSCRIBE.

pjsua2 has no API for the as-feature-event package, but Account.sendRequest() sends any
request the application builds. One account, sip:1001@HOST, that does not register and
sends through the server as outbound proxy, sends

    SUBSCRIBE sip:1001@HOST   Event: as-feature-event   Expires: 60
    Content-Type: application/x-as-feature-event+xml    <SetDoNotDisturb ...>true

as a BroadWorks phone does when DND is pressed (docs/feature-keys.md), and waits for its
final response (onSendRequest). pjsua answers the server's NOTIFY in the dialog the
SUBSCRIBE made as it answers any request it has no subscription for; the test that runs
this looks at what the server did with the request instead (the user's other phone, a BLF
watcher and the API).

Stdout carries the script's own lines (PJSIP's log goes to stderr):
  response STATUS REASON      the SUBSCRIBE's final response
  PASS ... / FAIL ...         the verdict (PASS needs a 2xx)

Exit codes: 0 pass, 1 fail, 2 usage. Shared plumbing is in pjsip_common.py.
"""

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from pjsip_common import (  # noqa: E402  (exits 1 when pjsua2 is missing)
    InteropEndpoint, account_config, add_log_level_arg, add_server_args, add_timeout_arg,
    make_err, out, pj, proxy_uri, uri_host,
)

CONTENT_TYPE = "application/x-as-feature-event+xml"
SET_DND = ('<?xml version="1.0" encoding="ISO-8859-1"?>'
           '<SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">'
           '<device>1001</device><doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>')

err = make_err("feature_key_dnd")


class FeatureKeyAccount(pj.Account):
    """An account that records the final response to the request it sent."""

    def __init__(self):
        super().__init__()
        self.final = None

    def onSendRequest(self, prm):
        tsx = prm.e.body.tsxState.tsx
        if tsx.statusCode >= 200:
            self.final = (tsx.statusCode, tsx.statusText)


def header(name, value):
    h = pj.SipHeader()
    h.hName = name
    h.hValue = value
    return h


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_args(ap, "babble-presence address (used as outbound proxy and SIP domain)")
    add_timeout_arg(ap, "the SUBSCRIBE's final response")
    add_log_level_arg(ap)
    args = ap.parse_args()

    host, port = args.server
    uri = f"sip:1001@{uri_host(host)}"
    lib = InteropEndpoint(args.timeout)
    acc = None
    result = 1
    try:
        tp_id = lib.start(args.transport, host, args.log_level, args.ca)
        err(f"pjsua2 {lib.version()}, transport {args.transport}")
        acc = FeatureKeyAccount()
        acc.create(account_config(uri, proxy_uri(host, port, args.transport), tp_id, False, 0))

        prm = pj.SendRequestParam()
        prm.method = "SUBSCRIBE"
        prm.txOption.targetUri = uri
        prm.txOption.contentType = CONTENT_TYPE
        prm.txOption.msgBody = SET_DND
        # sendRequest adds no Contact, and a SUBSCRIBE makes a dialog (RFC 6665 §4.1.2.1).
        local = lib.ep.transportGetInfo(tp_id).localName
        contact = f"<sip:1001@{local};transport={args.transport}>"
        for name, value in (("Event", "as-feature-event"), ("Accept", CONTENT_TYPE), ("Expires", "60"),
                            ("Contact", contact)):
            prm.txOption.headers.append(header(name, value))
        acc.sendRequest(prm)
        if not lib.pump_until(lambda: acc.final is not None, lib.deadline):
            out(f"FAIL over {args.transport}: no final response to the SUBSCRIBE")
            return result
        status, reason = acc.final
        out(f"response {status} {reason}")
        if 200 <= status < 300:
            out(f"PASS over {args.transport}: SetDoNotDisturb accepted ({status})")
            result = 0
        else:
            out(f"FAIL over {args.transport}: SetDoNotDisturb answered {status} {reason}")
    except pj.Error as exc:
        out(f"FAIL: pjsua2 error: {exc.info()}")
    finally:
        lib.close([acc], err)
    return result


if __name__ == "__main__":
    sys.exit(main())

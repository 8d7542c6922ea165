#!/usr/bin/env python3
"""A strict RFC 4662 list subscriber against babble-presence, over UDP.

It subscribes to a list URI (Supported: eventlist), and checks every NOTIFY it gets with
standard parsers rather than the server's own: the body is read as MIME by Python's `email`
package, the root part is validated against the RLMI schema of RFC 4662 §8 (rlmi.xsd beside
this file, with the `xmlschema` package), and every part is tied to its resource by its
Content-ID. It expects a full-state NOTIFY first, with `--members` resources in order, then,
with `--partial N`, a partial one with the next version and N resources; then it unsubscribes.

    python3 interop/rlmi/list_subscriber.py --server 127.0.0.1:5060 --list blf-sales \\
        --members 3 --partial 1

Stdout: `full version=0 resources=3`, `partial version=1 resources=1 uris=...`, then `PASS`
(exit 0); any check that fails prints `FAIL <why>` (exit 1).
"""

import argparse
import email.parser
import email.policy
import os
import random
import socket
import sys
import xml.etree.ElementTree as ET

try:
    import xmlschema
except ImportError:  # pragma: no cover - environment problem
    print("cannot import xmlschema; install it with: pip install xmlschema", file=sys.stderr)
    sys.exit(1)

RLMI_NS = "{urn:ietf:params:xml:ns:rlmi}"
HERE = os.path.dirname(os.path.realpath(__file__))


class Failed(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failed(why)


def split_message(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return lines[0], headers, body


def answer(sock, server, start, headers, status="200 OK"):
    to = headers["to"] if ";tag=" in headers["to"] else headers["to"] + ";tag=list-subscriber"
    response = (f"SIP/2.0 {status}\r\nVia: {headers['via']}\r\nFrom: {headers['from']}\r\nTo: {to}\r\n"
                f"Call-ID: {headers['call-id']}\r\nCSeq: {headers['cseq']}\r\nContent-Length: 0\r\n\r\n")
    sock.sendto(response.encode(), server)


def read_notify(headers, body, schema, package_type):
    """Checks one list NOTIFY; returns (fullState, version, [(uri, cid or None)])."""
    check(headers.get("require", "").lower() == "eventlist", "a list NOTIFY carries Require: eventlist")
    mime = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body)
    check(mime.get_content_type() == "multipart/related", f"not multipart/related: {mime.get_content_type()}")
    check(mime.get_param("type") == "application/rlmi+xml", "type= names the RLMI root")
    parts = list(mime.iter_parts())
    check(parts, "no parts")
    root = parts[0]
    start = mime.get_param("start")
    check(root["Content-ID"] == start, f"start={start} is the first part ({root['Content-ID']})")
    check(root.get_content_type() == "application/rlmi+xml", "the root is the RLMI document")
    rlmi = root.get_payload(decode=True)
    schema.validate(rlmi.decode("utf-8"))
    doc = ET.fromstring(rlmi)
    by_cid = {p["Content-ID"].strip("<>"): p for p in parts[1:]}
    check(len(by_cid) == len(parts) - 1, "Content-IDs are unique")
    resources = []
    for r in doc.findall(f"{RLMI_NS}resource"):
        instance = r.find(f"{RLMI_NS}instance")
        cid = instance.get("cid") if instance is not None else None
        if cid is not None:
            part = by_cid.pop(cid, None)
            check(part is not None, f"resource {r.get('uri')} names part {cid}, which is not there")
            check(part.get_content_type() == package_type, f"part {cid} is {part.get_content_type()}")
            ET.fromstring(part.get_payload(decode=True))  # well-formed
        resources.append((r.get("uri"), cid))
    check(not by_cid, f"parts no resource names: {sorted(by_cid)}")
    return doc.get("fullState") == "true", int(doc.get("version")), resources


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="HOST:PORT")
    ap.add_argument("--list", required=True, help="the list's user part (at the server's host)")
    ap.add_argument("--members", type=int, required=True, help="resources the full state lists")
    ap.add_argument("--partial", type=int, help="then expect a partial NOTIFY with this many resources")
    ap.add_argument("--event", default="dialog", choices=("dialog", "presence"))
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    server = (host, int(port))
    package_type = "application/dialog-info+xml" if args.event == "dialog" else "application/pidf+xml"
    schema = xmlschema.XMLSchema(os.path.join(HERE, "rlmi.xsd"))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(args.timeout)
    local = "127.0.0.1:%d" % sock.getsockname()[1]
    call_id = "list-%08x" % random.getrandbits(32)
    target = f"sip:{args.list}@{host}"
    to_tag = ""

    def subscribe(cseq, expires):
        branch = "z9hG4bK-list-%08x" % random.getrandbits(32)
        request = (f"SUBSCRIBE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:1002@{host}>;tag=ls1\r\nTo: <{target}>{to_tag}\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:1002@{local}>\r\n"
                   f"Event: {args.event}\r\nSupported: eventlist\r\n"
                   f"Accept: multipart/related, application/rlmi+xml, {package_type}\r\n"
                   f"Expires: {expires}\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(request.encode(), server)

    def next_message():
        data, _ = sock.recvfrom(65535)
        return split_message(data)

    try:
        subscribe(1, 600)
        notifies = []
        while len(notifies) < (2 if args.partial is not None else 1):
            start, headers, body = next_message()
            if start.startswith("SIP/2.0"):
                if "SUBSCRIBE" in headers.get("cseq", "") and start.startswith("SIP/2.0 200"):
                    check(headers.get("require", "").lower() == "eventlist", "the 200 carries Require: eventlist")
                    to_tag = ";tag=" + headers["to"].split(";tag=")[1]
                continue
            check(start.startswith("NOTIFY"), f"unexpected {start}")
            answer(sock, server, start, headers)
            notifies.append(read_notify(headers, body, schema, package_type))
        full, version, resources = notifies[0]
        check(full and version == 0, f"the first NOTIFY is full state, version 0 (fullState={full}, version={version})")
        check(len(resources) == args.members, f"{len(resources)} resources, not {args.members}")
        check(all(cid for _, cid in resources), "the full state has a part for every resource")
        print(f"full version={version} resources={len(resources)}", flush=True)
        if args.partial is not None:
            full, version, resources = notifies[1]
            check(not full and version == 1, f"then a partial one, version 1 (fullState={full}, version={version})")
            check(len(resources) == args.partial, f"{len(resources)} resources changed, not {args.partial}")
            print(f"partial version={version} resources={len(resources)} uris={','.join(u for u, _ in resources)}", flush=True)
        subscribe(2, 0)
        while True:
            start, headers, body = next_message()
            if start.startswith("NOTIFY"):
                answer(sock, server, start, headers)
                check("terminated" in headers.get("subscription-state", ""), "the last NOTIFY ends it")
                break
        print("PASS", flush=True)
        return 0
    except (Failed, xmlschema.XMLSchemaException, ET.ParseError, socket.timeout, KeyError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

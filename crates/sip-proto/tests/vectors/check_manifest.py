#!/usr/bin/env python3
"""Cross-check the SIP test-vector manifests against the message files.

Deliberately naive and independent of the Rust parser: it unfolds header lines,
maps compact header names, splits comma-separated values outside quotes and
angle brackets, and compares what it finds with rfc4475/manifest.toml and
vendors/manifest.toml.

    python3 crates/sip-proto/tests/vectors/check_manifest.py

Exits non-zero and lists every mismatch if anything disagrees.
"""
import hashlib
import ipaddress
import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent

COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact",
    "l": "content-length", "c": "content-type", "o": "event", "k": "supported",
    "u": "allow-events", "s": "subject", "e": "content-encoding", "r": "refer-to",
    "b": "referred-by", "x": "session-expires", "y": "identity",
    "a": "accept-contact", "d": "request-disposition", "j": "reject-contact",
}

errors = []
failed = set()  # messages with at least one error


def err(where, text):
    errors.append(f"{where}: {text}")
    failed.add(where)


def split_outside(value, sep):
    """Split on `sep` outside double quotes (honouring backslash escapes) and <...>."""
    parts, cur, quoted, angle, esc = [], [], False, 0, False
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if quoted and ch == "\\":
            cur.append(ch)
            esc = True
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">" and angle:
            angle -= 1
        if ch == sep and not quoted and not angle:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


class Msg:
    def __init__(self, data):
        self.raw = data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.head, self.body, self.terminated = data, b"", False
        else:
            self.head, self.body, self.terminated = data[:end], data[end + 4:], True
        text = self.head.decode("utf-8", errors="surrogateescape")
        lines = text.split("\r\n")
        if lines and lines[-1] == "" and not self.terminated:
            lines.pop()
        self.start = lines[0]
        self.headers = []  # (canonical lower-case name, value)
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + "\r\n" + line)
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            name = COMPACT.get(name, name)
            self.headers.append((name, value.strip()))

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def one(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    def values(self, name):
        out = []
        for v in self.all(name):
            out += [p.strip() for p in split_outside(v, ",") if p.strip()]
        return out

    @property
    def is_request(self):
        return not self.start.startswith("SIP/")

    @property
    def method(self):
        return self.start.split(" ", 1)[0]

    @property
    def status_code(self):
        return int(self.start.split(" ")[1])

    def cseq(self):
        num, meth = self.one("cseq").split()
        return int(num), meth

    def tag(self, name):
        v = self.one(name)
        if v is None:
            return None
        v = re.sub(r"\s+", " ", v.replace("\r\n", ""))
        if "<" in v:
            params = v[v.rindex(">") + 1:]
        else:
            params = v[v.find(";"):] if ";" in v else ""
        for p in split_outside(params, ";"):
            k, _, val = p.partition("=")
            if k.strip().lower() == "tag":
                return val.strip()
        return ""

    def content_length(self):
        v = self.one("content-length")
        return None if v is None else int(v)


def manifest_files(dirname, pattern):
    """How many entries DIRNAME/manifest.toml lists, and (entry, where, bytes) for those whose
    file exists. A missing file, or a file matching PATTERN it does not list, is an error."""
    base = HERE / dirname
    man = tomllib.loads((base / "manifest.toml").read_text(encoding="utf-8"))
    found = []
    for e in man["message"]:
        where = f"{dirname}/{e['file']}"
        path = base / e["file"]
        if path.exists():
            found.append((e, where, path.read_bytes()))
        else:
            err(where, "file missing")
    listed = {e["file"] for e in man["message"]}
    on_disk = {str(p.relative_to(base)) for p in base.glob(pattern)}
    for extra in sorted(on_disk - listed):
        err(f"{dirname}/{extra}", "file not in manifest")
    return len(man["message"]), found


def check_rfc4475():
    count, found = manifest_files("rfc4475", "*.sip")
    for e, where, data in found:
        if hashlib.sha256(data).hexdigest() != e["sha256"]:
            err(where, "sha256 mismatch")
        if len(data) != e["size"]:
            err(where, f"size {len(data)} != {e['size']}")
        if e["expect"] == "reject":
            if "status" not in e:
                err(where, "reject without status")
            continue
        if e["expect"] != "parse":
            err(where, f"unknown expect {e['expect']!r}")
            continue
        m = Msg(data)
        if "method" in e:
            if not m.is_request or m.method != e["method"]:
                err(where, f"method {m.method!r} != {e['method']!r}")
        if "status_code" in e:
            if m.is_request or m.status_code != e["status_code"]:
                err(where, f"status line {m.start!r} != {e['status_code']}")
        cid = m.one("call-id")
        if cid != e["call_id"]:
            err(where, f"call_id {cid!r} != {e['call_id']!r}")
        num, meth = m.cseq()
        if num != e["cseq"] or meth != e["cseq_method"]:
            err(where, f"cseq {num} {meth} != {e['cseq']} {e['cseq_method']}")
        vias = len(m.values("via"))
        if vias != e["via_count"]:
            err(where, f"via_count {vias} != {e['via_count']}")
        cl = m.content_length()
        if cl is None:
            if len(m.body) != e["body_len"]:
                err(where, f"no Content-Length; body {len(m.body)} != {e['body_len']}")
        else:
            if cl != e["body_len"]:
                err(where, f"Content-Length {cl} != body_len {e['body_len']}")
            if len(m.body) < cl:
                err(where, f"body shorter ({len(m.body)}) than Content-Length {cl}")
    return count


DOC_NETS = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24")]


def check_vendors():
    count, found = manifest_files("vendors", "**/*.sip")
    for e, where, data in found:
        m = Msg(data)
        # line endings: every header line ends with CRLF, no bare CR/LF in the header block
        if not m.terminated:
            err(where, "no CRLF CRLF ending the header section")
        if re.search(rb"(?<!\r)\n|\r(?!\n)", m.head):
            err(where, "bare CR or LF in header section")
        if m.body and re.search(rb"(?<!\r)\n|\r(?!\n)", m.body):
            err(where, "bare CR or LF in body (vendor bodies use CRLF)")
        # Content-Length must match exactly
        cl = m.content_length()
        if cl is None:
            if e.get("has_content_length", True):
                err(where, "Content-Length missing")
            if m.body:
                err(where, "body present without Content-Length")
        else:
            if e.get("has_content_length", True) is False:
                err(where, "manifest says no Content-Length but one is present")
            if cl != len(m.body):
                err(where, f"Content-Length {cl} != actual body length {len(m.body)}")
        if len(m.body) != e["body_len"]:
            err(where, f"body_len {len(m.body)} != {e['body_len']}")
        # start line
        if e["kind"] == "request":
            if not m.is_request or m.method != e["method"]:
                err(where, f"method {m.start!r} != {e.get('method')!r}")
        elif e["kind"] == "response":
            if m.is_request or m.status_code != e["status_code"]:
                err(where, f"status line {m.start!r} != {e.get('status_code')}")
        else:
            err(where, f"unknown kind {e['kind']!r}")
        cid = m.one("call-id")
        if cid != e["call_id"]:
            err(where, f"call_id {cid!r} != {e['call_id']!r}")
        num, meth = m.cseq()
        if num != e["cseq"]:
            err(where, f"cseq {num} != {e['cseq']}")
        if "cseq_method" in e and meth != e["cseq_method"]:
            err(where, f"cseq method {meth} != {e['cseq_method']}")
        if m.is_request and meth != m.method:
            err(where, f"CSeq method {meth} differs from request method {m.method}")
        for hdr, key in (("from", "from_tag"), ("to", "to_tag")):
            got = m.tag(hdr)
            if got is None:
                err(where, f"no {hdr} header")
            elif got != e[key]:
                err(where, f"{key} {got!r} != {e[key]!r}")
        ev = m.one("event")
        if ev is None:
            if "event" in e:
                err(where, "manifest has event but message has no Event header")
        else:
            parts = [p.strip() for p in ev.split(";")]
            pkg = parts[0]
            evid = ""
            for p in parts[1:]:
                k, _, v = p.partition("=")
                if k.strip().lower() == "id":
                    evid = v.strip()
            if e.get("event") != pkg:
                err(where, f"event {pkg!r} != {e.get('event')!r}")
            if e.get("event_id") != evid:
                err(where, f"event_id {evid!r} != {e.get('event_id')!r}")
        exp = m.one("expires")
        if exp is None:
            if "expires" in e:
                err(where, "manifest has expires but message has no Expires header")
        elif int(exp) != e.get("expires"):
            err(where, f"expires {exp} != {e.get('expires')}")
        contacts = len(m.values("contact"))
        if contacts != e["contact_count"]:
            err(where, f"contact_count {contacts} != {e['contact_count']}")
        ua = m.one("user-agent")
        if ua != e["user_agent"]:
            err(where, f"user_agent {ua!r} != {e['user_agent']!r}")
        ct = m.one("content-type")
        if "content_type" in e and ct != e["content_type"]:
            err(where, f"content_type {ct!r} != {e['content_type']!r}")
        if m.body and "content_type" not in e:
            err(where, "body present but manifest has no content_type")
        compact = any(re.match(r"^[a-z]\s*:", l, re.I) for l in m.head.decode().split("\r\n")[1:])
        if compact != e.get("compact_forms", False):
            err(where, f"compact header names used={compact} but manifest says {e.get('compact_forms', False)}")
        # every IPv4 literal must be in a documentation range (firmware versions in
        # User-Agent, e.g. "108.86.0.20", only look like addresses)
        scan = re.sub(rb"(?im)^User-Agent:[^\r\n]*", b"", data)
        for ip in re.findall(rb"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])", scan):
            addr = ipaddress.ip_address(ip.decode())
            if not any(addr in n for n in DOC_NETS):
                err(where, f"non-documentation address {addr}")
    return count


def main():
    n1 = check_rfc4475()
    n2 = check_vendors()
    if errors:
        for e in errors:
            print("FAIL", e)
        print(f"{n1 + n2 - len(failed)} passed, {len(failed)} failed")
        return 1
    print(f"rfc4475: {n1} messages, vendors: {n2} messages -- all manifest fields match")
    return 0


if __name__ == "__main__":
    sys.exit(main())

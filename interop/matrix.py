#!/usr/bin/env python3
"""The README's interop matrix, made from the rows the interop tests recorded.

Each interop test, once its checks pass, appends `client<TAB>transport<TAB>feature<TAB>outcome`
to the file named by BABBLE_INTEROP_RESULTS (see crates/babble-presence/tests/server/matrix.rs).
This script turns those rows into one table per client (feature x each transport the client
was run over: UDP, TCP, TLS, WS, WSS) and either checks
that the README holds exactly that table between its matrix markers (--check, as .ci/run does)
or writes it there (--write). A feature a test did not record for a transport shows as
"not run", so a row cannot claim more than the suite did.

    python3 interop/matrix.py RESULTS --check README.md
    python3 interop/matrix.py RESULTS --write README.md
"""

import sys

BEGIN = "<!-- interop-matrix:begin (made by interop/matrix.py from the suite's results; do not edit) -->"
END = "<!-- interop-matrix:end -->"
TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")


def read_rows(path):
    """{client: {feature: {transport: outcome}}} from the results file."""
    clients = {}
    with open(path, encoding="utf-8") as results:
        for number, line in enumerate(results, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 4:
                sys.exit(f"{path}:{number}: expected 4 tab-separated fields, got {len(fields)}")
            client, transport, feature, outcome = fields
            if transport not in TRANSPORTS:
                sys.exit(f"{path}:{number}: unknown transport {transport!r} (one of {', '.join(TRANSPORTS)})")
            cells = clients.setdefault(client, {}).setdefault(feature, {})
            if cells.get(transport, outcome) != outcome:
                sys.exit(f"{path}:{number}: {client} {transport} {feature!r} recorded as both {cells[transport]!r} and {outcome!r}")
            cells[transport] = outcome
    return clients


def client_order(client):
    """SIPp first, then the softphone stacks, the browser stacks and proxies in a fixed order, then anything else."""
    for rank, prefix in enumerate(("SIPp", "PJSIP", "baresip", "linphone", "JsSIP", "SIP.js", "Chromium", "Kamailio")):
        if client.startswith(prefix):
            return (rank, client)
    return (99, client)


def render(clients):
    out = [BEGIN, ""]
    for client in sorted(clients, key=client_order):
        features = clients[client]
        columns = [t for t in TRANSPORTS if any(t in cells for cells in features.values())]
        out.append("| Feature | " + " | ".join(f"{client} {t}" for t in columns) + " |")
        out.append("|---" * (len(columns) + 1) + "|")
        for feature in sorted(features, key=str.casefold):
            cells = [features[feature].get(t, "not run") for t in columns]
            out.append(f"| {feature} | " + " | ".join(cells) + " |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("--check", "--write"):
        sys.exit(__doc__)
    results, mode, readme_path = sys.argv[1:]
    table = render(read_rows(results))
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    if BEGIN not in readme or END not in readme:
        sys.exit(f"{readme_path} has no interop matrix markers")
    head, rest = readme.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    if mode == "--write":
        with open(readme_path, "w", encoding="utf-8") as f:
            f.write(head + table + tail)
        return
    if BEGIN + current + END != table:
        import difflib

        diff = difflib.unified_diff(
            (BEGIN + current + END).splitlines(), table.splitlines(), "README.md", "from the results", lineterm=""
        )
        print("\n".join(diff))
        sys.exit(f"the README's interop matrix is not what this run recorded; regenerate it with:\n"
                 f"  python3 interop/matrix.py {results} --write {readme_path}")
    print(f"interop matrix: {sum(len(f) for f in read_rows(results).values())} rows, as recorded")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Follow babble-presence's event stream (Server-Sent Events) and print each event.

    examples/follow_events.py                       # every event from 127.0.0.1:8080
    examples/follow_events.py --event presence.voicemail.in,presence.subscribe.in
    examples/follow_events.py --entity 1001@pbx.example.com --token s3cret --api 127.0.0.1:8080

Only the Python standard library is needed. Each event is one JSON line:
{"seq": 7, "event": "presence.subscribe.in", "data": {...}}. A gap in `seq` means events
were missed (the server drops a consumer that falls behind; reconnect and re-read state).
"""

import argparse
import http.client
import json
import sys
import urllib.parse


def follow(api: str, token: str | None, event: str | None, entity: str | None) -> int:
    host, _, port = api.rpartition(":")
    query = urllib.parse.urlencode({k: v for k, v in (("event", event), ("entity", entity)) if v})
    path = "/api/v1/events/sse" + (f"?{query}" if query else "")
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        print(f"{response.status} {response.reason}: {response.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    data = []
    for raw in response:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            print(json.dumps(json.loads("\n".join(data))), flush=True)
            data = []
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default="127.0.0.1:8080", help="HOST:PORT of the HTTP API")
    parser.add_argument("--token", help="bearer token (http.token)")
    parser.add_argument("--event", help="comma-separated event names to keep")
    parser.add_argument("--entity", help="only events about this user@host")
    args = parser.parse_args()
    try:
        return follow(args.api, args.token, args.event, args.entity)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

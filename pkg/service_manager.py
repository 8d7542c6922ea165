#!/usr/bin/env python3
"""Plays systemd's part for a Type=notify service (pkg/check-deb.sh): runs the command from /
with NOTIFY_SOCKET, WATCHDOG_USEC and STATE_DIRECTORY set as the unit sets them, and checks
READY=1, an OPTIONS answered on UDP 5060, watchdog pings, RELOADING=1 then READY=1 after
SIGHUP, and STOPPING=1 with a clean exit after SIGTERM. With --while CMD, CMD runs (and must
succeed) while the service serves, before the reload. Standard library only."""

import argparse
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-directory", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--while", dest="while_serving", help="a shell command to run while it serves")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    notify_path = os.path.join(args.workdir, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_path, 0o666)
    env = {
        "PATH": "/usr/bin:/bin",
        "NOTIFY_SOCKET": notify_path,
        "WATCHDOG_USEC": "2000000",
        "STATE_DIRECTORY": args.state_directory,
    }
    server = subprocess.Popen(command, cwd="/", env=env, stderr=subprocess.PIPE, text=True)

    # Read the notify socket and the service's log all the time, as systemd and journald do:
    # unread, the socket's queue (10 datagrams) and the pipe fill, and the service's sends
    # block while --while runs.
    notices = queue.Queue()
    log = []

    def read_notices():
        while True:
            notices.put(notify.recv(4096).decode())

    def read_log():
        for line in server.stderr:
            log.append(line)

    threading.Thread(target=read_notices, daemon=True).start()
    log_reader = threading.Thread(target=read_log, daemon=True)
    log_reader.start()

    def fail(why):
        server.kill()
        server.wait()
        log_reader.join(timeout=5)
        sys.exit(f"service check failed: {why}\n--- the service's log ---\n{''.join(log)}")

    def await_notice(want, seconds=10.0):
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            try:
                notice = notices.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(notice)
            if want in notice.splitlines():
                return seen
        fail(f"no {want} within {seconds} s; received {seen}")

    await_notice("READY=1")
    print("ready (READY=1)")

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    sip.settimeout(5)
    port = sip.getsockname()[1]
    options = (
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKdebcheck;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:check@127.0.0.1>;tag=debcheck\r\n"
        "To: <sip:127.0.0.1:5060>\r\n"
        "Call-ID: debcheck@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    sip.sendto(options.encode(), ("127.0.0.1", 5060))
    try:
        answer = sip.recv(65535).decode(errors="replace")
    except socket.timeout:
        fail("no answer to OPTIONS on UDP 5060")
    if not answer.startswith("SIP/2.0 200"):
        fail(f"OPTIONS answered {answer.splitlines()[0]!r}")
    print("OPTIONS on udp:127.0.0.1:5060 answered 200")

    await_notice("WATCHDOG=1", seconds=3)
    print("watchdog pinged (WATCHDOG=1)")

    if args.while_serving:
        print(f"while it serves: {args.while_serving}")
        if subprocess.run(args.while_serving, shell=True).returncode != 0:
            fail(f"{args.while_serving!r} failed")

    server.send_signal(signal.SIGHUP)
    reload = await_notice("READY=1")
    if not any("RELOADING=1" in notice for notice in reload):
        fail(f"no RELOADING=1 before READY=1 after SIGHUP: {reload}")
    print("reloaded on SIGHUP (RELOADING=1, READY=1)")

    server.send_signal(signal.SIGTERM)
    await_notice("STOPPING=1")
    try:
        code = server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fail("still running 10 s after SIGTERM")
    if code != 0:
        fail(f"exited {code} after SIGTERM")
    log_reader.join(timeout=5)
    if "configuration reloaded" not in "".join(log):
        fail("the reload was not logged")
    print("stopped cleanly (STOPPING=1, exit 0)")


if __name__ == "__main__":
    main()

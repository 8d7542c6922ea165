"""Shared plumbing for the PJSIP (pjsua2) interop scripts in this directory.

presence_buddy.py, publish_busy.py and mwi_register.py drive babble-presence through one
pjsua2 Endpoint in the same way; this module holds what they have in common:

  - importing pjsua2 (exit 1 with an install hint on stderr when it is missing), exported
    as `pj`;
  - the command-line options every script takes (--server HOST:PORT, --transport
    udp|tcp|tls, --ca for TLS, --timeout, --log-level) and the SIP URIs built from --server (outbound proxy,
    registrar);
  - InteropEndpoint: a hard watchdog (faulthandler) that ends the process when a run
    outlives --timeout + SHUTDOWN_GRACE, libCreate() with its start-up chatter kept off
    stdout, a single-threaded endpoint (no worker threads, callbacks only from
    libHandleEvents) with PJSIP's log on stderr, one client transport, null audio, polling
    helpers and libDestroy();
  - account_config (an account that does not register, through the server as proxy),
    WatcherBuddy (a buddy that records and prints each presence state it is told) and
    publisher_and_watcher (one account publishing, another watching it).

Stdout is reserved for the scripts' own lines, which other code parses; everything this
module prints goes to stderr. It is not meant to be run on its own.
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

# Seconds allowed, after --timeout, for the clean shutdown (un-REGISTER, un-SUBSCRIBE,
# un-PUBLISH) and libDestroy(); the watchdog fires one second after that.
SHUTDOWN_GRACE = 5.0

USER_AGENT = "babble-interop-pjsua2"

EVSUB_NAMES = {
    pj.PJSIP_EVSUB_STATE_NULL: "NULL",
    pj.PJSIP_EVSUB_STATE_SENT: "SENT",
    pj.PJSIP_EVSUB_STATE_ACCEPTED: "ACCEPTED",
    pj.PJSIP_EVSUB_STATE_PENDING: "PENDING",
    pj.PJSIP_EVSUB_STATE_ACTIVE: "ACTIVE",
    pj.PJSIP_EVSUB_STATE_TERMINATED: "TERMINATED",
    pj.PJSIP_EVSUB_STATE_UNKNOWN: "UNKNOWN",
}


def evsub_name(state):
    """Name of a pjsip_evsub_state value ("ACTIVE", ...), or the number if unknown."""
    return EVSUB_NAMES.get(state, str(state))


def make_err(tag):
    """A function that prints one '[tag] message' line on stderr and flushes it."""
    def err(msg):
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)
    return err


def out(msg):
    """Prints one line on stdout (the parsed channel) and flushes it."""
    print(msg, flush=True)


class StderrLogWriter(pj.LogWriter):
    """Sends PJSIP's log to stderr so stdout only carries the script's own lines."""

    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")
        sys.stderr.flush()


# --- command line -------------------------------------------------------------------------

def parse_server(value):
    """argparse type for --server: 'HOST:PORT' ('[v6]:PORT' too) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:5060")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def add_server_args(ap, server_help):
    """Adds --server HOST:PORT (required), --transport udp|tcp|tls (default udp) and --ca."""
    ap.add_argument("--server", required=True, type=parse_server, metavar="HOST:PORT",
                    help=server_help)
    ap.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    ap.add_argument("--ca", metavar="PEM",
                    help="with --transport tls: the CA (or self-signed certificate) the server's "
                         "certificate must chain to; the server's name is verified against it")


def add_timeout_arg(ap, waited_for):
    """Adds --timeout SECONDS (default 20): how long to wait for `waited_for`."""
    ap.add_argument("--timeout", type=float, default=20.0,
                    help=f"seconds to wait for {waited_for} (default 20); "
                         f"shutdown gets {SHUTDOWN_GRACE:.0f} s more, then a watchdog exits")


def add_log_level_arg(ap):
    """Adds --log-level N (default 2): PJSIP's log level on stderr."""
    ap.add_argument("--log-level", type=int, default=2,
                    help="PJSIP log level on stderr (0-6; 5 shows the SIP messages; default 2)")


# --- SIP URIs -----------------------------------------------------------------------------

def uri_host(host):
    """Host as written in a SIP URI: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def server_uri(host, port, transport):
    """sip:HOST:PORT;transport=T, the server itself (used as registrar)."""
    return f"sip:{uri_host(host)}:{port};transport={transport}"


def proxy_uri(host, port, transport):
    """sip:HOST:PORT;transport=T;lr, the server as loose-routing outbound proxy."""
    return server_uri(host, port, transport) + ";lr"


# --- endpoint -----------------------------------------------------------------------------

class InteropEndpoint:
    """One pjsua2 Endpoint for a run of --timeout seconds.

    Creating it records t0 and the deadline (t0 + timeout), arms the watchdog and calls
    libCreate(). Then start() configures and starts the library, pump_until()/pump_for()
    poll it, and destroy() (in the script's `finally`) tears it down and disarms the
    watchdog. Account and buddy objects stay in the script: it must delete them, after
    their un-REGISTER/un-SUBSCRIBE, before calling destroy().
    """

    def __init__(self, timeout):
        self.timeout = timeout
        self.t0 = time.monotonic()
        self.deadline = self.t0 + timeout
        # Hard stop that needs neither the GIL nor the main thread: if anything
        # (including libDestroy) blocks, the process exits on its own.
        faulthandler.dump_traceback_later(timeout + SHUTDOWN_GRACE + 1.0, exit=True)

        # libCreate() prints a few lines before our log writer is installed; keep
        # them off stdout.
        saved_stdout = os.dup(1)
        os.dup2(2, 1)
        self.ep = pj.Endpoint()
        try:
            self.ep.libCreate()
        finally:
            sys.stdout.flush()
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)

        # Referenced for as long as the library runs: PJSIP calls into it.
        self.writer = StderrLogWriter()
        self.tp_id = None

    def start(self, transport, host, log_level, ca=None):
        """libInit, one client transport ('udp'/'tcp'/'tls', any free local port; over TLS
        the server's certificate is verified against the PEM file `ca`), libStart, null
        audio device. Returns the transport id for sipConfig.transportId.
        Raises pj.Error."""
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0          # no worker threads: we poll
        ep_cfg.uaConfig.mainThreadOnly = True  # callbacks run in libHandleEvents
        ep_cfg.uaConfig.userAgent = USER_AGENT
        ep_cfg.logConfig.level = log_level
        ep_cfg.logConfig.consoleLevel = log_level
        ep_cfg.logConfig.msgLogging = 1 if log_level >= 5 else 0
        ep_cfg.logConfig.writer = self.writer
        ep_cfg.medConfig.noVad = True
        self.ep.libInit(ep_cfg)

        tp_cfg = pj.TransportConfig()
        tp_cfg.port = 0  # any free local port
        tp_cfg.boundAddress = "127.0.0.1" if host in ("127.0.0.1", "localhost") else ""
        tp_type = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP,
                   "tls": pj.PJSIP_TRANSPORT_TLS}[transport]
        if transport == "tls":
            if not ca:
                raise ValueError("--transport tls needs --ca")
            tp_cfg.tlsConfig.CaListFile = ca
            tp_cfg.tlsConfig.verifyServer = True
        self.tp_id = self.ep.transportCreate(tp_type, tp_cfg)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        return self.tp_id

    def version(self):
        """PJSIP's full version string, e.g. '2.15.1'."""
        return self.ep.libVersion().full

    def elapsed(self):
        """Seconds since t0."""
        return time.monotonic() - self.t0

    def pump_until(self, pred, until):
        """Handles events (callbacks run here) until pred() is true (returns True) or the
        monotonic time `until` has passed (returns pred() once more)."""
        while time.monotonic() < until:
            if pred():
                return True
            self.ep.libHandleEvents(50)
        return pred()

    def pump_for(self, seconds):
        """Handles events for `seconds`, e.g. to let an un-SUBSCRIBE go out and be answered."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ep.libHandleEvents(50)

    def close(self, accounts, err):
        """Shuts the live `accounts` down (their un-SUBSCRIBE and un-PUBLISH go out and get
        a second to be answered), then destroys the library."""
        try:
            for account in accounts:
                if account is not None:
                    account.shutdown()
            self.pump_for(1.0)
        except pj.Error as exc:
            err(f"shutdown error: {exc.info()}")
        self.destroy()

    def destroy(self):
        """libDestroy(), then disarms the watchdog."""
        self.ep.libDestroy()
        self.ep = None
        faulthandler.cancel_dump_traceback_later()


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


class WatcherBuddy(pj.Buddy):
    """A watcher's buddy entry: records every presence state PJSIP reports, and prints one
    `buddy-state #N ...` line on stdout for each."""

    def __init__(self, t0, err):
        pj.Buddy.__init__(self)
        self.t0 = t0
        self.err = err
        self.states = []      # dicts, in callback order
        self.sub_states = []  # subscription state names, in callback order

    def onBuddyState(self):
        try:
            info = self.getInfo()
            ps = info.presStatus
            rec = {
                "t": time.monotonic() - self.t0,
                "status": STATUS_NAMES.get(ps.status, str(ps.status)),
                "note": ps.note,
                "activity": ACTIVITY_NAMES.get(ps.activity, str(ps.activity)),
                "sub": evsub_name(info.subState),
            }
            self.states.append(rec)
            out(f"buddy-state #{len(self.states)} {describe(rec)}")
        except Exception as exc:  # never let an exception vanish inside a callback
            self.err(f"onBuddyState error: {exc!r}")

    def onBuddyEvSubState(self, prm):
        try:
            info = self.getInfo()
            name = evsub_name(info.subState)
            self.sub_states.append(name)
            self.err(f"B's subscription to A: {name} "
                f"(last SIP code {info.subTermCode}, reason {info.subTermReason!r})")
        except Exception as exc:
            self.err(f"onBuddyEvSubState error: {exc!r}")


def describe(rec):
    return (f"t={rec['t']:.2f}s status={rec['status']} note={rec['note']!r} "
            f"activity={rec['activity']} sub={rec['sub']}")


def account_config(uri, proxy, transport_id, publish, priority):
    """An account that does not register and sends everything through `proxy`.

    pjsua picks the account for a buddy's SUBSCRIBE by the buddy URI's domain
    (pjsua_acc_find_for_outgoing); when two accounts share the domain, the one with the
    higher `priority` watches."""
    cfg = pj.AccountConfig()
    cfg.idUri = uri
    cfg.priority = priority
    cfg.regConfig.registrarUri = ""
    cfg.regConfig.registerOnAdd = False
    cfg.sipConfig.proxies.append(proxy)
    cfg.sipConfig.transportId = transport_id
    cfg.presConfig.publishEnabled = publish
    cfg.mediaConfig.transportConfig.port = 0
    return cfg


def publisher_and_watcher(publisher_uri, watcher_uri, proxy, transport_id, t0, err):
    """Two accounts through `proxy`: one publishing its presence, and one (of higher priority,
    so pjsua picks it for the SUBSCRIBE) watching it with a WatcherBuddy. Returns (publisher
    account, watcher account, buddy)."""
    publisher = pj.Account()
    publisher.create(account_config(publisher_uri, proxy, transport_id, True, 0))
    watcher = pj.Account()
    watcher.create(account_config(watcher_uri, proxy, transport_id, False, 10))
    buddy = WatcherBuddy(t0, err)
    config = pj.BuddyConfig()
    config.uri = publisher_uri
    config.subscribe = True
    buddy.create(watcher, config)
    return publisher, watcher, buddy

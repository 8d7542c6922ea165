//! Interop: call state from a real proxy. Kamailio 5.6 (Debian's `kamailio` and
//! `kamailio-presence-modules`) runs `interop/kamailio/kamailio.cfg` and routes a call from a
//! SIPp caller (1001, `kamailio_caller.xml`) to a SIPp callee (1002, `kamailio_callee.xml`);
//! its `dialog`, `pua` and `pua_dialoginfo` modules PUBLISH (RFC 3903) every change of the
//! call, for both parties, as an RFC 4235 dialog-info document to the real binary. Two SIPp
//! BLF watchers subscribed there (`kamailio_blf_watcher.xml`, Event: dialog) must see, for
//! that call: the callee's dialog early → confirmed → terminated with the caller as the
//! remote identity, and the caller's trying and/or early → confirmed → terminated with the
//! callee as the remote identity. Run over UDP, and over TCP (every leg and the PUBLISHes).
//! Mandatory when `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored without
//! `kamailio` or `sipp`. With `BABBLE_KAMAILIO_AGAINST=SIP_ADDR,HTTP_ADDR` the call is published
//! to a server already running there instead: `pkg/check-deb.sh` points it at the service of
//! the installed Debian package.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use babble_presence::Transport;
use serde_json::Value;
use tokio::time::Instant;

use crate::interop::{scenario, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

/// The phones' domain: Kamailio's alias, and the host of the entities it publishes.
const DOMAIN: &str = "pbx.example.com";
/// Debian's db_text copy of Kamailio's schema: `pua` will not start without its table.
const DBTEXT_SCHEMA: &str = "/usr/share/kamailio/dbtext/kamailio";
/// How long a call with its watchers may take before the test fails (it takes about 3 s).
const CALL_DEADLINE: Duration = Duration::from_secs(25);

/// The `kamailio` binary: on the PATH, or in /usr/sbin where Debian puts it (often not on a
/// test's PATH).
pub(crate) fn kamailio_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("kamailio")).find(|p| p.is_file()));
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/kamailio")).filter(|p| p.is_file()))
}

/// Whether Kamailio's module `file` is installed (in the multiarch module directory).
pub(crate) fn module_installed(file: &str) -> bool {
    let modules = std::fs::read_dir("/usr/lib").into_iter().flatten().flatten();
    modules.into_iter().any(|d| d.path().join("kamailio/modules").join(file).is_file())
}

/// The `kamailio` binary, when it and the presence modules are installed; else `None` after
/// reporting the skip.
fn kamailio() -> Option<PathBuf> {
    let binary = kamailio_binary();
    // pua_dialoginfo.so comes with kamailio-presence-modules.
    let modules = module_installed("pua_dialoginfo.so");
    let found = binary.is_some() && modules && Path::new(DBTEXT_SCHEMA).join("pua").is_file();
    let install = "apt-get install kamailio kamailio-presence-modules";
    tool_available(found, "kamailio with its presence modules", install).then_some(binary).flatten()
}

/// Blocks this (plain, runtime-less) test thread between polls of a process or a port.
#[allow(clippy::disallowed_methods)]
pub(crate) fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A process in a process group of its own (Kamailio forks its workers into it), its output
/// in a file; the whole group is ended when dropped, so no path out of the test leaves one.
pub(crate) struct Running {
    pub(crate) child: Child,
    what: String,
    output: PathBuf,
}

impl Running {
    pub(crate) fn spawn(mut command: Command, what: &str, output: PathBuf) -> Running {
        let out = File::create(&output).unwrap();
        command.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).process_group(0);
        let child = command.spawn().unwrap_or_else(|e| panic!("{what} starts: {e}"));
        Running { child, what: what.to_owned(), output }
    }

    /// Its exit status, waiting until `deadline` at most.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            nap(50);
        }
    }

    /// Everything it printed.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// What it printed, for failure messages (the last 80 lines).
    pub(crate) fn output(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} ---\n{}", self.what, lines[lines.len().saturating_sub(80)..].join("\n"))
    }

    fn signal_group(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-s", signal, "--", &group]).stderr(Stdio::null()).status();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only while the process is not yet reaped does its id surely still name our group.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // Kamailio's main process ends its workers on SIGTERM; SIGKILL the group if it lingers.
        self.signal_group("TERM");
        if self.wait_until(Instant::now() + Duration::from_secs(5)).is_none() {
            self.signal_group("KILL");
            let _ = self.child.wait();
        }
    }
}

/// One `<dialog>` of a NOTIFY body, as far as the test looks.
#[derive(Debug)]
struct Dialog {
    call_id: String,
    direction: String,
    state: String,
    remote_identity: String,
}

/// The value of attribute `name` in the start tag `tag`.
fn attribute(tag: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    tag.split_once(&key).and_then(|(_, rest)| rest.split_once('"')).map(|(v, _)| v.to_owned()).unwrap_or_default()
}

/// The text of the first `<element ...>text</element>` in `xml`.
fn element_text(xml: &str, element: &str) -> String {
    let Some((_, rest)) = xml.split_once(&format!("<{element}")) else { return String::new() };
    let Some((_, rest)) = rest.split_once('>') else { return String::new() };
    rest.split_once(&format!("</{element}>")).map(|(text, _)| text.trim().to_owned()).unwrap_or_default()
}

/// The dialogs of a dialog-info document (RFC 4235 §4), by plain text search: the test should
/// not read the server's output with the server's own parser.
fn dialogs(body: &str) -> Vec<Dialog> {
    body.split("<dialog ")
        .skip(1)
        .map(|part| {
            let part = part.split("</dialog>").next().unwrap_or_default();
            let tag = part.split('>').next().unwrap_or_default();
            let tag = format!(" {tag}");
            let remote = element_text(part, "remote");
            Dialog {
                call_id: attribute(&tag, "call-id"),
                direction: attribute(&tag, "direction"),
                state: element_text(part, "state").to_ascii_lowercase(),
                remote_identity: element_text(&remote, "identity"),
            }
        })
        .collect()
}

/// The bodies of the NOTIFYs SIPp received, in order, from its `-trace_msg` message log.
fn notify_bodies(message_log: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(message_log).unwrap_or_default();
    log.split("\n-----------------------------------------------")
        .filter_map(|entry| {
            let (head, message) = entry.split_once("\n\n")?;
            (head.contains("message received") && message.starts_with("NOTIFY "))
                .then(|| message.split_once("\r\n\r\n").map_or("", |(_, body)| body).trim().to_owned())
        })
        .collect()
}

/// The first value of header `name` in a SIPp message log.
fn header_in_log(message_log: &Path, name: &str) -> String {
    let log = std::fs::read_to_string(message_log).unwrap_or_default();
    let prefix = format!("{name}: ");
    log.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_owned()).unwrap_or_default()
}

/// Waits until something answers an OPTIONS at Kamailio's UDP address (any answer: the
/// recipe answers non-INVITEs 405), failing with its log if it exits or stays silent.
pub(crate) fn wait_for_kamailio(kamailio: &mut Running, address: SocketAddr) {
    let probe = udp_client();
    probe.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + WAIT;
    for n in 0.. {
        if let Some(status) = kamailio.child.try_wait().unwrap() {
            panic!("Kamailio exited at start-up ({status})\n{}", kamailio.output());
        }
        probe.send_to(options(probe.local_addr().unwrap(), "UDP", &format!("probe{n}")).as_bytes(), address).unwrap();
        if recv_text(&probe).is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "Kamailio does not answer at {address}\n{}", kamailio.output());
    }
}

/// Waits until a process has bound `port` on 127.0.0.1 for `transport` (SIPp's UAS prints
/// nothing when it is ready; a bind that fails says it is).
fn wait_for_bound(process: &mut Running, port: u16, transport: Transport) {
    let deadline = Instant::now() + WAIT;
    loop {
        let free = if transport == Transport::Udp {
            UdpSocket::bind(("127.0.0.1", port)).is_ok()
        } else {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
        };
        if !free {
            return;
        }
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("{} exited before listening ({status})\n{}", process.what, process.output());
        }
        assert!(Instant::now() < deadline, "{} does not listen on {port}", process.what);
        nap(20);
    }
}

/// States of one party's dialog for the call across a watcher's NOTIFYs, repeats folded
/// (a NOTIFY that changes nothing for this call, e.g. the other party's, adds nothing).
fn states_of(bodies: &[String], call_id: &str, direction: &str, remote: &str, who: &str) -> Vec<String> {
    let mut states: Vec<String> = Vec::new();
    for body in bodies {
        for dialog in dialogs(body).into_iter().filter(|d| d.call_id == call_id) {
            assert_eq!(dialog.direction, direction, "{who}: direction of {dialog:?} in\n{body}");
            assert!(
                dialog.remote_identity.starts_with(remote),
                "{who}: the remote identity should be {remote}…: {dialog:?} in\n{body}"
            );
            if states.last() != Some(&dialog.state) {
                states.push(dialog.state);
            }
        }
    }
    states
}

/// The babble-presence the call is published to, as `Server` gives its addresses.
struct PresenceServer {
    udp: SocketAddr,
    tcp: SocketAddr,
    http: SocketAddr,
    /// The binary started on its defaults; `None` for one already running.
    _started: Option<Server>,
}

impl PresenceServer {
    fn new() -> Self {
        match std::env::var("BABBLE_KAMAILIO_AGAINST") {
            Ok(running) => {
                let (sip, http) = running.split_once(',').expect("BABBLE_KAMAILIO_AGAINST=SIP_ADDR,HTTP_ADDR");
                let sip: SocketAddr = sip.parse().expect("a SIP address");
                PresenceServer { udp: sip, tcp: sip, http: http.parse().expect("an HTTP address"), _started: None }
            }
            Err(_) => {
                let server = Server::start(&[]);
                PresenceServer { udp: server.udp, tcp: server.tcp, http: server.http, _started: Some(server) }
            }
        }
    }
}

/// The recipe end to end over `transport`; returns after every assertion has passed.
fn call_through_kamailio(kamailio_binary: &Path, sipp: &Path, transport: Transport) {
    let dir = temp_dir("kamailio");
    // pua's db_text "database": Debian's schema files for the two tables it reads.
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    for table in ["version", "pua"] {
        std::fs::copy(Path::new(DBTEXT_SCHEMA).join(table), db.join(table)).unwrap();
    }
    // The server on its defaults, as an operator starts it: its publish.min_expires (10) takes
    // the PUBLISH of a call's end, which pua_dialoginfo sends with Expires: 11 and does not
    // retry when refused (a minimum of 60 left the lamp busy).
    let server = PresenceServer::new();
    let (presence, flag) = match transport {
        Transport::Udp => (server.udp, ""),
        _ => (server.tcp, ";transport=tcp"),
    };

    let kamailio_port = free_port();
    let callee_port = free_port();
    let kamailio_at: SocketAddr = ([127, 0, 0, 1], kamailio_port).into();
    let mut command = Command::new(kamailio_binary);
    command
        .arg("-f")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/kamailio/kamailio.cfg"))
        .args(["-DD", "-E", "-w", dir.to_str().unwrap(), "-P", dir.join("kamailio.pid").to_str().unwrap()])
        // Without a protocol, Kamailio listens on the address over UDP and TCP both.
        .args(["-A", &format!("LISTEN=127.0.0.1:{kamailio_port}")])
        .args(["-A", &format!("SIP_DOMAIN=\"{DOMAIN}\"")])
        .args(["-A", &format!("PRESENCE_SERVER=\"sip:{presence}{flag}\"")])
        .args(["-A", &format!("NEXT_HOP=\"sip:127.0.0.1:{callee_port}{flag}\"")])
        .args(["-A", &format!("PUA_DB_URL=\"text://{}\"", db.display())]);
    let mut kamailio = Running::spawn(command, "Kamailio", dir.join("kamailio.log"));
    wait_for_kamailio(&mut kamailio, kamailio_at);

    let t = sipp_flag(transport);
    let sipp_command = |target: Option<SocketAddr>, name: &str, port: u16, log: &Path, extra: &[&str]| {
        let mut command = Command::new(sipp);
        command
            .args(target.map(|a| a.to_string()))
            .args(["-sf", scenario(name).to_str().unwrap(), "-t", t, "-m", "1", "-key", "domain", DOMAIN])
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-timeout", "20s", "-timeout_error", "-nostdin"])
            .args(["-trace_msg", "-message_file", log.to_str().unwrap()])
            .args(extra);
        command
    };

    // The BLF keys first: each subscribed (the server counts its watcher) before the call.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut watchers = Vec::new();
    for user in ["1002", "1001"] {
        let log = dir.join(format!("watcher-{user}.log"));
        let command =
            sipp_command(Some(presence), "kamailio_blf_watcher.xml", free_port(), &log, &["-key", "entity", user]);
        watchers.push((
            Running::spawn(command, &format!("SIPp BLF watcher of {user}"), dir.join(format!("watcher-{user}.out"))),
            log,
        ));
        let path = format!("/api/v1/entities/{user}@{DOMAIN}");
        runtime.block_on(api_until(server.http, &path, &format!("the watcher of {user} subscribes"), |e| {
            e["watchers"].as_u64() >= Some(1)
        }));
    }

    let callee_log = dir.join("callee.log");
    let mut callee = Running::spawn(
        sipp_command(None, "kamailio_callee.xml", callee_port, &callee_log, &[]),
        "SIPp callee 1002",
        dir.join("callee.out"),
    );
    wait_for_bound(&mut callee, callee_port, transport);
    let caller_log = dir.join("caller.log");
    let caller_command = sipp_command(Some(kamailio_at), "kamailio_caller.xml", free_port(), &caller_log, &[]);
    let mut caller = Running::spawn(caller_command, "SIPp caller 1001", dir.join("caller.out"));

    // Every SIPp scenario must complete: the call (INVITE, 180, 200, ACK, BYE through the
    // proxy) and each watcher (it stops at the NOTIFY that shows the call terminated).
    let deadline = Instant::now() + CALL_DEADLINE;
    let mut failed = Vec::new();
    for process in [&mut caller, &mut callee].into_iter().chain(watchers.iter_mut().map(|(w, _)| w)) {
        let status = process.wait_until(deadline);
        if !status.is_some_and(|s| s.success()) {
            failed.push(format!("{} ({status:?})", process.what));
        }
    }
    // The call's Call-ID, as the caller sent it: pua_dialoginfo puts it in call-id="…".
    let call_id = header_in_log(&caller_log, "Call-ID");
    if !failed.is_empty() {
        // What each BLF key showed of the call first, then everything else.
        let mut text = Vec::new();
        for (watcher, log) in &watchers {
            let shown: Vec<Vec<String>> = notify_bodies(log)
                .iter()
                .map(|b| dialogs(b).into_iter().filter(|d| d.call_id == call_id).map(|d| d.state).collect())
                .collect();
            text.push(format!("{} was shown, NOTIFY by NOTIFY: {shown:?}", watcher.what));
        }
        text.extend([caller.output(), callee.output()]);
        for (watcher, log) in &watchers {
            text.push(watcher.output());
            text.push(format!("NOTIFY bodies it received:\n{}", notify_bodies(log).join("\n")));
        }
        text.push(kamailio.output());
        let (failed, text) = (failed.join(", "), text.join("\n"));
        panic!("over {transport:?}, not completed: {failed} (logs kept in {})\n{text}", dir.display());
    }

    assert!(!call_id.is_empty(), "no Call-ID in the caller's log {}", caller_log.display());
    let callee_bodies = notify_bodies(&watchers[0].1);
    let caller_bodies = notify_bodies(&watchers[1].1);

    // The callee's BLF key: rings (early), answered (confirmed), hung up (terminated), each
    // naming the caller, in that order and nothing else (RFC 4235 §3.7.1).
    let caller_uri = format!("sip:1001@{DOMAIN}");
    let callee_states = states_of(&callee_bodies, &call_id, "recipient", &caller_uri, "callee 1002");
    assert_eq!(
        callee_states,
        ["early", "confirmed", "terminated"],
        "the callee's dialog over {transport:?}; NOTIFY bodies:\n{}",
        callee_bodies.join("\n")
    );

    // The caller's: pua_dialoginfo publishes "Trying" at the INVITE and "early" at the 180;
    // both say the call is not answered yet, and two so close together may reach the
    // watcher as one NOTIFY. Then confirmed and terminated.
    let callee_uri = format!("sip:1002@{DOMAIN}");
    let caller_states = states_of(&caller_bodies, &call_id, "initiator", &callee_uri, "caller 1001");
    let order = ["trying", "early", "confirmed", "terminated"];
    let ranks: Vec<Option<usize>> = caller_states.iter().map(|s| order.iter().position(|o| o == s)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1])
            && ranks.first().is_some_and(|r| r.is_some_and(|r| r <= 1))
            && caller_states.ends_with(&["confirmed".to_owned(), "terminated".to_owned()]),
        "the caller's dialog over {transport:?} went {caller_states:?}; NOTIFY bodies:\n{}",
        caller_bodies.join("\n")
    );

    // And the server holds no call for either any more: the terminated PUBLISHes were taken.
    for user in ["1001", "1002"] {
        let entity = runtime.block_on(get_json(server.http, &format!("/api/v1/entities/{user}@{DOMAIN}")));
        assert_eq!(entity["calls"], Value::Array(Vec::new()), "{user} after the call: {entity}");
    }
    drop(watchers);
    drop(kamailio);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The feature the matrix shows for this test.
const FEATURE: &str = "call state published by the proxy: BLF of callee early → confirmed → terminated, \
                       of caller trying/early → confirmed → terminated, remote party named";

#[cfg_attr(
    not(all(has_kamailio, has_sipp)),
    ignore = "needs Kamailio: apt-get install kamailio kamailio-presence-modules and SIPp: apt-get install sip-tester"
)]
#[test]
fn kamailio_publishes_call_state_that_blf_watchers_see_over_udp() {
    let (Some(sipp), Some(kamailio)) = (sipp(), kamailio()) else { return };
    call_through_kamailio(&kamailio, &sipp, Transport::Udp);
    matrix::passed(Client::Kamailio, Transport::Udp, FEATURE);
}

#[cfg_attr(
    not(all(has_kamailio, has_sipp)),
    ignore = "needs Kamailio: apt-get install kamailio kamailio-presence-modules and SIPp: apt-get install sip-tester"
)]
#[test]
fn kamailio_publishes_call_state_that_blf_watchers_see_over_tcp() {
    let (Some(sipp), Some(kamailio)) = (sipp(), kamailio()) else { return };
    call_through_kamailio(&kamailio, &sipp, Transport::Tcp);
    matrix::passed(Client::Kamailio, Transport::Tcp, FEATURE);
}

//! Interop with baresip (Debian's `baresip-core` 1.0.0) against the real binary over UDP,
//! TCP and TLS (its `sip_cafile` set to the server's self-signed certificate; baresip 1.0
//! does not check the server's certificate against it, so the TLS runs prove the transport,
//! not the trust): it registers, subscribes to a contact's presence through its `presence` module, and
//! reports the contact going busy (DND), offline and online again as the state is pushed
//! through the HTTP API; and, with its `mwi` module, it subscribes once to its own
//! message-summary and prints the counts pushed through the HTTP API.
//!
//! The `mwi` module of 1.0.0 (still so upstream) has a start-up race that floods any
//! registrar answering within about a millisecond with SUBSCRIBEs: `module_init` arms a
//! one-shot 1 ms timer whose handler (`tmr_handler`, modules/mwi/mwi.c) walks the module's
//! list of subscriptions and calls `mwi_subscribe` for each entry, and `mwi_subscribe`
//! appends a new entry to that same list. If the account's REGISTER got its 200 OK before
//! the timer fired (the `account` module sends it while the modules load, and libre's
//! main loop handles sockets before timers), the list is not empty and the walk never
//! ends: baresip sends SUBSCRIBE after SUBSCRIBE and never polls its sockets again, so no
//! answer of ours can stop it. The MWI test therefore starts baresip with no account,
//! lets that timer pass, and creates the account afterwards over baresip's UDP console
//! (`cons` module, `/uanew`). Mandatory under `BABBLE_REQUIRE_INTEROP=1`; elsewhere
//! reported as ignored, naming what to install, without `baresip` (see `build.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use babble_presence::Transport;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::matrix::{self, Client};
use crate::support::*;

/// A baresip process whose output lines arrive on a channel; killed when dropped.
struct Baresip {
    child: Child,
    lines: mpsc::Receiver<String>,
    dir: std::path::PathBuf,
}

impl Baresip {
    /// Starts baresip as 1001 with 1002 as a presence contact, registered at `server`
    /// (`udp`, `tcp` or `tls`, trusting `ca`).
    fn start(server: SocketAddr, transport: &str, ca: Option<&Path>) -> Baresip {
        let dir = temp_dir("baresip");
        let config = "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
                      module g711.so\nmodule_app account.so\nmodule_app contact.so\nmodule_app presence.so\n";
        std::fs::write(dir.join("config"), config.to_owned() + &cafile(ca)).unwrap();
        std::fs::write(dir.join("accounts"), format!("<sip:1001@{server};transport={transport}>;regint=600\n"))
            .unwrap();
        std::fs::write(
            dir.join("contacts"),
            format!("\"Bob\" <sip:1002@{server};transport={transport}>;presence=p2p\n"),
        )
        .unwrap();
        Baresip::spawn(dir)
    }

    /// Starts baresip with the `mwi` module, `menu` (which prints each MWI NOTIFY's body)
    /// and a UDP console on `console`, with no account yet (see [`Baresip::add_account`]),
    /// trusting `ca` for TLS.
    fn start_for_mwi(console: u16, ca: Option<&Path>) -> Baresip {
        let dir = temp_dir("baresip-mwi");
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule cons.so\ncons_listen 127.0.0.1:{console}\n\
             module_app account.so\nmodule_app menu.so\nmodule_app mwi.so\n{}",
            cafile(ca)
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(dir.join("accounts"), "").unwrap();
        Baresip::spawn(dir)
    }

    fn spawn(dir: std::path::PathBuf) -> Baresip {
        let mut child = Command::new("baresip")
            .args(["-f", dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(strip_colours(&line)).is_err() {
                    return;
                }
            }
        });
        Baresip { child, lines, dir }
    }

    /// Creates and registers 1001 at `server` over `transport` by typing `/uanew` into the
    /// console on `console`. The account's outbound proxy is the server over the same
    /// transport: the `mwi` module sends its SUBSCRIBE to the bare address of record
    /// (`sip:1001@host:port`, no `transport` parameter), which without a route goes over UDP
    /// even for a TCP account.
    fn add_account(console: u16, server: SocketAddr, transport: &str) {
        let line = format!(
            "/uanew <sip:1001@{server};transport={transport}>;regint=600;\
             outbound=\"sip:{server};transport={transport}\"\n"
        );
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(line.as_bytes(), ("127.0.0.1", console)).unwrap();
    }

    /// Waits (up to [`WAIT`] in all, however much else baresip prints meanwhile) for an
    /// output line containing `text`; panics with the last lines that came instead.
    fn expect_line(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = std::collections::VecDeque::new();
        let mut skipped = 0usize;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => {
                    seen.push_back(line);
                    if seen.len() > 40 {
                        seen.pop_front();
                        skipped += 1;
                    }
                }
                Err(_) => {
                    let seen: Vec<String> = seen.into();
                    panic!(
                        "baresip never said {text:?}; it said ({skipped} earlier lines left out):\n{}",
                        seen.join("\n")
                    )
                }
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// baresip's configuration line naming the CA file TLS trusts, if any.
fn cafile(ca: Option<&Path>) -> String {
    ca.map(|ca| format!("sip_cafile {}\n", ca.display())).unwrap_or_default()
}

/// The transports baresip is run over: its `transport` URI parameter and the matrix column.
const TRANSPORTS: [(&str, Transport); 3] = [("udp", Transport::Udp), ("tcp", Transport::Tcp), ("tls", Transport::Tls)];

/// The binary for a run over `transport`, the address baresip is to use, and over TLS the
/// self-signed certificate the server listens with (on a `tls` listener added to UDP and
/// TCP, its `[sip.tls]` in a configuration file beside the certificate).
fn server_for(transport: Transport) -> (Server, SocketAddr, Option<PathBuf>) {
    if transport != Transport::Tls {
        let server = Server::start(&[]);
        let target = if transport == Transport::Udp { server.udp } else { server.tcp };
        return (server, target, None);
    }
    let (dir, certificate, _key) = self_signed("baresip-tls");
    let config = dir.join("babble-presence.toml");
    let tls = "[sip.tls]\ncertificate = \"babble-presence.crt\"\nprivate_key = \"babble-presence.key\"\n";
    std::fs::write(&config, tls).unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap(), "--listen", "tls:127.0.0.1:0"]);
    let target = server.tls.expect("a tls listener");
    (server, target, Some(certificate))
}

/// Removes ANSI colour sequences (`ESC [ ... m`).
fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn baresip_available() -> bool {
    let found = Command::new("baresip").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    tool_available(found, "baresip", "apt-get install baresip-core")
}

/// Pushes Bob's (1002's) presence through the API.
async fn push_status(http: std::net::SocketAddr, status: Value) {
    put_accepted(http, "/api/v1/entities/1002@127.0.0.1/status", &status).await;
}

#[cfg_attr(not(has_baresip), ignore = "needs baresip: apt-get install baresip-core")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_and_sees_a_contact_go_busy_offline_and_online() {
    if !baresip_available() {
        return;
    }
    for (transport, column) in TRANSPORTS {
        let (server, target, ca) = server_for(column);
        let baresip = Baresip::start(target, transport, ca.as_deref());
        baresip.expect_line("200 OK");
        // The presence subscription for Bob is in place before his state changes.
        let watching = |s: &Value| s["entity"] == "1002@127.0.0.1" && s["event"] == "presence";
        let what = format!("baresip subscribed to 1002's presence over {transport}");
        api_until(server.http, "/api/v1/subscriptions", &what, |all| {
            all.as_array().is_some_and(|all| all.iter().any(watching))
        })
        .await;
        let registrations = get_json(server.http, "/api/v1/registrations").await;
        assert!(registrations[0]["useragent"].as_str().is_some_and(|ua| ua.starts_with("baresip")), "{registrations}");
        assert_eq!(registrations[0]["source"]["transport"], transport);

        push_status(server.http, json!({"status": "open", "note": "DND", "dnd": true})).await;
        baresip.expect_line("to Busy");
        push_status(server.http, json!({"status": "closed"})).await;
        baresip.expect_line("to Offline");
        push_status(server.http, json!({"status": "open"})).await;
        baresip.expect_line("to Online");
        let feature =
            "presence: registers; its `presence` module shows a contact busy (DND), offline, online as state is pushed";
        matrix::passed(Client::Baresip, column, feature);
    }
}

/// The server's message-summary subscriptions for 1001@127.0.0.1.
async fn mwi_subscriptions(http: std::net::SocketAddr) -> Vec<Value> {
    let listed = get_json(http, "/api/v1/subscriptions").await;
    let all = listed.as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|s| s["entity"] == "1001@127.0.0.1" && s["event"] == "message-summary").collect()
}

async fn push_voicemail(http: std::net::SocketAddr, counts: Value) {
    put_accepted(http, "/api/v1/entities/1001@127.0.0.1/voicemail", &counts).await;
}

impl Baresip {
    /// Waits for one MWI NOTIFY printed by `menu` (`----- MWI for ... -----` and the body's
    /// lines) whose `Messages-Waiting` and `Voice-Message` are `waiting` and `voice`.
    fn expect_mwi(&self, waiting: &str, voice: &str) {
        self.expect_line("----- MWI for sip:1001@127.0.0.1");
        let line = self.expect_line("Messages-Waiting:");
        assert_eq!(line.trim(), format!("Messages-Waiting: {waiting}"));
        let line = self.expect_line("Voice-Message:");
        assert_eq!(line.trim(), format!("Voice-Message: {voice}"));
    }
}

#[cfg_attr(not(has_baresip), ignore = "needs baresip: apt-get install baresip-core")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_subscribes_to_mwi_once_and_shows_the_counts_pushed() {
    if !baresip_available() {
        return;
    }
    for (transport, column) in TRANSPORTS {
        let (server, target, ca) = server_for(column);
        let console = free_port();
        let baresip = Baresip::start_for_mwi(console, ca.as_deref());
        baresip.expect_line("baresip is ready.");
        // mwi.so armed its 1 ms start-up timer while loading, before "ready"; let it fire
        // (on an empty list) before any registration can succeed. See the module comment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Baresip::add_account(console, target, transport);
        baresip.expect_line("200 OK");
        baresip.expect_line("mwi: subscribing to messages for sip:1001@127.0.0.1");
        // Nothing reported voicemail yet: the server answers with zero counts.
        baresip.expect_mwi("no", "0/0 (0/0)");

        let subscriptions = mwi_subscriptions(server.http).await;
        assert_eq!(subscriptions.len(), 1, "one MWI subscription over {transport}: {subscriptions:?}");
        assert_eq!(subscriptions[0]["subscriber"], "1001@127.0.0.1");
        assert_eq!(subscriptions[0]["peer"]["transport"], transport, "{subscriptions:?}");
        assert_eq!(subscriptions[0]["state"], "active");

        push_voicemail(server.http, json!({"new": 2, "old": 5, "newurgent": 0, "oldurgent": 1})).await;
        baresip.expect_mwi("yes", "2/5 (0/1)");
        push_voicemail(server.http, json!({"new": 0, "old": 7})).await;
        baresip.expect_mwi("no", "0/7 (0/0)");

        // Still the one subscription: baresip did not re-subscribe along the way.
        let after = mwi_subscriptions(server.http).await;
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(after[0]["callid"], subscriptions[0]["callid"]);
        let entity = get_json(server.http, "/api/v1/entities/1001@127.0.0.1").await;
        assert_eq!(entity["voicemail"], json!({"new": 0, "old": 7, "newurgent": 0, "oldurgent": 0}), "{entity}");
        let feature = "MWI: its `mwi` module subscribes once and shows zero counts, then the counts pushed (account added after start-up: its start-up race otherwise floods SUBSCRIBEs, a baresip bug)";
        matrix::passed(Client::Baresip, column, feature);
    }
}

//! Interop with baresip (Debian's `baresip-core`) against the real binary over UDP and TCP: it
//! registers, subscribes to a contact's presence through its `presence` module, and reports
//! the contact going busy (DND), offline and online again as the state is pushed through the
//! HTTP API. Its `mwi` module is left out: in Debian's 1.0.0 it re-subscribes in a tight loop
//! (thousands of SUBSCRIBEs a second), which the per-watcher quota contains.
//! Mandatory under `BABBLE_REQUIRE_INTEROP=1`; elsewhere skipped, saying so, without `baresip`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use babble_presence::Transport;

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
    /// (`udp` or `tcp`).
    fn start(server: std::net::SocketAddr, transport: &str) -> Baresip {
        let dir = temp_dir("baresip");
        let config = "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
                      module g711.so\nmodule_app account.so\nmodule_app contact.so\nmodule_app presence.so\n";
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(dir.join("accounts"), format!("<sip:1001@{server};transport={transport}>;regint=600\n"))
            .unwrap();
        std::fs::write(
            dir.join("contacts"),
            format!("\"Bob\" <sip:1002@{server};transport={transport}>;presence=p2p\n"),
        )
        .unwrap();
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

    /// Waits for an output line containing `text`; panics with what came instead.
    fn expect_line(&self, text: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("baresip never said {text:?}; it said:\n{}", seen.join("\n")),
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

async fn push_status(http: std::net::SocketAddr, status: Value) {
    let url = format!("http://{http}/api/v1/entities/1002@127.0.0.1/status");
    let r = reqwest::Client::new().put(url).json(&status).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_and_sees_a_contact_go_busy_offline_and_online() {
    if !baresip_available() {
        return;
    }
    for (transport, column) in [("udp", Transport::Udp), ("tcp", Transport::Tcp)] {
        let server = Server::start(&[]);
        let target = if transport == "udp" { server.udp } else { server.tcp };
        let baresip = Baresip::start(target, transport);
        baresip.expect_line("200 OK");
        // The presence subscription for Bob is in place before his state changes.
        let url = format!("http://{}/api/v1/subscriptions", server.http);
        let mut subscribed = false;
        for _ in 0..100 {
            let listed: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            let watching = |s: &Value| s["entity"] == "1002@127.0.0.1" && s["event"] == "presence";
            if listed.as_array().is_some_and(|all| all.iter().any(watching)) {
                subscribed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(subscribed, "baresip subscribed to 1002's presence over {transport}");
        let registrations: Value =
            reqwest::get(format!("http://{}/api/v1/registrations", server.http)).await.unwrap().json().await.unwrap();
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

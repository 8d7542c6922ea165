//! Interop: BLF over TLS through a real TLS edge proxy. No third-party client here subscribes
//! to `Event: dialog` over TLS itself, so Debian's Kamailio 5.6 (`kamailio-tls-modules`) runs
//! `interop/kamailio/tls-edge.cfg` in front of the real binary: a SIPp BLF watcher subscribes
//! over UDP to Kamailio, which relays the SUBSCRIBE over TLS to babble-presence after checking
//! its certificate (its `ca_list` holds only the server's self-signed certificate) and
//! Record-Routes, so the NOTIFYs come back over that TLS connection and through Kamailio to
//! SIPp, and SIPp's unsubscribe follows the recorded route set. A second test gives Kamailio
//! a `ca_list` the server's certificate is not in: the handshake fails and nothing reaches the
//! server. Mandatory when `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored without
//! `kamailio` or `sipp`, and skipped without `kamailio-tls-modules`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use babble_presence::Transport;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::interop::{scenario, sipp};
use crate::kamailio::{Running, kamailio_binary, module_installed, nap, wait_for_kamailio};
use crate::matrix::{self, Client};
use crate::support::*;

/// The entity the watcher subscribes to: the scenario's `sip:1001@[remote_ip]`, the host
/// being Kamailio's address (babble-presence files it without the port).
const ENTITY: &str = "1001@127.0.0.1";
/// How long the watcher's scenario may take before the test fails (it takes well under 1 s).
const WATCH_DEADLINE: Duration = Duration::from_secs(25);

/// The `kamailio` binary when it and its TLS module are installed; else `None` after
/// reporting the skip.
fn kamailio_with_tls() -> Option<PathBuf> {
    let binary = kamailio_binary();
    if !tool_available(binary.is_some(), "kamailio", "apt-get install kamailio") {
        return None;
    }
    // tls.so comes with kamailio-tls-modules.
    let found = module_installed("tls.so");
    tool_available(found, "kamailio-tls-modules", "apt-get install kamailio-tls-modules").then_some(binary).flatten()
}

/// babble-presence with a `tls` listener (beside UDP and TCP) and a self-signed certificate
/// for localhost and 127.0.0.1: (server, its directory, the certificate).
fn tls_server(label: &str) -> (Server, PathBuf, PathBuf) {
    let (dir, certificate, _key) = self_signed(label);
    let config = dir.join("babble-presence.toml");
    let tls = "[sip.tls]\ncertificate = \"babble-presence.crt\"\nprivate_key = \"babble-presence.key\"\n";
    std::fs::write(&config, tls).unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap(), "--listen", "tls:127.0.0.1:0"]);
    (server, dir, certificate)
}

/// Kamailio running tls-edge.cfg in `dir`, relaying to babble-presence's TLS listener at
/// `presence`, trusting only the certificate `ca_list`.
struct Edge {
    kamailio: Running,
    /// Where the phones (SIPp) reach it.
    udp: SocketAddr,
}

impl Edge {
    fn start(binary: &Path, dir: &Path, ca_list: &Path, presence: SocketAddr) -> Edge {
        // Kamailio's own certificate, for the TLS listening socket it must have to relay over
        // TLS at all (nothing connects to it).
        let own = dir.join("own");
        std::fs::create_dir_all(&own).unwrap();
        let (certificate, key) =
            babble_presence::certificate::write_self_signed(&own, &["localhost".to_owned()]).unwrap();
        // The tls module's domains: the server side only to satisfy that socket; the client
        // side, used for the connection to babble-presence, verifies the server's certificate
        // against ca_list (OpenSSL SSL_VERIFY_PEER: the handshake fails otherwise).
        let tls_cfg = dir.join("tls.cfg");
        let text = format!(
            "[server:default]\nmethod = TLSv1.2+\ncertificate = {}\nprivate_key = {}\n\n\
             [client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nca_list = {}\n",
            certificate.display(),
            key.display(),
            ca_list.display()
        );
        std::fs::write(&tls_cfg, text).unwrap();

        let udp_port = free_port();
        let tls_port = free_port();
        let mut command = Command::new(binary);
        command
            .arg("-f")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/kamailio/tls-edge.cfg"))
            .args(["-DD", "-E", "-w", dir.to_str().unwrap(), "-P", dir.join("kamailio.pid").to_str().unwrap()])
            .args(["-A", &format!("LISTEN=127.0.0.1:{udp_port}")])
            .args(["-A", &format!("TLS_LISTEN=127.0.0.1:{tls_port}")])
            .args(["-A", &format!("PRESENCE_SERVER=\"sip:{presence};transport=tls\"")])
            .args(["-A", "PRESENCE_SERVER_NAME=\"localhost\""])
            .args(["-A", &format!("TLS_CONFIG=\"{}\"", tls_cfg.display())]);
        let mut edge = Edge {
            kamailio: Running::spawn(command, "Kamailio (tls-edge.cfg)", dir.join("kamailio.log")),
            udp: ([127, 0, 0, 1], udp_port).into(),
        };
        wait_for_kamailio(&mut edge.kamailio, edge.udp);
        edge
    }

    /// Waits until Kamailio's log has a line containing `text`; returns that line.
    fn log_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.kamailio.log().lines().find(|l| l.contains(text)) {
                return line.to_owned();
            }
            if let Some(status) = self.kamailio.child.try_wait().unwrap() {
                panic!("Kamailio exited ({status}) before logging {text:?}\n{}", self.kamailio.output());
            }
            assert!(Instant::now() < deadline, "Kamailio did not log {text:?}\n{}", self.kamailio.output());
            nap(20);
        }
    }
}

/// The NOTIFYs SIPp received, whole, in order, from its `-trace_msg` message log.
fn notifies_received(message_log: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(message_log).unwrap_or_default();
    log.split("\n-----------------------------------------------")
        .filter_map(|entry| {
            let (head, message) = entry.split_once("\n\n")?;
            (head.contains("message received") && message.starts_with("NOTIFY ")).then(|| message.to_owned())
        })
        .collect()
}

/// The subscriptions babble-presence serves, from its HTTP API.
fn subscriptions(runtime: &tokio::runtime::Runtime, http: SocketAddr) -> Vec<Value> {
    let answer = runtime.block_on(get_json(http, "/api/v1/subscriptions"));
    answer.as_array().cloned().unwrap_or_default()
}

/// The feature the matrix shows for this test.
const FEATURE: &str = "BLF through a TLS edge proxy: a SIPp watcher behind it gets 200, idle dialog-info, \
                       a ringing call; unsubscribe → terminated NOTIFY";

#[cfg_attr(
    not(all(has_kamailio, has_sipp)),
    ignore = "needs Kamailio with TLS: apt-get install kamailio kamailio-tls-modules and SIPp: apt-get install sip-tester"
)]
#[test]
fn kamailio_tls_edge_carries_a_sipp_blf_watcher_to_babble_presence_over_tls() {
    let (Some(sipp), Some(kamailio)) = (sipp(), kamailio_with_tls()) else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (server, server_dir, certificate) = tls_server("kamailio-tls-server");
    let presence = server.tls.expect("a tls listener");
    let dir = temp_dir("kamailio-tls");
    let mut edge = Edge::start(&kamailio, &dir, &certificate, presence);

    // The BLF watcher, over UDP to Kamailio.
    let message_log = dir.join("watcher.log");
    let mut command = Command::new(&sipp);
    command
        .arg(edge.udp.to_string())
        .args(["-sf", scenario("subscribe_dialog.xml").to_str().unwrap(), "-t", "u1", "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string(), "-timeout", "20s", "-timeout_error", "-nostdin"])
        .args(["-trace_msg", "-message_file", message_log.to_str().unwrap()]);
    let mut watcher = Running::spawn(command, "SIPp BLF watcher", dir.join("watcher.out"));
    let logs = |watcher: &Running, edge: &Edge| {
        let messages = std::fs::read_to_string(&message_log).unwrap_or_default();
        format!(
            "{}\n--- SIPp messages ---\n{messages}\n{}\n(logs kept in {})",
            watcher.output(),
            edge.kamailio.output(),
            dir.display()
        )
    };

    // The SUBSCRIBE reaches babble-presence through Kamailio: the server holds a dialog
    // subscription whose peer is a TLS connection, Kamailio's.
    let deadline = Instant::now() + WAIT;
    let subscription = loop {
        if let Some(s) = subscriptions(&runtime, server.http).into_iter().next() {
            break s;
        }
        if let Some(status) = watcher.child.try_wait().unwrap() {
            panic!(
                "the watcher ended ({status}) before babble-presence had its subscription\n{}",
                logs(&watcher, &edge)
            );
        }
        assert!(
            Instant::now() < deadline,
            "babble-presence holds no subscription from the watcher\n{}",
            logs(&watcher, &edge)
        );
        nap(20);
    };
    assert_eq!(subscription["entity"], ENTITY, "{subscription}");
    assert_eq!(subscription["event"], "dialog", "{subscription}");
    assert_eq!(subscription["peer"]["transport"], "tls", "the SUBSCRIBE came over TLS: {subscription}");
    assert_eq!(subscription["peer"]["address"], "127.0.0.1", "{subscription}");
    // Kamailio logs each TLS connection it opens once the handshake (and with it the check of
    // the server's certificate against ca_list) has completed (tls_log = 2). It opened exactly
    // that connection, from the port babble-presence sees as the subscriber's.
    let connected = edge.log_line(&format!("tls_connect: new connection to {presence} using TLS"));
    let sending = edge.log_line("tls_connect: sending socket: ");
    let port = sending.rsplit(':').next().unwrap_or_default().trim();
    assert_eq!(
        subscription["peer"]["port"].to_string(),
        port,
        "the subscription's peer is the connection Kamailio opened ({sending}); {subscription}"
    );

    // A ringing call for the watched entity; the watcher waits for it after the idle NOTIFY.
    let call = json!({"partial": {"sip": {"callid": "tls-edge-call-1"}, "state": "early", "direction": "recipient"}});
    runtime.block_on(put_accepted(server.http, &format!("/api/v1/entities/{ENTITY}/dialogs"), &call));

    // The scenario checks the rest: 200 with Expires 600, the idle version-0 dialog-info, the
    // early call in version 1, and after its unsubscribe (routed through Kamailio) the
    // terminated NOTIFY.
    let status = watcher.wait_until(Instant::now() + WATCH_DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "the watcher did not complete ({status:?})\n{}",
        logs(&watcher, &edge)
    );

    // Every NOTIFY crossed the TLS leg: babble-presence's Via (its TLS listener) under
    // Kamailio's UDP one.
    let notifies = notifies_received(&message_log);
    assert_eq!(notifies.len(), 3, "idle, ringing, terminated\n{}", logs(&watcher, &edge));
    for notify in &notifies {
        let vias: Vec<&str> = notify.lines().filter(|l| l.starts_with("Via: ")).collect();
        assert!(
            vias.len() == 2
                && vias[0].starts_with(&format!("Via: SIP/2.0/UDP {};", edge.udp))
                && vias[1].starts_with(&format!("Via: SIP/2.0/TLS {presence};")),
            "a NOTIFY via Kamailio's UDP side from babble-presence's TLS listener:\n{notify}"
        );
    }
    // The unsubscribe reached babble-presence: it holds nothing any more.
    runtime.block_on(api_until(server.http, "/api/v1/subscriptions", "the unsubscribe reaches babble-presence", |s| {
        s.as_array().is_some_and(|a| a.is_empty())
    }));
    // One connection did it all (the NOTIFYs came back over it: babble-presence did not
    // connect to Kamailio's TLS socket), and no certificate check failed.
    let log = edge.kamailio.log();
    assert_eq!(log.matches("tls_connect: new connection to").count(), 1, "{connected}\n{}", edge.kamailio.output());
    assert!(!log.contains("tls_accept:"), "babble-presence connected back\n{}", edge.kamailio.output());
    assert!(!log.contains("verification failed"), "{}", edge.kamailio.output());

    matrix::passed(Client::KamailioTlsEdge, Transport::Tls, FEATURE);
    drop(watcher);
    drop(edge);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&server_dir);
}

#[cfg_attr(not(has_kamailio), ignore = "needs Kamailio with TLS: apt-get install kamailio kamailio-tls-modules")]
#[test]
fn kamailio_tls_edge_relays_nothing_to_a_server_whose_certificate_it_does_not_trust() {
    let Some(kamailio) = kamailio_with_tls() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (server, server_dir, _certificate) = tls_server("kamailio-tls-untrusted");
    let presence = server.tls.expect("a tls listener");
    // Kamailio trusts another self-signed certificate, not the server's.
    let (other_dir, other, _) = self_signed("kamailio-tls-other");
    let dir = temp_dir("kamailio-tls-untrusted");
    let mut edge = Edge::start(&kamailio, &dir, &other, presence);

    let phone = udp_client();
    let local = phone.local_addr().unwrap();
    let subscribe = format!(
        "SUBSCRIBE sip:1001@{udp} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKuntrusted1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1002@127.0.0.1>;tag=untrusted\r\n\
         To: <sip:1001@{udp}>\r\n\
         Call-ID: untrusted@test\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:1002@{local}>\r\n\
         Event: dialog\r\n\
         Accept: application/dialog-info+xml\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n",
        udp = edge.udp
    );
    phone.send_to(subscribe.as_bytes(), edge.udp).unwrap();
    // OpenSSL refuses the server's certificate in the handshake, before any SIP is written.
    let refused = edge.log_line("certificate verify failed");
    assert!(refused.contains("sni: localhost"), "Kamailio sent SNI: {refused}");
    assert!(!edge.kamailio.log().contains("tls_connect: new connection to"), "{}", edge.kamailio.output());
    let served = subscriptions(&runtime, server.http);
    assert!(served.is_empty(), "nothing reaches a server Kamailio does not trust: {served:?}");

    drop(edge);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&server_dir);
    let _ = std::fs::remove_dir_all(&other_dir);
}

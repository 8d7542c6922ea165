//! The binary under a service manager, with systemd's side played by the test: readiness,
//! watchdog pings and stopping arrive on `NOTIFY_SOCKET`, and SIGHUP re-reads the
//! configuration, applying a changed watch policy to the next SUBSCRIBE and keeping the
//! running configuration when the new file is broken; a manager that stops reading the
//! notify socket does not stall the server.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::hostile::subscribe;
use crate::support::*;

/// What the server sent systemd, one datagram at a time, until `want` is among its lines.
fn await_notice(socket: &UnixDatagram, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else { continue };
        let notice = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = notice.lines().any(|l| l == want);
        seen.push(notice);
        if done {
            return seen;
        }
    }
    panic!("no {want} from the server; it sent {seen:?}");
}

/// systemd's side of a service: the notify socket in a fresh directory, the configuration
/// file beside it, and the SIP address the file listens on.
struct Manager {
    dir: std::path::PathBuf,
    systemd: UnixDatagram,
    file: std::path::PathBuf,
    listen: String,
}

impl Manager {
    fn new(label: &str, allowed: &str) -> Manager {
        let dir = temp_dir(label);
        let systemd = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
        systemd.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let file = dir.join("babble-presence.toml");
        std::fs::write(&file, policy(&listen, allowed)).unwrap();
        Manager { dir, systemd, file, listen }
    }

    /// The binary on this configuration, as the unit starts it, pinged for every
    /// `watchdog_usec` (systemd's WATCHDOG_USEC), its stderr as asked.
    fn start(&self, watchdog_usec: &str, stderr: Stdio) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_babble-presence"))
            .args(["--config", self.file.to_str().unwrap()])
            .env("NOTIFY_SOCKET", self.dir.join("notify.sock"))
            .env("WATCHDOG_USEC", watchdog_usec)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }
}

/// The policy file: `1001` may be watched only by `allowed` (`*`: anyone).
fn policy(listen: &str, allowed: &str) -> String {
    format!(
        "[sip]\nlisten = [\"udp:{listen}\"]\n[http]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"none\"\n\
         [log]\nformat = \"json\"\n[policy]\nwatch = \"lists\"\n[policy.lists]\n\"1001@pbx.example.com\" = [\"{allowed}\"]\n"
    )
}

fn status_of_subscribe(client: &std::net::UdpSocket, server: &str, call_id: &str) -> u16 {
    let request = subscribe(client.local_addr().unwrap(), "1001", call_id);
    client.send_to(request.as_bytes(), server).unwrap();
    loop {
        let response = recv_text(client).expect("an answer to the SUBSCRIBE");
        // The NOTIFY that follows an accepted SUBSCRIBE is not the answer.
        if response.starts_with("SIP/2.0") {
            return status_of(&response);
        }
    }
}

#[test]
fn readiness_watchdog_and_a_reload_on_sighup_reach_systemd() {
    let manager = Manager::new("service", "boss@pbx.example.com");
    let Manager { dir, systemd, file, listen } = &manager;
    let mut child = manager.start("300000", Stdio::piped());
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let pid = child.id().to_string();
    let signal = |name: &str| assert!(Command::new("kill").args([name, &pid]).status().unwrap().success());

    let ready = await_notice(systemd, "READY=1");
    assert!(ready.iter().all(|n| !n.contains("WATCHDOG=1")), "pings start once ready: {ready:?}");
    // Pinged every half period (150 ms) while the engine answers.
    await_notice(systemd, "WATCHDOG=1");
    await_notice(systemd, "WATCHDOG=1");

    let client = udp_client();
    assert_eq!(status_of_subscribe(&client, listen, "watcher1"), 403, "not on the list yet");
    std::fs::write(file, policy(listen, "*")).unwrap();
    signal("-HUP");
    let reload = await_notice(systemd, "READY=1");
    let reloading = reload.iter().find(|n| n.contains("RELOADING=1")).expect("RELOADING=1 before READY=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    // A new dialog (the same Call-ID would be a retransmission, answered from the transaction).
    assert_eq!(status_of_subscribe(&client, listen, "watcher2"), 200, "the reloaded policy lets anyone watch");

    // A broken file is refused; the running configuration stays.
    std::fs::write(file, "[policy]\nwatch = \"sideways\"\n").unwrap();
    signal("-HUP");
    await_notice(systemd, "READY=1");
    assert_eq!(status_of_subscribe(&client, listen, "watcher3"), 200);

    signal("-TERM");
    await_notice(systemd, "STOPPING=1");
    assert!(child.wait().unwrap().success());
    let logs = logs.join().unwrap().join("\n");
    assert!(logs.contains("configuration reloaded"), "{logs}");
    assert!(logs.contains("reload refused") && logs.contains("sideways"), "{logs}");
    std::fs::remove_dir_all(dir).ok();
}

/// A service manager that stops reading the notify socket fills its queue (10 datagrams on
/// Linux), and a ping then blocks in the send: the server must go on answering regardless.
#[test]
fn a_service_manager_that_stops_reading_does_not_stall_the_server() {
    let manager = Manager::new("service-unread", "*");
    let Manager { dir, systemd, listen, .. } = &manager;
    // A ping every 20 ms: the queue is full within a quarter of a second.
    let mut child = manager.start("40000", Stdio::null());
    // Read until it is ready, and never again.
    await_notice(systemd, "READY=1");
    let client = udp_client();
    assert_eq!(status_of_subscribe(&client, listen, "before"), 200);
    // Well past the queue's filling.
    std::thread::park_timeout(Duration::from_secs(1));
    assert_eq!(status_of_subscribe(&client, listen, "after"), 200, "still answering");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

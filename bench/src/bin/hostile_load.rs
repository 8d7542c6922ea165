//! Hostile traffic against the real release binary over loopback, with its default limits
//! (nothing trusted): a good client on 127.0.0.2 measures its OPTIONS round trip with no
//! attack and then under each attack from 127.0.0.1, and the table shows its latency, what it
//! lost, the server's memory (PSS) and CPU, and, for forged SUBSCRIBEs, the amplification
//! factor (bytes that reached the named "victim" per byte sent in its name). A figure, never a
//! verdict.
//!
//! `cargo build --release -p babble-presence -p babble-bench && target/release/hostile_load`;
//! `BABBLE_SERVER=path` measures another build.

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An attack: runs against the server until told to stop; the amplification it measured, if
/// it measures one.
type Attack = fn(SocketAddr, &AtomicBool) -> Option<f64>;

/// The good client's requests per measurement, one every 20 ms: each attack lasts as long.
const PROBES: usize = 200;

fn main() {
    let server = Server::start();
    println!(
        "hostile_load: babble-presence {}, defaults, attacker 127.0.0.1, good client 127.0.0.2",
        env!("CARGO_PKG_VERSION")
    );
    println!("| attack | good client p50 ms | p99 ms | unanswered | server PSS MiB | server CPU s | amplification |");
    println!("|---|---|---|---|---|---|---|");
    let attacks: [(&str, Attack); 5] = [
        ("none", |_, _| None),
        ("OPTIONS flood (one source, as fast as it can)", options_flood),
        ("SUBSCRIBE flood (new dialogs, rotating From)", subscribe_flood),
        ("PIDF with 9 000 attributes, 20/s", attribute_bombs),
        ("forged SUBSCRIBEs naming a victim that never answers, 50/s", forged_subscribes),
    ];
    for (name, attack) in attacks {
        let cpu_before = server.cpu_seconds();
        let stop = Arc::new(AtomicBool::new(false));
        let sip = server.sip;
        let attacking = {
            let stop = stop.clone();
            std::thread::spawn(move || attack(sip, &stop))
        };
        let (p50, p99, lost) = probe(sip);
        stop.store(true, Ordering::Relaxed);
        let amplification = attacking.join().unwrap();
        let cell = |v: Option<f64>| v.map_or("-".to_owned(), |f| format!("{f:.2}"));
        println!(
            "| {name} | {p50:.2} | {p99:.2} | {lost} | {:.1} | {:.2} | {} |",
            server.pss_kib() as f64 / 1024.0,
            server.cpu_seconds() - cpu_before,
            cell(amplification)
        );
    }
}

/// The good client: [`PROBES`] OPTIONS from 127.0.0.2, each waited for up to 2 s; the median
/// and 99th percentile round trip, and how many got no answer.
fn probe(server: SocketAddr) -> (f64, f64, usize) {
    let client = UdpSocket::bind("127.0.0.2:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let local = client.local_addr().unwrap();
    let mut times = Vec::new();
    let mut lost = 0;
    let mut buf = vec![0; 65_536];
    let started = Instant::now();
    for n in 0..PROBES {
        let call_id = format!("probe{n}-{}", started.elapsed().as_nanos());
        let sent = Instant::now();
        client.send_to(options(local, &call_id).as_bytes(), server).unwrap();
        let answered = loop {
            match client.recv(&mut buf) {
                Ok(len) if String::from_utf8_lossy(&buf[..len]).contains(&call_id) => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if answered {
            times.push(sent.elapsed().as_secs_f64() * 1000.0);
        } else {
            lost += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.99), lost)
}

fn options(local: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@pbx.example.com>;tag={call_id}\r\nTo: <sip:pbx.example.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

fn subscribe(local: SocketAddr, entity: &str, from: &str, call_id: &str) -> String {
    format!(
        "SUBSCRIBE sip:{entity}@pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{from}@pbx.example.com>;tag={call_id}\r\nTo: <sip:{entity}@pbx.example.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:{from}@{local}>\r\nEvent: dialog\r\n\
         Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
}

fn options_flood(server: SocketAddr, stop: &AtomicBool) -> Option<f64> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let _ = socket.send_to(options(local, &format!("flood{n}")).as_bytes(), server);
    }
    None
}

fn subscribe_flood(server: SocketAddr, stop: &AtomicBool) -> Option<f64> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let request = subscribe(local, &format!("{}", 3000 + n % 500), &format!("w{n}"), &format!("sflood{n}"));
        let _ = socket.send_to(request.as_bytes(), server);
    }
    None
}

fn attribute_bombs(server: SocketAddr, stop: &AtomicBool) -> Option<f64> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let attributes: String = (0..9000).map(|i| format!(" a{i}=\"v\"")).collect();
    let body = format!("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"{attributes}/>");
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let publish = format!(
            "PUBLISH sip:2001@pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbomb{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:2001@pbx.example.com>;tag=b{n}\r\nTo: <sip:2001@pbx.example.com>\r\n\
             Call-ID: bomb{n}\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n\
             Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.send_to(publish.as_bytes(), server);
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// SUBSCRIBEs whose source is the victim's socket (as a forged source would make it), which
/// never answers: the bytes that reach the victim per byte sent, counted until its last
/// retransmission could have arrived.
fn forged_subscribes(server: SocketAddr, stop: &AtomicBool) -> Option<f64> {
    let victim = UdpSocket::bind("127.0.0.3:0").unwrap();
    victim.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let local = victim.local_addr().unwrap();
    let (mut bytes_in, mut bytes_out) = (0usize, 0usize);
    let mut buf = vec![0; 65_536];
    let mut n = 0;
    let mut last_sent = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if last_sent.elapsed() >= Duration::from_millis(20) {
            let request = subscribe(local, &format!("{}", 4000 + n % 100), &format!("v{n}"), &format!("forged{n}"));
            bytes_in += victim.send_to(request.as_bytes(), server).unwrap();
            n += 1;
            last_sent = Instant::now();
        }
        if let Ok(len) = victim.recv(&mut buf) {
            bytes_out += len;
        }
    }
    // Timer F: what the server still retransmits after the last SUBSCRIBE.
    let until = Instant::now() + Duration::from_secs(33);
    while Instant::now() < until {
        if let Ok(len) = victim.recv(&mut buf) {
            bytes_out += len;
        }
    }
    Some(bytes_out as f64 / bytes_in as f64)
}

/// The server under test.
struct Server {
    child: Child,
    sip: SocketAddr,
    http: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let binary = std::env::var_os("BABBLE_SERVER").map_or_else(
            || std::env::current_exe().unwrap().parent().unwrap().join("babble-presence"),
            std::path::PathBuf::from,
        );
        let (sip, http) = (babble_bench::free_udp_port().unwrap(), babble_bench::free_tcp_port().unwrap());
        let child = Command::new(binary)
            .args(["run", "--listen", &format!("udp:127.0.0.1:{sip}"), "--http", &format!("127.0.0.1:{http}")])
            .args(["--data-dir", "none"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, sip: ([127, 0, 0, 1], sip).into(), http: ([127, 0, 0, 1], http).into() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.healthy() {
            assert!(Instant::now() < deadline, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn healthy(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect(self.http) else { return false };
        let _ = tcp.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
    }

    fn cpu_seconds(&self) -> f64 {
        babble_bench::cpu_seconds(self.child.id(), babble_bench::clock_ticks().unwrap()).unwrap()
    }

    fn pss_kib(&self) -> u64 {
        babble_bench::pss_kib(self.child.id()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

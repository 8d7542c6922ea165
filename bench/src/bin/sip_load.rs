//! Load on the real release binary, driven by SIPp over loopback UDP, with persistence on
//! (a data directory), each run against a fresh server:
//!
//! - **lifecycles**: SUBSCRIBE → 200 + NOTIFY → 200, a 5 s hold, then unsubscribe → 200 +
//!   NOTIFY → 200, over 100 entities, stepping the rate; then twice the highest clean rate
//!   (overload);
//! - **fan-out**: 1 000, 5 000 and 10 000 watchers of one entity, one PUBLISH, and when the
//!   last of them had its NOTIFY (SIPp logs each arrival);
//! - **memory**: 20 000 and then 100 000 idle subscriptions held (their transactions gone),
//!   and the server's PSS.
//!
//! It prints one table: achieved rate, failed calls, SIPp's retransmissions, server CPU
//! (user + system, whole process) per lifecycle or per watcher notified, notified count,
//! last-NOTIFY time, bytes per subscription. A figure, never a verdict: the targets live in the README.
//!
//! `cargo build --release -p babble-presence -p babble-bench && target/release/sip_load
//! [--quick] [--no-durable-ack] [lifecycles|fanout|memory]...` (SIPp, Debian's `sip-tester`,
//! on the PATH; `--no-durable-ack` sends responses without waiting for their changes to be
//! stored, to measure what durable acknowledgement costs);
//! `BABBLE_SERVER=path` measures another build of the server.

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lifecycle rates tried, per second.
const RATES: [u32; 6] = [2_000, 4_000, 6_000, 8_000, 12_000, 16_000];
/// Watchers of the one entity in the fan-out runs.
const FAN_OUT: [u32; 3] = [1_000, 5_000, 10_000];
/// Idle subscriptions held for the memory figure: the first count, then the total.
const HELD: [u32; 2] = [20_000, 100_000];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // Runs named on the command line (`lifecycles`, `fanout`, `memory`), else all of them.
    let named: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    let runs = |run: &str| named.is_empty() || named.contains(&run);
    let bench = Bench::new(args.iter().any(|a| a == "--no-durable-ack"));
    let seconds = if quick { 3 } else { 8 };
    let mut rows = Vec::new();
    let mut clean = None;
    for rate in RATES.into_iter().filter(|_| runs("lifecycles")) {
        let row = bench.lifecycles(rate, seconds);
        if row.clean() {
            clean = Some(rate);
        }
        let stop = !row.clean();
        rows.push(row);
        if stop {
            break;
        }
    }
    if let Some(rate) = clean {
        let mut row = bench.lifecycles(rate * 2, seconds);
        row.name = format!("overload (2 x {rate}/s)");
        rows.push(row);
    }
    for watchers in FAN_OUT.into_iter().filter(|_| runs("fanout")) {
        rows.push(bench.fan_out(watchers));
    }
    if runs("memory") {
        rows.push(bench.memory());
    }
    print(&rows, clean);
}

/// Where the programs are, and a scratch directory.
struct Bench {
    server: PathBuf,
    scenarios: PathBuf,
    scratch: PathBuf,
    clock_ticks: f64,
    /// Responses wait for their changes to be stored (the server's default).
    durable_ack: bool,
}

/// One line of the table.
#[derive(Default)]
struct Row {
    name: String,
    offered: Option<u32>,
    achieved: Option<f64>,
    failed: Option<u64>,
    retransmissions: Option<u64>,
    cpu_us: Option<f64>,
    response_ms: Option<f64>,
    notified: Option<u64>,
    last_notify_ms: Option<f64>,
    bytes_per_subscription: Option<f64>,
}

impl Row {
    fn clean(&self) -> bool {
        self.failed == Some(0) && self.retransmissions == Some(0)
    }
}

impl Bench {
    fn new(no_durable_ack: bool) -> Self {
        // BABBLE_SERVER names another build to measure (a before/after comparison).
        let server = std::env::var_os("BABBLE_SERVER")
            .map_or_else(|| std::env::current_exe().unwrap().parent().unwrap().join("babble-presence"), PathBuf::from);
        assert!(server.exists(), "{} is missing: cargo build --release -p babble-presence", server.display());
        assert!(
            Command::new("sipp").arg("-v").output().is_ok(),
            "sipp is not on the PATH (apt-get install sip-tester)"
        );
        let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp");
        let scratch = std::env::temp_dir().join(format!("babble-sip-load-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let clock_ticks = babble_bench::clock_ticks().unwrap();
        Bench { server, scenarios, scratch, clock_ticks, durable_ack: !no_durable_ack }
    }

    /// `seconds` of lifecycles at `rate` a second.
    fn lifecycles(&self, rate: u32, seconds: u32) -> Row {
        let server = Server::start(self, &format!("lifecycle-{rate}"));
        let calls = rate * seconds;
        let cpu = server.cpu_seconds(self.clock_ticks);
        let started = Instant::now();
        let stats = self.sipp(&server, "lifecycle.xml", &format!("lifecycle-{rate}"), calls, rate);
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = server.cpu_seconds(self.clock_ticks) - cpu;
        // Calls were created during the run less one call's length (the hold and its messages).
        let creating = (elapsed - stats.call_length_s).max(1.0);
        Row {
            name: "lifecycles".into(),
            offered: Some(rate),
            achieved: Some(stats.successful as f64 / creating),
            failed: Some(stats.failed),
            retransmissions: Some(stats.retransmissions),
            cpu_us: (stats.successful > 0).then(|| cpu * 1e6 / stats.successful as f64),
            response_ms: Some(stats.response_ms),
            ..Row::default()
        }
    }

    /// `watchers` watchers of one entity, then one PUBLISH.
    fn fan_out(&self, watchers: u32) -> Row {
        let name = format!("fanout-{watchers}");
        let server = Server::start(self, &name);
        let log = self.scratch.join(format!("{name}.log"));
        let mut sipp = self.sipp_command(&server, "fanout_watch.xml", &name, watchers, 2_000);
        // A socket per watcher, as phones have: one socket's receive buffer would overflow
        // with the burst and turn the run into a measure of our retransmission timer.
        sipp.args(["-t", "un", "-max_socket", &(watchers + 100).to_string()]);
        sipp.args(["-trace_logs", "-log_file"]).arg(&log);
        let mut watching = sipp.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while server.watchers("desk") < u64::from(watchers) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let cpu = server.cpu_seconds(self.clock_ticks);
        let published_at = unix_seconds();
        server.publish_closed("desk");
        let finished = watching.wait().unwrap();
        let cpu = server.cpu_seconds(self.clock_ticks) - cpu;
        let stats = SippStats::read(&self.scratch.join(format!("{name}.csv")));
        let arrivals: Vec<f64> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("notified ")?.split('\t').nth(2)?.trim().parse().ok())
            .collect();
        let last = arrivals.iter().copied().fold(f64::NAN, f64::max);
        Row {
            name: format!("fan-out, {watchers} watchers{}", if finished.success() { "" } else { " (sipp failed)" }),
            notified: Some(arrivals.len() as u64),
            cpu_us: (!arrivals.is_empty()).then(|| cpu * 1e6 / arrivals.len() as f64),
            last_notify_ms: (!last.is_nan()).then_some((last - published_at) * 1e3),
            failed: Some(stats.failed),
            retransmissions: Some(stats.retransmissions),
            ..Row::default()
        }
    }

    /// PSS with the first count of idle subscriptions held and with all of them.
    fn memory(&self) -> Row {
        let server = Server::start(self, "memory");
        let before = server.pss_kib();
        let (mut held, mut failed) = (0, 0);
        let mut pss = Vec::new();
        for target in HELD {
            let stats = self.sipp(&server, "hold.xml", &format!("hold-{target}"), target - held, 5_000);
            failed += stats.failed;
            held = target;
            // Idle means the SUBSCRIBEs' transactions are gone too (Timer J keeps each 32 s
            // over UDP, with its response), and the store writer has settled.
            let deadline = Instant::now() + Duration::from_secs(90);
            while server.gauge("babble_server_transactions") != Some(0.0) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(500));
            }
            std::thread::sleep(Duration::from_secs(1));
            pss.push(server.pss_kib());
        }
        let marginal = (pss[1] - pss[0]) as f64 * 1024.0 / f64::from(HELD[1] - HELD[0]);
        Row {
            name: format!(
                "memory, {}k -> {}k held (PSS {} -> {} -> {} MiB)",
                HELD[0] / 1000,
                HELD[1] / 1000,
                before / 1024,
                pss[0] / 1024,
                pss[1] / 1024
            ),
            bytes_per_subscription: Some(marginal),
            failed: Some(failed),
            ..Row::default()
        }
    }

    fn sipp_command(&self, server: &Server, scenario: &str, name: &str, calls: u32, rate: u32) -> Command {
        let mut sipp = Command::new("sipp");
        sipp.arg(format!("127.0.0.1:{}", server.sip_port))
            .arg("-sf")
            .arg(self.scenarios.join(scenario))
            .arg("-inf")
            .arg(self.scenarios.join("entities.csv"))
            .args(["-i", "127.0.0.1", "-m", &calls.to_string(), "-r", &rate.to_string()])
            .args(["-l", &(rate * 10).to_string(), "-buff_size", "8388608", "-timeout", "180s", "-nostdin"])
            .args(["-trace_stat", "-fd", "1", "-stf"])
            .arg(self.scratch.join(format!("{name}.csv")))
            .current_dir(&self.scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sipp
    }

    fn sipp(&self, server: &Server, scenario: &str, name: &str, calls: u32, rate: u32) -> SippStats {
        let status = self.sipp_command(server, scenario, name, calls, rate).status().unwrap();
        let stats = SippStats::read(&self.scratch.join(format!("{name}.csv")));
        if !status.success() {
            eprintln!("{name}: sipp exited with {status} ({} failed calls)", stats.failed);
        }
        stats
    }
}

/// The server under test.
struct Server {
    child: Child,
    sip_port: u16,
    http_port: u16,
}

impl Server {
    fn start(bench: &Bench, name: &str) -> Server {
        let (sip_port, http_port) = (free_udp_port(), free_tcp_port());
        let data = bench.scratch.join(format!("{name}-data"));
        // Set, not defaulted, so builds with other defaults are measured alike.
        let config = bench.scratch.join(format!("{name}.toml"));
        // The load generator's address is trusted, as a proxy's would be: the per-source
        // limits are the hostile-traffic tests' to measure.
        let settings = format!(
            "[notifier]\nmax_subscriptions_per_entity = {}\n[limits]\ntrusted = [\"127.0.0.0/8\"]\n\
             [storage]\ndurable_ack = {}\n",
            FAN_OUT[2], bench.durable_ack
        );
        std::fs::write(&config, settings).unwrap();
        let child = Command::new(&bench.server)
            .arg("--config")
            .arg(&config)
            .args(["run", "--listen", &format!("udp:127.0.0.1:{sip_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}"), "--data-dir"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, sip_port, http_port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.get("/healthz").is_none() {
            assert!(Instant::now() < deadline, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// User plus system time the server process has used.
    fn cpu_seconds(&self, clock_ticks: f64) -> f64 {
        babble_bench::cpu_seconds(self.child.id(), clock_ticks).unwrap()
    }

    /// Proportional set size, KiB.
    fn pss_kib(&self) -> u64 {
        babble_bench::pss_kib(self.child.id()).unwrap()
    }

    /// How many subscriptions `user@127.0.0.1` has, from the look-up API.
    fn watchers(&self, user: &str) -> u64 {
        let body = self.get(&format!("/api/v1/entities/{user}@127.0.0.1")).unwrap_or_default();
        let entity: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        entity["watchers"].as_u64().unwrap_or(0)
    }

    /// A gauge's value from `/metrics`.
    fn gauge(&self, name: &str) -> Option<f64> {
        let metrics = self.get("/metrics")?;
        let line = metrics.lines().find(|l| l.split_whitespace().next() == Some(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// One PUBLISH of `closed` presence for `user`, retransmitted until it is answered.
    fn publish_closed(&self, user: &str) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let local = socket.local_addr().unwrap();
        let body = format!(
            "<?xml version=\"1.0\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{user}@127.0.0.1\">\
             <tuple id=\"t\"><status><basic>closed</basic></status></tuple></presence>"
        );
        let publish = format!(
            "PUBLISH sip:{user}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKload1;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=load\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: load-publish\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n\
             Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            port = self.sip_port,
        );
        let mut answer = [0; 4096];
        for _ in 0..10 {
            socket.send_to(publish.as_bytes(), ("127.0.0.1", self.sip_port)).unwrap();
            if let Ok(n) = socket.recv(&mut answer)
                && answer[..n].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
        panic!("the PUBLISH was not answered 200");
    }

    /// The body of an HTTP GET on the API, `None` when it fails.
    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What SIPp's statistics file says at the end of a run.
struct SippStats {
    successful: u64,
    failed: u64,
    retransmissions: u64,
    response_ms: f64,
    call_length_s: f64,
}

impl SippStats {
    fn read(path: &Path) -> SippStats {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut lines = text.lines();
        let (Some(head), Some(last)) = (lines.next(), lines.next_back()) else {
            return SippStats {
                successful: 0,
                failed: u64::MAX,
                retransmissions: 0,
                response_ms: 0.0,
                call_length_s: 0.0,
            };
        };
        let names: Vec<&str> = head.split(';').collect();
        let values: Vec<&str> = last.split(';').collect();
        let field =
            |name: &str| names.iter().position(|n| *n == name).and_then(|i| values.get(i)).copied().unwrap_or("");
        let count = |name: &str| field(name).trim().parse().unwrap_or(0);
        SippStats {
            successful: count("SuccessfulCall(C)"),
            failed: count("FailedCall(C)"),
            retransmissions: count("Retransmissions(C)"),
            response_ms: duration_s(field("ResponseTime1(C)")) * 1e3,
            call_length_s: duration_s(field("CallLength(C)")),
        }
    }
}

/// SIPp's `HH:MM:SS:micro` durations, in seconds.
fn duration_s(text: &str) -> f64 {
    let parts: Vec<f64> = text.trim().split(':').filter_map(|p| p.parse().ok()).collect();
    match parts[..] {
        [h, m, s, micro] => h * 3600.0 + m * 60.0 + s + micro / 1e6,
        _ => 0.0,
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn free_udp_port() -> u16 {
    babble_bench::free_udp_port().unwrap()
}

fn free_tcp_port() -> u16 {
    babble_bench::free_tcp_port().unwrap()
}

fn print(rows: &[Row], clean: Option<u32>) {
    let cell = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!(
        "sip_load: babble-presence {} on {} cores, SIPp over loopback UDP, persistence on",
        env!("CARGO_PKG_VERSION"),
        cores()
    );
    println!(
        "| run | offered /s | achieved /s | failed | retrans | server CPU µs (per lifecycle, or per watcher notified) | SUBSCRIBE→200 ms | notified | last NOTIFY ms | bytes/subscription |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            cell(r.offered.map(|v| v.to_string())),
            cell(r.achieved.map(|v| format!("{v:.0}"))),
            cell(r.failed.map(|v| v.to_string())),
            cell(r.retransmissions.map(|v| v.to_string())),
            cell(r.cpu_us.map(|v| format!("{v:.0}"))),
            cell(r.response_ms.map(|v| format!("{v:.2}"))),
            cell(r.notified.map(|v| v.to_string())),
            cell(r.last_notify_ms.map(|v| format!("{v:.0}"))),
            cell(r.bytes_per_subscription.map(|v| format!("{v:.0}"))),
        );
    }
    match clean {
        Some(rate) => println!("highest rate with 0 failed and 0 retransmissions: {rate} lifecycles/s"),
        None => println!("no rate tried ran clean"),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

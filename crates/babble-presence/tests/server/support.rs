//! Starting the real binary on ephemeral ports and talking to it.

use std::io::{BufRead, BufReader, Write};

use babble_presence::config::{Config, ListenSpec, UserEntry};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long to wait for the server or a reply before failing the test.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running server, stopped with SIGTERM when dropped.
pub(crate) struct Server {
    child: Child,
    logs: mpsc::Receiver<serde_json::Value>,
    pub(crate) udp: SocketAddr,
    pub(crate) tcp: SocketAddr,
    /// The TLS listener, when `extra` asked for one (`--listen tls:...`).
    pub(crate) tls: Option<SocketAddr>,
    pub(crate) http: SocketAddr,
}

impl Server {
    /// Starts the binary listening on UDP and TCP ephemeral ports, with `extra` arguments.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_babble-presence"))
            .args(["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--log-format", "json"])
            // State in memory unless a test names a data directory.
            .args(if extra.contains(&"--data-dir") { &[][..] } else { &["--data-dir", "none"][..] })
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(json) => {
                        if tx.send(json).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("server: {line}"),
                }
            }
        });
        let (mut udp, mut tcp, mut tls, mut http) = (None, None, None, None);
        loop {
            let line: serde_json::Value = logs.recv_timeout(WAIT).expect("the server reports it is ready");
            let field = |k: &str| line.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            match (field("message").as_str(), field("transport").as_str()) {
                ("listening", "udp") => udp = field("local").parse().ok(),
                ("listening", "tcp") => tcp = field("local").parse().ok(),
                ("listening", "tls") => tls = field("local").parse().ok(),
                ("listening", "http") => http = field("local").parse().ok(),
                ("babble-presence ready", _) => break,
                _ => {}
            }
        }
        Server {
            child,
            logs,
            udp: udp.expect("udp listener"),
            tcp: tcp.expect("tcp listener"),
            tls,
            http: http.expect("http listener"),
        }
    }

    /// The server process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits; returns the exit status and the log lines written since.
    pub(crate) fn stop(mut self) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
        terminate(&self.child);
        let status = self.child.wait().expect("the server exits");
        let logs = self.logs.try_iter().collect();
        (status, logs)
    }
}

impl Server {
    /// Kills the process with SIGKILL, as a power cut or the OOM killer would, and waits.
    pub(crate) fn kill_hard(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the server exits");
    }
}

/// A fresh, empty directory under the system's temporary directory, named after `label`.
pub(crate) fn temp_dir(label: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("babble-{label}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(&self.child);
            let _ = self.child.wait();
        }
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

/// A port free for both UDP and TCP on 127.0.0.1 just now. SIPp is given one: with `-p 0`
/// over TCP it falls back to fixed ports (5060, 5062, …), which tests running side by side
/// then fight over.
pub(crate) fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A UDP client socket with a receive timeout.
pub(crate) fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    s
}

/// An OPTIONS request as a phone would send it from `local` over `transport`.
pub(crate) fn options(local: SocketAddr, transport: &str, branch: &str) -> String {
    format!(
        "OPTIONS sip:pbx.example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@pbx.example.com>;tag=t{branch}\r\n\
         To: <sip:pbx.example.com>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Receives one datagram as text, or `None` on timeout.
pub(crate) fn recv_text(socket: &UdpSocket) -> Option<String> {
    let mut buf = vec![0u8; 70_000];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The status code of a response's first line.
pub(crate) fn status_of(response: &str) -> u16 {
    response.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Whether an interop tool is there. Tests whose tool `build.rs` did not find are ignored;
/// this catches a tool gone since the build. When it is not there: a failure under
/// `BABBLE_REQUIRE_INTEROP=1` (as CI runs), else a note on stderr that the test is skipped
/// (written straight to stderr so it shows even though the test passes).
pub(crate) fn tool_available(found: bool, tool: &str, install: &str) -> bool {
    if !found {
        assert!(
            std::env::var("BABBLE_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "BABBLE_REQUIRE_INTEROP=1 but {tool} is not installed ({install})"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED: {tool} not found; {install} to run its interop tests");
    }
    found
}

/// Starts the server in-process (the library API) on ephemeral UDP, TCP and HTTP ports on
/// 127.0.0.1, after `configure` has had its say.
pub(crate) async fn start_in_process(configure: impl FnOnce(&mut Config)) -> babble_presence::Server {
    let mut config = Config::default();
    config.sip.listen = vec!["udp:127.0.0.1:0".parse::<ListenSpec>().unwrap(), "tcp:127.0.0.1:0".parse().unwrap()];
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = "none".into();
    configure(&mut config);
    babble_presence::Server::start(config).await.unwrap()
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made by the server's own
/// `gen-cert` code in a fresh directory: (directory, certificate, key).
pub(crate) fn self_signed(label: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(label);
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let (certificate, key) = babble_presence::certificate::write_self_signed(&dir, &names).unwrap();
    (dir, certificate, key)
}

/// [`start_in_process`] also listening on TLS, WS and WSS (`local_addr(Transport::Tls)`, ...)
/// with the certificate of [`self_signed`]: (server, its directory, the certificate a client
/// must trust).
pub(crate) async fn start_secure(
    label: &str,
    configure: impl FnOnce(&mut Config),
) -> (babble_presence::Server, std::path::PathBuf, std::path::PathBuf) {
    let (dir, certificate, key) = self_signed(label);
    let trusted = certificate.clone();
    let server = start_in_process(|config| {
        for listener in ["tls:127.0.0.1:0", "ws:127.0.0.1:0", "wss:127.0.0.1:0"] {
            config.sip.listen.push(listener.parse::<ListenSpec>().unwrap());
        }
        config.sip.tls.certificate = Some(certificate);
        config.sip.tls.private_key = Some(key);
        configure(config);
    })
    .await;
    (server, dir, trusted)
}

/// The test user: 1001, password `secret`.
pub(crate) fn user_1001() -> UserEntry {
    UserEntry {
        username: "1001".into(),
        realm: None,
        password: Some("secret".into()),
        ha1_md5: None,
        ha1_sha256: None,
        act_for: Vec::new(),
    }
}

/// GETs `path` of the HTTP API at `http` as JSON.
pub(crate) async fn get_json(http: SocketAddr, path: &str) -> serde_json::Value {
    reqwest::get(format!("http://{http}{path}")).await.unwrap().json().await.unwrap()
}

/// PUTs `body` to `path` of the HTTP API at `http`; the API must accept it (202).
pub(crate) async fn put_accepted(http: SocketAddr, path: &str, body: &serde_json::Value) {
    let r = reqwest::Client::new().put(format!("http://{http}{path}")).json(body).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED, "PUT {path}");
}

/// GETs `path` until `check` holds for the answer, which it returns; after [`WAIT`] panics
/// saying `what` was not seen, with the last answer.
pub(crate) async fn api_until(
    http: SocketAddr,
    path: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = get_json(http, path).await;
        if check(&answer) {
            return answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}; {path} says {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

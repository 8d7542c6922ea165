//! Interop with Linphone's console client `linphonec` (Debian's `linphone-cli`, liblinphone
//! 5.1) against the real binary over UDP and TCP, headless (no sound card needed; commands on
//! stdin, output read from stdout). It registers and unregisters on `quit`; it subscribes to a
//! friend's presence and reports the friend on the phone, busy (DND), offline and online as the
//! state is pushed through the HTTP API; and with `publish=1` it PUBLISHes its own presence
//! (PIDF, basic `open`), which a second linphonec watching it sees, replacing the offline state
//! set through the API, and which ends (offline) when it quits. linphonec has no command to set
//! its own presence to anything but liblinphone's default `open`, and liblinphone 5.1 has no
//! message-summary (MWI) support, so neither is tested: see `interop/linphone/README.md`.
//! Mandatory under `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored without
//! `linphonec`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use babble_presence::Transport;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::matrix::{self, Client};
use crate::support::*;

/// One linphonec account: who it is, whom it watches, whether it publishes.
struct Account {
    name: &'static str,
    user: &'static str,
    /// The friend whose presence it subscribes to (display name, user), if any.
    friend: Option<(&'static str, &'static str)>,
    publish: bool,
}

/// A linphonec process fed commands on stdin, whose output lines arrive on a channel; killed
/// when dropped. Its debug log (`-d 6`, every SIP message) stays in its directory when a
/// test fails.
struct Linphonec {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    dir: std::path::PathBuf,
}

impl Linphonec {
    /// Starts linphonec for `account`, registering at `server` over `transport` (`udp` or
    /// `tcp`) and listening on a random port of that transport only. HOME (and the XDG
    /// directories) point into a fresh temporary directory, so nothing is written to the
    /// real home.
    fn start(server: SocketAddr, transport: &str, account: &Account) -> Linphonec {
        let dir = temp_dir("linphonec");
        // Without a data directory for its database, liblinphone 5.1 never brings its SIP
        // listening points up ("No listening point matching") and so never registers.
        std::fs::create_dir_all(dir.join(".local/share/linphone")).unwrap();
        // -1: a random port; 0: that transport is off.
        let (udp_port, tcp_port) = if transport == "udp" { (-1, 0) } else { (0, -1) };
        let mut config = format!(
            "[sip]\nsip_port={udp_port}\nsip_tcp_port={tcp_port}\nsip_tls_port=0\ndefault_proxy=0\n\n\
             [proxy_0]\nreg_proxy=<sip:{server};transport={transport}>\n\
             reg_identity=\"{}\" <sip:{}@127.0.0.1>\nreg_expires=600\nreg_sendregister=1\npublish={}\n",
            account.name,
            account.user,
            u8::from(account.publish),
        );
        if let Some((name, user)) = account.friend {
            config += &format!("\n[friend_0]\nurl=\"{name}\" <sip:{user}@127.0.0.1>\npol=accept\nsubscribe=1\n");
        }
        let rc = dir.join("linphonerc");
        std::fs::write(&rc, config).unwrap();
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .args(["-d", "6", "-l"])
            .arg(dir.join("linphonec.log"))
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", dir.join(".config"))
            .env("XDG_DATA_HOME", dir.join(".local/share"))
            .env("XDG_CACHE_HOME", dir.join(".cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("linphonec starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Output that follows a prompt comes on the prompt's line.
                if tx.send(line.trim_start_matches("linphonec> ").to_owned()).is_err() {
                    return;
                }
            }
        });
        Linphonec { child, stdin, lines, dir }
    }

    /// Sends one command line.
    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").and_then(|()| self.stdin.flush()).expect("linphonec reads its stdin");
    }

    /// Waits for an output line containing `text`, skipping others; panics with what came
    /// instead.
    fn expect_line(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "linphonec never said {text:?}; it said:\n{}\n(its log: {})",
                    seen.join("\n"),
                    self.dir.join("linphonec.log").display()
                ),
            }
        }
    }

    /// Sends `quit` and waits for linphonec to exit, seen as the end of its output (it
    /// unsubscribes, unpublishes and unregisters first, and waits for the answers).
    fn quit(mut self) {
        self.send("quit");
        let deadline = Instant::now() + WAIT;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("linphonec did not exit after quit"),
            }
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "linphonec exited with {status}");
    }
}

/// Asks `status register` until linphonec reports its default proxy registered (it prints
/// nothing by itself when the registration succeeds); returns that line.
async fn wait_registered(mut phone: Linphonec) -> (Linphonec, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (back, line) = blocking(move || {
            phone.send("status register");
            // `registered, identity=... duration=N` once registered, else `registered=-1`.
            let line = phone.expect_line("registered");
            (phone, line)
        })
        .await;
        phone = back;
        if line.starts_with("registered, ") {
            return (phone, line);
        }
        assert!(Instant::now() < deadline, "linphonec did not register; last: {line}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn linphonec_available() -> bool {
    let found = Command::new("linphonec").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    tool_available(found, "linphonec", "apt-get install linphone-cli")
}

/// Runs blocking linphonec work off the async runtime's threads; its panic is the test's.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Waits (off the runtime's threads) for `phone` to print a line containing `text`.
async fn expect(phone: Linphonec, text: String) -> Linphonec {
    blocking(move || {
        phone.expect_line(&text);
        phone
    })
    .await
}

fn target(server: &Server, transport: &str) -> SocketAddr {
    if transport == "udp" { server.udp } else { server.tcp }
}

#[cfg_attr(not(has_linphonec), ignore = "needs linphonec: apt-get install linphone-cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphonec_registers_and_unregisters_when_it_quits() {
    if !linphonec_available() {
        return;
    }
    for (transport, column) in [("udp", Transport::Udp), ("tcp", Transport::Tcp)] {
        let server = Server::start(&[]);
        let alice = Account { name: "Alice", user: "1001", friend: None, publish: false };
        let phone = Linphonec::start(target(&server, transport), transport, &alice);
        let (phone, line) = wait_registered(phone).await;
        assert!(line.contains("identity=\"Alice\" <sip:1001@127.0.0.1> duration=600"), "{line}");

        let registrations = get_json(server.http, "/api/v1/registrations").await;
        let registration = &registrations[0];
        assert_eq!(registration["entity"], "1001@127.0.0.1", "{registrations}");
        assert!(registration["useragent"].as_str().is_some_and(|ua| ua.starts_with("Linphonec/")), "{registrations}");
        assert_eq!(registration["source"]["transport"], transport);
        let contact = registration["contact"].as_str().unwrap_or_default();
        assert!(contact.contains(&format!("transport={transport}")), "{registrations}");
        let entity = get_json(server.http, "/api/v1/entities/1001@127.0.0.1").await;
        assert_eq!((&entity["registered"], &entity["shown"]), (&json!(true), &json!("available")), "{entity}");

        blocking(move || phone.quit()).await;
        api_until(server.http, "/api/v1/registrations", "linphonec unregistered when it quit", |r| {
            r.as_array().is_some_and(Vec::is_empty)
        })
        .await;
        let entity = get_json(server.http, "/api/v1/entities/1001@127.0.0.1").await;
        assert_eq!((&entity["registered"], &entity["shown"]), (&json!(false), &json!("offline")), "{entity}");
        matrix::passed(
            Client::Linphone,
            column,
            "registrar: registers, shows available; quitting unregisters and shows offline",
        );
        let reason = "liblinphone 5.1.65 has no message-summary support (interop/linphone/README.md)";
        matrix::not_applicable(Client::Linphone, column, "MWI", reason);
    }
}

#[cfg_attr(not(has_linphonec), ignore = "needs linphonec: apt-get install linphone-cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphonec_sees_a_friend_on_the_phone_busy_offline_and_online() {
    if !linphonec_available() {
        return;
    }
    for (transport, column) in [("udp", Transport::Udp), ("tcp", Transport::Tcp)] {
        let server = Server::start(&[]);
        // Bob (1002) never registers: his state is whatever the API says.
        let alice = Account { name: "Alice", user: "1001", friend: Some(("Bob", "1002")), publish: false };
        let phone = Linphonec::start(target(&server, transport), transport, &alice);
        let bob = "Friend \"Bob\" <sip:1002@127.0.0.1> is";
        // The first NOTIFY: nothing is known of Bob, so he shows available.
        let mut phone = expect(phone, format!("{bob} Online")).await;
        let subscriptions = get_json(server.http, "/api/v1/subscriptions").await;
        let watching = |s: &Value| s["entity"] == "1002@127.0.0.1" && s["subscriber"] == "1001@127.0.0.1";
        let subscription = subscriptions.as_array().and_then(|all| all.iter().find(|s| watching(s)));
        let subscription = subscription.unwrap_or_else(|| panic!("no subscription of 1001 to 1002: {subscriptions}"));
        assert_eq!(subscription["event"], "presence");
        assert_eq!(subscription["peer"]["transport"], transport);

        for (state, shown) in [
            (json!({"status": "open", "onthephone": true}), "On the phone"),
            (json!({"status": "open", "note": "DND", "dnd": true}), "Busy"),
            (json!({"status": "closed"}), "Offline"),
            (json!({"status": "open"}), "Online"),
        ] {
            put_accepted(server.http, "/api/v1/entities/1002@127.0.0.1/status", &state).await;
            phone = expect(phone, format!("{bob} {shown}")).await;
        }
        // Quitting unsubscribes (Expires: 0). (`friend delete` does not: liblinphone 5.1
        // drops the friend but sends nothing.)
        blocking(move || phone.quit()).await;
        api_until(server.http, "/api/v1/subscriptions", "the subscription ended when linphonec quit", |all| {
            all.as_array().is_some_and(|all| !all.iter().any(watching))
        })
        .await;
        let feature = "presence: a friend shows on the phone, busy (DND), offline, online as state is pushed; quitting unsubscribes";
        matrix::passed(Client::Linphone, column, feature);
    }
}

#[cfg_attr(not(has_linphonec), ignore = "needs linphonec: apt-get install linphone-cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphonec_publishes_online_for_a_watching_linphonec_and_offline_when_it_quits() {
    if !linphonec_available() {
        return;
    }
    for (transport, column) in [("udp", Transport::Udp), ("tcp", Transport::Tcp)] {
        let server = Server::start(&[]);
        let target = target(&server, transport);
        // Alice starts offline as far as the server knows, so only her PUBLISH can make her
        // online: registering alone does not (she stays offline without `publish=1`).
        put_accepted(server.http, "/api/v1/entities/1001@127.0.0.1/status", &json!({"status": "closed"})).await;
        let bob = Account { name: "Bob", user: "1002", friend: Some(("Alice", "1001")), publish: false };
        let watcher = Linphonec::start(target, transport, &bob);
        let alice_is = "Friend \"Alice\" <sip:1001@127.0.0.1> is";
        let watcher = expect(watcher, format!("{alice_is} Offline")).await;

        let alice = Account { name: "Alice", user: "1001", friend: None, publish: true };
        let publisher = Linphonec::start(target, transport, &alice);
        let watcher = expect(watcher, format!("{alice_is} Online")).await;
        let publications = get_json(server.http, "/api/v1/publications").await;
        let published = |p: &Value| p["entity"] == "1001@127.0.0.1" && p["event"] == "presence";
        assert!(publications.as_array().is_some_and(|all| all.iter().any(published)), "{publications}");
        let entity = get_json(server.http, "/api/v1/entities/1001@127.0.0.1").await;
        assert_eq!((&entity["registered"], &entity["shown"]), (&json!(true), &json!("available")), "{entity}");

        // Quitting removes the publication (Expires: 0) and the registration.
        blocking(move || publisher.quit()).await;
        let watcher = expect(watcher, format!("{alice_is} Offline")).await;
        api_until(server.http, "/api/v1/publications", "Alice's publication ended when she quit", |all| {
            all.as_array().is_some_and(|all| !all.iter().any(published))
        })
        .await;
        blocking(move || watcher.quit()).await;
        let feature = "PUBLISH presence: its own online status reaches a watching linphonec; quitting removes it";
        matrix::passed(Client::Linphone, column, feature);
    }
}

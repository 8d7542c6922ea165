//! Interop with PJSIP (pjsua2 from PyPI's `pjsua2-python`), driving the scripts in
//! `interop/pjsip/` against the server run in-process, over UDP, TCP and TLS (PJSIP verifying
//! the server's self-signed certificate): a buddy watching
//! another account's published presence; an account publishing busy with a note and then
//! withdrawing its publication, checked through the HTTP API while the script pauses and by
//! a watching buddy; registration with message-waiting; and DND set by a feature key's raw
//! SUBSCRIBE (the user's other phone and a BLF watcher being SIPp). Mandatory under
//! `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored when `python3 -c "import
//! pjsua2"` fails.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use std::time::Duration;

use serde_json::Value;

use crate::matrix::{self, Client};
use crate::support::*;
use babble_presence::api::{self, InEvent, VoicemailReason};
use babble_presence::config::{Config, UnknownPresence};
use babble_presence::{MessageCounts, Transport};

/// Whether pjsua2 can be imported (see [`tool_available`]).
fn pjsua2_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import pjsua2"]).output().is_ok_and(|o| o.status.success());
    tool_available(ok, "pjsua2", "pip install pjsua2-python")
}

pub(crate) fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/pjsip").join(name)
}

/// The transports PJSIP is run over, with the scripts' `--transport` names.
const TRANSPORTS: [(Transport, &str); 3] = [(Transport::Udp, "udp"), (Transport::Tcp, "tcp"), (Transport::Tls, "tls")];

/// A server for a run over `transport` after `configure`, and the scripts' arguments for
/// it: over TLS it also listens on TLS with a self-signed certificate, which the script
/// is given as `--ca` (PJSIP verifies the server's certificate and name against it).
async fn server_for(
    transport: Transport,
    configure: impl FnOnce(&mut Config),
) -> (babble_presence::Server, Vec<String>) {
    if transport != Transport::Tls {
        return (start_in_process(configure).await, Vec::new());
    }
    let (server, _dir, certificate) = start_secure("pjsip-tls", configure).await;
    (server, vec!["--ca".into(), certificate.display().to_string()])
}

/// Runs a script with `--server` and `--transport` plus `extra`; panics with its output on failure.
pub(crate) fn run_script(name: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> Output {
    let out = Command::new("python3")
        .arg(script(name))
        .args(["--server", &target.to_string(), "--transport", transport])
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{name} over {transport} failed ({:?})\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[cfg_attr(not(has_pjsua2), ignore = "needs PJSIP: pip install pjsua2-python")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_buddy_sees_published_online_note_and_offline() {
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in TRANSPORTS {
        let (server, extra) = server_for(transport, |_| {}).await;
        let target = server.local_addr(transport).unwrap();
        let out = tokio::task::spawn_blocking(move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            run_script("presence_buddy.py", target, name, &extra)
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("PASS"), "{stdout}");
        server.shutdown().await.unwrap();
        let feature = "presence: a buddy sees a published account online, its note change, and offline";
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

/// PJSIP registers (with digest authentication when `password` is set), subscribes to
/// message-summary, gets zero counts, then the counts the test pushes through the library
/// API when the server reports the subscription.
async fn pjsip_registers_and_gets_mwi(password: Option<&'static str>, feature: &str) {
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in TRANSPORTS {
        let (server, tls) = server_for(transport, |c| {
            if password.is_some() {
                c.auth.register = true;
                c.auth.users = vec![user_1001()];
            }
        })
        .await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let run = tokio::task::spawn_blocking(move || {
            let mut extra: Vec<&str> = tls.iter().map(String::as_str).collect();
            extra.extend(["--user", "1001", "--expect-counts", "2/5"]);
            if let Some(p) = password {
                extra.extend(["--password", p]);
            }
            run_script("mwi_register.py", target, name, &extra)
        });
        let watcher = loop {
            let event =
                tokio::time::timeout(Duration::from_secs(15), events.recv()).await.expect("an MWI subscription");
            if let Ok(babble_presence::SequencedEvent { event: InEvent::VoicemailIn(w), .. }) = event {
                break w;
            }
        };
        let counts = MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 1 };
        let push = api::Command::Voicemail { entity: watcher.entity, counts, reason: VoicemailReason::Init };
        server.send(push).await.unwrap();
        let out = run.await.unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("PASS"));
        let stats = server.shutdown().await.unwrap();
        // With a password the REGISTER was challenged and then accepted with credentials;
        // without one nothing was challenged.
        assert_eq!(stats.auth_challenges > 0, password.is_some(), "{stats:?}");
        assert_eq!(stats.auth_refusals, 0, "{stats:?}");
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

#[cfg_attr(not(has_pjsua2), ignore = "needs PJSIP: pip install pjsua2-python")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_registers_and_receives_mwi_counts() {
    let feature = "registrar + MWI: registers, subscribes to MWI, gets zero counts then the pushed counts";
    pjsip_registers_and_gets_mwi(None, feature).await;
}

#[cfg_attr(not(has_pjsua2), ignore = "needs PJSIP: pip install pjsua2-python")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_registers_with_digest_and_receives_mwi_counts() {
    let feature = "registrar + MWI: the same with digest authentication";
    pjsip_registers_and_gets_mwi(Some("secret"), feature).await;
}

/// `publish_busy.py --pause` running: its stdout lines on a channel, its stdin to release
/// the pauses, its stderr (PJSIP's log) gathered for failure messages; killed when dropped.
struct PausingScript {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl PausingScript {
    fn start(name: &str, target: SocketAddr, transport: &str, extra: &[String]) -> PausingScript {
        use std::io::{BufRead, BufReader, Read};
        let mut child = Command::new("python3")
            .arg(script(name))
            .args(["--server", &target.to_string(), "--transport", transport, "--pause", "--log-level", "5"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        PausingScript { child, lines, seen: Vec::new(), stderr: Some(stderr) }
    }

    /// Waits (the runtime's thread may block: called through `block_in_place`) up to 30 s
    /// for a stdout line starting with `prefix`, and returns it; on end of output or the
    /// deadline, panics with everything the script printed.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::task::block_in_place(|| self.lines.recv_timeout(left)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                    assert!(!line.starts_with("FAIL"), "{}", self.failure(&format!("waiting for {prefix:?}")));
                }
                Err(_) => panic!("{}", self.failure(&format!("no {prefix:?} line"))),
            }
        }
    }

    /// Lets the script go on past a `CHECK` pause.
    fn release(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"next\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The script's stdout so far and, once it has ended, its stderr.
    fn failure(&mut self, what: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        format!("{what}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}", self.seen.join("\n"))
    }

    /// Waits for the script to exit and asserts it passed.
    fn finish(mut self) {
        let line = self.expect("PASS");
        let status = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        assert!(status.success(), "{line}: exit {status:?}");
    }
}

impl Drop for PausingScript {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A's live presence publications (entity 1001@127.0.0.1) in a `GET /api/v1/publications`.
fn publications_of_1001(listed: &Value) -> Vec<&Value> {
    listed
        .as_array()
        .map(|all| all.iter().filter(|p| p["entity"] == "1001@127.0.0.1" && p["event"] == "presence").collect())
        .unwrap_or_default()
}

/// pjsua2 account A publishes busy with the note "In a meeting" (`setOnlineStatus`,
/// `PJRPID_ACTIVITY_BUSY`); the server holds that publication and shows A as DND with the
/// note, and pjsua2 account B watching A sees it. Then A's account is shut down, which
/// withdraws the publication (PUBLISH `Expires: 0`): the server drops it and shows A
/// offline (an entity nobody reports on is offline here), and B sees that too.
#[cfg_attr(not(has_pjsua2), ignore = "needs PJSIP: pip install pjsua2-python")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_publishes_busy_with_a_note_then_unpublishes() {
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in TRANSPORTS {
        let (server, extra) = server_for(transport, |c| c.notifier.unknown_presence = UnknownPresence::Offline).await;
        let (target, http) = (server.local_addr(transport).unwrap(), server.http_addr());
        let mut run = PausingScript::start("publish_busy.py", target, name, &extra);
        run.expect("ok step (a)");
        run.expect("CHECK busy");
        let one = "one presence publication for 1001@127.0.0.1";
        let listed = api_until(http, "/api/v1/publications", one, |v| publications_of_1001(v).len() == 1).await;
        let publication = publications_of_1001(&listed)[0];
        assert!(publication["etag"].as_str().is_some_and(|e| !e.is_empty()), "{publication}");
        assert!(publication["expires"].as_u64().is_some_and(|e| e > 0), "{publication}");
        let entity = api_until(http, "/api/v1/entities/1001@127.0.0.1", "DND with the note", |e| {
            e["shown"] == "dnd" && e["note"] == "In a meeting"
        })
        .await;
        assert_eq!(entity["dnd"], true, "{entity}");
        assert_eq!(entity["available"], false, "{entity}");
        assert_eq!(entity["watchers"], 1, "B watches A over {name}: {entity}");
        run.release();

        run.expect("ok step (b)");
        run.expect("CHECK unpublished");
        let none = "no publication for 1001@127.0.0.1 after the un-PUBLISH";
        api_until(http, "/api/v1/publications", none, |v| publications_of_1001(v).is_empty()).await;
        let entity = api_until(http, "/api/v1/entities/1001@127.0.0.1", "offline", |e| e["shown"] == "offline").await;
        assert_eq!(entity["dnd"], false, "{entity}");
        assert_eq!(entity["note"], Value::Null, "{entity}");
        run.release();
        run.finish();
        server.shutdown().await.unwrap();
        let feature = "PUBLISH presence: publishes busy with a note (the server shows DND and the note, a buddy sees it), then unpublishes (offline)";
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

/// A pjsua2 phone sets DND with a raw SUBSCRIBE carrying `SetDoNotDisturb` (pjsua2 has no
/// API for the package; `Account::sendRequest` sends what the script builds): the user's
/// second phone and a BLF watcher (SIPp, over UDP) are told, and the API shows it.
#[cfg_attr(not(has_pjsua2), ignore = "needs PJSIP: pip install pjsua2-python")]
#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_sets_dnd_by_feature_key_and_the_users_other_phone_is_told() {
    let feature = "feature keys: DND set by a raw SUBSCRIBE with SetDoNotDisturb (Account.sendRequest) reaches the user's other phone, a BLF watcher and the API";
    let Some(sipp) = crate::interop::sipp() else { return };
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in TRANSPORTS {
        // A trusted source, as behind the PBX's proxy (without digest only one may set).
        let (server, extra) = server_for(transport, |c| c.limits.trusted = vec!["127.0.0.1".into()]).await;
        let (http, udp) = (server.http_addr(), server.local_addr(Transport::Udp).unwrap());
        let phones: Vec<_> = ["feature_key_receive_dnd.xml", "feature_key_blf_watcher.xml"]
            .into_iter()
            .map(|scenario| {
                let s = sipp.clone();
                tokio::task::spawn_blocking(move || crate::interop::run_sipp(&s, udp, scenario, "u1", &[]))
            })
            .collect();
        api_until(http, "/api/v1/subscriptions", "the second phone and the BLF watcher subscribed", |s| {
            s.as_array().is_some_and(|subs| subs.len() == 2)
        })
        .await;
        let target = server.local_addr(transport).unwrap();
        let out = tokio::task::spawn_blocking(move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            run_script("feature_key_dnd.py", target, name, &extra)
        })
        .await
        .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("response 200"), "over {name}");
        for phone in phones {
            phone.await.unwrap();
        }
        let shown = get_json(http, "/api/v1/entities/1001@127.0.0.1/features").await;
        assert_eq!(shown["dnd"], true, "over {name}: {shown}");
        server.shutdown().await.unwrap();
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

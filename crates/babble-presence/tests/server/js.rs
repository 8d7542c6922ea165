//! Interop with the browser SIP stacks JsSIP and SIP.js, run under Node.js with the `ws`
//! package as their WebSocket (`interop/js/jssip.mjs`, `interop/js/sipjs.mjs`, driven by
//! commands on stdin; `interop/js/README.md`), against the server run in-process over WS and
//! over WSS (`wss://localhost:PORT`, the test certificate trusted through
//! `NODE_EXTRA_CA_CERTS`, verification on). For each stack and transport: a presence watcher
//! gets its first NOTIFY and then the DND and note pushed through the library API; a BLF
//! watcher sees idle dialog-info, then a pushed call ringing, answered and gone; and a UA
//! PUBLISHes its presence with a note, which a second UA of the same stack watching it sees,
//! then withdraws it. Each watcher then unsubscribes and gets the final NOTIFY, and the HTTP
//! API shows its subscription came over WS or WSS and is gone. Without the certificate
//! trusted neither stack connects over WSS. Mandatory under
//! `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored without `npm ci` in interop/js.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::{CallsUpdate, Command as Push};
use babble_presence::call::{Call, CallState, Direction, Party};
use babble_presence::config::UnknownPresence;
use presence_core::bodies::Basic;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::matrix::{self, Client};
use crate::support::*;

/// The transports browsers speak, each run against a fresh server.
const TRANSPORTS: [Transport; 2] = [Transport::Ws, Transport::Wss];

/// The hard limit each script is started with (`--timeout`), a guard only: a flow takes
/// seconds, and every line the test waits for has [`WAIT`].
const SCRIPT_TIMEOUT_SECS: &str = "60";

/// One of the two browser stacks.
#[derive(Clone, Copy, Debug)]
enum Stack {
    JsSip,
    SipJs,
}

impl Stack {
    fn name(self) -> &'static str {
        match self {
            Stack::JsSip => "JsSIP",
            Stack::SipJs => "SIP.js",
        }
    }

    fn script(self) -> PathBuf {
        js_dir().join(match self {
            Stack::JsSip => "jssip.mjs",
            Stack::SipJs => "sipjs.mjs",
        })
    }

    fn client(self) -> Client {
        match self {
            Stack::JsSip => Client::JsSip,
            Stack::SipJs => Client::SipJs,
        }
    }
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/js")
}

/// Whether Node.js runs and `npm ci` installed the stacks (see [`tool_available`]).
fn js_available() -> bool {
    let modules = js_dir().join("node_modules");
    let installed = ["jssip", "sip.js", "ws"].iter().all(|p| modules.join(p).join("package.json").is_file());
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    tool_available(installed && node, "JsSIP and SIP.js under Node.js", "cd interop/js && npm ci")
}

/// The URL a browser would be given: by address over WS, by the certificate's name over WSS.
fn url(server: &babble_presence::Server, transport: Transport) -> String {
    let addr = server.local_addr(transport).unwrap();
    match transport {
        Transport::Ws => format!("ws://{addr}/"),
        Transport::Wss => format!("wss://localhost:{}/", addr.port()),
        other => panic!("no WebSocket URL for {other}"),
    }
}

/// A NOTIFY as a script reported it.
#[derive(Debug)]
struct Notify {
    /// Its Subscription-State.
    state: String,
    content_type: String,
    body: String,
}

/// A script running one user agent: its protocol lines (stdout) on a channel, its stderr (the
/// stack's log with every SIP message) gathered for failure messages; killed when dropped.
struct Js {
    label: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    /// Ends, with all the stderr, once the script has exited.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Js {
    /// Starts `stack` as `user`@127.0.0.1 connecting to `server` over `transport`, trusting
    /// `certificate`, and waits until it is connected.
    async fn start(
        stack: Stack,
        server: &babble_presence::Server,
        transport: Transport,
        certificate: &Path,
        user: &str,
    ) -> Js {
        let mut child = Command::new("node")
            .arg(stack.script())
            .args(["--server", &url(server, transport), "--user", user, "--timeout", SCRIPT_TIMEOUT_SECS])
            .current_dir(js_dir())
            .env("NODE_EXTRA_CA_CERTS", certificate)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr_pipe = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        let label = format!("{} {user} over {transport}", stack.name());
        let mut js = Js { label, child, stdin, lines, seen: Vec::new(), stderr: Some(stderr) };
        js.next("READY").await;
        js
    }

    /// Sends one command line.
    fn send(&mut self, command: &str) {
        let sent = writeln!(self.stdin, "{command}").and_then(|()| self.stdin.flush());
        if sent.is_err() {
            panic!("{}", self.failure(&format!("could not send {command:?}")));
        }
    }

    /// The next protocol line, which must start with `prefix`; returns what follows it.
    async fn next(&mut self, prefix: &str) -> String {
        let line = match tokio::time::timeout(WAIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{}", self.failure(&format!("exited before {prefix:?}"))),
            Err(_) => panic!("{}", self.failure(&format!("no {prefix:?} line within {WAIT:?}"))),
        };
        self.seen.push(line.clone());
        match line.strip_prefix(prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim_start().to_owned(),
            _ => panic!("{}", self.failure(&format!("expected {prefix:?}"))),
        }
    }

    /// The next NOTIFY, which must be of `event`.
    async fn notify(&mut self, event: &str) -> Notify {
        let json = self.next(&format!("NOTIFY {event}")).await;
        let value: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}", self.failure(&e.to_string())));
        let field = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
        Notify { state: field("state"), content_type: field("contentType"), body: field("body") }
    }

    /// Unsubscribes from `event` and expects the stack to report the final NOTIFY (JsSIP
    /// hands it over, which must say terminated; SIP.js does not, and its line comes when its
    /// dialog was ended by it).
    async fn unsubscribe(&mut self, event: &str) {
        self.send(&format!("unsubscribe {event}"));
        let terminated = format!("TERMINATED {event}");
        let line = loop {
            let line = match tokio::time::timeout(WAIT, self.lines.recv()).await {
                Ok(Some(line)) => line,
                _ => panic!("{}", self.failure(&format!("no {terminated:?} line"))),
            };
            self.seen.push(line.clone());
            if line.starts_with(&terminated) {
                break line;
            }
            let notify = format!("NOTIFY {event} ");
            let state: Option<Value> = line.strip_prefix(&notify).and_then(|j| serde_json::from_str(j).ok());
            let final_notify = state.is_some_and(|s| s["state"].as_str().is_some_and(|s| s.starts_with("terminated")));
            assert!(final_notify, "{}", self.failure("only a final NOTIFY may come before TERMINATED"));
        };
        assert!(line.contains(r#""code":"FINAL_NOTIFY_RECEIVED""#), "{}", self.failure("ended by the final NOTIFY"));
    }

    /// Quits (the stack stops its user agent) and expects a clean exit.
    async fn quit(mut self) {
        self.send("quit");
        self.next("BYE").await;
        let deadline = tokio::time::Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", self.failure("did not exit after quit"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{}", self.failure(&format!("exit {status}")));
    }

    /// What the script said so far, and its stderr, for a failure message.
    fn failure(&mut self, what: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        format!("{}: {what}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}", self.label, self.seen.join("\n"))
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's subscriptions (`GET /api/v1/subscriptions`).
async fn subscriptions(server: &babble_presence::Server) -> Vec<Value> {
    let listed = get_json(server.http_addr(), "/api/v1/subscriptions").await;
    listed.as_array().cloned().unwrap_or_default()
}

/// Asserts the server holds one subscription, to `event` of `entity`, and that it came over
/// `transport`.
async fn check_subscription(server: &babble_presence::Server, transport: Transport, event: &str, entity: &str) {
    let listed = subscriptions(server).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let subscription = &listed[0];
    assert_eq!((subscription["event"].as_str(), subscription["entity"].as_str()), (Some(event), Some(entity)));
    let over = transport.to_string().to_ascii_lowercase();
    assert_eq!(subscription["peer"]["transport"].as_str(), Some(over.as_str()), "{subscription}");
}

/// Unsubscribes `watcher` from `event`, checks the server dropped the subscription, lets it
/// quit and stops the server, which must have lost no subscription.
async fn finish(server: babble_presence::Server, dir: PathBuf, mut watcher: Js, event: &str) {
    watcher.unsubscribe(event).await;
    let http = server.http_addr();
    api_until(http, "/api/v1/subscriptions", "no subscription left", |v| v.as_array().is_some_and(Vec::is_empty)).await;
    watcher.quit().await;
    let stats = server.shutdown().await.unwrap();
    assert_eq!(stats.subscriptions_lost, 0, "{stats:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The watcher subscribes to 1001's presence, gets the first NOTIFY (PIDF, open), then the
/// one carrying DND and a note pushed through the library API.
async fn watches_presence(stack: Stack) {
    if !js_available() {
        return;
    }
    for transport in TRANSPORTS {
        let (server, dir, certificate) = start_secure("js-presence", |_| {}).await;
        let mut watcher = Js::start(stack, &server, transport, &certificate, "1002").await;
        watcher.send("subscribe presence 1001");
        let first = watcher.notify("presence").await;
        assert!(first.state.starts_with("active"), "{first:?}");
        assert_eq!(first.content_type, "application/pidf+xml", "{first:?}");
        assert!(first.body.contains(r#"entity="sip:1001@127.0.0.1""#), "{first:?}");
        assert!(first.body.contains("<basic>open</basic>"), "{first:?}");
        check_subscription(&server, transport, "presence", "1001@127.0.0.1").await;

        let note = format!("Do not disturb: {} over {transport}", stack.name());
        let dnd = Push::Status {
            entity: "1001@127.0.0.1".into(),
            basic: Basic::Open,
            note: Some(note.clone()),
            dnd: true,
            on_the_phone: false,
        };
        server.send(dnd).await.unwrap();
        let change = watcher.notify("presence").await;
        assert!(change.state.starts_with("active"), "{change:?}");
        assert!(change.body.contains(&format!("<note>{note}</note>")), "the pushed note: {change:?}");
        assert!(change.body.contains("<rpid:busy/>"), "DND shows busy (RPID): {change:?}");

        finish(server, dir, watcher, "presence").await;
        let feature =
            "presence: subscribes, gets a PIDF NOTIFY, then the pushed DND and its note; unsubscribe → final NOTIFY";
        matrix::passed(stack.client(), transport, feature);
    }
}

/// A call of 1001 in `state`, from Alice.
fn call_of_1001(state: CallState) -> Push {
    let call = Call {
        direction: Some(Direction::Recipient),
        remote: Some(Party { display: Some("Alice".into()), uri: "sip:2000@127.0.0.1".into() }),
        ..Call::new("js-call-1", state)
    };
    Push::Dialog {
        entity: "1001@127.0.0.1".into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Partial(call),
        call_id: None,
    }
}

/// The `<state>` of the one dialog in a dialog-info body, or `None` when it lists none.
fn dialog_state(notify: &Notify) -> Option<String> {
    let dialogs = notify.body.matches("<dialog ").count();
    assert!(dialogs <= 1, "at most the one call: {notify:?}");
    let (_, after) = notify.body.split_once("<dialog ")?;
    let state = after.split_once("<state")?.1.split_once('>')?.1.split_once("</state>")?.0;
    Some(state.to_owned())
}

/// The `version` of a dialog-info body (RFC 4235 §4.1), which each NOTIFY must increase.
fn dialog_info_version(notify: &Notify) -> u64 {
    let element = notify.body.split_once("<dialog-info ").map(|(_, e)| e).unwrap_or_default();
    let (_, after) = element.split_once(" version=\"").unwrap_or_else(|| panic!("a version: {notify:?}"));
    after.split_once('"').and_then(|(v, _)| v.parse().ok()).unwrap_or_else(|| panic!("a version: {notify:?}"))
}

/// The BLF watcher subscribes to 1001's dialog state: idle dialog-info, then a call pushed
/// ringing (early), answered (confirmed) and ended.
async fn watches_blf(stack: Stack) {
    if !js_available() {
        return;
    }
    for transport in TRANSPORTS {
        let (server, dir, certificate) = start_secure("js-blf", |_| {}).await;
        let mut watcher = Js::start(stack, &server, transport, &certificate, "1002").await;
        watcher.send("subscribe dialog 1001");
        let idle = watcher.notify("dialog").await;
        assert!(idle.state.starts_with("active"), "{idle:?}");
        assert_eq!(idle.content_type, "application/dialog-info+xml", "{idle:?}");
        assert!(idle.body.contains(r#"entity="sip:1001@127.0.0.1""#), "{idle:?}");
        assert_eq!(dialog_state(&idle), None, "idle: no dialog: {idle:?}");
        check_subscription(&server, transport, "dialog", "1001@127.0.0.1").await;

        let mut version = dialog_info_version(&idle);
        for state in [CallState::Early, CallState::Confirmed, CallState::Terminated] {
            server.send(call_of_1001(state)).await.unwrap();
            let lamp = watcher.notify("dialog").await;
            assert_eq!(dialog_state(&lamp).as_deref(), Some(state.as_str()), "{lamp:?}");
            assert!(lamp.body.contains(r#"call-id="js-call-1""#), "the pushed call: {lamp:?}");
            assert!(lamp.body.contains(r#"direction="recipient""#), "{lamp:?}");
            assert!(lamp.body.contains("sip:2000@127.0.0.1"), "the caller: {lamp:?}");
            let next = dialog_info_version(&lamp);
            assert!(next > version, "the version goes up: {lamp:?}");
            version = next;
        }

        finish(server, dir, watcher, "dialog").await;
        let feature = "dialog: a BLF watcher gets idle dialog-info, then the pushed call ringing (early), answered (confirmed), ended (terminated); unsubscribe → final NOTIFY";
        matrix::passed(stack.client(), transport, feature);
    }
}

/// The presence publications of 1003@127.0.0.1 (`GET /api/v1/publications`).
async fn publications_of_1003(server: &babble_presence::Server) -> Vec<Value> {
    let listed = get_json(server.http_addr(), "/api/v1/publications").await;
    let all = listed.as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|p| p["entity"] == "1003@127.0.0.1" && p["event"] == "presence").collect()
}

/// 1002 watches 1003, offline (nobody reports on it); 1003, a second user agent of the same
/// stack, PUBLISHes PIDF open with a note: the server holds the publication and the watcher
/// sees the note; 1003 then withdraws it (Expires: 0, SIP-If-Match) and the watcher sees it
/// offline again.
async fn publishes_presence(stack: Stack) {
    if !js_available() {
        return;
    }
    for transport in TRANSPORTS {
        let (server, dir, certificate) =
            start_secure("js-publish", |c| c.notifier.unknown_presence = UnknownPresence::Offline).await;
        let mut watcher = Js::start(stack, &server, transport, &certificate, "1002").await;
        watcher.send("subscribe presence 1003");
        let offline = watcher.notify("presence").await;
        assert!(offline.body.contains("<basic>closed</basic>"), "nobody reports on 1003: {offline:?}");
        check_subscription(&server, transport, "presence", "1003@127.0.0.1").await;

        let mut publisher = Js::start(stack, &server, transport, &certificate, "1003").await;
        let note = format!("Published by {} over {transport}", stack.name());
        publisher.send(&format!("publish open {note}"));
        let published: Value = serde_json::from_str(&publisher.next("PUBLISHED").await).unwrap();
        assert!(published["expires"].as_u64().is_some_and(|e| e > 0), "{published}");
        let seen = watcher.notify("presence").await;
        assert!(seen.body.contains(&format!("<note>{note}</note>")), "the published note: {seen:?}");
        assert!(seen.body.contains("<basic>open</basic>"), "{seen:?}");
        let held = publications_of_1003(&server).await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0]["etag"].as_str().is_some_and(|e| !e.is_empty()), "{held:?}");
        let entity = get_json(server.http_addr(), "/api/v1/entities/1003@127.0.0.1").await;
        assert_eq!((entity["shown"].as_str(), entity["note"].as_str()), (Some("available"), Some(note.as_str())));

        publisher.send("unpublish");
        publisher.next("UNPUBLISHED").await;
        let gone = watcher.notify("presence").await;
        assert!(gone.body.contains("<basic>closed</basic>") && !gone.body.contains(&note), "offline: {gone:?}");
        assert_eq!(publications_of_1003(&server).await, Vec::<Value>::new());
        publisher.quit().await;

        finish(server, dir, watcher, "presence").await;
        let feature = "PUBLISH presence: publishes PIDF with a note (the server holds it, a second UA watching sees it), then withdraws it (SIP-If-Match, Expires 0: offline)";
        matrix::passed(stack.client(), transport, feature);
    }
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jssip_watches_presence_over_ws_and_wss() {
    watches_presence(Stack::JsSip).await;
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipjs_watches_presence_over_ws_and_wss() {
    watches_presence(Stack::SipJs).await;
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jssip_blf_lamp_follows_a_pushed_call_over_ws_and_wss() {
    watches_blf(Stack::JsSip).await;
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipjs_blf_lamp_follows_a_pushed_call_over_ws_and_wss() {
    watches_blf(Stack::SipJs).await;
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jssip_publishes_presence_a_second_ua_sees_over_ws_and_wss() {
    publishes_presence(Stack::JsSip).await;
}

#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipjs_publishes_presence_a_second_ua_sees_over_ws_and_wss() {
    publishes_presence(Stack::SipJs).await;
}

/// Verification is on: without `NODE_EXTRA_CA_CERTS` neither stack connects over WSS to the
/// server's self-signed certificate, so the WSS rows above are from verified connections.
#[cfg_attr(not(has_js_stacks), ignore = "needs JsSIP and SIP.js: cd interop/js && npm ci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_stack_connects_over_wss_without_trusting_the_certificate() {
    if !js_available() {
        return;
    }
    let (server, dir, _certificate) = start_secure("js-untrusted", |_| {}).await;
    for stack in [Stack::JsSip, Stack::SipJs] {
        let wss = url(&server, Transport::Wss);
        let run = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg(stack.script())
                .args(["--server", &wss, "--user", "1002", "--timeout", SCRIPT_TIMEOUT_SECS])
                .env_remove("NODE_EXTRA_CA_CERTS")
                .stdin(Stdio::null())
                .output()
                .expect("node runs")
        });
        let out = tokio::time::timeout(WAIT, run).await.expect("the script gives up in time").unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success() && !stdout.contains("READY"), "{}: {stdout}\n{stderr}", stack.name());
        assert!(stderr.contains("WebSocket error: self-signed certificate"), "{}: {stderr}", stack.name());
    }
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

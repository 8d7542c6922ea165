//! Interop: JsSIP in headless Chromium over WSS (interop/js/browser). The test bundles the
//! page's script with JsSIP (esbuild), starts chromedriver and, through its W3C WebDriver HTTP
//! API, a headless Chromium that trusts the server's self-signed certificate by its public key
//! alone (`--ignore-certificate-errors-spki-list`, the SHA-256 of the certificate's
//! subjectPublicKeyInfo), and loads the page from a `file://` URL. The page's JsSIP user
//! agent connects to `wss://localhost:PORT` of the server run in-process, subscribes and
//! publishes; the test pushes state through the library API and reads what the page shows
//! (`window.babble.state`) until it shows what was pushed. Each test checks in the HTTP API
//! that its subscriptions came over WSS, and that the page's connection never dropped.
//! Mandatory under `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported as ignored without
//! chromedriver on PATH or without `npm ci` in interop/js.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::{CallsUpdate, Command as Push};
use babble_presence::call::{Call, CallState};
use babble_presence::config::UnknownPresence;
use presence_core::bodies::Basic;
use serde_json::{Value, json};

use crate::matrix::{self, Client};
use crate::support::*;
use crate::webdriver::{Browser, PAGE_WAIT, chromium_available};

/// What the page calls itself in From (and publishes for).
const PAGE_URI: &str = "sip:1003@127.0.0.1";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/js")
}

/// Whether chromedriver, Chromium and JsSIP (with esbuild) are there (see [`tool_available`]).
fn browser_available() -> bool {
    if !chromium_available() {
        return false;
    }
    let js = js_dir();
    let stacks = js.join("node_modules/jssip/package.json").is_file() && js.join("node_modules/.bin/esbuild").is_file();
    tool_available(stacks, "JsSIP", "run npm ci in interop/js")
}

/// Bundles interop/js/browser/page.js with JsSIP into `dir/page.bundle.js` and copies the
/// page next to it; gives the page's `file://` URL (without a query).
fn build_page(dir: &Path) -> String {
    let js = js_dir();
    let out = Command::new(js.join("node_modules/.bin/esbuild"))
        .current_dir(&js)
        .args(["--bundle", "--format=iife", "--log-level=warning", "browser/page.js"])
        .arg(format!("--outfile={}", dir.join("page.bundle.js").display()))
        .output()
        .expect("esbuild runs");
    assert!(out.status.success(), "esbuild failed:\n{}", String::from_utf8_lossy(&out.stderr));
    std::fs::copy(js.join("browser/index.html"), dir.join("index.html")).unwrap();
    format!("file://{}", dir.join("index.html").display())
}

/// The base64 of the SHA-256 of the certificate's subjectPublicKeyInfo: what
/// `--ignore-certificate-errors-spki-list` takes (as `openssl x509 -pubkey | openssl pkey
/// -pubin -outform der | openssl dgst -sha256 -binary | base64` prints). The certificate is
/// `gen-cert`'s, so its public key is that of the key file beside it.
fn spki_hash(certificate: &Path) -> String {
    use base64::Engine;
    let key = std::fs::read_to_string(certificate.with_extension("key")).unwrap();
    let pair = rcgen::KeyPair::from_pem(&key).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&pair);
    // rustls's ring provider hashes; its TLS 1.3 SHA-256 suite holds the SHA-256 of it.
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13().unwrap();
    base64::engine::general_purpose::STANDARD.encode(suite.common.hash_provider.hash(&spki).as_ref())
}

/// What the JsSIP page shows (`window.babble.state`).
trait JsSipPage {
    async fn state(&self) -> Value;
    async fn until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value;
}

impl JsSipPage for Browser {
    /// The page's `window.babble.state` (null before its script ran).
    async fn state(&self) -> Value {
        self.run("return window.babble ? window.babble.state : null;").await
    }

    /// Reads the page's state until `check` holds for it, and gives it; after [`PAGE_WAIT`]
    /// panics saying `what` was not shown, with the state and JsSIP's log (the SIP traffic).
    async fn until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            let state = self.state().await;
            if !state.is_null() && check(&state) {
                return state;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the page did not show {what}\n{}", report(&state));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A directory removed when this is dropped, a failing test's included.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// The page's state without its log, then the log: for failure messages.
fn report(state: &Value) -> String {
    let mut shown = state.clone();
    let log = shown.as_object_mut().and_then(|s| s.remove("log")).unwrap_or_default();
    let lines: Vec<&str> = log.as_array().map(|l| l.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    format!("--- page state ---\n{shown:#}\n--- JsSIP log ---\n{}", lines.join("\n"))
}

/// A browser launched, showing the page connected to the server's WSS listener with `query`
/// (`blf=...`, `watch=...`) added.
async fn page_on(server: &babble_presence::Server, certificate: &Path, label: &str, query: &str) -> Browser {
    let trust = format!("--ignore-certificate-errors-spki-list={}", spki_hash(certificate));
    let browser = Browser::launch(label, &[trust], (800, 600)).await;
    let url = build_page(&browser.dir);
    let wss = server.local_addr(Transport::Wss).unwrap();
    browser.open(&format!("{url}?server=wss://localhost:{}&uri={PAGE_URI}&{query}", wss.port())).await;
    browser.until("a connection to the server", |s| s["connection"] == "connected").await;
    browser
}

/// The server's subscriptions, as `GET /api/v1/subscriptions` lists them.
async fn subscriptions(server: &babble_presence::Server) -> Vec<Value> {
    get_json(server.http_addr(), "/api/v1/subscriptions").await.as_array().cloned().unwrap_or_default()
}

/// Checks that the server holds one subscription, to `event` of `entity`, from the page over
/// WSS, and that the page's NOTIFYs for `kind` came with a WSS Via.
async fn check_over_wss(server: &babble_presence::Server, state: &Value, kind: &str, event: &str, entity: &str) {
    let listed = subscriptions(server).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let subscription = &listed[0];
    assert_eq!(subscription["event"], event, "{subscription}");
    assert_eq!(subscription["entity"], entity, "{subscription}");
    assert_eq!(subscription["subscriber"], "1003@127.0.0.1", "{subscription}");
    assert_eq!(subscription["peer"]["transport"], "wss", "the page's connection is the WSS one: {subscription}");
    let via = state[kind]["via"].as_str().unwrap_or_default();
    assert!(via.starts_with("SIP/2.0/WSS "), "the NOTIFY came over WSS: {via}\n{}", report(state));
}

/// Unsubscribes the page from everything, expects the final NOTIFY for `kind` (JsSIP's
/// FINAL_NOTIFY_RECEIVED, 6) and no subscription left on the server; then checks the page's
/// connection never dropped, nothing failed in it, no TLS handshake failed, and shuts down.
async fn unsubscribe_and_finish(server: babble_presence::Server, browser: Browser, kind: &str) {
    browser.run("window.babble.unsubscribe();").await;
    let state = browser.until("the final NOTIFY", |s| !s[kind]["terminated"].is_null()).await;
    assert_eq!(state[kind]["terminated"]["code"], 6, "ended by the final NOTIFY\n{}", report(&state));
    let http = server.http_addr();
    api_until(http, "/api/v1/subscriptions", "no subscription left", |v| v.as_array().is_some_and(Vec::is_empty)).await;
    finish(server, browser).await;
}

async fn finish(server: babble_presence::Server, browser: Browser) {
    let state = browser.state().await;
    assert_eq!(state["disconnects"], 0, "the WSS connection stayed up\n{}", report(&state));
    assert_eq!(state["connects"], 1, "one WSS connection\n{}", report(&state));
    assert_eq!(state["errors"], json!([]), "{}", report(&state));
    let metrics = reqwest::get(format!("http://{}/metrics", server.http_addr())).await.unwrap().text().await.unwrap();
    let failures = metrics.lines().find(|l| l.starts_with("babble_tls_handshake_failures_total")).unwrap();
    assert!(failures.ends_with(" 0"), "Chromium trusted the certificate: {failures}");
    browser.close().await;
    let stats = server.shutdown().await.unwrap();
    assert_eq!(stats.subscriptions_lost, 0, "{stats:?}");
}

fn call_of_1001(state: CallState) -> Push {
    let calls = CallsUpdate::Partial(Call::new("browser-call-1", state));
    Push::Dialog {
        entity: "1001@127.0.0.1".into(),
        display: Some("Alice".into()),
        call_count: None,
        calls,
        call_id: None,
    }
}

/// The page subscribes to `dialog` for 1001: its lamp is dark (idle) after the first NOTIFY,
/// blinks (ringing) for a pushed early call, is lit (busy) once it is answered, and goes
/// dark when it ends; unsubscribing gets the final NOTIFY.
#[cfg_attr(
    not(all(has_chromium, has_js_stacks)),
    ignore = "needs Chromium and JsSIP: apt-get install chromium chromium-driver; npm ci in interop/js"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_blf_lamp_follows_a_pushed_call_over_wss() {
    if !browser_available() {
        return;
    }
    let (server, dir, certificate) = start_secure("browser-blf", |_| {}).await;
    let _dir = RemovedOnDrop(dir);
    let browser = page_on(&server, &certificate, "browser-blf-page", "blf=sip:1001@127.0.0.1").await;
    let state = browser.until("the idle lamp", |s| s["blf"]["notifies"].as_u64() >= Some(1)).await;
    assert_eq!(state["blf"]["lamp"], "idle", "{}", report(&state));
    assert!(state["blf"]["subscriptionState"].as_str().is_some_and(|s| s.starts_with("active")), "{}", report(&state));
    check_over_wss(&server, &state, "blf", "dialog", "1001@127.0.0.1").await;

    let steps = [(CallState::Early, "ringing", "early"), (CallState::Confirmed, "busy", "confirmed")];
    for (call, lamp, dialog) in steps {
        server.send(call_of_1001(call)).await.unwrap();
        let state = browser.until(&format!("the lamp {lamp}"), |s| s["blf"]["lamp"] == lamp).await;
        let dialogs = &state["blf"]["dialogs"];
        assert_eq!(dialogs, &json!([{"id": "browser-call-1", "state": dialog}]), "{}", report(&state));
    }
    server.send(call_of_1001(CallState::Terminated)).await.unwrap();
    browser.until("the lamp dark again", |s| s["blf"]["lamp"] == "idle").await;

    unsubscribe_and_finish(server, browser, "blf").await;
    let feature = "dialog: the page's BLF lamp is dark, blinks for a pushed ringing call, is lit once answered, goes dark when it ends; unsubscribe → terminated NOTIFY";
    matrix::passed(Client::Chromium, Transport::Wss, feature);
}

fn status_of_1002(basic: Basic, note: &str, dnd: bool) -> Push {
    Push::Status { entity: "1002@127.0.0.1".into(), basic, note: Some(note.into()), dnd, on_the_phone: false }
}

/// The page subscribes to `presence` for 1002 and shows what the test pushes: DND with a
/// note, then available with another; unsubscribing gets the final NOTIFY.
#[cfg_attr(
    not(all(has_chromium, has_js_stacks)),
    ignore = "needs Chromium and JsSIP: apt-get install chromium chromium-driver; npm ci in interop/js"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_pushed_presence_over_wss() {
    if !browser_available() {
        return;
    }
    let (server, dir, certificate) = start_secure("browser-presence", |_| {}).await;
    let _dir = RemovedOnDrop(dir);
    let browser = page_on(&server, &certificate, "browser-presence-page", "watch=sip:1002@127.0.0.1").await;
    let state = browser.until("a first presence NOTIFY", |s| s["presence"]["notifies"].as_u64() >= Some(1)).await;
    check_over_wss(&server, &state, "presence", "presence", "1002@127.0.0.1").await;

    server.send(status_of_1002(Basic::Open, "In a meeting", true)).await.unwrap();
    browser
        .until("DND with the note", |s| s["presence"]["dnd"] == true && s["presence"]["note"] == "In a meeting")
        .await;
    let title = browser.run("return document.title;").await;
    assert!(title.as_str().is_some_and(|t| t.contains("presence=dnd \"In a meeting\"")), "{title}");

    server.send(status_of_1002(Basic::Open, "Back at my desk", false)).await.unwrap();
    let state = browser
        .until("available with the new note", |s| {
            s["presence"]["dnd"] == false && s["presence"]["note"] == "Back at my desk"
        })
        .await;
    assert_eq!(state["presence"]["basic"], "open", "{}", report(&state));

    unsubscribe_and_finish(server, browser, "presence").await;
    let feature = "presence: the page shows the pushed DND and its note, then available with a new note; unsubscribe → terminated NOTIFY";
    matrix::passed(Client::Chromium, Transport::Wss, feature);
}

/// 1003's live presence publications in a `GET /api/v1/publications`.
fn publications_of_1003(listed: &Value) -> Vec<Value> {
    let all = listed.as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|p| p["entity"] == "1003@127.0.0.1" && p["event"] == "presence").collect()
}

/// The page (1003) watches its own presence and PUBLISHes busy with a note: the server holds
/// the publication under the entity-tag the page got, shows 1003 DND with the note, and the
/// page's NOTIFY shows it too. Then the page withdraws it (SIP-If-Match, Expires: 0): the
/// publication is gone and 1003 shows offline (an entity nobody reports on is offline here).
#[cfg_attr(
    not(all(has_chromium, has_js_stacks)),
    ignore = "needs Chromium and JsSIP: apt-get install chromium chromium-driver; npm ci in interop/js"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_publishes_busy_then_withdraws_over_wss() {
    if !browser_available() {
        return;
    }
    let (server, dir, certificate) =
        start_secure("browser-publish", |c| c.notifier.unknown_presence = UnknownPresence::Offline).await;
    let _dir = RemovedOnDrop(dir);
    let http = server.http_addr();
    let browser = page_on(&server, &certificate, "browser-publish-page", &format!("watch={PAGE_URI}")).await;
    let state = browser.until("a first presence NOTIFY", |s| s["presence"]["notifies"].as_u64() >= Some(1)).await;
    check_over_wss(&server, &state, "presence", "presence", "1003@127.0.0.1").await;

    browser.run("window.babble.publish('On a call with a customer', true);").await;
    let state = browser.until("the publication accepted", |s| s["publication"]["phase"] != "publishing").await;
    assert_eq!(state["publication"]["phase"], "published", "{}", report(&state));
    assert_eq!(state["publication"]["status"], 200, "{}", report(&state));
    let etag = state["publication"]["etag"].as_str().unwrap_or_else(|| panic!("a SIP-ETag\n{}", report(&state)));
    let listed = get_json(http, "/api/v1/publications").await;
    let held = publications_of_1003(&listed);
    assert_eq!(held.len(), 1, "{listed}");
    assert_eq!(held[0]["etag"], etag, "the server holds the publication the page was told of: {listed}");
    let entity = api_until(http, "/api/v1/entities/1003@127.0.0.1", "DND with the note", |e| {
        e["shown"] == "dnd" && e["note"] == "On a call with a customer"
    })
    .await;
    assert_eq!(entity["dnd"], true, "{entity}");
    browser
        .until("its own DND in a NOTIFY", |s| {
            s["presence"]["dnd"] == true && s["presence"]["note"] == "On a call with a customer"
        })
        .await;

    browser.run("window.babble.unpublish();").await;
    let state = browser.until("the withdrawal answered", |s| s["publication"]["phase"] != "removing").await;
    assert_eq!(state["publication"]["phase"], "removed", "{}", report(&state));
    assert_eq!(state["publication"]["status"], 200, "{}", report(&state));
    let none = "no publication for 1003@127.0.0.1 after the withdrawal";
    api_until(http, "/api/v1/publications", none, |v| publications_of_1003(v).is_empty()).await;
    let entity = api_until(http, "/api/v1/entities/1003@127.0.0.1", "offline", |e| e["shown"] == "offline").await;
    assert_eq!(entity["dnd"], false, "{entity}");
    browser.until("its own presence no longer DND", |s| s["presence"]["dnd"] == false).await;

    unsubscribe_and_finish(server, browser, "presence").await;
    let feature = "PUBLISH presence: the page publishes busy with a note (the server shows DND and the note, the page's own watch sees it), then withdraws it (SIP-If-Match, Expires 0: offline)";
    matrix::passed(Client::Chromium, Transport::Wss, feature);
}

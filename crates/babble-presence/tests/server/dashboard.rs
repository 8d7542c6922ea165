//! The dashboard in a real browser: headless Chromium, driven over WebDriver, opens the page
//! the server serves at `/` and follows it while a SIPp phone registers and unregisters and
//! an integration pushes a call (ringing, answered, ended), DND and voicemail counts through
//! the HTTP API, as `curl` would. After each step the DOM must show it (the row's lamp,
//! registration, counts) within a bounded wait, with no reload; each step leaves a
//! screenshot in `target/tmp/dashboard/`. Further tests: the token asked for once and kept
//! for the session, the stream reconnecting (and saying so) after the server restarts, and a
//! page of 10 000 entities. Mandatory under `BABBLE_REQUIRE_INTEROP=1`; elsewhere reported
//! as ignored without chromedriver (and SIPp) on PATH.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use babble_presence::MessageCounts;
use babble_presence::api::{Command as Push, VoicemailReason};
use serde_json::json;

use crate::interop::{run_sipp_from, sipp};
use crate::support::*;
use crate::webdriver::{Browser, chromium_available};

/// The phone SIPp registers: `1001@[remote_ip]`.
const PHONE: &str = "1001@127.0.0.1";

/// What a failing wait prints: the connection line and the table as text.
const DESCRIBE: &str = "return document.querySelector('#connection').textContent + '\\n' + \
    (document.querySelector('#login').hidden ? '' : 'LOGIN SHOWN\\n') + document.querySelector('#entities').innerText;";

/// True once the page's stream is live.
const LIVE: &str = "return document.querySelector('#connection').dataset.state === 'live';";

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A script that is true once the row of `entity` exists and `condition` (JavaScript over
/// `row`, the `<tr>`) holds.
fn row_where(entity: &str, condition: &str) -> String {
    format!("const row = document.querySelector('tr[data-entity=\"{entity}\"]'); return !!row && ({condition});")
}

/// A script that is true once the count of group `name` reads `n`.
fn count_is(name: &str, n: &str) -> String {
    format!("return document.querySelector('[data-count=\"{name}\"]').textContent === '{n}';")
}

/// A Yealink phone's BLF key (by its User-Agent) watching [`PHONE`] over UDP: it subscribes
/// to `dialog` and answers every NOTIFY with 200 until the task is aborted.
async fn blf_key(server: SocketAddr) -> tokio::task::JoinHandle<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let subscribe = format!(
        "SUBSCRIBE sip:{PHONE} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKdashkey;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1002@127.0.0.1>;tag=dashkey\r\n\
         To: <sip:{PHONE}>\r\n\
         Call-ID: dash-key@{local}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:1002@{local}>\r\n\
         Event: dialog\r\n\
         Accept: application/dialog-info+xml\r\n\
         User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket.send_to(subscribe.as_bytes(), server).await.unwrap();
    tokio::spawn(async move {
        let mut datagram = vec![0; 65536];
        while let Ok((len, from)) = socket.recv_from(&mut datagram).await {
            let request = String::from_utf8_lossy(&datagram[..len]).into_owned();
            if request.starts_with("NOTIFY ") {
                let _ = socket.send_to(ok_to(&request).as_bytes(), from).await;
            }
        }
    })
}

/// A 200 to `request`, with its Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2).
fn ok_to(request: &str) -> String {
    let copied = ["via:", "from:", "to:", "call-id:", "cseq:"];
    let head = request.split("\r\n\r\n").next().unwrap_or_default();
    let lines = head.lines().filter(|l| copied.iter().any(|name| l.to_ascii_lowercase().starts_with(name)));
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for line in lines {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer + "Content-Length: 0\r\n\r\n"
}

async fn push_call(http: SocketAddr, state: &str) {
    let call = json!({"callid": "dash-call-1", "direction": "recipient", "state": state,
        "remote": {"display": "Reception", "uri": "sip:1002@127.0.0.1"}});
    put_accepted(http, &format!("/api/v1/entities/{PHONE}/dialogs"), &json!({"display": "Alice", "full": [call]}))
        .await;
}

/// Opens the page and waits for its stream to be live.
async fn open_live(browser: &Browser, http: SocketAddr) {
    browser.open(&format!("http://{http}/")).await;
    browser.until_true("the live stream", LIVE, DESCRIBE).await;
}

#[cfg_attr(
    not(all(has_chromium, has_sipp)),
    ignore = "needs Chromium and SIPp: apt-get install chromium chromium-driver sip-tester"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_dashboard_follows_a_phone_a_call_dnd_and_voicemail_live() {
    if !chromium_available() {
        return;
    }
    let Some(sipp) = sipp() else { return };
    let server = start_in_process(|_| {}).await;
    let (http, udp) = (server.http_addr(), server.local_addr(babble_presence::Transport::Udp).unwrap());
    let browser = Browser::launch("dashboard", &[], (1280, 720)).await;
    let shots = screenshots();
    open_live(&browser, http).await;

    let phone_port = free_port();
    run_sipp_from(&sipp, udp, "dashboard_register.xml", "u1", phone_port, &[]);
    let registered = row_where(
        PHONE,
        "row.dataset.registered === 'true' && row.dataset.lamp === 'idle' && \
         row.querySelector('.registration').textContent.includes('SIPp desk phone')",
    );
    browser.until_true("the phone registered, its lamp idle", &registered, DESCRIBE).await;
    browser.until_true("one registered", &count_is("registered", "1"), DESCRIBE).await;
    let key = blf_key(udp).await;
    browser.until_true("its watcher", &row_where(PHONE, "row.dataset.watchers === '1'"), DESCRIBE).await;
    browser.screenshot(&shots.join("01-registered.png")).await;

    push_call(http, "early").await;
    let ringing = row_where(PHONE, "row.dataset.lamp === 'ringing' && row.textContent.includes('sip:1002@127.0.0.1')");
    browser.until_true("the lamp ringing with the caller", &ringing, DESCRIBE).await;
    browser.until_true("one busy", &count_is("busy", "1"), DESCRIBE).await;
    browser.screenshot(&shots.join("02-ringing.png")).await;

    push_call(http, "confirmed").await;
    browser.until_true("the lamp busy", &row_where(PHONE, "row.dataset.lamp === 'busy'"), DESCRIBE).await;
    let ticking = row_where(PHONE, "/^0:0[1-9]/.test(row.querySelector('.duration').textContent)");
    browser.until_true("the call's duration ticking", &ticking, DESCRIBE).await;
    browser.screenshot(&shots.join("03-busy.png")).await;

    // Held (no media, RFC 4235 rendering) blinks slowly; back, it is busy again.
    let held = json!({"partial": {"callid": "dash-call-1", "state": "confirmed", "hasmedia": false}});
    put_accepted(http, &format!("/api/v1/entities/{PHONE}/dialogs"), &held).await;
    browser.until_true("the lamp on hold", &row_where(PHONE, "row.dataset.lamp === 'held'"), DESCRIBE).await;
    let resumed = json!({"partial": {"callid": "dash-call-1", "state": "confirmed", "hasmedia": true}});
    put_accepted(http, &format!("/api/v1/entities/{PHONE}/dialogs"), &resumed).await;
    browser.until_true("the lamp busy again", &row_where(PHONE, "row.dataset.lamp === 'busy'"), DESCRIBE).await;

    // Only the busy: the phone is listed until its call ends, then the list is empty.
    browser.run("document.querySelector('#groups [data-group=\"busy\"]').click();").await;
    let only_busy = "return document.querySelector('[data-group=\"busy\"]').getAttribute('aria-pressed') === 'true' && \
        document.querySelectorAll('#entities tbody tr').length === 1;";
    browser.until_true("the busy phone alone", only_busy, DESCRIBE).await;

    push_call(http, "terminated").await;
    let emptied = "return document.querySelectorAll('#entities tbody tr').length === 0 && !document.querySelector('#empty').hidden;";
    browser.until_true("no busy entity left", emptied, DESCRIBE).await;
    browser.run("document.querySelector('#groups [data-group=\"\"]').click();").await;
    let idle = row_where(PHONE, "row.dataset.lamp === 'idle' && row.querySelectorAll('.calls li').length === 0");
    browser.until_true("the lamp out again", &idle, DESCRIBE).await;
    browser.until_true("none busy", &count_is("busy", "0"), DESCRIBE).await;

    let status = json!({"status": "open", "dnd": true, "note": "In a meeting"});
    put_accepted(http, &format!("/api/v1/entities/{PHONE}/status"), &status).await;
    let dnd = row_where(
        PHONE,
        "row.dataset.lamp === 'dnd' && row.querySelector('.presence').textContent.includes('In a meeting')",
    );
    browser.until_true("DND with its note", &dnd, DESCRIBE).await;
    browser.until_true("one DND", &count_is("dnd", "1"), DESCRIBE).await;
    browser.screenshot(&shots.join("04-dnd.png")).await;

    // The detail view answers "can it take a call now", and why not.
    browser.run(&format!("document.querySelector('tr[data-entity=\"{PHONE}\"]').click();")).await;
    let verdict = "const v = document.querySelector('#availability'); \
        const shown = document.querySelector('#detail-body').textContent; \
        return !!v && v.dataset.available === 'false' && v.textContent.includes('do not disturb') && \
        shown.includes('SIPp desk phone') && shown.includes('1002@127.0.0.1') && shown.includes('yealink');";
    let detail = "return document.querySelector('#detail-body').innerText;";
    browser.until_true("the detail: not available (DND), its phone, its Yealink watcher", verdict, detail).await;
    browser.screenshot(&shots.join("05-detail.png")).await;
    browser.run("document.querySelector('#detail').close();").await;

    put_accepted(http, &format!("/api/v1/entities/{PHONE}/voicemail"), &json!({"new": 3, "old": 1})).await;
    let messages = row_where(
        PHONE,
        "row.dataset.mwiNew === '3' && row.querySelector('.messages').textContent.includes('3 new, 1 old')",
    );
    browser.until_true("three new messages", &messages, DESCRIBE).await;
    browser.until_true("one with messages", &count_is("messages", "1"), DESCRIBE).await;
    put_accepted(http, &format!("/api/v1/entities/{PHONE}/status"), &json!({"status": "open", "dnd": false})).await;
    browser.until_true("DND off", &row_where(PHONE, "row.dataset.lamp === 'idle'"), DESCRIBE).await;
    browser.screenshot(&shots.join("06-messages.png")).await;

    run_sipp_from(&sipp, udp, "dashboard_unregister.xml", "u1", phone_port, &[]);
    let unregistered = row_where(
        PHONE,
        "row.dataset.lamp === 'unregistered' && row.querySelector('.registration').textContent === 'Unregistered'",
    );
    browser.until_true("the phone unregistered", &unregistered, DESCRIBE).await;
    browser.until_true("none registered", &count_is("registered", "0"), DESCRIBE).await;
    browser.screenshot(&shots.join("07-unregistered.png")).await;
    key.abort();

    // A site at a glance (the README's picture), then the same on a phone's screen.
    let ring = json!({"callid": "site-1", "direction": "recipient", "state": "early", "remote": {"uri": "sip:1005@127.0.0.1"}});
    put_accepted(http, "/api/v1/entities/1004@127.0.0.1/dialogs", &json!({"display": "Reception", "full": [ring]}))
        .await;
    let talk = json!({"callid": "site-2", "direction": "initiator", "state": "confirmed", "duration": 83,
        "remote": {"uri": "sip:+442071234567@127.0.0.1"}});
    put_accepted(http, "/api/v1/entities/1005@127.0.0.1/dialogs", &json!({"display": "Sales", "full": [talk]})).await;
    let away = json!({"status": "open", "dnd": true, "note": "Back at 3"});
    put_accepted(http, "/api/v1/entities/1006@127.0.0.1/status", &away).await;
    put_accepted(http, "/api/v1/entities/1007@127.0.0.1/voicemail", &json!({"new": 2, "old": 5, "newurgent": 1})).await;
    for (entity, lamp) in [("1004", "ringing"), ("1005", "busy"), ("1006", "dnd"), ("1007", "idle")] {
        let shown = row_where(&format!("{entity}@127.0.0.1"), &format!("row.dataset.lamp === '{lamp}'"));
        browser.until_true(&format!("{entity} {lamp}"), &shown, DESCRIBE).await;
    }
    browser.screenshot(&shots.join("10-site.png")).await;
    browser.resize(390, 844).await;
    let cards = "return getComputedStyle(document.querySelector('#entities thead')).display === 'none';";
    browser.until_true("rows as cards on a phone's screen", cards, DESCRIBE).await;
    browser.screenshot(&shots.join("11-phone.png")).await;

    // The page never reloaded: its stream is the first and only one.
    let once = "return document.querySelector('#connection').textContent === 'live';";
    assert_eq!(browser.run(once).await, true, "{}", browser.run(DESCRIBE).await);
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[cfg_attr(not(has_chromium), ignore = "needs Chromium: apt-get install chromium chromium-driver")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_dashboard_asks_for_the_token_once_and_reconnects_after_a_restart() {
    if !chromium_available() {
        return;
    }
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let with_token = |config: &mut babble_presence::config::Config| {
        config.http.token = "dashboard-secret".into();
        config.http.listen = http;
    };
    let server = start_in_process(with_token).await;
    let browser = Browser::launch("dashboard-token", &[], (1024, 640)).await;
    browser.open(&format!("http://{http}/")).await;
    let asks = "return !document.querySelector('#login').hidden && document.querySelector('#main').hidden;";
    browser.until_true("the token asked for", asks, DESCRIBE).await;
    browser.screenshot(&screenshots().join("08-token.png")).await;
    browser
        .run(
            "document.querySelector('#token').value = 'dashboard-secret'; \
             document.querySelector('#login').requestSubmit();",
        )
        .await;
    browser.until_true("the live stream once the token is given", LIVE, DESCRIBE).await;
    let counts = MessageCounts { new: 2, old: 0, new_urgent: 0, old_urgent: 0 };
    let voicemail = |entity: &str| Push::Voicemail { entity: entity.into(), counts, reason: VoicemailReason::Update };
    server.send(voicemail("2001@pbx")).await.unwrap();
    browser.until_true("the pushed mailbox", &row_where("2001@pbx", "row.dataset.mwiNew === '2'"), DESCRIBE).await;

    // The token is kept for the session: a reload goes straight to the entities.
    browser.open(&format!("http://{http}/dashboard")).await;
    browser.until_true("the live stream without asking again", LIVE, DESCRIBE).await;
    let shown = "return document.querySelector('#login').hidden;";
    assert_eq!(browser.run(shown).await, true, "the token was not asked for again");

    // The server goes away: the page says so, and reconnects to the next one on its own.
    server.shutdown().await.unwrap();
    let lost = "return document.querySelector('#connection').dataset.state === 'reconnecting';";
    browser.until_true("the connection lost", lost, DESCRIBE).await;
    let server = start_in_process(with_token).await;
    server.send(voicemail("2002@pbx")).await.unwrap();
    let back = "const c = document.querySelector('#connection'); \
        return c.dataset.state === 'live' && c.textContent.includes('reconnected');";
    browser.until_true("live again, saying it reconnected", back, DESCRIBE).await;
    browser.until_true("the new server's state", &row_where("2002@pbx", "row.dataset.mwiNew === '2'"), DESCRIBE).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

/// 10 000 entities: the page shows one page of them with the counts of all, a search
/// narrows it, a change off the page leaves the page as it is, and a group pages through its
/// members.
#[cfg_attr(not(has_chromium), ignore = "needs Chromium: apt-get install chromium chromium-driver")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_dashboard_pages_ten_thousand_entities() {
    if !chromium_available() {
        return;
    }
    const ENTITIES: u32 = 10_000;
    let server = start_in_process(|_| {}).await;
    let http = server.http_addr();
    for n in 0..ENTITIES {
        let counts = MessageCounts { new: n % 2, old: 1, new_urgent: 0, old_urgent: 0 };
        let entity = format!("{}@pbx", 100_000 + n);
        server.send(Push::Voicemail { entity, counts, reason: VoicemailReason::Update }).await.unwrap();
    }
    let browser = Browser::launch("dashboard-scale", &[], (1280, 720)).await;
    open_live(&browser, http).await;
    let paged = "return document.querySelectorAll('#entities tbody tr').length === 50 && \
        document.querySelector('#range').textContent === '1–50 of 10,000';";
    browser.until_true("the first page of 10 000", paged, DESCRIBE).await;
    browser.until_true("the count of all", &count_is("entities", "10,000"), DESCRIBE).await;
    browser.until_true("half with messages", &count_is("messages", "5,000"), DESCRIBE).await;

    browser
        .run("const s = document.querySelector('#search'); s.value = '10999'; s.dispatchEvent(new Event('input'));")
        .await;
    let searched = "const rows = [...document.querySelectorAll('#entities tbody tr')]; \
        return rows.length === 10 && rows.every(r => r.dataset.entity.startsWith('10999'));";
    browser.until_true("the ten entities 10999x", searched, DESCRIBE).await;
    browser.screenshot(&screenshots().join("09-search.png")).await;

    // A change to an entity not on the page: counts move, the page stays.
    let counts = MessageCounts { new: 0, old: 0, new_urgent: 0, old_urgent: 0 };
    server
        .send(Push::Voicemail { entity: "100001@pbx".into(), counts, reason: VoicemailReason::Update })
        .await
        .unwrap();
    browser.until_true("one fewer with messages", &count_is("messages", "4,999"), DESCRIBE).await;
    let still = "return document.querySelectorAll('#entities tbody tr').length === 10;";
    assert_eq!(browser.run(still).await, true, "{}", browser.run(DESCRIBE).await);

    // One group, paged from its own index: the mailboxes with new messages, 100001 no longer.
    browser
        .run(
            "const s = document.querySelector('#search'); s.value = ''; s.dispatchEvent(new Event('input')); \
             document.querySelector('#groups [data-group=\"messages\"]').click();",
        )
        .await;
    let group = "const rows = [...document.querySelectorAll('#entities tbody tr')]; \
        return document.querySelector('#range').textContent === '1–50 of 4,999' && rows.length === 50 && \
        rows[0].dataset.entity === '100003@pbx' && rows.every(r => r.dataset.mwiNew === '1');";
    browser.until_true("the first 50 of the 4 999 with messages", group, DESCRIBE).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

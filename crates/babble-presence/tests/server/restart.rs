//! State that survives a restart (SQLite in `--data-dir`): a SIPp watcher that keeps its
//! dialog across a restart of the server and gets the next NOTIFY with a higher CSeq and
//! dialog-info version without re-subscribing; a graceful stop that loses nothing; and the
//! real binary killed with SIGKILL mid-load, after which the database opens and holds every
//! change that was acknowledged (acknowledgements wait for their batch to be committed).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use babble_presence::Transport;
use babble_presence::api::{CallsUpdate, Command, InEvent};
use babble_presence::call::{Call, CallState};
use babble_presence::config::ListenSpec;
use babble_presence::storage::DATABASE_FILE;
use presence_store::{Snapshot, SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::interop::{run_sipp, sipp};
use crate::matrix::{self, Client};
use crate::support::*;

fn load(dir: &Path) -> Snapshot {
    SqliteStore::open(&dir.join(DATABASE_FILE)).expect("the database opens").load().expect("the database loads")
}

/// The server started again in-process on the UDP address `udp` with the data in `dir`.
async fn restart_on(udp: std::net::SocketAddr, dir: &Path) -> babble_presence::Server {
    let dir = dir.to_owned();
    start_in_process(|c| {
        c.storage.data_dir = dir;
        c.sip.listen = vec![ListenSpec { transport: Transport::Udp, addr: udp }];
    })
    .await
}

fn voicemail_url(http: std::net::SocketAddr, entity: &str) -> String {
    format!("http://{http}/api/v1/entities/{entity}/voicemail")
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_watcher_keeps_its_dialog_across_a_restart() {
    let Some(sipp) = sipp() else { return };
    let dir = temp_dir("restart");
    let data_dir = dir.clone();
    let first = start_in_process(|c| c.storage.data_dir = data_dir).await;
    let udp = first.local_addr(Transport::Udp).unwrap();
    let mut events = first.events();
    let watcher = tokio::task::spawn_blocking(move || run_sipp(&sipp, udp, "watch_restart.xml", "u1", &[]));
    let event = tokio::time::timeout(WAIT, events.recv()).await.expect("an .in event").unwrap();
    let InEvent::SubscribeIn(subscribe) = event.event else { panic!("unexpected event {:?}", event.event) };
    // Let the first NOTIFY and SIPp's 200 for it cross before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = first.shutdown().await.unwrap();
    assert_eq!(stats.subscriptions_lost, 0);
    assert_eq!(load(&dir).subscriptions.len(), 1, "the subscription is stored");

    let second = restart_on(udp, &dir).await;
    let ringing = CallsUpdate::Partial(Call::new("after-restart", CallState::Early));
    let command =
        Command::Dialog { entity: subscribe.entity, display: None, call_count: None, calls: ringing, call_id: None };
    second.send(command).await.unwrap();
    watcher.await.expect("SIPp got the NOTIFY in its dialog, with a higher CSeq and version");
    second.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let feature = "restart: a watcher keeps its dialog across a server restart (next NOTIFY's CSeq and version past 100, no re-SUBSCRIBE)";
    matrix::passed_udp_only(Client::Sipp, feature, "TCP subscriptions end at a restart: the connection is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_keeps_every_change_and_a_restart_serves_it() {
    const ENTITIES: u32 = 300;
    let dir = temp_dir("graceful");
    let server = Server::start(&["--data-dir", dir.to_str().unwrap()]);
    let client = reqwest::Client::new();
    for i in 0..ENTITIES {
        let r = client.put(voicemail_url(server.http, &format!("u{i}@example.com"))).json(&json!({"new": i})).send();
        assert_eq!(r.await.unwrap().status(), StatusCode::ACCEPTED);
    }
    let (status, _) = server.stop();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    let stored = load(&dir);
    assert_eq!(stored.entities.len(), ENTITIES as usize, "every acknowledged change is stored");

    let server = Server::start(&["--data-dir", dir.to_str().unwrap()]);
    let last = format!("http://{}/api/v1/entities/u{}@example.com", server.http, ENTITIES - 1);
    let entity: Value = client.get(last).send().await.unwrap().json().await.unwrap();
    assert_eq!(entity["voicemail"]["new"], ENTITIES - 1, "the restarted server serves the stored counts");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_nothing_that_was_acknowledged() {
    let dir = temp_dir("crash");
    let server = Server::start(&["--data-dir", dir.to_str().unwrap()]);
    let http = server.http;
    // Each acknowledged change, with when it was acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let loader = tokio::spawn({
        let acknowledged = acknowledged.clone();
        async move {
            let client = reqwest::Client::new();
            for i in 0u32.. {
                let entity = format!("u{i}@example.com");
                match client.put(voicemail_url(http, &entity)).json(&json!({"new": 1})).send().await {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => {
                        acknowledged.lock().unwrap().push((entity, Instant::now()));
                    }
                    _ => return,
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    server.kill_hard();
    loader.await.unwrap();

    let integrity: String = rusqlite::Connection::open(dir.join(DATABASE_FILE))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let stored: std::collections::HashSet<String> = load(&dir).entities.into_iter().map(|e| e.entity).collect();
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() > 100, "the load ran: {} changes", acknowledged.len());
    let lost: Vec<Duration> = acknowledged
        .iter()
        .filter(|(entity, _)| !stored.contains(entity))
        .map(|(_, at)| killed_at.saturating_duration_since(*at))
        .collect();
    eprintln!("crash: {} changes acknowledged, {} lost", acknowledged.len(), lost.len());
    assert!(lost.is_empty(), "acknowledged changes lost, acknowledged this long before SIGKILL: {lost:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A phone on a UDP socket: sends text, receives text.
struct Phone(tokio::net::UdpSocket);

impl Phone {
    async fn send(&self, text: String, to: std::net::SocketAddr) {
        self.0.send_to(text.as_bytes(), to).await.unwrap();
    }

    /// The next request with `method` (answers to others are skipped).
    async fn next_request(&self, method: &str, within: Duration) -> String {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = tokio::time::timeout(within, self.0.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("a {method} within {within:?}"))
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(&format!("{method} ")) {
                return text;
            }
        }
    }
}

fn header_value<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map_or("", str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_keeps_our_subscription_dialog_and_its_dnd_across_a_restart() {
    let dir = temp_dir("phone-restart");
    let data_dir = dir.clone();
    let first = start_in_process(|c| c.storage.data_dir = data_dir).await;
    let server = first.local_addr(Transport::Udp).unwrap();
    let phone = Phone(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let me = phone.0.local_addr().unwrap();
    phone
        .send(
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg1;rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=reg\r\nTo: <sip:1001@127.0.0.1>\r\n\
                 Call-ID: reg@phone\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@{me}>\r\n\
                 Allow: INVITE, ACK, BYE, OPTIONS, SUBSCRIBE, NOTIFY\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
            ),
            server,
        )
        .await;
    let subscribe = phone.next_request("SUBSCRIBE", WAIT).await;
    let (call_id, from, to) =
        (header_value(&subscribe, "Call-ID"), header_value(&subscribe, "From"), header_value(&subscribe, "To"));
    let via = header_value(&subscribe, "Via");
    let cseq = header_value(&subscribe, "CSeq");
    // Granting 8 s makes the server refresh 6 s later, after the restart.
    phone
        .send(
            format!(
                "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to};tag=phone-tag\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq}\r\nContact: <sip:1001@{me}>\r\nExpires: 8\r\nContent-Length: 0\r\n\r\n"
            ),
            server,
        )
        .await;
    let busy = r#"<?xml version="1.0"?><presence><presentity uri="sip:1001@127.0.0.1;method=SUBSCRIBE"/><atom id="1001"><address uri="sip:1001@127.0.0.1;user=ip" priority="0.800000"><status status="open"/><msnsubstatus substatus="busy"/></address></atom></presence>"#;
    let our_contact = header_value(&subscribe, "Contact").trim_matches(['<', '>']).to_owned();
    phone
        .send(
            format!(
                "NOTIFY {our_contact} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKn1;rport\r\nMax-Forwards: 70\r\n\
                 From: {to};tag=phone-tag\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: 1 NOTIFY\r\n\
                 Contact: <sip:1001@{me}>\r\nEvent: presence\r\nSubscription-State: active;expires=8\r\n\
                 Content-Type: application/xpidf+xml\r\nContent-Length: {}\r\n\r\n{busy}",
                busy.len()
            ),
            server,
        )
        .await;
    // Let the NOTIFY be taken before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.shutdown().await.unwrap();
    assert_eq!(load(&dir).watches.len(), 1, "our subscription to the phone is stored");

    let second = restart_on(server, &dir).await;
    let entity = get_json(second.http_addr(), "/api/v1/entities/1001@127.0.0.1").await;
    assert_eq!(entity["dnd"], true, "the DND the phone reported is back without asking it");

    let refresh = phone.next_request("SUBSCRIBE", Duration::from_secs(10)).await;
    assert_eq!(
        header_value(&refresh, "Call-ID"),
        call_id,
        "the first SUBSCRIBE after the restart is in the old dialog"
    );
    assert!(header_value(&refresh, "To").contains("tag=phone-tag"));
    let seq: u32 = header_value(&refresh, "CSeq").split(' ').next().unwrap().parse().unwrap();
    assert!(seq > 100, "CSeq {seq} is past the restart margin");
    second.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Two servers on one data directory would overwrite each other's state: the second refuses to
/// start, naming the directory and the holder's pid, and starts once the first has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = temp_dir("locked");
    let first = Server::start(&["--data-dir", dir.to_str().unwrap()]);
    let config = {
        let mut c = babble_presence::config::Config::default();
        c.sip.listen = vec!["udp:127.0.0.1:0".parse::<ListenSpec>().unwrap()];
        c.http.listen = "127.0.0.1:0".parse().unwrap();
        c.storage.data_dir = dir.clone();
        c
    };
    let refused = babble_presence::Server::start(config.clone()).await.unwrap_err().to_string();
    assert!(refused.contains(dir.to_str().unwrap()) && refused.contains("in use"), "{refused}");
    assert!(refused.contains(&format!("pid {}", first.pid())), "{refused}");
    let (status, _) = first.stop();
    assert!(status.success());
    let second = babble_presence::Server::start(config).await.expect("the directory is free again");
    second.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// `backup` copies the store of a running server; `restore` refuses while a server holds the
/// directory, refuses a file that is not a store (keeping the state), and otherwise brings back
/// the state of the backup's moment, which a server started on the directory then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_the_state_of_its_moment() {
    let dir = temp_dir("backup");
    let data_dir = dir.join("data");
    let data_flag = ["--data-dir", data_dir.to_str().unwrap()];
    let command = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_babble-presence")).args(args).args(data_flag).output();
        let out = out.unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let server = Server::start(&data_flag);
    let client = reqwest::Client::new();
    let put = |new: u32| client.put(voicemail_url(server.http, "1001@pbx")).json(&json!({"new": new})).send();
    assert_eq!(put(4).await.unwrap().status(), StatusCode::ACCEPTED);

    let copy = dir.join("presence.backup");
    let (ok, out) = command(&["backup", copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("1 entities with pushed state"), "{out}");
    let (ok, out) = command(&["backup", copy.to_str().unwrap()]);
    assert!(!ok && out.contains("exists"), "a backup never overwrites: {out}");
    assert_eq!(put(9).await.unwrap().status(), StatusCode::ACCEPTED, "a change after the backup");

    let (ok, out) = command(&["restore", copy.to_str().unwrap()]);
    assert!(!ok && out.contains(&format!("in use by another babble-presence (pid {})", server.pid())), "{out}");
    let (status, _) = server.stop();
    assert!(status.success());

    let not_a_store = dir.join("notes.txt");
    std::fs::write(&not_a_store, "not a database").unwrap();
    let (ok, out) = command(&["restore", not_a_store.to_str().unwrap()]);
    assert!(
        !ok && out.contains(&format!("backup {}: storage: file is not a database", not_a_store.display())),
        "{out}"
    );
    let kept = load(&data_dir);
    assert_eq!(kept.entities.len(), 1, "a refused restore keeps the state");

    let (ok, out) = command(&["restore", copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    let server = Server::start(&data_flag);
    let entity = get_json(server.http, "/api/v1/entities/1001@pbx").await;
    assert_eq!(entity["voicemail"]["new"], 4, "the state of the backup's moment: {entity}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

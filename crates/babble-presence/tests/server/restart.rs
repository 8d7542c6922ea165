//! State that survives a restart (SQLite in `--data-dir`): a SIPp watcher that keeps its
//! dialog across a restart of the server and gets the next NOTIFY with a higher CSeq and
//! dialog-info version without re-subscribing; a graceful stop that loses nothing; and the
//! real binary killed with SIGKILL mid-load, after which the database opens and holds every
//! change older than the documented crash bound.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use babble_presence::Transport;
use babble_presence::api::{CallsUpdate, Command, InEvent};
use babble_presence::call::{Call, CallState};
use babble_presence::config::ListenSpec;
use babble_presence::storage::{BATCH_WINDOW, DATABASE_FILE};
use presence_store::{Snapshot, SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::interop::{run_sipp, sipp};
use crate::support::*;

/// Beyond the batch window, what the crash bound allows for committing the batch and for the
/// engine and writer being scheduled on a busy machine (the documented bound says "plus the
/// batch being committed").
const COMMIT_ALLOWANCE: Duration = Duration::from_millis(200);

fn load(dir: &Path) -> Snapshot {
    SqliteStore::open(&dir.join(DATABASE_FILE)).expect("the database opens").load().expect("the database loads")
}

fn voicemail_url(http: std::net::SocketAddr, entity: &str) -> String {
    format!("http://{http}/api/v1/entities/{entity}/voicemail")
}

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

    let data_dir = dir.clone();
    let second = start_in_process(|c| {
        c.storage.data_dir = data_dir;
        c.sip.listen = vec![ListenSpec { transport: Transport::Udp, addr: udp }];
    })
    .await;
    let ringing = CallsUpdate::Partial(Call::new("after-restart", CallState::Early));
    let command =
        Command::Dialog { entity: subscribe.entity, display: None, call_count: None, calls: ringing, call_id: None };
    second.send(command).await.unwrap();
    watcher.await.expect("SIPp got the NOTIFY in its dialog, with a higher CSeq and version");
    second.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
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
async fn sigkill_mid_load_loses_nothing_older_than_the_bound() {
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
    let bound = BATCH_WINDOW + COMMIT_ALLOWANCE;
    let lost: Vec<Duration> = acknowledged
        .iter()
        .filter(|(entity, _)| !stored.contains(entity))
        .map(|(_, at)| killed_at.saturating_duration_since(*at))
        .collect();
    let oldest_lost = lost.iter().max().copied().unwrap_or_default();
    eprintln!(
        "crash: {} changes acknowledged, {} lost, the oldest lost acknowledged {oldest_lost:?} before SIGKILL",
        acknowledged.len(),
        lost.len()
    );
    assert!(oldest_lost < bound, "a change acknowledged {oldest_lost:?} before the crash was lost (bound {bound:?})");
    let _ = std::fs::remove_dir_all(dir);
}

//! Restart with 100 000 stored subscriptions (issue 7): how long the SQLite store takes to
//! open and load them, and the engine to restore them (dialogs rebuilt, deadlines re-armed,
//! CSeq and versions moved past the restart margin). Prints the figures.
//!
//! `cargo run --release -p babble-bench --bin restart_reload [-- SUBSCRIPTIONS]`

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use presence_core::{Engine, FlowId};
use presence_store::conformance::subscription;
use presence_store::{Change, SqliteStore, Store};

/// Subscriptions written per transaction while filling the database.
const FILL_BATCH: usize = 5_000;
/// Watchers per watched entity (a BLF key on five phones for each extension).
const WATCHERS_PER_ENTITY: usize = 5;

fn main() {
    let count: usize = std::env::args().nth(1).map_or(100_000, |n| n.parse().expect("a number of subscriptions"));
    let dir = std::env::temp_dir().join(format!("babble-bench-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("babble-presence.sqlite3");
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;

    let started = Instant::now();
    let mut store = SqliteStore::open(&path).unwrap();
    let records = (0..count).map(|i| {
        let mut record = subscription(i as u64 + 1, 7, 3);
        record.entity = format!("{}@pbx.example.com", 10_000 + i / WATCHERS_PER_ENTITY);
        record.subscriber = format!("{}@pbx.example.com", 50_000 + i);
        record.dialog.remote_target = format!("sip:{}@192.0.2.10:{}", 50_000 + i, 1024 + i % 60_000);
        record.peer.addr = format!("192.0.2.{}:{}", 1 + i % 250, 1024 + i % 60_000);
        record.expires_at_ms = unix_ms + 3_600_000;
        Change::PutSubscription(record)
    });
    let records: Vec<Change> = records.collect();
    for batch in records.chunks(FILL_BATCH) {
        store.apply(batch).unwrap();
    }
    drop(store);
    let fill = started.elapsed();
    let size = std::fs::metadata(&path).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("babble-presence.sqlite3-wal")).map_or(0, |m| m.len());

    let started = Instant::now();
    let snapshot = SqliteStore::open(&path).unwrap().load().unwrap();
    let load = started.elapsed();
    assert_eq!(snapshot.subscriptions.len(), count, "every subscription loads");

    let started = Instant::now();
    let now = Instant::now();
    let mut engine = Engine::new(babble_bench::engine_config());
    engine.enable_persistence(now, unix_ms);
    let local: SocketAddr = "198.51.100.1:5060".parse().unwrap();
    engine.restore(snapshot, &HashMap::from([(local, FlowId(1))]), now);
    let restore = started.elapsed();
    assert_eq!(engine.subscription_count(), count, "every subscription is live again");

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("restart_reload: {count} subscriptions, {:.1} MB on disk", size as f64 / 1e6);
    println!("  fill (setup, {FILL_BATCH} per transaction): {:>8.1} ms", ms(fill));
    println!("  open + load from SQLite:                {:>8.1} ms", ms(load));
    println!("  engine restore (dialogs, deadlines):    {:>8.1} ms", ms(restore));
    println!("  reload total (load + restore):          {:>8.1} ms", ms(load + restore));
    let _ = std::fs::remove_dir_all(dir);
}

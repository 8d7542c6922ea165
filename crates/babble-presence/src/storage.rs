//! Storage in the shell: opening the store named by `storage.data_dir` (SQLite in that
//! directory, or nothing for `none`), and the writer thread that applies the engine's
//! changes in batches, off the SIP path.
//!
//! What a crash can lose: changes are collected for at most [`BATCH_WINDOW`] and then
//! committed in one transaction (WAL, `synchronous = NORMAL`: a committed batch survives the
//! process being killed), so a hard crash loses at most the last 50 ms of changes plus the
//! batch being committed. A graceful shutdown loses nothing: the driver hands over its last
//! changes and the writer commits them before the process exits.
//!
//! A batch the store fails to commit is kept and tried again, with the changes that arrive
//! meanwhile, after a pause that doubles up to [`RETRY_MAX`]. After [`ATTEMPTS_BEFORE_SPLIT`]
//! failures its changes are tried one by one: when some commit, the ones the store refuses are
//! dropped and logged, so one bad change cannot hold back the rest; when none do (a full disk,
//! a locked file), all are kept and retried. Both show in `/metrics`
//! (`babble_store_commit_failures_total`, `babble_store_changes_dropped_total`).

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use presence_store::{Change, Snapshot, SqliteStore, Store, StoreError};

use crate::counters::{self, ShellCounters};

/// How long the writer collects changes before committing them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "babble-presence.sqlite3";

/// Opens the store in `data_dir` and loads it; `None` for `none` (state in memory only).
pub(crate) fn open(data_dir: &Path) -> Result<Option<(SqliteStore, Snapshot)>, StoreError> {
    if data_dir == Path::new("none") {
        return Ok(None);
    }
    std::fs::create_dir_all(data_dir)?;
    let mut store = SqliteStore::open(&data_dir.join(DATABASE_FILE))?;
    let snapshot = store.load()?;
    Ok(Some((store, snapshot)))
}

/// The first pause after a failed commit.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between commits of a batch that keeps failing.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Failed commits of a batch before its changes are tried one by one.
const ATTEMPTS_BEFORE_SPLIT: u32 = 5;

/// The writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    changes: mpsc::Sender<Vec<Change>>,
    thread: JoinHandle<()>,
}

impl Writer {
    pub(crate) fn spawn(store: impl Store + 'static, counters: Arc<ShellCounters>) -> std::io::Result<Writer> {
        let (changes, incoming) = mpsc::channel::<Vec<Change>>();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write(store, &incoming, &counters))?;
        Ok(Writer { changes, thread })
    }

    /// Queues changes for the next batch.
    pub(crate) fn send(&self, changes: Vec<Change>) {
        if self.changes.send(changes).is_err() {
            tracing::error!("the store writer has stopped; changes are not stored");
        }
    }

    /// Commits what is queued and stops.
    pub(crate) fn finish(self) {
        drop(self.changes);
        let _ = self.thread.join();
    }
}

/// The writer's loop: gathers changes into batches and commits them until the sender is gone
/// and nothing is left, or, at shutdown, [`ATTEMPTS_BEFORE_SPLIT`] more tries have failed.
fn write(mut store: impl Store, incoming: &mpsc::Receiver<Vec<Change>>, counters: &ShellCounters) {
    let mut pending: Vec<Change> = Vec::new();
    let mut failures: u32 = 0;
    let mut tries_since_closed = 0;
    let mut open = true;
    while open || !pending.is_empty() {
        let pause = (failures > 0).then(|| RETRY_FIRST.saturating_mul(1 << (failures - 1).min(6)).min(RETRY_MAX));
        if open {
            open = gather(incoming, &mut pending, pause);
        } else {
            // The writer's own thread, not the runtime: pausing it blocks nothing else.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(pause.unwrap_or_default());
            tries_since_closed += 1;
        }
        if pending.is_empty() {
            continue;
        }
        let Err(e) = store.apply(&pending) else {
            pending.clear();
            failures = 0;
            continue;
        };
        failures += 1;
        counters::add(&counters.store_commit_failures, 1);
        tracing::error!(error = %e, changes = pending.len(), attempt = failures, "could not store a batch of changes; keeping it to retry");
        if failures.is_multiple_of(ATTEMPTS_BEFORE_SPLIT) || tries_since_closed + 1 >= ATTEMPTS_BEFORE_SPLIT {
            pending = one_by_one(&mut store, std::mem::take(&mut pending), counters);
        }
        if !open && !pending.is_empty() && tries_since_closed + 1 >= ATTEMPTS_BEFORE_SPLIT {
            tracing::error!(changes = pending.len(), "stopping with changes the store would not take; they are lost");
            counters::add(&counters.store_changes_dropped, pending.len() as u64);
            return;
        }
    }
}

/// Waits for changes into `batch`: for the first as long as it takes (or, retrying, for
/// `pause`), then for more during [`BATCH_WINDOW`]. `false` once the sender is gone.
fn gather(incoming: &mpsc::Receiver<Vec<Change>>, batch: &mut Vec<Change>, pause: Option<Duration>) -> bool {
    // A blocking thread of its own, not the runtime: it may read the clock.
    #[allow(clippy::disallowed_methods)]
    let until = std::time::Instant::now() + pause.unwrap_or(BATCH_WINDOW);
    if pause.is_none() {
        match incoming.recv() {
            Ok(first) => batch.extend(first),
            Err(_) => return false,
        }
    }
    #[allow(clippy::disallowed_methods)]
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        match incoming.recv_timeout(left) {
            Ok(more) => batch.extend(more),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
    true
}

/// Commits `changes` one at a time, in order. When none commits, the failure is the store's,
/// not theirs: all are returned to retry. Otherwise the refused ones get one more try each (the
/// store may have come back during the pass), and those refused again are logged and dropped.
fn one_by_one(store: &mut impl Store, changes: Vec<Change>, counters: &ShellCounters) -> Vec<Change> {
    let total = changes.len();
    let refused: Vec<Change> =
        changes.into_iter().filter(|change| store.apply(std::slice::from_ref(change)).is_err()).collect();
    if refused.len() == total {
        return refused;
    }
    for change in refused {
        if let Err(e) = store.apply(std::slice::from_ref(&change)) {
            tracing::error!(error = %e, ?change, "the store refuses this change; dropped");
            counters::add(&counters.store_changes_dropped, 1);
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use presence_store::{EntityRecord, MemoryStore};

    use super::*;

    /// A memory store that fails the first `outage` commits, and any commit holding a
    /// change for the entity `poison`.
    struct Flaky {
        inner: Arc<Mutex<MemoryStore>>,
        outage: u32,
        poison: Option<&'static str>,
    }

    impl Store for Flaky {
        fn load(&mut self) -> Result<Snapshot, StoreError> {
            self.inner.lock().unwrap().load()
        }

        fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
            let poisoned =
                changes.iter().any(|c| matches!(c, Change::PutEntity(e) if Some(e.entity.as_str()) == self.poison));
            if self.outage > 0 || poisoned {
                self.outage = self.outage.saturating_sub(1);
                return Err(StoreError::Io(std::io::Error::other("disk full")));
            }
            self.inner.lock().unwrap().apply(changes)
        }
    }

    fn entity(key: &str) -> Change {
        Change::PutEntity(EntityRecord { entity: key.into(), ..EntityRecord::default() })
    }

    fn stored_keys(inner: &Arc<Mutex<MemoryStore>>) -> Vec<String> {
        let mut keys: Vec<String> =
            inner.lock().unwrap().load().unwrap().entities.into_iter().map(|e| e.entity).collect();
        keys.sort();
        keys
    }

    #[test]
    fn an_outage_delays_changes_but_loses_none() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let writer = Writer::spawn(Flaky { inner: inner.clone(), outage: 7, poison: None }, counters.clone()).unwrap();
        writer.send(vec![entity("a"), entity("b")]);
        #[allow(clippy::disallowed_methods)] // a plain test thread
        std::thread::sleep(RETRY_FIRST * 3);
        writer.send(vec![entity("c")]);
        writer.finish();
        assert_eq!(stored_keys(&inner), vec!["a", "b", "c"], "the outage outlasted the split, and nothing was dropped");
        assert!(counters::read(&counters.store_commit_failures) >= 3);
        assert_eq!(counters::read(&counters.store_changes_dropped), 0);
    }

    #[test]
    fn a_store_that_never_recovers_does_not_hold_up_shutdown() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let flaky = Flaky { inner: inner.clone(), outage: u32::MAX, poison: None };
        let writer = Writer::spawn(flaky, counters.clone()).unwrap();
        writer.send(vec![entity("a")]);
        writer.finish();
        assert!(stored_keys(&inner).is_empty());
        assert_eq!(counters::read(&counters.store_changes_dropped), 1, "the loss is counted");
    }

    #[test]
    fn a_change_the_store_refuses_does_not_hold_back_the_others() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let flaky = Flaky { inner: inner.clone(), outage: 0, poison: Some("bad") };
        let writer = Writer::spawn(flaky, counters.clone()).unwrap();
        writer.send(vec![entity("a"), entity("bad"), entity("c")]);
        writer.finish();
        assert_eq!(stored_keys(&inner), vec!["a", "c"]);
        assert_eq!(counters::read(&counters.store_changes_dropped), 1);
    }
}

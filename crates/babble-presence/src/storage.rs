//! Storage in the shell: opening the store named by `storage.data_dir` (SQLite in that
//! directory, or nothing for `none`), and the writer thread that applies the engine's
//! changes in batches, off the SIP path.
//!
//! Group commit: the driver hands over the changes of each input it handled as a numbered
//! batch; the writer collects batches for the window (`storage.batch_window_ms`, default
//! [`BATCH_WINDOW`]), commits them in one transaction (WAL, `synchronous = NORMAL`: a
//! committed batch survives the process being killed), and reports the number of the last
//! batch committed. With `storage.durable_ack` (the default) the driver holds the responses
//! and API acknowledgements that follow a batch until it is reported, so nothing a phone or
//! an integration was told is stored can be lost by a crash. Without it they go at once, and a
//! hard crash can lose the changes of the last window plus the batch being committed. A
//! graceful shutdown loses nothing either way: the driver hands over its last changes and the
//! writer commits them before the process exits.
//!
//! A batch is coalesced first: a Put made moot by a later change to the same record is left
//! out (a subscription is stored again as its CSeq moves and at every refresh), which also
//! keeps a batch held while the store is down from growing with every change. The channel to
//! the writer holds batches only until its next gather (every window, retrying or not), and
//! what it gathers is coalesced to one change per record, so what waits is bounded by the
//! state tables' limits (`[limits]`) rather than by how long an outage lasts.
//!
//! When the store fails to commit a batch, what happens depends on why. A failure of the
//! store itself (busy, locked, full, I/O) keeps the batch, with the changes that arrive
//! meanwhile, and tries again after a pause that doubles up to [`RETRY_MAX`]; nothing is
//! dropped while the server runs, and nothing held for it is acknowledged. A failure about
//! the changes (one the store refuses, such as a conditional update that lost) has the batch
//! committed one change at a time, in order: the refused ones are dropped and logged, so one
//! bad change cannot hold back the rest, and no change is ever applied after one that came
//! later. At shutdown a store that keeps failing gets [`ATTEMPTS_AT_SHUTDOWN`] more tries
//! before what is left is given up. Both show in `/metrics`
//! (`babble_store_commit_failures_total`, `babble_store_changes_dropped_total`).

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use presence_store::{Change, Snapshot, SqliteStore, Store, StoreError};
use tokio::sync::watch;

use crate::counters::{self, ShellCounters};

/// How long the writer collects changes before committing them, unless configured.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "babble-presence.sqlite3";

/// The lock file in the data directory: held exclusively while a server uses the directory,
/// and holding that server's pid.
pub const LOCK_FILE: &str = "babble-presence.lock";

/// A data directory held by this process: a second server on it would overwrite what this
/// one stores. The lock goes when this is dropped (or the process ends, however it ends).
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _held: std::fs::File,
}

/// Why a data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another server holds the directory.
    #[error("data directory {dir} is in use by another babble-presence (pid {pid})")]
    InUse {
        /// The directory.
        dir: std::path::PathBuf,
        /// The holder's pid, as it wrote it.
        pid: String,
    },
    /// A backup file could not be written or read.
    #[error("backup {file}: {source}")]
    Backup {
        /// The backup file.
        file: std::path::PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The directory or its database could not be opened or read.
    #[error("data directory {dir}: {source}")]
    Store {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        source: StoreError,
    },
}

/// Locks the data directory, opens the store in it and loads it; `None` for `none` (state in
/// memory only).
pub(crate) fn open(data_dir: &Path) -> Result<Option<(SqliteStore, Snapshot, DataDirLock)>, OpenError> {
    if data_dir == Path::new("none") {
        return Ok(None);
    }
    let failed = |source: StoreError| OpenError::Store { dir: data_dir.to_owned(), source };
    std::fs::create_dir_all(data_dir).map_err(|e| failed(e.into()))?;
    let lock = lock(data_dir)?;
    let mut store = SqliteStore::open(&data_dir.join(DATABASE_FILE)).map_err(failed)?;
    let snapshot = store.load().map_err(failed)?;
    Ok(Some((store, snapshot, lock)))
}

/// Takes the directory's lock and writes our pid into it.
pub(crate) fn lock(data_dir: &Path) -> Result<DataDirLock, OpenError> {
    use std::io::{Read, Seek, Write};
    let failed = |e: std::io::Error| OpenError::Store { dir: data_dir.to_owned(), source: e.into() };
    let path = data_dir.join(LOCK_FILE);
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(OpenError::InUse { dir: data_dir.to_owned(), pid: pid.trim().to_owned() });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    file.set_len(0).and_then(|()| file.rewind()).map_err(failed)?;
    write!(file, "{}", std::process::id()).map_err(failed)?;
    Ok(DataDirLock { _held: file })
}

/// The first pause after a failed commit.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between commits of a batch that keeps failing.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Tries left, once shutdown has begun, for a store that keeps failing.
const ATTEMPTS_AT_SHUTDOWN: u32 = 3;

/// A numbered batch of changes.
type Batch = (u64, Vec<Change>);

/// The writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    changes: mpsc::Sender<Batch>,
    thread: JoinHandle<()>,
    committed: watch::Receiver<u64>,
    /// The data directory stays ours until the writer has committed its last batch.
    _lock: Option<DataDirLock>,
}

impl Writer {
    /// Starts the writer, committing what arrives within each `window` together, holding
    /// `lock` (the data directory's) until it finishes.
    pub(crate) fn spawn(
        store: impl Store + 'static,
        window: Duration,
        lock: Option<DataDirLock>,
        counters: Arc<ShellCounters>,
    ) -> std::io::Result<Writer> {
        let (changes, incoming) = mpsc::channel::<Batch>();
        let (report, committed) = watch::channel(0);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write(store, &incoming, window, &report, &counters))?;
        Ok(Writer { changes, thread, committed, _lock: lock })
    }

    /// Queues batch number `batch` (numbers grow by one from 1).
    pub(crate) fn send(&self, batch: u64, changes: Vec<Change>) {
        if self.changes.send((batch, changes)).is_err() {
            tracing::error!("the store writer has stopped; changes are not stored");
        }
    }

    /// The number of the last batch committed, as it changes.
    pub(crate) fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Commits what is queued and stops.
    pub(crate) fn finish(self) {
        drop(self.changes);
        let _ = self.thread.join();
    }
}

/// The writer's loop: gathers changes into batches and commits them until the sender is gone
/// and nothing is left, or, at shutdown, [`ATTEMPTS_AT_SHUTDOWN`] more tries have failed.
/// After each commit it reports the number of the last batch in it.
fn write(
    mut store: impl Store,
    incoming: &mpsc::Receiver<Batch>,
    window: Duration,
    report: &watch::Sender<u64>,
    counters: &ShellCounters,
) {
    let mut pending: Vec<Change> = Vec::new();
    let mut last_batch = 0;
    let mut failures: u32 = 0;
    let mut tries_since_closed = 0;
    let mut open = true;
    while open || !pending.is_empty() {
        let pause = (failures > 0).then(|| RETRY_FIRST.saturating_mul(1 << (failures - 1).min(6)).min(RETRY_MAX));
        if open {
            open = gather(incoming, &mut pending, &mut last_batch, window, pause);
        } else {
            if tries_since_closed == ATTEMPTS_AT_SHUTDOWN {
                tracing::error!(
                    changes = pending.len(),
                    "stopping with changes the store would not take; they are lost"
                );
                counters::add(&counters.store_changes_dropped, pending.len() as u64);
                return;
            }
            tries_since_closed += 1;
            // The writer's own thread, not the runtime: pausing it blocks nothing else.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(pause.unwrap_or_default().min(RETRY_FIRST * 4));
        }
        if pending.is_empty() {
            report.send_replace(last_batch);
            continue;
        }
        pending = presence_store::coalesce(std::mem::take(&mut pending));
        let Err(e) = store.apply(&pending) else {
            pending.clear();
            failures = 0;
            report.send_replace(last_batch);
            continue;
        };
        counters::add(&counters.store_commit_failures, 1);
        if e.is_transient() {
            failures += 1;
            tracing::error!(error = %e, changes = pending.len(), attempt = failures, "could not store a batch of changes; keeping it to retry");
        } else {
            tracing::error!(error = %e, changes = pending.len(), "the store refuses a change in this batch; committing its changes one at a time");
            pending = one_by_one(&mut store, std::mem::take(&mut pending), counters);
            failures = u32::from(!pending.is_empty());
            if pending.is_empty() {
                // Done with: what it refused is dropped and logged, the rest stored.
                report.send_replace(last_batch);
            }
        }
    }
}

/// Waits for changes into `pending`, noting the number of the last batch they came in: for
/// the first as long as it takes (or, retrying, for `pause`), then takes what arrived by the
/// end of `window`. `false` once the sender is gone.
///
/// The window is slept through rather than spent waiting on the channel: a sender that finds
/// the writer asleep only queues, where one that finds it waiting has to wake it, and the
/// engine sends after every message it handles.
fn gather(
    incoming: &mpsc::Receiver<Batch>,
    pending: &mut Vec<Change>,
    last_batch: &mut u64,
    window: Duration,
    pause: Option<Duration>,
) -> bool {
    let mut take = |(batch, changes): Batch| {
        pending.extend(changes);
        *last_batch = batch;
    };
    if pause.is_none() {
        match incoming.recv() {
            Ok(first) => take(first),
            Err(_) => return false,
        }
    }
    // The writer's own thread, not the runtime: pausing it blocks nothing else.
    #[allow(clippy::disallowed_methods)]
    std::thread::sleep(pause.unwrap_or(window));
    loop {
        match incoming.try_recv() {
            Ok(more) => take(more),
            Err(mpsc::TryRecvError::Empty) => return true,
            Err(mpsc::TryRecvError::Disconnected) => return false,
        }
    }
}

/// Commits `changes` one at a time, in order, dropping (and logging) each the store refuses
/// for what it is. At the first failure of the store itself it stops: that change and the ones
/// after it are returned, still in order, to retry.
fn one_by_one(store: &mut impl Store, changes: Vec<Change>, counters: &ShellCounters) -> Vec<Change> {
    let mut changes = changes.into_iter();
    while let Some(change) = changes.next() {
        match store.apply(std::slice::from_ref(&change)) {
            Ok(()) => {}
            Err(e) if e.is_transient() => return std::iter::once(change).chain(changes).collect(),
            Err(e) => {
                tracing::error!(error = %e, ?change, "the store refuses this change; dropped");
                counters::add(&counters.store_changes_dropped, 1);
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use presence_store::{EntityRecord, MemoryStore};

    use super::*;

    /// A memory store whose first `outage` commits fail as a full disk would, and which
    /// refuses any commit holding a change for the entity `poison`, as it would a conditional
    /// update that lost.
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
            if self.outage > 0 {
                self.outage -= 1;
                return Err(StoreError::Io(std::io::Error::other("disk full")));
            }
            if changes.iter().any(|c| matches!(c, Change::PutEntity(e) if Some(e.entity.as_str()) == self.poison)) {
                return Err(StoreError::Conflict { id: 0, expected: "refused".into() });
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
    fn an_outage_delays_changes_but_loses_or_reorders_none() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let writer = Writer::spawn(
            Flaky { inner: inner.clone(), outage: 4, poison: None },
            BATCH_WINDOW,
            None,
            counters.clone(),
        )
        .unwrap();
        let committed = writer.committed();
        writer.send(1, vec![entity("a"), Change::DeleteEntity("a".into()), entity("b")]);
        // Four failed commits and their pauses (0.1 + 0.2 + 0.4 + 0.8 s) pass while running.
        #[allow(clippy::disallowed_methods)] // a plain test thread
        std::thread::sleep(Duration::from_secs(2));
        writer.send(2, vec![entity("c")]);
        writer.finish();
        assert_eq!(*committed.borrow(), 2, "both batches reported stored");
        assert_eq!(stored_keys(&inner), vec!["b", "c"], "a was put and then deleted, in that order");
        assert_eq!(counters::read(&counters.store_commit_failures), 4);
        assert_eq!(counters::read(&counters.store_changes_dropped), 0);
    }

    #[test]
    fn a_store_that_never_recovers_does_not_hold_up_shutdown() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let flaky = Flaky { inner: inner.clone(), outage: u32::MAX, poison: None };
        let writer = Writer::spawn(flaky, BATCH_WINDOW, None, counters.clone()).unwrap();
        let committed = writer.committed();
        writer.send(1, vec![entity("a")]);
        writer.finish();
        assert_eq!(*committed.borrow(), 0, "what was never stored is never reported stored");
        assert!(stored_keys(&inner).is_empty());
        assert_eq!(counters::read(&counters.store_changes_dropped), 1, "the loss is counted");
    }

    #[test]
    fn a_change_the_store_refuses_does_not_hold_back_the_others() {
        let inner = Arc::new(Mutex::new(MemoryStore::default()));
        let counters = Arc::new(ShellCounters::default());
        let flaky = Flaky { inner: inner.clone(), outage: 0, poison: Some("bad") };
        let writer = Writer::spawn(flaky, BATCH_WINDOW, None, counters.clone()).unwrap();
        writer.send(1, vec![entity("a"), entity("bad"), Change::DeleteEntity("a".into()), entity("c")]);
        writer.finish();
        assert_eq!(stored_keys(&inner), vec!["c"], "the others committed in order (a put, then deleted)");
        assert_eq!(counters::read(&counters.store_changes_dropped), 1);
    }
}

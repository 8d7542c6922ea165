//! Storage in the shell: opening the store named by `storage.data_dir` (SQLite in that
//! directory, or nothing for `none`), and the writer thread that applies the engine's
//! changes in batches, off the SIP path.
//!
//! What a crash can lose: changes are collected for at most [`BATCH_WINDOW`] and then
//! committed in one transaction (WAL, `synchronous = NORMAL`: a committed batch survives the
//! process being killed), so a hard crash loses at most the last 50 ms of changes plus the
//! batch being committed. A graceful shutdown loses nothing: the driver hands over its last
//! changes and the writer commits them before the process exits.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use presence_store::{Change, Snapshot, SqliteStore, Store, StoreError};

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

/// The writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    changes: mpsc::Sender<Vec<Change>>,
    thread: JoinHandle<()>,
}

impl Writer {
    pub(crate) fn spawn(mut store: impl Store + 'static) -> std::io::Result<Writer> {
        let (changes, incoming) = mpsc::channel::<Vec<Change>>();
        let thread = std::thread::Builder::new().name("store-writer".into()).spawn(move || {
            while let Ok(first) = incoming.recv() {
                let mut batch = first;
                // A blocking thread of its own, not the runtime: it may read the clock.
                #[allow(clippy::disallowed_methods)]
                let until = std::time::Instant::now() + BATCH_WINDOW;
                #[allow(clippy::disallowed_methods)]
                while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                    match incoming.recv_timeout(left) {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.apply(&batch) {
                    tracing::error!(error = %e, changes = batch.len(), "could not store a batch of changes");
                }
            }
        })?;
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

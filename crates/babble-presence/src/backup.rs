//! Backup and restore of the store in a data directory. A backup is taken online, from a
//! server that keeps running (SQLite's online backup: one consistent moment). A restore needs
//! the directory to itself (the server stopped): it holds the directory's lock, checks that
//! the file is a store this program can read, and swaps it in whole, so a failed restore leaves
//! the old state in place.

use std::path::Path;

use presence_core::store::Snapshot;
use presence_store::{SqliteStore, Store};

use crate::storage::{DATABASE_FILE, OpenError, lock};

/// What a store holds, to say what a backup or restore carried.
#[derive(Debug)]
pub struct Contents {
    /// Subscriptions served.
    pub subscriptions: usize,
    /// Registered contacts.
    pub bindings: usize,
    /// Publications.
    pub publications: usize,
    /// Entities with pushed state (voicemail counts, calls, status).
    pub entities: usize,
    /// Subscriptions to phones.
    pub watches: usize,
}

impl From<&Snapshot> for Contents {
    fn from(s: &Snapshot) -> Self {
        Contents {
            subscriptions: s.subscriptions.len(),
            bindings: s.bindings.len(),
            publications: s.publications.len(),
            entities: s.entities.len(),
            watches: s.watches.len(),
        }
    }
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} subscriptions, {} registered contacts, {} publications, {} entities with pushed state, {} subscriptions to phones",
            self.subscriptions, self.bindings, self.publications, self.entities, self.watches
        )
    }
}

/// Copies the store of `data_dir` into the new file `to`, and says what it holds.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Contents, OpenError> {
    let failed = |source| OpenError::Store { dir: data_dir.to_owned(), source };
    SqliteStore::backup(&data_dir.join(DATABASE_FILE), to).map_err(failed)?;
    // Read back, so a backup that would not restore is known now rather than then.
    let unreadable = |source| OpenError::Backup { file: to.to_owned(), source };
    let snapshot = SqliteStore::open(to).and_then(|mut copy| copy.load()).map_err(unreadable)?;
    Ok(Contents::from(&snapshot))
}

/// Replaces the store of `data_dir` with the backup `from`, and says what it holds.
pub fn restore(data_dir: &Path, from: &Path) -> Result<Contents, OpenError> {
    let failed = |source| OpenError::Store { dir: data_dir.to_owned(), source };
    std::fs::create_dir_all(data_dir).map_err(|e| failed(e.into()))?;
    let _lock = lock(data_dir)?;
    let database = data_dir.join(DATABASE_FILE);
    let incoming = database.with_extension("restoring");
    let unreadable = |source| OpenError::Backup { file: from.to_owned(), source };
    SqliteStore::backup(from, &incoming).map_err(unreadable)?;
    // Opened as the server would (migrating an older schema) and read whole before it replaces
    // anything.
    let snapshot = match SqliteStore::open(&incoming).and_then(|mut store| store.load()) {
        Ok(snapshot) => snapshot,
        Err(e) => {
            let _ = std::fs::remove_file(&incoming);
            return Err(unreadable(e));
        }
    };
    // The old database's write-ahead log would otherwise be replayed into the new one.
    for stale in ["sqlite3-wal", "sqlite3-shm"] {
        match std::fs::remove_file(database.with_extension(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e.into())),
            _ => {}
        }
    }
    std::fs::rename(&incoming, &database).map_err(|e| failed(e.into()))?;
    Ok(Contents::from(&snapshot))
}

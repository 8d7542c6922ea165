//! Where babble-presence keeps its state across restarts: the [`Store`] trait backends
//! implement (no SQL in it) for the records the engine defines (`presence_core::store`,
//! re-exported here), the in-memory and SQLite backends, and [`conformance`], the suite
//! every backend must pass.

mod coalesce;
pub mod conformance;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use presence_core::store::{
    BindingRecord, CallRecord, Change, DialogRecord, EntityRecord, PeerRecord, PublicationRecord, Snapshot,
    SubscriptionRecord, WatchRecord,
};

pub use coalesce::coalesce;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Why a store operation failed. Backends map their own errors onto these, so the writer
/// treats every backend alike.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot take changes for now (busy, locked, full, not reachable, an I/O
    /// failure of its own): the same changes may well be taken later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refuses a change for what it is (a constraint it breaks).
    #[error("store refused a change: {0}")]
    Refused(String),
    /// The storage location cannot be used.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode (written by an incompatible version).
    #[error("stored record does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    /// A conditional update found another entity-tag; nothing of the batch was applied.
    #[error("publication {id} no longer has entity-tag {expected}")]
    Conflict {
        /// The publication.
        id: u64,
        /// The entity-tag that was expected.
        expected: String,
    },
    /// The database was written by a newer schema than this program knows.
    #[error("database schema version {found} is newer than this program's {supported}")]
    Schema {
        /// The version found.
        found: i64,
        /// The newest this program knows.
        supported: i64,
    },
}

impl StoreError {
    /// Whether the failure is the store's for now (busy, locked, full, I/O) and the same
    /// changes may well be taken later, rather than something about the changes themselves.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Io(_) => true,
            StoreError::Refused(_)
            | StoreError::Decode(_)
            | StoreError::Conflict { .. }
            | StoreError::Schema { .. } => false,
        }
    }
}

/// A backend. Batches are atomic: all of a batch is applied, or none of it.
pub trait Store: Send {
    /// Everything stored.
    fn load(&mut self) -> Result<Snapshot, StoreError>;
    /// Applies a batch of changes in order.
    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_is_transient_and_a_refused_change_is_not() {
        assert!(StoreError::Io(std::io::Error::other("disk full")).is_transient());
        assert!(StoreError::Unavailable("locked".into()).is_transient());
        assert!(!StoreError::Refused("constraint".into()).is_transient());
        assert!(!StoreError::Conflict { id: 1, expected: "e1".into() }.is_transient());
    }
}

//! Both backends pass the conformance suite; SQLite also refuses a newer schema.

// Test helpers fail the test by panicking; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use presence_store::conformance::{Backend, run};
use presence_store::{MemoryStore, SqliteStore, Store};

struct Memory(MemoryStore);

impl Backend for Memory {
    fn open(&self) -> Box<dyn Store> {
        Box::new(self.0.clone())
    }
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.0.path().join("state.sqlite3")).unwrap())
    }
}

#[test]
fn memory_store_conforms() {
    run(|| Memory(MemoryStore::new()));
}

#[test]
fn sqlite_store_conforms() {
    run(|| Sqlite(tempfile::tempdir().unwrap()));
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(SqliteStore::open(&path), Err(presence_store::StoreError::Schema { found: 99, .. })));
}

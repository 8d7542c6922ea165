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

#[test]
fn sqlite_migrates_a_version_1_database_keeping_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    // A database as version 1 wrote it: no watches table yet, one subscription stored.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, record TEXT NOT NULL);
         CREATE TABLE bindings (aor TEXT NOT NULL, contact TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (aor, contact));
         CREATE TABLE publications (id INTEGER PRIMARY KEY, etag TEXT NOT NULL, record TEXT NOT NULL);
         CREATE TABLE entities (entity TEXT PRIMARY KEY, record TEXT NOT NULL);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    let record = presence_store::conformance::subscription(7, 3, 2);
    conn.execute("INSERT INTO subscriptions (id, record) VALUES (7, ?1)", [serde_json::to_string(&record).unwrap()])
        .unwrap();
    drop(conn);

    let mut store = SqliteStore::open(&path).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.subscriptions, vec![record], "rows written by version 1 survive");
    assert!(loaded.watches.is_empty(), "the new table exists");
    let version: i64 =
        rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(version, 2);
}

#[test]
fn sqlite_replaces_a_stored_record_that_lacks_a_counter_without_nulling_it() {
    use presence_store::Change;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    let mut store = SqliteStore::open(&path).unwrap();
    store.apply(&[Change::PutSubscription(presence_store::conformance::subscription(7, 3, 2))]).unwrap();
    // A row edited by hand (or by a tool) that lost its version: max(NULL, n) is NULL in SQL.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE subscriptions SET record = json_remove(record, '$.version') WHERE id = 7", [])
        .unwrap();
    let next = presence_store::conformance::subscription(7, 4, 5);
    store.apply(&[Change::PutSubscription(next.clone())]).unwrap();
    assert_eq!(store.load().unwrap().subscriptions, vec![next], "the new version is kept, not a null");
}

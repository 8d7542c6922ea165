//! The SQLite backend, the embedded default: one file in the data directory, WAL journal,
//! `synchronous = NORMAL` (a committed batch survives a crash of the process; a power loss
//! may lose the last ones), schema versioned with `PRAGMA user_version`. Records are stored
//! as JSON beside their key columns, so `sqlite3` can inspect them with `json_extract`.
//! One connection, used by one writer thread: no "database is locked".

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Change, Snapshot, Store, StoreError};

/// The schema this program writes.
const SCHEMA_VERSION: i64 = 2;

/// Migrations: the statements that bring version `n - 1` to `n`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    "
    CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, record TEXT NOT NULL);
    CREATE TABLE bindings (aor TEXT NOT NULL, contact TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (aor, contact));
    CREATE TABLE publications (id INTEGER PRIMARY KEY, etag TEXT NOT NULL, record TEXT NOT NULL);
    CREATE TABLE entities (entity TEXT PRIMARY KEY, record TEXT NOT NULL);
    ",
    // 2: subscriptions to phones.
    "CREATE TABLE watches (id INTEGER PRIMARY KEY, record TEXT NOT NULL);",
];

/// A SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Schema { found, supported: SCHEMA_VERSION });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(SqliteStore { conn })
    }

    /// Copies the database at `path` into a new file `to`, consistent as of one moment, while
    /// a server may be writing to it: SQLite's online backup, all pages in one step under one
    /// read transaction (WAL lets the writer go on meanwhile). `to` appears only once
    /// complete.
    pub fn backup(path: &Path, to: &Path) -> Result<(), StoreError> {
        if !path.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no database at {}", path.display()),
            )
            .into());
        }
        let source = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.busy_timeout(std::time::Duration::from_secs(5))?;
        let partial = to.with_extension("partial");
        let copied = (|| {
            let mut target = Connection::open(&partial)?;
            match rusqlite::backup::Backup::new(&source, &mut target)?.step(-1)? {
                rusqlite::backup::StepResult::Done => Ok(()),
                other => Err(StoreError::Unavailable(format!("the database stayed {other:?} for 5 s"))),
            }
        })();
        match copied.and_then(|()| Ok(std::fs::rename(&partial, to)?)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    fn rows<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let texts = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| serde_json::from_str(t).map_err(StoreError::from)).collect()
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            subscriptions: self.rows("SELECT record FROM subscriptions ORDER BY id")?,
            bindings: self.rows("SELECT record FROM bindings ORDER BY aor, contact")?,
            publications: self.rows("SELECT record FROM publications ORDER BY id")?,
            entities: self.rows("SELECT record FROM entities ORDER BY entity")?,
            watches: self.rows("SELECT record FROM watches ORDER BY id")?,
        })
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for change in changes {
            match change {
                Change::PutSubscription(record) => {
                    execute(&tx, PUT_SUBSCRIPTION, params![record.id as i64, serde_json::to_string(record)?])?;
                }
                Change::DeleteSubscription(id) => {
                    execute(&tx, "DELETE FROM subscriptions WHERE id = ?1", params![*id as i64])?;
                }
                Change::PutWatch(record) => {
                    execute(&tx, PUT_WATCH, params![record.id as i64, serde_json::to_string(record)?])?;
                }
                Change::DeleteWatch(id) => {
                    execute(&tx, "DELETE FROM watches WHERE id = ?1", params![*id as i64])?;
                }
                Change::PutBinding(record) => {
                    execute(
                        &tx,
                        "INSERT INTO bindings (aor, contact, record) VALUES (?1, ?2, ?3)
                         ON CONFLICT(aor, contact) DO UPDATE SET record = excluded.record",
                        params![record.aor, record.contact, serde_json::to_string(record)?],
                    )?;
                }
                Change::DeleteBinding { aor, contact } => {
                    execute(&tx, "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2", params![aor, contact])?;
                }
                Change::PutPublication { record, if_etag } => {
                    if let Some(expected) = if_etag {
                        let current: Option<String> = tx
                            .prepare_cached("SELECT etag FROM publications WHERE id = ?1")?
                            .query_row(params![record.id as i64], |r| r.get(0))
                            .optional()?;
                        if current.as_ref() != Some(expected) {
                            // Dropping the transaction rolls the whole batch back.
                            return Err(StoreError::Conflict { id: record.id, expected: expected.clone() });
                        }
                    }
                    execute(
                        &tx,
                        "INSERT INTO publications (id, etag, record) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET etag = excluded.etag, record = excluded.record",
                        params![record.id as i64, record.etag, serde_json::to_string(record)?],
                    )?;
                }
                Change::DeletePublication(id) => {
                    execute(&tx, "DELETE FROM publications WHERE id = ?1", params![*id as i64])?;
                }
                Change::PutEntity(record) => {
                    execute(
                        &tx,
                        "INSERT INTO entities (entity, record) VALUES (?1, ?2)
                         ON CONFLICT(entity) DO UPDATE SET record = excluded.record",
                        params![record.entity, serde_json::to_string(record)?],
                    )?;
                }
                Change::DeleteEntity(entity) => {
                    execute(&tx, "DELETE FROM entities WHERE entity = ?1", params![entity])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Runs `sql` through the connection's statement cache: every change of a batch is one of a
/// dozen statements, which SQLite then parses once, not once per change.
fn execute(tx: &rusqlite::Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    Ok(tx.prepare_cached(sql)?.execute(params)?)
}

/// Stores a subscription, its CSeq and dialog-info version never below what was stored: a
/// late or replayed write cannot make NOTIFYs after a restart go backwards. The merge is
/// SQLite's (its JSON functions), so a write reads nothing back into Rust.
const PUT_SUBSCRIPTION: &str = "INSERT INTO subscriptions (id, record) VALUES (?1, ?2)
    ON CONFLICT(id) DO UPDATE SET record = json_set(excluded.record,
        '$.dialog.local_seq', max(coalesce(excluded.record ->> '$.dialog.local_seq', 0), coalesce(subscriptions.record ->> '$.dialog.local_seq', 0)),
        '$.version', max(coalesce(excluded.record ->> '$.version', 0), coalesce(subscriptions.record ->> '$.version', 0)))";

/// Stores a subscription to a phone, its CSeq never below what was stored.
const PUT_WATCH: &str = "INSERT INTO watches (id, record) VALUES (?1, ?2)
    ON CONFLICT(id) DO UPDATE SET record = json_set(excluded.record,
        '$.dialog.local_seq', max(coalesce(excluded.record ->> '$.dialog.local_seq', 0), coalesce(watches.record ->> '$.dialog.local_seq', 0)))";

/// SQLite's errors as the writer needs to tell them: the database being busy, locked, full
/// or failing is the store's for now; anything else is about the change.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        if e.sqlite_error_code() == Some(NotADatabase) {
            // Not a change refused: the file itself cannot be used.
            return StoreError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "file is not a database"));
        }
        let transient = matches!(
            e.sqlite_error_code(),
            Some(DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | CannotOpen | ReadOnly | OutOfMemory)
        );
        if transient { StoreError::Unavailable(e.to_string()) } else { StoreError::Refused(e.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_and_full_are_transient_and_a_constraint_is_not() {
        let sqlite = |code| StoreError::from(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None));
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_transient());
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_transient());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).is_transient());
    }
}

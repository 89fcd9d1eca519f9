//! The one SQLite database file: opening it and its versioned schema migrations.
//!
//! The issuer's state and the audit log share one file, so that later parts (the export
//! outbox) can write an audit event and its outbox row in one transaction. Each connection
//! runs in WAL mode with `synchronous=FULL`: a committed audit event survives a crash.

use rusqlite::Connection;
use std::path::Path;

/// The migrations, in order. `PRAGMA user_version` records how many have run; a migration
/// is never edited once released, only followed by another.
const MIGRATIONS: &[&str] = &[
    // 1: tenant state and the audit log.
    r"
    CREATE TABLE tenant (
        id                   INTEGER PRIMARY KEY CHECK (id = 1),
        url                  TEXT NOT NULL,
        ema_enabled          INTEGER NOT NULL,
        default_alg          TEXT NOT NULL,
        default_max_lifetime INTEGER
    );
    CREATE TABLE signing_keys (
        kid        TEXT PRIMARY KEY,
        alg        TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('active', 'retired')),
        pem        TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        sub           TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL
    );
    CREATE TABLE clients (
        client_id   TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL
    );
    CREATE TABLE client_as_ids (
        client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
        audience     TEXT NOT NULL,
        as_client_id TEXT NOT NULL,
        PRIMARY KEY (client_id, audience)
    );
    CREATE TABLE resource_servers (
        id                 TEXT PRIMARY KEY,
        audience           TEXT NOT NULL UNIQUE,
        name               TEXT NOT NULL,
        max_lifetime       INTEGER,
        alg                TEXT NOT NULL,
        disabled           INTEGER NOT NULL,
        modify_claims_hook TEXT
    );
    CREATE TABLE resource_uris (
        server_id TEXT NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
        uri       TEXT NOT NULL,
        PRIMARY KEY (server_id, uri)
    );
    CREATE TABLE scopes (
        server_id TEXT NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
        name      TEXT NOT NULL,
        enabled   INTEGER NOT NULL,
        PRIMARY KEY (server_id, name)
    );
    CREATE TABLE grants (
        user      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        server_id TEXT NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
        scope     TEXT NOT NULL,
        PRIMARY KEY (user, server_id, scope)
    );
    CREATE TABLE audit_events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id       TEXT NOT NULL UNIQUE,
        request_id     TEXT NOT NULL,
        time_ms        INTEGER NOT NULL,
        grant_type     TEXT,
        outcome        TEXT NOT NULL CHECK (outcome IN ('granted', 'denied')),
        status_detail  TEXT NOT NULL,
        oauth_error    TEXT,
        user           TEXT,
        client         TEXT,
        system         TEXT,
        resource       TEXT,
        scopes         TEXT NOT NULL,
        token_id       TEXT,
        signing_key_id TEXT,
        algorithm      TEXT,
        lifetime_secs  INTEGER
    );
    CREATE INDEX audit_events_time ON audit_events (time_ms);
    ",
    // 2: the system log's reads (`audit::AuditLog::query`, `GET /admin/audit-events`).
    // Pages come in `seq` order, and SQLite ends every index entry with the rowid (`seq`),
    // so an index on one column serves `col = ? AND seq > ? ORDER BY seq LIMIT n` as one
    // range of the index read in order: no sort, and a page costs the same wherever it is in
    // the log. `request_id` is the conformance suite's lookup; `user`, `client`, `system`
    // and `status_detail` are what admins filter by. `outcome` (two values) gets no index:
    // a page of one outcome reads the table in order and stops after the page. Time ranges
    // use `audit_events_time` from migration 1.
    //
    // Each index is one more B-tree insert per event on the issuance path. Measured with
    // `cargo bench --bench issuer` (in process, 32 in flight, three runs): the four indexes
    // on user, client, system and status detail cost 0-20 % (this machine's run-to-run
    // noise is of that size), since each new entry lands at the end of its value's range,
    // on a page the commit writes anyway. The `request_id` index costs 30-40 % while
    // request ids are random: each event dirties a random page of that index, as random
    // event ids once did to the event-id index. With request ids that begin with the time,
    // as event ids do, more than half of that comes back.
    r"
    CREATE INDEX audit_events_request_id ON audit_events (request_id);
    CREATE INDEX audit_events_user ON audit_events (user);
    CREATE INDEX audit_events_client ON audit_events (client);
    CREATE INDEX audit_events_system ON audit_events (system);
    CREATE INDEX audit_events_status_detail ON audit_events (status_detail);
    ",
    // 3: the system-log exporters (`export::Exporters`). The audit events table is the
    // outbox: an event is committed before its response and never deleted, so an exporter
    // is only a cursor into it. `config` is the exporter's JSON (its bearer token
    // included: the exporter must present it); `last_seq` is the `seq` of the last event
    // delivered, 0 before the first. Deleting an exporter deletes its cursor.
    r"
    CREATE TABLE exporters (
        name       TEXT PRIMARY KEY,
        config     TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE exporter_cursors (
        name                 TEXT PRIMARY KEY REFERENCES exporters (name) ON DELETE CASCADE,
        last_seq             INTEGER NOT NULL DEFAULT 0,
        last_success_ms      INTEGER,
        last_error           TEXT,
        last_attempt_ms      INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0
    );
    ",
];

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The file could not be created.
    #[error("database {path}: cannot create it: {source}")]
    Create {
        /// The database file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer jagspec.
    #[error(
        "database {path} has schema version {found}; this jagspec knows versions up to {known}"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: usize,
    },
}

/// Creates the database file, mode 0600, when it does not exist: it holds private keys and
/// exporter tokens. SQLite gives its `-wal` and `-shm` files the database file's mode, so
/// they are private too. An existing file keeps its mode (see [`readable_by_others`]).
fn create_private(path: &Path) -> std::io::Result<()> {
    match crate::private_file::private_options()
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        // There: a file, or a symlink. A dangling one would have SQLite create its target
        // with the default mode, so it is refused.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(std::io::Error::other(
                "it is a symlink to nothing; give the database file itself",
            )),
            _ => Ok(()),
        },
        Err(e) => Err(e),
    }
}

/// The mode of an existing database file, or of its `-wal` or `-shm` file, when its group
/// or others may read or write it (then they can read its private keys and exporter
/// tokens); `None` when all three are private or absent.
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        ["", "-wal", "-shm"].into_iter().find_map(|suffix| {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            crate::private_file::readable_by_others(Path::new(&file))
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
///
/// # Errors
///
/// [`DbError`] if SQLite refuses or the file is from a newer jagspec.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let display = path.display().to_string();
    let err = |source| DbError::Sqlite {
        path: display.clone(),
        source,
    };
    create_private(path).map_err(|e| DbError::Create {
        path: display.clone(),
        source: e,
    })?;
    let mut conn = Connection::open(path).map_err(err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(err)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let known = MIGRATIONS.len();
    if version > known as i64 {
        return Err(DbError::TooNew {
            path: display,
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_from_before_the_log_indexes_gains_them_when_opened() {
        let dir = std::env::temp_dir().join(format!("jagspec-db-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        // A version-1 database: migration 1 only.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO audit_events (event_id, request_id, time_ms, outcome, status_detail, scopes) \
                 VALUES ('e1', 'r1', 0, 'denied', 'Server paused', '[]')",
                [],
            )
            .unwrap();
        }

        let conn = open(&path).unwrap();

        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' \
                 AND sql IS NOT NULL ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            indexes,
            [
                "audit_events_client",
                "audit_events_request_id",
                "audit_events_status_detail",
                "audit_events_system",
                "audit_events_time",
                "audit_events_user",
            ]
        );
        let kept: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM audit_events WHERE request_id = 'r1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, 1);
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn migrations_run_once_and_a_newer_database_is_refused() {
        let dir = std::env::temp_dir().join(format!("jagspec-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        drop(open(&path).unwrap());
        let conn = open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            open(&path),
            Err(DbError::TooNew { found: 99, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

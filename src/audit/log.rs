//! The durable audit log: one writer thread with group commit, and a reader.
//!
//! Every token request awaits [`AuditLog::record`] before its response is sent, so the
//! write sits on the issuance path. One commit per event (an fsync each, with
//! `synchronous=FULL`) measured 3,805 events/s; 64 events per transaction measured
//! 142,919/s (BENCHMARKS.md). So one dedicated thread owns the
//! write connection, takes whatever is queued (up to [`MAX_BATCH`]) and commits it as one
//! transaction, then acknowledges each caller. A caller is told `Ok` only after the
//! transaction holding its event has committed.

use super::event::{AuditEvent, Outcome, ScopeOutcome};
use super::query::{AuditFilter, AuditPage, Cursor, MAX_PAGE_SIZE};
use crate::db::{self, DbError};
use crate::jose::Alg;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::{Notify, mpsc, oneshot};

/// The most events one transaction holds: large enough to amortise the fsync, small enough
/// that the first caller in a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

/// How long the writer waits for more events before a commit when several are already
/// queued. Measured with `cargo bench --bench issuer` (BENCHMARKS.md): 300 µs took batches
/// from ~3 to ~13 events and issuance from 6.3k/s to 8.5k/s; 1 ms gained nothing more.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(300);

/// Events queued for the writer before `record` waits for room: backpressure on the
/// callers instead of unbounded memory when the disk falls behind.
const QUEUE: usize = 1024;

/// The stored columns, in the order of [`AuditEvent`]'s fields.
macro_rules! columns {
    () => {
        "event_id, request_id, time_ms, grant_type, outcome, status_detail, oauth_error, \
         user, client, system, resource, scopes, token_id, signing_key_id, algorithm, \
         lifetime_secs"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO audit_events (",
    columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
);
const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM audit_events ORDER BY seq");
const SELECT_ONE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM audit_events WHERE event_id = ?1"
);
const SELECT_BY_REQUEST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM audit_events WHERE request_id = ?1 ORDER BY seq"
);

const SELECT_AFTER: &str = concat!(
    "SELECT ",
    columns!(),
    ", seq FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
);

/// The index of `seq` in [`select_page`]'s rows: after the event's columns.
const SEQ_COLUMN: usize = 16;

/// The SQL of one page of [`AuditLog::query`] and its parameters, the last one (the
/// `LIMIT`) still to be pushed.
fn select_page(
    filter: &AuditFilter,
    after: Option<Cursor>,
    up_to: Option<Cursor>,
) -> (String, Vec<rusqlite::types::Value>) {
    let (clause, params) = filter.to_sql(after, up_to);
    let sql = format!(
        concat!(
            "SELECT ",
            columns!(),
            ", seq FROM audit_events{} ORDER BY seq LIMIT ?{}"
        ),
        clause,
        params.len() + 1
    );
    (sql, params)
}

/// Why an audit event could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The database could not be opened or migrated.
    #[error("cannot open the audit log: {0}")]
    Db(#[from] DbError),
    /// The writer thread could not be started.
    #[error("cannot start the audit writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// SQLite refused a read or a write.
    #[error("audit log {path}: {context}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What was being done, e.g. "writing event `e1`".
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An event with this id is already in the log: event ids are unique, and receivers
    /// drop duplicates by them.
    #[error("audit event `{event_id}` is already in the log")]
    Duplicate {
        /// The repeated event id.
        event_id: String,
    },
    /// The event cannot be stored as it is (nothing was written).
    #[error("audit event `{event_id}` cannot be stored: {reason}")]
    Invalid {
        /// The event's id.
        event_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer thread has stopped, so nothing more can be written.
    #[error("the audit writer has stopped; the event was not recorded")]
    WriterGone,
    /// A stored row does not decode into an [`AuditEvent`].
    #[error("audit event `{event_id}` in the log is corrupt: {reason}")]
    Corrupt {
        /// The row's event id.
        event_id: String,
        /// What does not decode.
        reason: String,
    },
}

/// The durable audit log. Cheap to clone: clones share one writer thread and one read
/// connection, and the writer stops once the last clone is dropped.
#[derive(Clone)]
pub struct AuditLog {
    /// Shared by every clone; its `Drop` stops the writer.
    inner: Arc<Inner>,
}

/// What the clones of one [`AuditLog`] share.
struct Inner {
    /// The database file, for error messages and `Debug`.
    path: String,
    /// The writer's queue. An `Option` only so that `Drop` can close it before joining.
    jobs: Option<mpsc::Sender<Job>>,
    /// The writer thread, joined on drop so that the file is closed when the last handle
    /// is gone (a reopen or a file removal right after sees no straggler).
    writer: Option<JoinHandle<()>>,
    /// One read connection, opened once. `db::open` runs pragmas and the migration check,
    /// too much to repeat per call; reads are rare (tests, the admin API, `jagspec logs`),
    /// so serialising them behind a mutex costs nothing, and WAL lets this connection read
    /// while the writer commits without either blocking the other.
    reader: Mutex<Connection>,
    /// Counters the writer keeps, for diagnostics and the group-commit tests.
    stats: Arc<Stats>,
    /// Woken (`notify_waiters`) after every commit: the exporters wait on it instead of
    /// polling the table.
    committed: Arc<Notify>,
}

/// What the writer has done so far.
#[derive(Default)]
struct Stats {
    /// Transactions committed.
    commits: AtomicU64,
    /// The most events committed in one transaction.
    largest_batch: AtomicUsize,
}

/// One event on its way to the writer.
struct Job {
    /// The event, with its scopes already encoded, so the writer only runs SQL.
    row: EncodedEvent,
    /// Told the outcome once the transaction holding the event has committed or failed.
    ack: oneshot::Sender<Result<(), AuditError>>,
}

/// An [`AuditEvent`] with the columns that need converting already converted.
struct EncodedEvent {
    /// The event itself.
    event: AuditEvent,
    /// `scopes` as a JSON array.
    scopes: String,
    /// `lifetime_secs` as SQLite's integer.
    lifetime_secs: Option<i64>,
}

impl EncodedEvent {
    /// Converts on the caller's task, so a bad event fails alone and before queueing.
    fn new(event: AuditEvent) -> Result<Self, AuditError> {
        let invalid = |reason: String| AuditError::Invalid {
            event_id: event.event_id.clone(),
            reason,
        };
        let scopes = serde_json::to_string(&event.scopes)
            .map_err(|e| invalid(format!("its scopes do not encode as JSON: {e}")))?;
        let lifetime_secs = event
            .lifetime_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| invalid(format!("lifetime_secs above {} seconds", i64::MAX)))?;
        Ok(Self {
            event,
            scopes,
            lifetime_secs,
        })
    }
}

impl AuditLog {
    /// Opens (creating and migrating if needed) the database at `path` and starts the
    /// writer thread, `jagspec-audit`, which owns its own connection.
    ///
    /// # Errors
    ///
    /// [`AuditError::Db`] if the database cannot be opened or migrated,
    /// [`AuditError::Spawn`] if the thread cannot be started.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let display = path.display().to_string();
        let writer_conn = db::open(path)?;
        let reader = db::open(path)?;
        let stats = Arc::new(Stats::default());
        let committed = Arc::new(Notify::new());
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writer = {
            let stats = Arc::clone(&stats);
            let committed = Arc::clone(&committed);
            let path = display.clone();
            std::thread::Builder::new()
                .name("jagspec-audit".into())
                .spawn(move || run_writer(writer_conn, queue, &stats, &committed, &path))
                .map_err(AuditError::Spawn)?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path: display,
                jobs: Some(jobs),
                writer: Some(writer),
                reader: Mutex::new(reader),
                stats,
                committed,
            }),
        })
    }

    /// Writes `event` durably: resolves once the transaction holding it has committed.
    /// Await it before sending the response the event records.
    ///
    /// If the future is dropped after the event was queued, the event is still written.
    ///
    /// # Errors
    ///
    /// [`AuditError::Invalid`] if the event cannot be stored as it is,
    /// [`AuditError::Duplicate`] if its id is already in the log, [`AuditError::Sqlite`] if
    /// its transaction failed, [`AuditError::WriterGone`] if the writer has stopped. On any
    /// error the event was not recorded.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let row = EncodedEvent::new(event.bounded())?;
        let jobs = self.inner.jobs.as_ref().ok_or(AuditError::WriterGone)?;
        let (ack, acked) = oneshot::channel();
        jobs.send(Job { row, ack })
            .await
            .map_err(|_| AuditError::WriterGone)?;
        // A dropped ack means the writer stopped without deciding: not recorded.
        acked.await.map_err(|_| AuditError::WriterGone)?
    }

    /// Every event in the log, in the order they were written.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses, [`AuditError::Corrupt`] for a row that
    /// does not decode.
    pub fn events(&self) -> Result<Vec<AuditEvent>, AuditError> {
        let reader = self.reader();
        let context = "reading events";
        let mut stmt = reader
            .prepare_cached(SELECT_ALL)
            .map_err(|e| self.sqlite(context, e))?;
        let rows = stmt
            .query_map([], StoredRow::read)
            .map_err(|e| self.sqlite(context, e))?;
        let mut events = Vec::new();
        for row in rows {
            events.push(row.map_err(|e| self.sqlite(context, e))??.decode()?);
        }
        Ok(events)
    }

    /// How many events the log holds.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses.
    pub fn count(&self) -> Result<u64, AuditError> {
        self.reader()
            .query_row("SELECT COUNT(*) FROM audit_events", [], |r| {
                r.get::<_, i64>(0)
            })
            // COUNT(*) is never negative.
            .map(i64::unsigned_abs)
            .map_err(|e| self.sqlite("counting events", e))
    }

    /// The event with id `event_id`, if the log holds one.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses, [`AuditError::Corrupt`] if the row does
    /// not decode.
    pub fn find(&self, event_id: &str) -> Result<Option<AuditEvent>, AuditError> {
        let context = || format!("reading event `{event_id}`");
        let reader = self.reader();
        let mut stmt = reader
            .prepare_cached(SELECT_ONE)
            .map_err(|e| self.sqlite(context(), e))?;
        let row = stmt
            .query_row([event_id], StoredRow::read)
            .optional()
            .map_err(|e| self.sqlite(context(), e))?;
        row.map(|r| r.and_then(StoredRow::decode)).transpose()
    }

    /// The events of the token request whose response carried `x-request-id: request_id`
    /// (exactly one, unless something is wrong). A search of the `request_id` index (`db.rs`,
    /// migration 2), whatever the log's size.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses, [`AuditError::Corrupt`] for a row that
    /// does not decode.
    pub fn find_by_request_id(&self, request_id: &str) -> Result<Vec<AuditEvent>, AuditError> {
        let context = || format!("reading the events of request `{request_id}`");
        let reader = self.reader();
        let mut stmt = reader
            .prepare_cached(SELECT_BY_REQUEST)
            .map_err(|e| self.sqlite(context(), e))?;
        let rows = stmt
            .query_map([request_id], StoredRow::read)
            .map_err(|e| self.sqlite(context(), e))?;
        let mut events = Vec::new();
        for row in rows {
            events.push(row.map_err(|e| self.sqlite(context(), e))??.decode()?);
        }
        Ok(events)
    }

    /// One page of the events `filter` selects, oldest first (in the order written),
    /// starting after `after` (from the beginning when `None`). `limit` is clamped to
    /// `1..=`[`MAX_PAGE_SIZE`]. The page's `next` is set only when more matching events
    /// follow; pass it back as `after` to read them.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses, [`AuditError::Corrupt`] for a row that
    /// does not decode.
    pub fn query(
        &self,
        filter: &AuditFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<AuditPage, AuditError> {
        self.query_up_to(filter, after, None, limit)
    }

    /// As [`AuditLog::query`], with only the events written up to `up_to` (inclusive; no
    /// bound when `None`): paging up to [`AuditLog::last_cursor`] reads the log as it was
    /// then, however fast it grows meanwhile (the admin API's download does this).
    ///
    /// # Errors
    ///
    /// As [`AuditLog::query`].
    pub fn query_up_to(
        &self,
        filter: &AuditFilter,
        after: Option<Cursor>,
        up_to: Option<Cursor>,
        limit: usize,
    ) -> Result<AuditPage, AuditError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let (sql, mut params) = select_page(filter, after, up_to);
        // One row more than the page: whether it exists says whether a next page does.
        params.push(rusqlite::types::Value::Integer(limit as i64 + 1));
        let context = "querying events";
        let reader = self.reader();
        let mut stmt = reader
            .prepare_cached(&sql)
            .map_err(|e| self.sqlite(context, e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |row| {
                let seq: i64 = row.get(SEQ_COLUMN)?;
                Ok((seq, StoredRow::read(row)?))
            })
            .map_err(|e| self.sqlite(context, e))?;
        let mut events = Vec::new();
        let mut last = None;
        let mut more = false;
        for row in rows {
            let (seq, stored) = row.map_err(|e| self.sqlite(context, e))?;
            if events.len() == limit {
                more = true;
                break;
            }
            events.push(stored?.decode()?);
            last = Some(Cursor(seq));
        }
        Ok(AuditPage {
            events,
            next: if more { last } else { None },
        })
    }

    /// The cursor of the last event written so far (`None` while the log is empty).
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses.
    pub fn last_cursor(&self) -> Result<Option<Cursor>, AuditError> {
        self.reader()
            .query_row("SELECT MAX(seq) FROM audit_events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|seq| seq.map(Cursor))
            .map_err(|e| self.sqlite("reading the last event's position", e))
    }

    /// Up to `limit` events written after sequence number `after_seq` (0: from the
    /// beginning), oldest first, each with its sequence number: an exporter's read after
    /// its cursor. `limit` is clamped to `1..=`[`MAX_PAGE_SIZE`].
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses, [`AuditError::Corrupt`] for a row that
    /// does not decode.
    pub fn events_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, AuditEvent)>, AuditError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let context = "reading events after an exporter's cursor";
        let reader = self.reader();
        let mut stmt = reader
            .prepare_cached(SELECT_AFTER)
            .map_err(|e| self.sqlite(context, e))?;
        let rows = stmt
            .query_map(params![after_seq, limit as i64], |row| {
                let seq: i64 = row.get(SEQ_COLUMN)?;
                Ok((seq, StoredRow::read(row)?))
            })
            .map_err(|e| self.sqlite(context, e))?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, stored) = row.map_err(|e| self.sqlite(context, e))?;
            events.push((seq, stored?.decode()?));
        }
        Ok(events)
    }

    /// The sequence number of the last event written so far, 0 while the log is empty.
    ///
    /// # Errors
    ///
    /// [`AuditError::Sqlite`] if SQLite refuses.
    pub fn last_seq(&self) -> Result<i64, AuditError> {
        Ok(self.last_cursor()?.map_or(0, |c| c.0))
    }

    /// Notified (to every waiter at that moment) after each commit of the writer. Enable
    /// a `notified()` future before reading, so a commit in between is not missed.
    pub fn committed(&self) -> &Notify {
        &self.inner.committed
    }

    /// Transactions the writer has committed since [`AuditLog::open`]. With group commit
    /// this is at most, and under load far below, the number of events.
    #[doc(hidden)]
    pub fn commits(&self) -> u64 {
        self.inner.stats.commits.load(Ordering::Relaxed)
    }

    /// The most events the writer has committed in one transaction.
    #[doc(hidden)]
    pub fn largest_batch(&self) -> usize {
        self.inner.stats.largest_batch.load(Ordering::Relaxed)
    }

    /// The read connection. A panic while it was held cannot have left it mid-write (it
    /// only reads), so a poisoned lock is used as is.
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn sqlite(&self, context: impl Into<String>, source: rusqlite::Error) -> AuditError {
        AuditError::Sqlite {
            path: self.inner.path.clone(),
            context: context.into(),
            source,
        }
    }
}

impl fmt::Debug for AuditLog {
    /// The file and the writer's counters; never the events.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.inner.path)
            .field("commits", &self.commits())
            .field("largest_batch", &self.largest_batch())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    /// Closes the queue, then waits for the writer to commit what is left and exit.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            // The writer does not panic; if it somehow did, its unacknowledged callers were
            // already told `WriterGone` when their acks dropped.
            let _ = writer.join();
        }
    }
}

/// The writer thread: block for one job, take whatever else is queued, commit them in one
/// transaction, acknowledge each. Returns once every sender is gone and the queue is empty.
/// Nothing here may panic: an unwinding writer would fail its pending callers.
/// Moves whatever is queued, up to [`MAX_BATCH`], into `batch` without waiting.
fn drain(queue: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn run_writer(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Job>,
    stats: &Stats,
    committed: &Notify,
    path: &str,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        // Whatever this round commits, the exporters hear of it once it is done.
        let _wake = WakeOnDrop(committed);
        batch.push(first);
        drain(&mut queue, &mut batch);
        // Group commit with a commit delay, as PostgreSQL's commit_delay/commit_siblings:
        // when other requests are evidently in flight (more than one event queued), wait
        // briefly so that one fsync covers more of them. A lone request is not delayed.
        if batch.len() > 1 && batch.len() < MAX_BATCH {
            std::thread::sleep(COMMIT_DELAY);
            drain(&mut queue, &mut batch);
        }
        match insert(&mut conn, &batch) {
            Ok(()) => {
                stats.committed(batch.len());
                for job in batch.drain(..) {
                    // The caller may have gone; its event is written all the same.
                    let _ = job.ack.send(Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.ack.send(Err(write_error(path, &job.row.event, e)));
                }
            }
            Err(e) => {
                // The transaction rolled back, so nothing in it was written. One bad event
                // (a duplicate id) must not fail the others: retry each in its own
                // transaction and tell each caller its own outcome.
                tracing::warn!(
                    events = batch.len(),
                    error = %e,
                    "audit batch failed; retrying its events one per transaction"
                );
                for job in batch.drain(..) {
                    let result = insert(&mut conn, std::slice::from_ref(&job));
                    let result = match result {
                        Ok(()) => {
                            stats.committed(1);
                            Ok(())
                        }
                        Err(e) => Err(write_error(path, &job.row.event, e)),
                    };
                    let _ = job.ack.send(result);
                }
            }
        }
    }
}

/// Wakes every waiter of the commit notification when dropped: at the end of a writer
/// round, however it ended.
struct WakeOnDrop<'a>(&'a Notify);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_waiters();
    }
}

impl Stats {
    fn committed(&self, events: usize) {
        // Relaxed suffices: readers learn of a commit through the ack's channel, which
        // orders this update before it.
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.largest_batch.fetch_max(events, Ordering::Relaxed);
    }
}

/// Writes `jobs` in one transaction. On any error it is rolled back (by `Transaction`'s
/// drop, or by SQLite itself on a failed `COMMIT`), so nothing in it was written.
fn insert(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<()> {
    // IMMEDIATE: take the write lock up front, so contention with the issuer's own
    // connection waits in `busy_timeout` instead of failing a lock upgrade.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for job in jobs {
            let EncodedEvent {
                event: e,
                scopes,
                lifetime_secs,
            } = &job.row;
            stmt.execute(params![
                e.event_id,
                e.request_id,
                e.time_ms,
                e.grant_type,
                e.outcome.as_str(),
                e.status_detail,
                e.oauth_error,
                e.user,
                e.client,
                e.system,
                e.resource,
                scopes,
                e.token_id,
                e.signing_key_id,
                e.algorithm.map(Alg::as_str),
                lifetime_secs,
            ])?;
        }
    }
    tx.commit()
}

/// Names a unique-constraint failure (only `event_id` is unique) as a duplicate.
fn write_error(path: &str, event: &AuditEvent, source: rusqlite::Error) -> AuditError {
    let unique = source
        .sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE);
    if unique {
        AuditError::Duplicate {
            event_id: event.event_id.clone(),
        }
    } else {
        AuditError::Sqlite {
            path: path.to_owned(),
            context: format!("writing event `{}`", event.event_id),
            source,
        }
    }
}

/// A row as SQLite holds it, before the text columns are parsed.
struct StoredRow {
    /// Every column but the ones below, already in its final type.
    event: AuditEvent,
    /// `outcome` as stored.
    outcome: String,
    /// `scopes` as stored (a JSON array).
    scopes: String,
    /// `algorithm` as stored.
    algorithm: Option<String>,
    /// `lifetime_secs` as stored.
    lifetime_secs: Option<i64>,
}

impl StoredRow {
    /// Reads the columns of [`columns!`]. A column of the wrong type is a corrupt row, not
    /// a failed query, so it comes back as the inner error, with the row's event id.
    fn read(row: &Row<'_>) -> rusqlite::Result<Result<Self, AuditError>> {
        let event_id: String = row.get(0)?;
        let rest = || -> rusqlite::Result<Self> {
            Ok(Self {
                event: AuditEvent {
                    event_id: event_id.clone(),
                    request_id: row.get(1)?,
                    time_ms: row.get(2)?,
                    grant_type: row.get(3)?,
                    // Replaced in `decode`.
                    outcome: Outcome::Denied,
                    status_detail: row.get(5)?,
                    oauth_error: row.get(6)?,
                    user: row.get(7)?,
                    client: row.get(8)?,
                    system: row.get(9)?,
                    resource: row.get(10)?,
                    scopes: Vec::new(),
                    token_id: row.get(12)?,
                    signing_key_id: row.get(13)?,
                    algorithm: None,
                    lifetime_secs: None,
                },
                outcome: row.get(4)?,
                scopes: row.get(11)?,
                algorithm: row.get(14)?,
                lifetime_secs: row.get(15)?,
            })
        };
        Ok(rest().map_err(|e| AuditError::Corrupt {
            event_id: event_id.clone(),
            reason: e.to_string(),
        }))
    }

    /// Parses the text columns back into their types.
    fn decode(self) -> Result<AuditEvent, AuditError> {
        let Self {
            mut event,
            outcome,
            scopes,
            algorithm,
            lifetime_secs,
        } = self;
        let corrupt = |reason: String| AuditError::Corrupt {
            event_id: event.event_id.clone(),
            reason,
        };
        event.outcome = match outcome.as_str() {
            "granted" => Outcome::Granted,
            "denied" => Outcome::Denied,
            other => return Err(corrupt(format!("unknown outcome `{other}`"))),
        };
        event.scopes = serde_json::from_str::<Vec<ScopeOutcome>>(&scopes).map_err(|e| {
            corrupt(format!(
                "scopes are not a JSON array of scope outcomes: {e}"
            ))
        })?;
        event.algorithm = algorithm
            .map(|a| a.parse::<Alg>())
            .transpose()
            .map_err(|e| corrupt(format!("algorithm: {e}")))?;
        event.lifetime_secs = lifetime_secs
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt("negative lifetime_secs".into()))?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh database path under the temp dir; the guard removes it and its WAL files.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("jagspec-audit-unit-{}-{n}.db", std::process::id()));
            let db = Self(path);
            db.remove();
            db
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.0.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.remove();
        }
    }

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            event_id: id.into(),
            request_id: format!("req-{id}"),
            time_ms: 1_800_000_000_000,
            status_detail: "Server paused".into(),
            oauth_error: Some("invalid_grant".into()),
            ..AuditEvent::default()
        }
    }

    #[tokio::test]
    async fn record_returns_writer_gone_when_the_writer_has_stopped() {
        let db = TempDb::new();
        // A log whose writer is gone: its queue's receiving end is dropped.
        let (jobs, queue) = mpsc::channel(1);
        drop(queue);
        let log = AuditLog {
            inner: Arc::new(Inner {
                path: db.0.display().to_string(),
                jobs: Some(jobs),
                writer: None,
                reader: Mutex::new(db::open(&db.0).unwrap()),
                stats: Arc::default(),
                committed: Arc::default(),
            }),
        };

        let result = log.record(event("e1")).await;

        assert!(matches!(result, Err(AuditError::WriterGone)), "{result:?}");
        assert_eq!(log.count().unwrap(), 0);
    }

    #[tokio::test]
    async fn record_returns_writer_gone_when_the_writer_drops_the_ack_undecided() {
        let db = TempDb::new();
        // A writer that takes the job and stops without acknowledging it.
        let (jobs, mut queue) = mpsc::channel::<Job>(1);
        let writer = std::thread::spawn(move || drop(queue.blocking_recv()));
        let log = AuditLog {
            inner: Arc::new(Inner {
                path: db.0.display().to_string(),
                jobs: Some(jobs),
                writer: Some(writer),
                reader: Mutex::new(db::open(&db.0).unwrap()),
                stats: Arc::default(),
                committed: Arc::default(),
            }),
        };

        let result = log.record(event("e1")).await;

        assert!(matches!(result, Err(AuditError::WriterGone)), "{result:?}");
    }

    #[tokio::test]
    async fn a_row_that_does_not_decode_is_reported_as_corrupt_with_its_event_id() {
        let db = TempDb::new();
        let log = AuditLog::open(&db.0).unwrap();
        log.record(event("good")).await.unwrap();
        log.record(event("bad")).await.unwrap();
        let conn = db::open(&db.0).unwrap();
        conn.execute(
            "UPDATE audit_events SET algorithm = 'es256' WHERE event_id = 'bad'",
            [],
        )
        .unwrap();

        assert!(log.find("good").unwrap().is_some());
        for result in [log.find("bad").map(drop), log.events().map(drop)] {
            match result {
                Err(AuditError::Corrupt { event_id, reason }) => {
                    assert_eq!(event_id, "bad");
                    assert!(reason.contains("es256"), "{reason}");
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_lifetime_beyond_sqlite_integers_is_refused_before_queueing() {
        let db = TempDb::new();
        let log = AuditLog::open(&db.0).unwrap();
        let mut e = event("huge");
        e.lifetime_secs = Some(u64::MAX);

        let result = log.record(e).await;

        assert!(
            matches!(&result, Err(AuditError::Invalid { event_id, .. }) if event_id == "huge"),
            "{result:?}"
        );
        assert_eq!(log.count().unwrap(), 0);
        assert_eq!(log.commits(), 0);
    }

    /// SQLite's plan for `sql` with `params`, one step per line.
    fn plan(conn: &Connection, sql: &str, params: &[rusqlite::types::Value]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_request_id_lookup_searches_its_index_instead_of_scanning() {
        let db = TempDb::new();
        let conn = db::open(&db.0).unwrap();
        let p = plan(
            &conn,
            SELECT_BY_REQUEST,
            &[rusqlite::types::Value::Text("r1".into())],
        );
        assert_eq!(
            p,
            "SEARCH audit_events USING INDEX audit_events_request_id (request_id=?)"
        );
    }

    #[test]
    fn a_page_filtered_by_one_column_walks_that_column_index_in_seq_order_without_sorting() {
        let db = TempDb::new();
        let conn = db::open(&db.0).unwrap();
        let text = || Some("x".to_owned());
        let cases = [
            (
                "request_id",
                AuditFilter {
                    request_id: text(),
                    ..AuditFilter::default()
                },
            ),
            (
                "user",
                AuditFilter {
                    user: text(),
                    ..AuditFilter::default()
                },
            ),
            (
                "client",
                AuditFilter {
                    client: text(),
                    ..AuditFilter::default()
                },
            ),
            (
                "system",
                AuditFilter {
                    system: text(),
                    ..AuditFilter::default()
                },
            ),
            (
                "status_detail",
                AuditFilter {
                    status_detail: text(),
                    ..AuditFilter::default()
                },
            ),
        ];
        for (column, filter) in cases {
            for (after, up_to, range) in [
                (None, None, ""),
                (Some(Cursor(10)), None, " AND rowid>?"),
                (
                    Some(Cursor(10)),
                    Some(Cursor(20)),
                    " AND rowid>? AND rowid<?",
                ),
            ] {
                let (sql, mut params) = select_page(&filter, after, up_to);
                params.push(101.into());
                let p = plan(&conn, &sql, &params);
                assert_eq!(
                    p,
                    format!(
                        "SEARCH audit_events USING INDEX audit_events_{column} ({column}=?{range})"
                    ),
                    "{sql}"
                );
            }
        }
    }

    #[test]
    fn no_page_query_scans_the_whole_table_when_it_has_a_selective_filter_or_a_cursor() {
        let db = TempDb::new();
        let conn = db::open(&db.0).unwrap();
        let filters = [
            AuditFilter {
                since_ms: Some(1),
                until_ms: Some(2),
                ..AuditFilter::default()
            },
            AuditFilter {
                user: Some("alice".into()),
                outcome: Some(Outcome::Denied),
                since_ms: Some(1),
                ..AuditFilter::default()
            },
            AuditFilter {
                outcome: Some(Outcome::Granted),
                ..AuditFilter::default()
            },
        ];
        for filter in filters {
            let (sql, mut params) = select_page(&filter, Some(Cursor(10)), Some(Cursor(20)));
            params.push(101.into());
            let p = plan(&conn, &sql, &params);
            assert!(p.starts_with("SEARCH audit_events"), "{sql}\n{p}");
        }
    }

    #[test]
    fn debug_names_the_file_and_counters_but_no_event() {
        let db = TempDb::new();
        let log = AuditLog::open(&db.0).unwrap();
        let shown = format!("{log:?}");
        assert!(shown.starts_with("AuditLog { path: "), "{shown}");
        assert!(shown.contains("commits: 0"), "{shown}");
    }
}

//! The exporters of a running issuer: their stored configs and cursors, and one task per
//! exporter that forwards every audit event, in order, at least once.
//!
//! The audit events table is the outbox: an event is committed before its response and
//! never deleted, so an exporter is a cursor (`exporter_cursors.last_seq`) into it. A
//! worker reads up to `batch_max` events after its cursor, delivers them, and only then
//! advances the cursor, with `last_success_ms`: at most every 200 ms while events keep
//! coming, and at once when it catches up, fails or stops ([`CURSOR_WRITE_INTERVAL`]). A
//! failed delivery is recorded (`last_error`, `consecutive_failures`) and the same batch is
//! retried after an exponential backoff with full jitter. A crash between deliveries and
//! their cursor write delivers those batches again: receivers drop duplicates by
//! `event_id`. The workers run on the exporters' own thread (`super::runtime`).
//!
//! With nothing to send, a worker waits for the audit writer's commit notification (or a
//! one-second fallback poll), so an idle exporter costs nothing.

use super::config::{ExporterConfig, InvalidConfig, Target};
use super::{file, http, syslog};
use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::db::{self, DbError};
use crate::jose::Clock;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How exporters wait and retry. The defaults suit a real SIEM; tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportTiming {
    /// The first retry waits up to this long (full jitter: a uniform draw below it).
    pub backoff_base: Duration,
    /// No retry waits longer than this.
    pub backoff_cap: Duration,
    /// An HTTP delivery without a complete answer by then has failed. Also bounds a
    /// syslog delivery's connect, and then its write.
    pub http_timeout: Duration,
    /// An idle worker looks for new events at least this often, in case a commit
    /// notification was missed (another process writing the same database).
    pub idle_poll: Duration,
}

impl Default for ExportTiming {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
        }
    }
}

impl ExportTiming {
    /// The wait before retry number `failures` (1 for the first): uniform in
    /// `[0, min(cap, base × 2^(failures − 1)))`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let ceiling = self
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random::<u64>() % nanos)
    }
}

/// Where a new exporter's cursor starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Every event in the log, the oldest first: a new SIEM gets the history.
    #[default]
    Beginning,
    /// Only events written after the exporter is added: the history is already
    /// elsewhere.
    End,
}

/// Why an exporter operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// SQLite refused.
    #[error("exporters: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The audit log could not be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The configuration was refused.
    #[error("invalid exporter: {0}")]
    Invalid(#[from] InvalidConfig),
    /// An exporter with this name exists.
    #[error("an exporter named `{0}` already exists")]
    NameTaken(String),
    /// No exporter has this name.
    #[error("no exporter named `{0}`")]
    Unknown(String),
    /// A blocking task did not finish.
    #[error("exporters: {0}")]
    Task(String),
}

/// An exporter as listed: its config without the token, and how far it has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExporterStatus {
    /// The exporter's name.
    pub name: String,
    /// `http`, `file` or `syslog`.
    pub kind: &'static str,
    /// The URL (http), the path (file) or `host:port` (syslog).
    pub target: String,
    /// The HTTP body format (`ndjson` or `splunk_hec`); absent for a file or syslog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<super::config::Envelope>,
    /// Events per delivery.
    pub batch_max: usize,
    /// When it was added, Unix milliseconds.
    pub created_ms: i64,
    /// The sequence number of the last event delivered (0: none yet).
    pub last_seq: i64,
    /// Events written but not yet delivered.
    pub lag: i64,
    /// When a delivery last succeeded.
    pub last_success_ms: Option<i64>,
    /// When a delivery was last attempted.
    pub last_attempt_ms: Option<i64>,
    /// Why the last delivery failed; cleared by a success.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: i64,
}

/// What the workers and the registry share.
struct Ctx {
    /// The exporters' configs, on a connection of their own (`synchronous = FULL`: an
    /// exporter the admin API said was added survives a power cut).
    db: Mutex<Connection>,
    /// The workers' cursor and error updates, with `synchronous = NORMAL`: in WAL mode
    /// such a commit is not fsynced itself but by the next fsync of the log (the audit
    /// writer's next commit), so it holds the database's one write lock for microseconds
    /// instead of an fsync, and the audit writer, on the request path, waits less. A power
    /// cut can undo the latest cursor advances; those batches are then sent again, which
    /// at-least-once delivery allows (receivers drop duplicates by `event_id`).
    cursors: Mutex<Connection>,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    timing: ExportTiming,
    http: reqwest::Client,
}

impl Ctx {
    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cursors(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.cursors.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The exporters of one issuer and their worker tasks. Dropping it aborts the workers;
/// [`Exporters::stop`] stops them cleanly and waits.
pub struct Exporters {
    ctx: Arc<Ctx>,
    workers: Mutex<BTreeMap<String, Worker>>,
    /// Held across each add, update, remove and stop, so that two of them never
    /// interleave (a PATCH reading a config that a DELETE and POST are replacing, two
    /// workers for one name).
    changes: tokio::sync::Mutex<()>,
    /// The thread the workers run on; declared last, so it ends after they are aborted.
    runtime: super::runtime::ExportRuntime,
}

/// A running worker: its task, and the signal that asks it to stop.
struct Worker {
    task: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Worker {
    /// Asks the worker to stop and waits until it has. It stops at its next wait (for new
    /// events, a backoff, an HTTP or syslog delivery, which is abandoned), never in the
    /// middle of a database or file write: aborting the task would not stop a write
    /// already on the blocking pool, and its late cursor update could land on whatever
    /// replaced the exporter.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl std::fmt::Debug for Exporters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporters")
            .field("running", &self.lock_workers().len())
            .finish_non_exhaustive()
    }
}

impl Exporters {
    /// Opens the exporters' tables in the database at `path`; starts nothing yet.
    ///
    /// # Errors
    ///
    /// [`ExportError::Db`] if the database cannot be opened, [`ExportError::Task`] if the
    /// HTTP client or the exporters' thread cannot be made (never in practice).
    pub fn open(
        path: &Path,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        timing: ExportTiming,
    ) -> Result<Self, ExportError> {
        let conn = db::open(path)?;
        let cursors = db::open(path)?;
        cursors.pragma_update(None, "synchronous", "NORMAL")?;
        // A redirect is a failure: the token is not sent anywhere but the URL given.
        let http = crate::http::builder(timing.http_timeout)
            .build()
            .map_err(|e| ExportError::Task(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            ctx: Arc::new(Ctx {
                db: Mutex::new(conn),
                cursors: Mutex::new(cursors),
                audit,
                clock,
                timing,
                http,
            }),
            workers: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            runtime: super::runtime::ExportRuntime::start().map_err(|e| {
                ExportError::Task(format!("cannot start the exporters' thread: {e}"))
            })?,
        })
    }

    /// Adds `configs` that are not stored yet, their cursors at the beginning of the log
    /// (the seed's exporters); blocking, for start-up.
    ///
    /// # Errors
    ///
    /// [`ExportError::NameTaken`] if two share a name, [`ExportError::Invalid`] if two
    /// `file` exporters share a path, [`ExportError::Sqlite`] if SQLite refuses.
    pub fn seed(&self, configs: &[ExporterConfig], now_ms: i64) -> Result<(), ExportError> {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(c) = configs.iter().find(|c| !seen.insert(c.name.as_str())) {
            return Err(ExportError::NameTaken(c.name.clone()));
        }
        let files: Vec<(&str, &Path)> = configs
            .iter()
            .filter_map(|c| match &c.target {
                Target::File { path, .. } => Some((c.name.as_str(), path.as_path())),
                _ => None,
            })
            .collect();
        for (i, (name, path)) in files.iter().enumerate() {
            check_file_path(path)?;
            if let Some((other, _)) = files[..i].iter().find(|(_, p)| same_file(p, path)) {
                return Err(InvalidConfig(format!(
                    "exporters `{other}` and `{name}` both write {}: give each its own file",
                    path.display()
                ))
                .into());
            }
        }
        let mut conn = self.ctx.db();
        let tx = conn.transaction()?;
        for c in configs {
            let added = tx.execute(
                "INSERT OR IGNORE INTO exporters (name, config, created_ms) VALUES (?1, ?2, ?3)",
                params![c.name, c.to_stored_json(), now_ms],
            )?;
            if added == 1 {
                tx.execute(
                    "INSERT INTO exporter_cursors (name, last_seq) VALUES (?1, 0)",
                    [&c.name],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Starts a worker for every stored exporter (at issuer start), on the exporters' own
    /// thread.
    ///
    /// # Errors
    ///
    /// [`ExportError::Sqlite`] if SQLite refuses, [`ExportError::Invalid`] for a stored
    /// config that no longer parses.
    pub fn start_all(&self) -> Result<(), ExportError> {
        let configs = load_configs(&self.ctx.db())?;
        for (config, _) in configs {
            self.spawn(config);
        }
        Ok(())
    }

    /// Stores `config` (its cursor at the beginning of the log) and starts its worker.
    ///
    /// # Errors
    ///
    /// [`ExportError::NameTaken`] if the name is in use, [`ExportError::Sqlite`] if
    /// SQLite refuses.
    pub async fn add(&self, config: ExporterConfig) -> Result<ExporterStatus, ExportError> {
        self.add_starting_at(config, StartAt::Beginning).await
    }

    /// Stores `config` with its cursor at `start` and starts its worker.
    ///
    /// # Errors
    ///
    /// As [`Exporters::add`]; [`ExportError::Audit`] if the log's end cannot be read.
    pub async fn add_starting_at(
        &self,
        config: ExporterConfig,
        start: StartAt,
    ) -> Result<ExporterStatus, ExportError> {
        let _changing = self.changes.lock().await;
        let ctx = Arc::clone(&self.ctx);
        let stored = config.clone();
        blocking(move || {
            check_file_target(&ctx.db(), &stored, None)?;
            let first_cursor = match start {
                StartAt::Beginning => 0,
                StartAt::End => ctx.audit.last_seq()?,
            };
            let now = ctx.clock.now_millis();
            let mut conn = ctx.db();
            let tx = conn.transaction()?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO exporters (name, config, created_ms) VALUES (?1, ?2, ?3)",
                params![stored.name, stored.to_stored_json(), now],
            )?;
            if added == 0 {
                return Err(ExportError::NameTaken(stored.name));
            }
            tx.execute(
                "INSERT INTO exporter_cursors (name, last_seq) VALUES (?1, ?2)",
                params![stored.name, first_cursor],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        let name = config.name.clone();
        self.spawn(config);
        self.status(&name).await?.ok_or(ExportError::Unknown(name))
    }

    /// Changes `name`'s destination or batch size ([`ExporterConfig::patched`]) and
    /// restarts its worker with the new config. The cursor stays: delivery goes on from
    /// the first event not yet delivered, now to the new destination. A batch in flight
    /// when the worker restarts is sent again (at least once).
    ///
    /// # Errors
    ///
    /// [`ExportError::Unknown`] if there is no such exporter, [`ExportError::Invalid`] if
    /// the patched config is refused (nothing changes then), [`ExportError::Sqlite`] if
    /// SQLite refuses.
    pub async fn update(
        &self,
        name: &str,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<ExporterStatus, ExportError> {
        let _changing = self.changes.lock().await;
        let ctx = Arc::clone(&self.ctx);
        let n = name.to_owned();
        let config = blocking(move || {
            let conn = ctx.db();
            let current = conn
                .query_row("SELECT config FROM exporters WHERE name = ?1", [&n], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .ok_or(ExportError::Unknown(n))?;
            let current = ExporterConfig::from_stored_json(&current)?;
            let config = current.patched(&patch)?;
            check_file_target(&conn, &config, Some(&current))?;
            Ok(config)
        })
        .await?;
        // Stopped before the write, so no worker delivers to the old destination after
        // the new one is stored.
        let worker = self.lock_workers().remove(name);
        if let Some(worker) = worker {
            worker.stop().await;
        }
        let ctx = Arc::clone(&self.ctx);
        let stored = config.clone();
        let written = blocking(move || {
            let mut conn = ctx.db();
            let tx = conn.transaction()?;
            let changed = tx.execute(
                "UPDATE exporters SET config = ?2 WHERE name = ?1",
                params![stored.name, stored.to_stored_json()],
            )?;
            if changed == 0 {
                return Err(ExportError::Unknown(stored.name));
            }
            // A new destination starts without the old one's errors.
            tx.execute(
                "UPDATE exporter_cursors SET last_error = NULL, consecutive_failures = 0 \
                 WHERE name = ?1",
                [&stored.name],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await;
        if let Err(e) = written {
            // SQLite refused: the stored config runs again.
            let _ = self.start_named(name).await;
            return Err(e);
        }
        let name = config.name.clone();
        self.spawn(config);
        self.status(&name).await?.ok_or(ExportError::Unknown(name))
    }

    /// Starts the worker of the stored exporter `name`, if it exists.
    async fn start_named(&self, name: &str) -> Result<(), ExportError> {
        let ctx = Arc::clone(&self.ctx);
        let configs = blocking(move || load_configs(&ctx.db())).await?;
        if let Some((config, _)) = configs.into_iter().find(|(c, _)| c.name == name) {
            self.spawn(config);
        }
        Ok(())
    }

    /// Stops `name`'s worker and deletes the exporter and its cursor.
    ///
    /// # Errors
    ///
    /// [`ExportError::Unknown`] if there is no such exporter, [`ExportError::Sqlite`] if
    /// SQLite refuses.
    pub async fn remove(&self, name: &str) -> Result<(), ExportError> {
        let _changing = self.changes.lock().await;
        let worker = self.lock_workers().remove(name);
        if let Some(worker) = worker {
            worker.stop().await;
        }
        let ctx = Arc::clone(&self.ctx);
        let name = name.to_owned();
        blocking(move || {
            let deleted = ctx
                .db()
                .execute("DELETE FROM exporters WHERE name = ?1", [&name])?;
            if deleted == 0 {
                return Err(ExportError::Unknown(name));
            }
            Ok(())
        })
        .await
    }

    /// Every exporter with its progress, by name.
    ///
    /// # Errors
    ///
    /// [`ExportError::Sqlite`] or [`ExportError::Audit`] if a read fails.
    pub async fn list(&self) -> Result<Vec<ExporterStatus>, ExportError> {
        let ctx = Arc::clone(&self.ctx);
        blocking(move || statuses(&ctx, None)).await
    }

    /// One exporter with its progress.
    ///
    /// # Errors
    ///
    /// As [`Exporters::list`].
    pub async fn status(&self, name: &str) -> Result<Option<ExporterStatus>, ExportError> {
        let ctx = Arc::clone(&self.ctx);
        let name = name.to_owned();
        blocking(move || Ok(statuses(&ctx, Some(&name))?.pop())).await
    }

    /// Stops every worker and waits for them, so nothing is written after it returns. An
    /// HTTP or syslog delivery in flight is abandoned, a file write is finished; a batch
    /// whose cursor was not advanced is sent again after the next start.
    pub async fn stop(&self) {
        let _changing = self.changes.lock().await;
        let workers = std::mem::take(&mut *self.lock_workers());
        for (_, worker) in workers {
            worker.stop().await;
        }
    }

    /// Starts `config`'s worker. Callers hold [`Exporters::changes`] (or are starting up),
    /// so no worker runs for the name; one that did would be aborted.
    fn spawn(&self, config: ExporterConfig) {
        let name = config.name.clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = self
            .runtime
            .spawn(run(Arc::clone(&self.ctx), config, stopped));
        if let Some(old) = self.lock_workers().insert(name, Worker { task, stop }) {
            old.task.abort();
        }
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Worker>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Exporters {
    /// Without [`Exporters::stop`] (an issuer dropped, not stopped), aborting is all that
    /// is left; a batch in flight is sent again after the next start.
    fn drop(&mut self) {
        for worker in self.lock_workers().values() {
            worker.task.abort();
        }
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
}

/// A `file` exporter's path must be its own, and a file it did not write must end with a
/// newline: the file sink cuts a torn last line back before appending (see
/// `export::file`), which would cut another writer's lines or a foreign file's last line.
/// `current` is the exporter's config before a PATCH (its own file may end torn).
fn check_file_target(
    conn: &Connection,
    config: &ExporterConfig,
    current: Option<&ExporterConfig>,
) -> Result<(), ExportError> {
    let Target::File { path, .. } = &config.target else {
        return Ok(());
    };
    for (other, _) in load_configs(conn)? {
        if other.name == config.name {
            continue;
        }
        if let Target::File { path: theirs, .. } = &other.target
            && same_file(theirs, path)
        {
            return Err(InvalidConfig(format!(
                "`path` {} is already the file of exporter `{}`: two writers would cut and \
                 interleave each other's lines",
                path.display(),
                other.name
            ))
            .into());
        }
    }
    check_file_path(path)?;
    let unchanged = matches!(current.map(|c| &c.target),
        Some(Target::File { path: before, .. }) if same_file(before, path));
    if !unchanged && file::ends_torn(path) {
        return Err(InvalidConfig(format!(
            "`path` {} exists and does not end with a newline; jagspec appends whole lines and \
             would cut that last line back: give a new file, or end this one with a newline",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// What a `file` exporter's path must be when an exporter is added, changed or seeded (not
/// when a stored one is loaded: a database from before these rules still starts): absolute,
/// without a NUL byte, and nothing yet in a folder that exists, or a regular file.
fn check_file_path(path: &Path) -> Result<(), ExportError> {
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(InvalidConfig("`path` holds a NUL byte".into()).into());
    }
    if !path.is_absolute() {
        return Err(InvalidConfig(format!(
            "`path` must be absolute (found `{}`): a relative path would depend on the folder \
             jagspec happens to run in",
            path.display()
        ))
        .into());
    }
    // What is at the path: nothing yet (in a folder that exists) or a regular file. A FIFO
    // would block whoever opens it; a directory or a device is no log file; a symlink could
    // be pointed anywhere after this check (the sink opens with O_NOFOLLOW too).
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(m) => {
            let what = if m.is_dir() {
                "a directory"
            } else if m.file_type().is_symlink() {
                "a symlink; give the file itself"
            } else {
                "not a regular file (a FIFO, socket or device)"
            };
            return Err(InvalidConfig(format!("`path` {} is {what}", path.display())).into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !path.parent().is_some_and(Path::is_dir) {
                return Err(InvalidConfig(format!(
                    "`path` {}: its folder does not exist",
                    path.display()
                ))
                .into());
            }
        }
        Err(e) => {
            return Err(
                InvalidConfig(format!("`path` {} cannot be checked: {e}", path.display())).into(),
            );
        }
    }
    Ok(())
}

/// The same file: the same path, or the same file once both are resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn load_configs(conn: &Connection) -> Result<Vec<(ExporterConfig, i64)>, ExportError> {
    let mut stmt = conn.prepare_cached("SELECT config, created_ms FROM exporters ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (text, created) = row?;
        out.push((ExporterConfig::from_stored_json(&text)?, created));
    }
    Ok(out)
}

fn statuses(ctx: &Ctx, only: Option<&str>) -> Result<Vec<ExporterStatus>, ExportError> {
    let max_seq = ctx.audit.last_seq()?;
    let conn = ctx.db();
    let mut stmt = conn.prepare_cached(
        "SELECT e.config, e.created_ms, c.last_seq, c.last_success_ms, c.last_attempt_ms, \
         c.last_error, c.consecutive_failures \
         FROM exporters e JOIN exporter_cursors c ON c.name = e.name \
         WHERE ?1 IS NULL OR e.name = ?1 ORDER BY e.name",
    )?;
    let rows = stmt.query_map([only], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (text, created_ms, last_seq, last_success_ms, last_attempt_ms, last_error, failures) =
            row?;
        let config = ExporterConfig::from_stored_json(&text)?;
        out.push(ExporterStatus {
            kind: config.kind(),
            target: config.destination(),
            envelope: match &config.target {
                Target::Http { envelope, .. } => Some(*envelope),
                Target::File { .. } | Target::Syslog { .. } => None,
            },
            batch_max: config.batch_max(),
            name: config.name,
            created_ms,
            last_seq,
            lag: (max_seq - last_seq).max(0),
            last_success_ms,
            last_attempt_ms,
            last_error,
            consecutive_failures: failures,
        });
    }
    Ok(out)
}

/// `f`, unless the worker is asked to stop first (then `None`, and `f` is dropped).
async fn unless_stopped<F: Future>(
    stop: &mut tokio::sync::watch::Receiver<bool>,
    f: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        // An error means the registry is gone: stop too.
        _ = stop.wait_for(|stop| *stop) => None,
        out = f => Some(out),
    }
}

/// How long a delivered position may stay unwritten while events keep coming. Each cursor
/// write needs the database's one write lock, which the audit writer holds for nearly every
/// moment under load: a write per batch made each round wait for it (SQLite's busy handler
/// sleeps 1 ms, then longer), so the exporters fell behind by half the write rate, and the
/// audit writer, on the request path, waited for the exporters' writes in turn. Written at
/// most this often while events keep coming, and at once when a read finds nothing new,
/// before a failure is recorded, and when stopping; a crash re-sends at most this long's
/// deliveries, which at-least-once delivery allows.
const CURSOR_WRITE_INTERVAL: Duration = Duration::from_millis(200);

/// A delivered position not yet written, and when the cursor was last written.
struct Progress {
    unwritten: Option<i64>,
    written_at: std::time::Instant,
}

impl Progress {
    /// Writes the unwritten position, if any.
    async fn write(&mut self, ctx: &Arc<Ctx>, name: &str) {
        if let Some(last) = self.unwritten.take() {
            if let Err(e) = record_success(ctx, name, last).await {
                // Delivered but not recorded: sent again later (at least once).
                tracing::warn!(exporter = %name, error = %e, "cannot advance the cursor");
            }
            self.written_at = std::time::Instant::now();
        }
    }
}

/// One exporter's loop; runs until asked to stop (see [`Worker::stop`]), then writes the
/// position it delivered up to.
async fn run(ctx: Arc<Ctx>, config: ExporterConfig, stop: tokio::sync::watch::Receiver<bool>) {
    let mut progress = Progress {
        unwritten: None,
        written_at: std::time::Instant::now(),
    };
    deliver_until_stopped(&ctx, &config, stop, &mut progress).await;
    progress.write(&ctx, &config.name).await;
}

/// The loop of [`run`]. Database reads and writes and file writes are never interrupted;
/// waits and network deliveries are.
async fn deliver_until_stopped(
    ctx: &Arc<Ctx>,
    config: &ExporterConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
    progress: &mut Progress,
) {
    let name = config.name.clone();
    let (mut cursor, mut failures) = loop {
        let c = Arc::clone(ctx);
        let n = name.clone();
        let loaded = blocking(move || {
            Ok(c.db()
                .query_row(
                    "SELECT last_seq, consecutive_failures FROM exporter_cursors WHERE name = ?1",
                    [&n],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?)
        })
        .await;
        match loaded {
            Ok(Some((seq, f))) => break (seq, u32::try_from(f).unwrap_or(u32::MAX)),
            // Deleted meanwhile: nothing to do.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(exporter = %name, error = %e, "cannot read the exporter's cursor");
                let wait = ctx.timing.backoff_cap.min(ctx.timing.idle_poll);
                if unless_stopped(&mut stop, tokio::time::sleep(wait))
                    .await
                    .is_none()
                {
                    return;
                }
            }
        }
    };
    let batch_max = config.batch_max();
    loop {
        if *stop.borrow() {
            return;
        }
        // Enabled before the read, so a commit between the read and the wait wakes it.
        let committed = ctx.audit.committed().notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        let audit = ctx.audit.clone();
        let read = blocking(move || Ok(audit.events_after(cursor, batch_max)?)).await;
        let batch = match read {
            Ok(batch) => batch,
            Err(e) => {
                failures = failures.saturating_add(1);
                // As for a failed delivery: what was delivered is recorded first.
                progress.write(ctx, &name).await;
                record_failure(ctx, &name, &e.to_string(), failures).await;
                let wait = tokio::time::sleep(ctx.timing.backoff(failures));
                if unless_stopped(&mut stop, wait).await.is_none() {
                    return;
                }
                continue;
            }
        };
        let Some(&(last, _)) = batch.last() else {
            // Caught up: the cursor says so before the wait.
            progress.write(ctx, &name).await;
            let idle = tokio::time::timeout(ctx.timing.idle_poll, committed);
            if unless_stopped(&mut stop, idle).await.is_none() {
                return;
            }
            continue;
        };
        let events: Vec<AuditEvent> = batch.into_iter().map(|(_, e)| e).collect();
        // The same batch until it is delivered.
        loop {
            let delivered = match &config.target {
                // A file write is finished even when asked to stop: it is short, and a
                // write abandoned on the blocking pool would land later.
                Target::File { .. } => deliver(ctx, config, &events).await,
                Target::Http { .. } | Target::Syslog { .. } => {
                    match unless_stopped(&mut stop, deliver(ctx, config, &events)).await {
                        Some(delivered) => delivered,
                        None => return,
                    }
                }
            };
            match delivered {
                Ok(()) => {
                    progress.unwritten = Some(last);
                    if progress.written_at.elapsed() >= CURSOR_WRITE_INTERVAL {
                        progress.write(ctx, &name).await;
                    }
                    cursor = last;
                    failures = 0;
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(exporter = %name, %error, failures, "export failed; retrying");
                    // What was delivered before is recorded first, so the failure stays
                    // the last word.
                    progress.write(ctx, &name).await;
                    record_failure(ctx, &name, &error, failures).await;
                    let wait = tokio::time::sleep(ctx.timing.backoff(failures));
                    if unless_stopped(&mut stop, wait).await.is_none() {
                        return;
                    }
                }
            }
        }
    }
}

async fn deliver(ctx: &Ctx, config: &ExporterConfig, events: &[AuditEvent]) -> Result<(), String> {
    match &config.target {
        Target::Http {
            url,
            bearer_token,
            envelope,
            ..
        } => http::deliver(&ctx.http, url, bearer_token, *envelope, events).await,
        Target::File { path, .. } => {
            let path = path.clone();
            let events = events.to_vec();
            tokio::task::spawn_blocking(move || file::deliver(&path, &events))
                .await
                .map_err(|e| format!("the file write did not finish: {e}"))?
        }
        Target::Syslog {
            address,
            hostname,
            app_name,
            ..
        } => {
            syslog::deliver(
                address,
                hostname.as_deref(),
                app_name.as_deref(),
                ctx.timing.http_timeout,
                events,
            )
            .await
        }
    }
}

/// Advances the cursor to `last` and clears the error, in one transaction.
async fn record_success(ctx: &Arc<Ctx>, name: &str, last: i64) -> Result<(), ExportError> {
    let c = Arc::clone(ctx);
    let name = name.to_owned();
    blocking(move || {
        let now = c.clock.now_millis();
        c.cursors().execute(
            "UPDATE exporter_cursors SET last_seq = ?2, last_success_ms = ?3, \
             last_attempt_ms = ?3, last_error = NULL, consecutive_failures = 0 \
             WHERE name = ?1",
            params![name, last, now],
        )?;
        Ok(())
    })
    .await
}

async fn record_failure(ctx: &Arc<Ctx>, name: &str, error: &str, failures: u32) {
    let c = Arc::clone(ctx);
    let n = name.to_owned();
    let error = error.to_owned();
    let result = blocking(move || {
        let now = c.clock.now_millis();
        c.cursors().execute(
            "UPDATE exporter_cursors SET last_error = ?2, last_attempt_ms = ?3, \
             consecutive_failures = ?4 WHERE name = ?1",
            params![n, error, now, i64::from(failures)],
        )?;
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(exporter = %name, error = %e, "cannot record the export failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_below_the_doubled_base_and_the_cap() {
        let t = ExportTiming {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(1000),
            ..ExportTiming::default()
        };
        for _ in 0..200 {
            assert!(t.backoff(1) < Duration::from_millis(100));
            assert!(t.backoff(3) < Duration::from_millis(400));
            assert!(t.backoff(40) < Duration::from_millis(1000));
        }
        let zero = ExportTiming {
            backoff_base: Duration::ZERO,
            ..t
        };
        assert_eq!(zero.backoff(5), Duration::ZERO);
    }
}

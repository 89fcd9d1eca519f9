//! Starting the issuer on a loopback socket: for `jagspec serve` and for tests.

use super::routes::router;
use super::seed::{Seed, SeedError};
use super::state::IssuerState;
use super::store::{Store, StoreError};
use crate::audit::{AuditError, AuditLog};
use crate::export::{ExportError, ExportTiming, Exporters};
use crate::jose::{Clock, SystemClock};
use crate::served::{ServeLimits, Served};
use crate::types::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How to start an issuer.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// The SQLite file (created if missing).
    pub db: PathBuf,
    /// Applied when the database holds no state yet.
    pub seed: Option<Seed>,
    /// Where to listen; loopback by default.
    pub bind: SocketAddr,
    /// The bearer token of the admin API.
    pub admin_token: Secret,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// How the system-log exporters back off and time out (500 ms / 60 s backoff, 10 s
    /// HTTP timeout by default; tests shorten them).
    pub export_timing: ExportTiming,
    /// The listener's limits and timeouts (slow clients, connections, shutdown grace).
    pub limits: ServeLimits,
    /// A deliberate defect, for the conformance suite's self-test only.
    #[doc(hidden)]
    pub fault: Option<super::state::IssuerFault>,
}

impl IssuerConfig {
    /// Loopback on a free port, the system clock, a random admin token.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        Self {
            db: db.into(),
            seed: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: Secret::new(crate::oauth::random_id()),
            clock: Arc::new(SystemClock),
            export_timing: ExportTiming::default(),
            limits: ServeLimits::default(),
            fault: None,
        }
    }
}

/// Why the issuer did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The seed was refused.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The exporters could not be loaded.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// An issuer serving on a socket until [`RunningIssuer::stop`] or drop.
#[derive(Debug)]
pub struct RunningIssuer {
    /// `http://127.0.0.1:PORT`: the issuer identifier.
    pub url: String,
    /// The shared state (store, audit log, clock).
    pub state: Arc<IssuerState>,
    served: Served,
}

impl RunningIssuer {
    /// Binds, opens the database (seeding it if new), and serves.
    ///
    /// # Errors
    ///
    /// [`StartError`].
    pub async fn start(config: IssuerConfig) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        Self::start_on(listener, config).await
    }

    /// As [`RunningIssuer::start`], on a socket already bound (`config.bind` is ignored):
    /// the mock ecosystem binds every socket first, so each party knows the others' URLs.
    ///
    /// # Errors
    ///
    /// [`StartError`].
    pub async fn start_on(listener: TcpListener, config: IssuerConfig) -> Result<Self, StartError> {
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let url = format!("http://{addr}");
        if let Some(mode) = crate::db::readable_by_others(&config.db) {
            tracing::warn!(
                db = %config.db.display(),
                mode = format!("{mode:o}"),
                "the state database can be read by others, and it holds private keys and \
                 exporter tokens: chmod 600 it (and its -wal and -shm files)"
            );
        }
        let seed = config.seed.clone().unwrap_or_default();
        let store = Store::open(&config.db, &seed.settings(&url))?;
        let fresh = {
            let s = store.snapshot();
            s.users.is_empty()
                && s.clients.is_empty()
                && s.servers.is_empty()
                && s.keys.iter().next().is_none()
        };
        let audit = AuditLog::open(&config.db)?;
        let exporters = Exporters::open(
            &config.db,
            audit.clone(),
            Arc::clone(&config.clock),
            config.export_timing,
        )?;
        if let (true, Some(seed)) = (fresh, &config.seed) {
            let now_ms = config.clock.now().saturating_mul(1000);
            seed.apply(&store, now_ms)?;
            // The seed's exporters start at the beginning of the log.
            exporters.seed(&seed.exporters, now_ms)?;
        }
        exporters.start_all()?;
        let state = Arc::new(IssuerState {
            store: Arc::new(store),
            audit,
            exporters,
            clock: config.clock,
            admin_token: config.admin_token,
            fault: config.fault,
        });
        let served = Served::start(
            listener,
            router(Arc::clone(&state)),
            "the issuer",
            config.limits,
        );
        Ok(Self { url, state, served })
    }

    /// Starts stopping without waiting (see [`RunningIssuer::stop`]), so the ecosystem's
    /// servers spend their grace periods together.
    pub(crate) fn begin_stop(&self) {
        self.served.begin_stop();
    }

    /// Stops accepting, lets requests in flight finish within the grace period and closes
    /// the rest, then stops the exporters (a file write in progress finishes). The audit
    /// writer commits what is queued when the last handle to the log is dropped.
    pub async fn stop(self) {
        self.served.stop().await;
        // Undelivered events stay behind their exporters' cursors for the next start.
        self.state.exporters.stop().await;
    }
}

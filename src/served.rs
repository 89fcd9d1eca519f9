//! An axum server on a bound socket, and the switch that stops it: shared by the issuer
//! and every mock, so each stops the same way (graceful on `stop`, signalled on drop).

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server task and the switch that stops it.
#[derive(Debug)]
pub(crate) struct Served {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// Serves `router` on `listener` until stopped; `what` names it in the log.
    pub(crate) fn start(listener: TcpListener, router: Router, what: &'static str) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "{what} stopped");
            }
        });
        Self {
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits for in-flight requests.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

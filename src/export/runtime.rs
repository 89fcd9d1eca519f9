//! The exporters' own thread: a single-threaded Tokio runtime that runs every worker of one
//! issuer (the reads of the log, the serialising, the HTTP and syslog deliveries).
//!
//! Why: on the server's runtime, a worker's every step (each `spawn_blocking`, the HTTP
//! client's tasks) waits behind the runnable request tasks, and with 128 requests in flight
//! a delivery round of 100 events took 12–15 ms instead of 1 ms, so the exporters fell
//! behind by about 10,000 events a second while the load lasted. A thread of their own is
//! scheduled by the operating system beside the server's workers and keeps its share of
//! the CPU under saturation; the request path never waits for it either way (the audit
//! table is the outbox).

use std::future::Future;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The runtime's handle, and the switch that ends its thread when dropped.
#[derive(Debug)]
pub(super) struct ExportRuntime {
    handle: Handle,
    /// Dropped with the exporters: the thread then drops its runtime, which cancels the
    /// tasks left (a blocking file or database write already running finishes first).
    _stop: oneshot::Sender<()>,
}

impl ExportRuntime {
    /// Starts the thread (`jagspec-exporters`).
    pub(super) fn start() -> std::io::Result<Self> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, handle) = std::sync::mpsc::channel();
        // Built, run and dropped on its own thread: never inside another runtime's task,
        // where dropping a runtime panics (even on the way out of a failed start).
        std::thread::Builder::new()
            .name("jagspec-exporters".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        let handle = handle.recv().map_err(|_| {
            std::io::Error::other("the exporters' thread ended before it started")
        })??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `task` on the exporters' thread.
    pub(super) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }
}

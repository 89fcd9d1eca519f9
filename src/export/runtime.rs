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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("jagspec-exporters".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // `runtime` is dropped here, on its own thread, never inside another
                // runtime's task (where dropping a runtime panics).
            })?;
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

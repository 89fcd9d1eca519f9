//! The one HTTP serving layer: an axum router on a bound socket, with the limits every
//! listener jagspec opens keeps (issuer, mock authorization servers, MCP servers, SIEM
//! sink, the IdP of `jagspec test as`, the suite's own attacker servers), and the switch
//! that stops it.
//!
//! Why not `axum::serve`: it sets no timer, so a client that sends half a request head
//! holds its socket until it leaves (at least 75 s were seen), a body that stalls is waited
//! for forever, connections are unbounded, and a failed `accept` (out of file descriptors)
//! is retried silently. Here, per listener:
//!
//! 1. at most [`ServeLimits::max_connections`] connections are held at once; at the cap the
//!    listener stops accepting (the kernel's backlog holds newcomers) and says so (at most
//!    every five seconds);
//! 2. the request head must arrive within [`ServeLimits::header_timeout`], which also closes
//!    a keep-alive connection idle that long (hyper arms the same timer for every head);
//! 3. the body must arrive whole within [`ServeLimits::body_timeout`] of the head: a body
//!    that stalls, a chunked body that never ends, or a `Content-Length` beyond what is sent
//!    fails to read with [`BodyTimeout`], which each endpoint answers with its protocol's
//!    error before the connection is closed;
//! 4. a write to the client must make progress within [`ServeLimits::write_timeout`], so a
//!    client that never reads its answers does not hold its connection either;
//! 5. an `accept` that fails for lack of file descriptors is logged and retried after a
//!    short pause, so the listener recovers as soon as connections leave;
//! 6. stopping stops accepting, lets requests in flight finish for
//!    [`ServeLimits::shutdown_grace`], then closes whatever is left (a half-sent request
//!    never holds a shutdown).

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

/// The limits and timeouts of one listener. The defaults suit a mock on a shared CI
/// machine: a real request to any jagspec endpoint is a few kilobytes sent at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// The request head (request line and headers) must arrive within this; a keep-alive
    /// connection idle this long is closed. Default 5 s.
    pub header_timeout: Duration,
    /// The whole body must arrive within this after the head. Default 10 s.
    pub body_timeout: Duration,
    /// A write to the client must make progress within this: a client that stops reading
    /// its answers (or pipelines requests and never reads) is cut off. Default 10 s.
    pub write_timeout: Duration,
    /// Connections one listener holds at once; beyond it, newcomers wait in the kernel's
    /// backlog. Default 512.
    pub max_connections: usize,
    /// How long requests in flight may finish once stopping begins. Default 2 s.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// A request body did not arrive whole within [`ServeLimits::body_timeout`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub struct BodyTimeout(pub Duration);

/// Why a request body could not be read, found anywhere in an error's source chain:
/// endpoints map each to their protocol's error once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// Longer than the endpoint accepts (HTTP 413).
    TooLarge,
    /// It did not arrive in time.
    TimedOut(String),
    /// It broke off or is malformed (bad chunked encoding, connection reset).
    Unreadable(String),
}

impl BodyFailure {
    /// Classifies a body-read error (axum's `to_bytes`, an extractor's source).
    pub(crate) fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut innermost = error;
        while let Some(e) = cause {
            if e.is::<http_body_util::LengthLimitError>() {
                return Self::TooLarge;
            }
            if let Some(t) = e.downcast_ref::<BodyTimeout>() {
                return Self::TimedOut(t.to_string());
            }
            innermost = e;
            cause = e.source();
        }
        Self::Unreadable(format!("the request body could not be read: {innermost}"))
    }
}

/// A server task and the switch that stops it.
#[derive(Debug)]
pub(crate) struct Served {
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// Serves `router` on `listener` under `limits` until stopped; `what` names it in the
    /// log.
    pub(crate) fn start(
        listener: TcpListener,
        router: Router,
        what: &'static str,
        limits: ServeLimits,
    ) -> Self {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router, what, limits, rx));
        Self {
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts stopping without waiting: several servers then spend their grace periods
    /// together.
    pub(crate) fn begin_stop(&self) {
        if let Some(tx) = &self.shutdown {
            let _ = tx.send(true);
        }
    }

    /// Stops accepting, lets requests in flight finish within the grace period, closes
    /// the rest, and returns once every connection is gone.
    pub(crate) async fn stop(mut self) {
        self.begin_stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.begin_stop();
    }
}

/// Accepts until told to stop, each connection on a task of its own.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    what: &'static str,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut at_cap = RateLimitedWarning::default();
    let mut fd_warning = RateLimitedWarning::default();
    loop {
        // Reap finished connections so the set does not grow with every one served.
        while connections.try_join_next().is_some() {}
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                at_cap.warn(|times| {
                    tracing::warn!(
                        server = what,
                        max_connections = limits.max_connections,
                        reached_since_last_warning = times,
                        "connection limit reached; new connections wait until one closes"
                    );
                });
                tokio::select! {
                    p = Arc::clone(&permits).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors (EMFILE, ENFILE) or memory: the listener is
                // fine and recovers once connections close, so pause instead of spinning.
                fd_warning.warn(|failed| {
                    tracing::warn!(
                        server = what,
                        error = %e,
                        failed_since_last_warning = failed,
                        "cannot accept a connection (out of file descriptors?); retrying"
                    );
                });
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            serve_connection(stream, router, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight get the grace period; then whatever is left is closed.
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::info!(
            server = what,
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// One HTTP/1.1 connection: the header timer, the body deadline, graceful close on stop.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let request = request.map(|body| Body::new(Deadline::new(body, body_timeout)));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let stream = WriteDeadline::new(stream, limits.write_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        // A timeout, a reset or a malformed head end the connection; hyper has already
        // answered what deserves an answer (431, 400), so there is nothing to add.
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    // Stopping: an idle connection closes now, one with a request in flight after its
    // response; the accept loop aborts whatever outlives the grace period.
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Errors of `accept` that concern one connection only (it was reset before it was
/// accepted): take the next.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// A warning logged when its condition starts and then at most every five seconds, with
/// how many times it recurred in between: a flood must not flood the log too.
#[derive(Default)]
struct RateLimitedWarning {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedWarning {
    /// Calls `log` with the count of suppressed recurrences when a line is due.
    fn warn(&mut self, log: impl FnOnce(u64)) {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        if due {
            log(self.suppressed);
            self.last = Some(Instant::now());
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

/// A socket whose writes must make progress within a limit: a write, flush or shutdown
/// that stays pending longer fails with `TimedOut`, which ends the connection.
struct WriteDeadline {
    inner: tokio::net::TcpStream,
    limit: Duration,
    /// Armed when a write first stays pending; disarmed by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(inner: tokio::net::TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After the inner write answered `poll`: disarm on progress, else fail once the
    /// deadline passes.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client has not read its answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncRead for WriteDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WriteDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}

/// A request body that must end before a deadline set when its head arrived.
struct Deadline {
    inner: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Deadline {
    fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|r| r.map_err(Into::into))),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

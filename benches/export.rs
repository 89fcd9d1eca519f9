//! ID-JAG issuance with no system-log exporter, one, and two, in one run; and whether the
//! exporters kept up.
//!
//! `export/<n>_exporters/<in_flight>` sends RFC 8693 token exchanges (ES256, the tenant
//! default) to the reference issuer's router in-process (`tower::ServiceExt::oneshot`, as
//! `issue_in_process` in `benches/issuer.rs`), `in_flight` at a time (32, then 128). Each
//! configuration and load level gets an issuer of its own on a fresh SQLite file (WAL,
//! `synchronous=FULL`), seeded from `fixtures/tenant-examples.toml` plus its exporters:
//!
//! * `0_exporters`: none;
//! * `1_exporters`: `http` NDJSON (default batch of 100) to a loopback sink in this process
//!   that counts the lines and answers 200 at once, keeping nothing;
//! * `2_exporters`: the same `http` one, and a `file` exporter (NDJSON appended and fsynced
//!   per batch) in the temporary directory, on the same disk as the database.
//!
//! Criterion's `thrpt` is issuance per second. Besides it, each configuration prints, per
//! exporter: the events it delivered during the benchmark's window (from the first
//! warm-up iteration to the end of the last sample) and so its delivery rate under load;
//! its lag (events written, not yet delivered) at the end of the last sample; and the time
//! from there until the lag is 0 (measured by a task that polls the exporters' status every
//! 2 ms once the load stops). Nothing about the exporters is asserted: this measures.
//!
//! The load client, the issuer and the audit writer share one two-thread runtime; the
//! exporters run on their issuer's exporter thread, and the sink on a thread of its own
//! (a real SIEM is another machine). All share the machine's two cores.
//!
//! Then a sustained phase: each configuration on a fresh issuer at 128 in flight for 30 s
//! (`JAGSPEC_SUSTAINED_SECS`; 0 skips it, and `--test` makes it 1 s), with issuance, CPU
//! per event and every exporter's lag read every 5 s, and the drain time once the load
//! stops: whether the lag stays bounded under full load, and what issuance pays for it.
//! Run with `cargo bench --bench export`; see `BENCHMARKS.md`.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use common::{IN_FLIGHT, concurrently, exchange_body};
use criterion::{Criterion, Throughput};
use jagspec::Alg;
use jagspec::export::ExporterStatus;
use jagspec::issuer::{IssuerConfig, IssuerState, RunningIssuer, Seed};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Exporters per configuration.
const CONFIGURATIONS: [usize; 3] = [0, 1, 2];

/// A drain still unfinished after this long is reported as such.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// How often the drain watcher reads the exporters' status.
const DRAIN_POLL: Duration = Duration::from_millis(2);

const SEED: &str = include_str!("../fixtures/tenant-examples.toml");

/// A collector that answers 200 at once and keeps only a count of the NDJSON lines it got,
/// so a long run cannot fill memory (the mock `SiemSink` keeps every body).
struct Sink {
    url: String,
    counts: Arc<Counts>,
    /// Ends the sink's thread when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// What the sink has received.
#[derive(Default)]
struct Counts {
    /// Deliveries (POSTs).
    posts: AtomicU64,
    /// Non-empty NDJSON lines, one per event.
    lines: AtomicU64,
}

impl Sink {
    /// On a thread and runtime of its own, like a remote collector: its work is not
    /// charged to the issuer's runtime (its CPU still is to the machine's two cores).
    fn start() -> Self {
        let (ready, started) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the sink's runtime");
                runtime.block_on(async {
                    let (url, counts, served) = Self::serve().await;
                    ready
                        .send((url, counts))
                        .expect("the benchmark waits for the sink");
                    let _ = stopped.await;
                    served.abort();
                });
            })
            .expect("the sink's thread");
        let (url, counts) = started.recv().expect("the sink started");
        Self {
            url,
            counts,
            _stop: stop,
        }
    }

    async fn serve() -> (String, Arc<Counts>, JoinHandle<()>) {
        async fn ingest(State(counts): State<Arc<Counts>>, body: Bytes) -> StatusCode {
            let n = body
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            counts.posts.fetch_add(1, Ordering::Relaxed);
            counts.lines.fetch_add(n as u64, Ordering::Relaxed);
            StatusCode::OK
        }
        let counts = Arc::new(Counts::default());
        let router = axum::Router::new()
            .route("/ingest", axum::routing::post(ingest))
            .with_state(Arc::clone(&counts));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback socket");
        let url = format!(
            "http://{}/ingest",
            listener.local_addr().expect("its address")
        );
        let served = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the sink serves");
        });
        (url, counts, served)
    }
}

/// The seed with `exporters` exporters: `siem` (http) first, then `archive` (file).
fn seed_with(exporters: usize, sink_url: &str, file: &Path) -> Seed {
    let mut toml = SEED.to_owned();
    if exporters >= 1 {
        write!(
            toml,
            "\n[[exporters]]\nname = \"siem\"\nkind = \"http\"\nurl = {sink_url:?}\n\
             bearer_token = \"bench-sink-token\"\n"
        )
        .expect("a string takes writes");
    }
    if exporters >= 2 {
        let path = file.display().to_string();
        write!(
            toml,
            "\n[[exporters]]\nname = \"archive\"\nkind = \"file\"\npath = {path:?}\n"
        )
        .expect("a string takes writes");
    }
    Seed::from_toml(&toml).expect("the seed parses")
}

/// Where the log and the exporters stood at one moment.
#[derive(Clone)]
struct Snapshot {
    at: Instant,
    /// The log's last sequence number.
    written: i64,
    /// Transactions the audit writer has committed.
    commits: u64,
    /// The process's CPU time so far (user + system), where `/proc` tells it.
    cpu: Option<Duration>,
    exporters: Vec<ExporterStatus>,
}

/// This process's user + system CPU time, from `/proc/self/stat` (Linux; clock ticks of
/// 10 ms, the kernel's `USER_HZ` on every mainstream architecture).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name (which may contain spaces), field 3 onwards.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

async fn snapshot(state: &IssuerState) -> Snapshot {
    let at = Instant::now();
    let exporters = state.exporters.list().await.expect("the exporters' status");
    Snapshot {
        at,
        written: state.audit.last_seq().expect("the log's end"),
        commits: state.audit.commits(),
        cpu: cpu_time(),
        exporters,
    }
}

/// Polls until every exporter's lag is 0; when that was seen, or `None` past the limit.
async fn drained(state: Arc<IssuerState>) -> Option<Instant> {
    let start = Instant::now();
    loop {
        if let Ok(list) = state.exporters.list().await
            && list.iter().all(|s| s.lag == 0)
        {
            return Some(Instant::now());
        }
        if start.elapsed() > DRAIN_LIMIT {
            return None;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// What one configuration measured besides criterion's figures.
#[derive(Default)]
struct Window {
    first: Option<Snapshot>,
    last: Option<Snapshot>,
    watcher: Option<JoinHandle<Option<Instant>>>,
}

/// An issuer with `exporters` exporters on a fresh database, and the ID token it issued.
struct Fixture {
    issuer: RunningIssuer,
    id_token: String,
    sink: Sink,
    dir: PathBuf,
}

impl Fixture {
    async fn start(exporters: usize, in_flight: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "jagspec-bench-export-{}-{exporters}-{in_flight}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let sink = Sink::start();
        let config = IssuerConfig {
            seed: Some(seed_with(exporters, &sink.url, &dir.join("archive.ndjson"))),
            ..IssuerConfig::new(dir.join("issuer.db"))
        };
        let issuer = RunningIssuer::start(config)
            .await
            .expect("the issuer starts");
        let id_token = common::alice_id_token(&issuer.url).await;
        Self {
            issuer,
            id_token,
            sink,
            dir,
        }
    }

    async fn stop(self) {
        self.issuer.stop().await;
        drop(self.sink);
        // `stop` waits for a file write already under way, so the directory is quiet.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Appends the CPU this process used between two snapshots, as cores and per event, where
/// `/proc` tells it.
fn cpu_used(line: &mut String, first: &Snapshot, last: &Snapshot, span: Duration, written: i64) {
    if let (Some(a), Some(b)) = (first.cpu, last.cpu) {
        let cpu = b.saturating_sub(a);
        write!(
            line,
            "; CPU {:.2} cores, {:.0} µs per event",
            cpu.as_secs_f64() / span.as_secs_f64().max(f64::MIN_POSITIVE),
            cpu.as_secs_f64() * 1e6 / written.max(1) as f64
        )
        .expect("a string takes writes");
    }
}

/// Events per second, `n` over `d`.
fn rate(n: i64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Prints what the exporters did in `window` and how long they took to drain; returns the
/// summary line.
fn report(id: &str, window: &Window, drained_at: Option<Option<Instant>>, sink: &Counts) -> String {
    let (Some(first), Some(last)) = (&window.first, &window.last) else {
        return format!("{id}: not measured");
    };
    let span = last.at.duration_since(first.at);
    let written = last.written - first.written;
    let commits = last.commits - first.commits;
    let mut line = format!(
        "{id}: window {:.2} s, {written} events written ({:.0}/s, {:.1} per commit)",
        span.as_secs_f64(),
        rate(written, span),
        written as f64 / commits.max(1) as f64,
    );
    cpu_used(&mut line, first, last, span, written);
    for end in &last.exporters {
        let start_seq = first
            .exporters
            .iter()
            .find(|s| s.name == end.name)
            .map_or(0, |s| s.last_seq);
        let delivered = end.last_seq - start_seq;
        write!(
            line,
            "; {} ({}): delivered {delivered} ({:.0}/s), lag at end {}",
            end.name,
            end.kind,
            rate(delivered, span),
            end.lag
        )
        .expect("a string takes writes");
        if end.consecutive_failures > 0 {
            write!(
                line,
                " [{} failures: {}]",
                end.consecutive_failures,
                end.last_error.as_deref().unwrap_or("")
            )
            .expect("a string takes writes");
        }
    }
    if !last.exporters.is_empty() {
        let max_lag = last.exporters.iter().map(|s| s.lag).max().unwrap_or(0);
        match drained_at {
            Some(Some(at)) => {
                let took = at.saturating_duration_since(last.at);
                write!(
                    line,
                    "; drained in {:.1} ms ({:.0} events/s)",
                    took.as_secs_f64() * 1e3,
                    rate(max_lag, took)
                )
                .expect("a string takes writes");
            }
            _ => write!(line, "; not drained within {} s", DRAIN_LIMIT.as_secs())
                .expect("a string takes writes"),
        }
        if last.exporters.iter().any(|s| s.kind == "http") {
            let posts = sink.posts.load(Ordering::Relaxed);
            let lines = sink.lines.load(Ordering::Relaxed);
            write!(
                line,
                "; sink got {lines} events in {posts} POSTs ({:.1} per POST)",
                lines as f64 / posts.max(1) as f64
            )
            .expect("a string takes writes");
        }
    }
    line
}

/// Runs one configuration's benchmark and its drain; the summary line.
fn measure(c: &mut Criterion, runtime: &Runtime, exporters: usize, in_flight: usize) -> String {
    let fixture = runtime.block_on(Fixture::start(exporters, in_flight));
    let state = Arc::clone(&fixture.issuer.state);
    let router = jagspec::issuer::router(Arc::clone(&state));
    let window = RefCell::new(Window::default());
    let id = format!("{exporters}_exporters/{in_flight}");

    let mut group = c.benchmark_group("export");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(&id, |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let watcher = window.borrow_mut().watcher.take();
                if let Some(watcher) = watcher {
                    watcher.abort();
                }
                if window.borrow().first.is_none() {
                    let first = snapshot(&state).await;
                    window.borrow_mut().first = Some(first);
                }
                let took = concurrently(iters, in_flight, || {
                    common::exchange_in_process(
                        router.clone(),
                        exchange_body(&fixture.id_token, Alg::ES256),
                    )
                })
                .await;
                // Untimed: where the exporters stand now, and a watcher for their drain in
                // case this was the last sample.
                let last = snapshot(&state).await;
                let mut w = window.borrow_mut();
                w.last = Some(last);
                w.watcher = Some(tokio::spawn(drained(Arc::clone(&state))));
                took
            })
        });
    });
    group.finish();

    let mut window = window.into_inner();
    let drained_at = window
        .watcher
        .take()
        .map(|watcher| runtime.block_on(watcher).ok().flatten());
    let line = report(&id, &window, drained_at, &fixture.sink.counts);
    println!("{line}");
    runtime.block_on(fixture.stop());
    line
}

/// The load client's and the issuer's runtime: two workers, one per core.
fn bench_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn bench(c: &mut Criterion, runtime: &Runtime) {
    let mut summary = Vec::new();
    for in_flight in IN_FLIGHT {
        for exporters in CONFIGURATIONS {
            summary.push(measure(c, runtime, exporters, in_flight));
        }
    }
    println!("\nexporters:");
    for line in summary {
        println!("  {line}");
    }
}

/// Requests in flight in the sustained phase: a busy IdP's, where the CPU is saturated.
const SUSTAINED_IN_FLIGHT: usize = 128;
/// How often the sustained phase reads the exporters' lag.
const SUSTAINED_TICK: Duration = Duration::from_secs(5);

/// The sustained phase's length per configuration: `JAGSPEC_SUSTAINED_SECS` (default 30),
/// 1 s under `--test`.
fn sustained_secs() -> u64 {
    if std::env::args().any(|a| a == "--test") {
        return 1;
    }
    std::env::var("JAGSPEC_SUSTAINED_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// Keeps `in_flight` exchanges running on a fresh issuer with `exporters` exporters for
/// `secs`, reading the lag every [`SUSTAINED_TICK`]; the summary line and the issuance
/// rate.
async fn sustain(
    exporters: usize,
    in_flight: usize,
    secs: u64,
    baseline: Option<f64>,
) -> (String, f64) {
    let fixture = Fixture::start(exporters, in_flight).await;
    let state = Arc::clone(&fixture.issuer.state);
    let router = jagspec::issuer::router(Arc::clone(&state));
    let body = exchange_body(&fixture.id_token, Alg::ES256);
    let first = snapshot(&state).await;
    let deadline = first.at + Duration::from_secs(secs);
    let load: Vec<JoinHandle<()>> = (0..in_flight)
        .map(|_| {
            let (router, body) = (router.clone(), body.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let status = common::exchange_in_process(router.clone(), body.clone()).await;
                    assert_eq!(status, 200, "issuance must succeed");
                }
            })
        })
        .collect();
    let mut ticks = Vec::new();
    let mut next = first.at + SUSTAINED_TICK;
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        ticks.push(snapshot(&state).await);
        next += SUSTAINED_TICK;
    }
    for task in load {
        task.await.expect("a load task");
    }
    let last = snapshot(&state).await;
    let drained_at = if exporters > 0 {
        drained(Arc::clone(&state)).await
    } else {
        Some(last.at)
    };
    let span = last.at.duration_since(first.at);
    let written = last.written - first.written;
    let issued = rate(written, span);
    let mut line = format!(
        "{exporters}_exporters/{in_flight}: {:.1} s, {written} issued ({issued:.0}/s",
        span.as_secs_f64()
    );
    if let Some(base) = baseline {
        write!(line, ", {:.0} % of 0 exporters", 100.0 * issued / base)
            .expect("a string takes writes");
    }
    line.push(')');
    cpu_used(&mut line, &first, &last, span, written);
    if exporters > 0 {
        line.push_str("; lag");
        for tick in ticks.iter().chain(std::iter::once(&last)) {
            let at = tick.at.duration_since(first.at).as_secs_f64();
            let lags: Vec<String> = tick
                .exporters
                .iter()
                .map(|e| format!("{} {}", e.name, e.lag))
                .collect();
            write!(line, " at {at:.0} s: {};", lags.join(", ")).expect("a string takes writes");
        }
        match drained_at {
            Some(at) => write!(
                line,
                " drained {:.0} ms after the load",
                at.saturating_duration_since(last.at).as_secs_f64() * 1e3
            ),
            None => write!(line, " not drained within {} s", DRAIN_LIMIT.as_secs()),
        }
        .expect("a string takes writes");
        let posts = fixture.sink.counts.posts.load(Ordering::Relaxed);
        let lines = fixture.sink.counts.lines.load(Ordering::Relaxed);
        write!(line, "; sink got {lines} events in {posts} POSTs").expect("a string takes writes");
    }
    fixture.stop().await;
    (line, issued)
}

/// The sustained phase: every configuration at [`SUSTAINED_IN_FLIGHT`], one after the
/// other in this run, so their figures compare.
fn sustained(runtime: &Runtime) {
    let secs = sustained_secs();
    if secs == 0 {
        return;
    }
    println!("\nsustained, {SUSTAINED_IN_FLIGHT} in flight for {secs} s each:");
    let mut baseline = None;
    for exporters in CONFIGURATIONS {
        let (line, issued) =
            runtime.block_on(sustain(exporters, SUSTAINED_IN_FLIGHT, secs, baseline));
        baseline.get_or_insert(issued);
        println!("  {line}");
    }
}

fn main() {
    let runtime = bench_runtime();
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, &runtime);
    criterion.final_summary();
    sustained(&runtime);
}

//! Shared helpers: a fixed clock, a valid ID-JAG claims set, verifiers for the fixtures.

use jagspec::{Alg, FixedClock, ID_JAG_TYP, SigningKey, Verifier, fixtures};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fixed "now" of every test.
pub(crate) const NOW: i64 = 1_800_000_000;
pub(crate) const ISSUER: &str = "https://idp.example";
pub(crate) const AUDIENCE: &str = "https://as.example";

/// A valid ID-JAG claims set issued at [`NOW`] for five minutes.
pub(crate) fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "client_id": "agent-at-as",
        "jti": "jti-1",
        "iat": NOW,
        "exp": NOW + 300,
        "resource": "https://mcp.example/mcp",
        "scope": "chat.read chat.history",
    })
}

pub(crate) fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(NOW))
}

/// An ID-JAG verifier trusting every fixture key, at [`NOW`].
pub(crate) fn verifier() -> Verifier {
    Verifier::id_jag(fixtures::jwks().into(), ISSUER, AUDIENCE).clock(clock())
}

pub(crate) fn key(alg: Alg) -> SigningKey {
    fixtures::signing_key(alg, 1)
}

/// A valid ID-JAG signed by fixture key 1 of `alg`.
pub(crate) fn id_jag(alg: Alg) -> String {
    jagspec::mint(&key(alg), Some(ID_JAG_TYP), &claims())
        .unwrap()
        .into_secret()
}

/// A fresh SQLite path under cargo's per-target temporary directory, unique per process
/// and call; dropping it removes the file and its WAL.
pub(crate) struct TempDb(PathBuf);

impl TempDb {
    pub(crate) fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file = format!("{name}-{}-{n}.db", std::process::id());
        let db = Self(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(file));
        db.remove();
        db
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The audit events of an NDJSON text (the download, an exporter's body, `jagspec logs
/// --format ndjson`), one per non-empty line; a line that is not an event fails the test.
#[track_caller]
pub(crate) fn ndjson_events(text: &str) -> Vec<jagspec::audit::AuditEvent> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `text` up to and including its last newline: the whole lines of a file or body that
/// may still be growing.
pub(crate) fn whole_lines(text: &str) -> &str {
    &text[..text.rfind('\n').map_or(0, |end| end + 1)]
}

/// A fresh directory for one test under cargo's per-target temporary directory, unique per
/// process: `name` says which test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Consecutive loopback ports for a `jagspec serve --port-base` (its ecosystem takes 17),
/// each free when probed, from a range no fixed-port default names and below the
/// ephemeral ports. Each call starts from
/// another candidate, so tests running at once do not pick the same base.
pub(crate) fn free_port_base(count: u16) -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let process = std::process::id() as usize;
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Below Linux's ephemeral range (32768-60999), where the kernel hands out the
        // client ports of every connection this test process opens.
        let slot = (process.wrapping_mul(7919).wrapping_add(n.wrapping_mul(613))) % 500;
        let base = 20_000 + u16::try_from(slot).unwrap() * 24;
        let all_free =
            (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no {count} consecutive free loopback ports found in 20000-32000");
}

/// `text` with every `127.0.0.1:PORT` whose port lies in `from..from + span` moved to
/// `to + (PORT - from)`: an example profile's fixed ports, moved to free ones.
pub(crate) fn shift_ports(text: &str, moves: &[(u16, u16, u16)]) -> String {
    let re = regex::Regex::new(r"127\.0\.0\.1:(\d{4,5})").unwrap();
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let port: u16 = c[1].parse().unwrap();
        let moved = moves
            .iter()
            .find(|(from, span, _)| (*from..from + span).contains(&port))
            .map_or(port, |(from, _, to)| to + (port - from));
        format!("127.0.0.1:{moved}")
    })
    .into_owned()
}

/// `jagspec serve` as a child process: its manifest, its standard error kept in a file so
/// a test can read what it logged, stopped with SIGTERM when dropped.
pub(crate) struct ServeProcess {
    child: std::process::Child,
    /// The manifest it wrote.
    pub(crate) manifest: Value,
    stderr: PathBuf,
}

/// How to launch `serve` besides its arguments.
#[derive(Debug, Default)]
pub(crate) struct Launch {
    /// Under `ulimit -n` (through `sh`, since the standard library cannot set a child's
    /// limits without `unsafe`).
    pub(crate) open_files: Option<u32>,
    /// Its temporary folder (`TMPDIR`).
    pub(crate) tmpdir: Option<PathBuf>,
}

/// Why `serve` did not come up.
#[derive(Debug)]
pub(crate) enum ServeFailed {
    /// A port was taken (by another program): worth another base.
    PortTaken(String),
}

impl ServeProcess {
    /// `jagspec serve ARGS --manifest DIR/manifest.json`, once the manifest is written (an
    /// atomic rename: it appears when every server listens). When `serve` exits first it
    /// fails at once with `serve`'s own message, never by waiting for a manifest that cannot
    /// come.
    pub(crate) fn start(dir: &Path, args: &[String]) -> Self {
        Self::start_in(dir, args, &Launch::default())
            .unwrap_or_else(|ServeFailed::PortTaken(m)| panic!("{m}"))
    }

    /// As [`ServeProcess::start`], launched as `launch` says.
    pub(crate) fn start_as(dir: &Path, args: &[String], launch: &Launch) -> Self {
        Self::start_in(dir, args, launch).unwrap_or_else(|ServeFailed::PortTaken(m)| panic!("{m}"))
    }

    /// [`ServeProcess::start`] with `args(base)` on free ports, trying another base when a
    /// port is taken between the probe and the bind.
    pub(crate) fn start_on_free_ports(
        dir: &Path,
        count: u16,
        args: impl Fn(u16) -> Vec<String>,
    ) -> (Self, u16) {
        let mut last = String::new();
        for _ in 0..5 {
            let base = free_port_base(count);
            match Self::start_in(dir, &args(base), &Launch::default()) {
                Ok(serve) => return (serve, base),
                Err(ServeFailed::PortTaken(m)) => last = m,
            }
        }
        panic!("serve could not bind five port bases in a row; the last: {last}");
    }

    fn start_in(dir: &Path, args: &[String], launch: &Launch) -> Result<Self, ServeFailed> {
        use std::process::{Command, Stdio};
        let manifest_path = dir.join("manifest.json");
        let _ = std::fs::remove_file(&manifest_path);
        let stderr = dir.join("serve.stderr");
        let bin = env!("CARGO_BIN_EXE_jagspec");
        let mut command = match launch.open_files {
            None => Command::new(bin),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
                c
            }
        };
        if let Some(tmp) = &launch.tmpdir {
            command.env("TMPDIR", tmp);
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .args(["--manifest", manifest_path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&manifest_path) {
                let manifest = serde_json::from_str(&text).unwrap();
                return Ok(Self {
                    child,
                    manifest,
                    stderr,
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                let said = std::fs::read_to_string(&stderr).unwrap_or_default();
                let message =
                    format!("serve {args:?} exited ({status}) before writing its manifest: {said}");
                if said.contains("cannot listen on") {
                    return Err(ServeFailed::PortTaken(message));
                }
                panic!("{message}");
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve {args:?} wrote no manifest within 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// A string at `pointer` in the manifest (`/issuer/token_endpoint`).
    pub(crate) fn at(&self, pointer: &str) -> String {
        self.manifest
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("the manifest has no string at {pointer}"))
            .to_owned()
    }

    /// What it has written to standard error so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM; its exit code once it exits, `None` if it is still running after `within`
    /// (then it is killed).
    pub(crate) fn terminate(&mut self, within: std::time::Duration) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// SIGKILL, then reap: a crash, for the durability test.
    pub(crate) fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate(std::time::Duration::from_secs(10));
        }
    }
}

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

//! Shared helpers: a fixed clock, a valid ID-JAG claims set, verifiers for the fixtures.

use jagspec::{Alg, FixedClock, ID_JAG_TYP, SigningKey, Verifier, fixtures};
use serde_json::{Value, json};
use std::sync::Arc;

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

//! What one audit event records: the seed's fields (user, client, system, scopes with
//! per-scope outcome, token ID, signing key ID, algorithm, lifetime, status detail), plus
//! when, which request, and the OAuth error returned. Never token material.

use crate::jose::Alg;
use serde::{Deserialize, Serialize};

/// Whether the request was granted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A token was issued.
    Granted,
    /// No token was issued: the default, until a request is granted.
    #[default]
    Denied,
}

impl Outcome {
    /// `granted` or `denied`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
        }
    }
}

/// One requested scope's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeVerdict {
    /// In the issued token.
    Granted,
    /// Left out (or the request denied); the reason is the scope's status detail.
    Denied,
}

impl ScopeVerdict {
    /// `granted` or `denied`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
        }
    }
}

/// A requested scope and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeOutcome {
    /// The scope as requested.
    pub scope: String,
    /// Granted or denied.
    pub outcome: ScopeVerdict,
    /// Why it was denied: a status detail such as "No grant for the scope".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One token request as the audit log keeps it. `Default` is an empty denied event, to be
/// filled in as the request is processed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique and stable: receivers drop duplicates by it.
    pub event_id: String,
    /// The HTTP request this event records.
    pub request_id: String,
    /// When the decision was made, Unix milliseconds (from the injected clock).
    pub time_ms: i64,
    /// The `grant_type` requested, if any.
    pub grant_type: Option<String>,
    /// Granted or denied.
    pub outcome: Outcome,
    /// On a denial the reason, in the seeds' exact words ("Server paused", …); on a grant
    /// "Granted", or "Granted (narrowed)" when some requested scopes were left out.
    pub status_detail: String,
    /// The OAuth `error` returned on a denial.
    pub oauth_error: Option<String>,
    /// The identity the token was requested for (`sub`), when known.
    pub user: Option<String>,
    /// The client that made the request (its id at the issuer), when authenticated.
    pub client: Option<String>,
    /// The MCP server's system: the requested audience.
    pub system: Option<String>,
    /// The requested `resource`.
    pub resource: Option<String>,
    /// Each requested scope and its outcome.
    pub scopes: Vec<ScopeOutcome>,
    /// The issued token's `jti`.
    pub token_id: Option<String>,
    /// The `kid` it was signed with.
    pub signing_key_id: Option<String>,
    /// The algorithm it was signed with.
    pub algorithm: Option<Alg>,
    /// How long it is valid, seconds.
    pub lifetime_secs: Option<u64>,
}

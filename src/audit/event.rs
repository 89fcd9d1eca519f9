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

/// The longest value an event keeps of a field the requester chose (grant type, audience,
/// resource, client id, user): longer ones are cut, and say so, with their size.
pub const MAX_RECORDED_CHARS: usize = 256;
/// The longest scope an event keeps; longer ones are cut the same way.
pub const MAX_RECORDED_SCOPE_CHARS: usize = 128;
/// How many denied scopes an event lists one by one; the rest are counted in one entry.
/// Granted scopes are always listed: they are bounded by what the registry enables.
pub const MAX_RECORDED_DENIED_SCOPES: usize = 32;

impl AuditEvent {
    /// The event as the log keeps it: every value a requester chose bounded, so a stranger
    /// cannot make one row large (a whole 64 KiB `grant_type` was stored before). The
    /// largest row this leaves is a few kilobytes beside a token request's real values.
    pub fn bounded(mut self) -> Self {
        for field in [
            &mut self.grant_type,
            &mut self.user,
            &mut self.client,
            &mut self.system,
            &mut self.resource,
        ]
        .into_iter()
        .flatten()
        {
            cut(field, MAX_RECORDED_CHARS);
        }
        let mut denied = 0usize;
        let mut dropped: Option<(usize, Option<String>)> = None;
        self.scopes.retain_mut(|s| {
            cut(&mut s.scope, MAX_RECORDED_SCOPE_CHARS);
            if s.outcome == ScopeVerdict::Granted {
                return true;
            }
            denied += 1;
            if denied <= MAX_RECORDED_DENIED_SCOPES {
                return true;
            }
            let entry = dropped.get_or_insert((0, None));
            entry.0 += 1;
            entry.1.clone_from(&s.reason);
            false
        });
        if let Some((count, reason)) = dropped {
            self.scopes.push(ScopeOutcome {
                scope: format!("[{count} more denied scopes not recorded]"),
                outcome: ScopeVerdict::Denied,
                reason,
            });
        }
        self
    }
}

/// Cuts `value` to `max` characters, ending it with how long it was; a JWT sent in the
/// wrong field (an ID token as `grant_type`) is not kept at all: the log holds no token
/// material.
fn cut(value: &mut String, max: usize) {
    if crate::oauth::looks_like_jws(value) {
        *value = format!("[a token of {} bytes, not recorded]", value.len());
    } else if value.chars().count() > max {
        let bytes = value.len();
        let keep: String = value.chars().take(max).collect();
        *value = format!("{keep}…[cut from {bytes} bytes]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(name: &str, outcome: ScopeVerdict) -> ScopeOutcome {
        ScopeOutcome {
            scope: name.to_owned(),
            outcome,
            reason: (outcome == ScopeVerdict::Denied).then(|| "No grant for the scope".into()),
        }
    }

    #[test]
    fn a_long_value_is_cut_and_says_how_long_it_was() {
        let event = AuditEvent {
            grant_type: Some("g".repeat(65_536)),
            system: Some("https://as.example".into()),
            ..AuditEvent::default()
        }
        .bounded();
        let kept = event.grant_type.unwrap();
        assert!(kept.starts_with(&"g".repeat(MAX_RECORDED_CHARS)));
        assert!(kept.ends_with("…[cut from 65536 bytes]"), "{kept}");
        assert_eq!(
            kept.chars().count(),
            MAX_RECORDED_CHARS + "…[cut from 65536 bytes]".chars().count()
        );
        assert_eq!(event.system.as_deref(), Some("https://as.example"));
    }

    #[test]
    fn denied_scopes_beyond_the_cap_are_counted_and_granted_ones_all_kept() {
        let mut scopes: Vec<ScopeOutcome> = (0..1000)
            .map(|i| scope(&format!("s{i}"), ScopeVerdict::Denied))
            .collect();
        scopes.push(scope("tools.read", ScopeVerdict::Granted));
        let event = AuditEvent {
            scopes,
            ..AuditEvent::default()
        }
        .bounded();
        assert_eq!(event.scopes.len(), MAX_RECORDED_DENIED_SCOPES + 2);
        assert!(event.scopes.iter().any(|s| s.scope == "tools.read"));
        let last = event.scopes.last().unwrap();
        assert_eq!(last.scope, "[968 more denied scopes not recorded]");
        assert_eq!(last.reason.as_deref(), Some("No grant for the scope"));
    }

    #[test]
    fn a_token_in_a_field_is_not_recorded() {
        let event = AuditEvent {
            grant_type: Some("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln".into()),
            ..AuditEvent::default()
        }
        .bounded();
        assert_eq!(
            event.grant_type.as_deref(),
            Some("[a token of 46 bytes, not recorded]")
        );
    }

    #[test]
    fn an_event_within_the_bounds_is_unchanged() {
        let event = AuditEvent {
            grant_type: Some("urn:ietf:params:oauth:grant-type:token-exchange".into()),
            scopes: vec![
                scope("a", ScopeVerdict::Granted),
                scope("b", ScopeVerdict::Denied),
            ],
            ..AuditEvent::default()
        };
        assert_eq!(event.clone().bounded(), event);
    }
}

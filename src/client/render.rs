//! The transcript for people ([`Transcript::render`]) and for scripts
//! ([`Transcript::to_json`]), with credentials redacted by name unless asked for.

use super::{DecodedToken, Hop, Transcript};
use serde_json::{Map, Value, json};
use std::fmt;
use std::fmt::Write as _;

/// Parameter, header and JSON member names whose values are credentials or tokens.
const SECRET_NAMES: &[&str] = &[
    "authorization",
    "client_secret",
    "client_assertion",
    "password",
    "subject_token",
    "actor_token",
    "assertion",
    "access_token",
    "id_token",
    "refresh_token",
];

/// Whether a value named `name` is a credential.
pub(crate) fn is_secret(name: &str) -> bool {
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `eyJhbGciOi…(redacted, 612 bytes)` for a JWT, whose first ten characters only say
/// `{"alg":"`; `(redacted, 12 bytes)` for anything else, of which no character is shown.
pub(crate) fn redact(value: &str) -> String {
    let n = value.len();
    let jwt_prefix = value
        .get(..10)
        .filter(|p| p.starts_with("eyJ") && value.split('.').count() >= 3 && n > 10);
    match jwt_prefix {
        Some(prefix) => format!("{prefix}…(redacted, {n} bytes)"),
        None => format!("(redacted, {n} bytes)"),
    }
}

/// A value as it may be shown: redacted when `name` is a credential, unless `show`. An
/// `Authorization` value keeps its scheme.
fn shown(name: &str, value: &str, show: bool) -> String {
    if show || !is_secret(name) {
        return value.to_owned();
    }
    if name.eq_ignore_ascii_case("authorization")
        && let Some((scheme, credentials)) = value.split_once(' ')
    {
        return format!("{scheme} {}", redact(credentials));
    }
    redact(value)
}

/// `value` with every string member named as a credential redacted, at any depth.
fn redact_json(value: &Value, show: bool) -> Value {
    if show {
        return value.clone();
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if is_secret(k) => Value::String(redact(s)),
                        other => redact_json(other, show),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_json(v, show)).collect()),
        other => other.clone(),
    }
}

fn pairs(list: &[(String, String)], show: bool) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.clone(), shown(n, v, show)))
        .collect()
}

fn pairs_json(list: &[(String, String)], show: bool) -> Value {
    Value::Object(
        pairs(list, show)
            .into_iter()
            .map(|(n, v)| (n, Value::String(v)))
            .collect::<Map<_, _>>(),
    )
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Hop {
    /// This hop as JSON; `number` is its 1-based position.
    fn to_json(&self, number: usize, show: bool) -> Value {
        let tokens: Vec<Value> = self
            .tokens
            .iter()
            .map(|t| json!({"label": t.label, "header": t.header, "claims": t.claims}))
            .collect();
        json!({
            "number": number,
            "kind": self.kind.as_str(),
            "title": self.kind.title(),
            "method": self.method,
            "url": self.url,
            "request_headers": pairs_json(&self.request_headers, show),
            "request_params": pairs_json(&self.request_params, show),
            "status": self.status,
            "response": self.response.as_ref().map(|r| redact_json(r, show)),
            "request_id": self.request_id,
            "tokens": tokens,
            "note": self.note,
        })
    }

    fn render_into(&self, out: &mut String, number: usize, show: bool) {
        let _ = writeln!(
            out,
            "[{number}] {}  {} {}",
            self.kind.title(),
            self.method,
            self.url
        );
        for (name, value) in pairs(&self.request_headers, show) {
            let _ = writeln!(out, "    {name}: {value}");
        }
        for (name, value) in pairs(&self.request_params, show) {
            let _ = writeln!(out, "    {name}={value}");
        }
        let response = self
            .response
            .as_ref()
            .map(|r| format!(" {}", redact_json(r, show)))
            .unwrap_or_default();
        match self.status {
            Some(status) => {
                let _ = writeln!(out, "    → {status}{response}");
            }
            None => out.push_str("    → no response\n"),
        }
        if let Some(id) = &self.request_id {
            let _ = writeln!(out, "    x-request-id: {id}");
        }
        for DecodedToken {
            label,
            header,
            claims,
        } in &self.tokens
        {
            for (part, value) in [("header", header), ("claims", claims)] {
                let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {label} {part} (unverified):\n{}",
                    indent(&pretty, "      ")
                );
            }
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "    note: {note}");
        }
    }
}

/// Redacted whatever the caller asks: `Debug` output ends up in logs and panic messages.
impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hop")
            .field("kind", &self.kind)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("request_headers", &pairs(&self.request_headers, false))
            .field("request_params", &pairs(&self.request_params, false))
            .field("status", &self.status)
            .field(
                "response",
                &self.response.as_ref().map(|r| redact_json(r, false)),
            )
            .field("request_id", &self.request_id)
            .field("tokens", &self.tokens)
            .field("note", &self.note)
            .finish()
    }
}

impl Transcript {
    /// The 1-based position of the failing hop, if the chain failed.
    fn failed_at(&self) -> Option<usize> {
        let failure = self.outcome.as_ref().err()?;
        // The failing hop is the last one recorded; search backwards to be sure.
        self.hops
            .iter()
            .rposition(|h| h.kind == failure.hop)
            .map(|i| i + 1)
    }

    /// The transcript for people: per hop `[n] Title  METHOD url`, the request headers and
    /// parameters, `→ status` with the compact response, decoded tokens, notes; the last
    /// line is `OK: tools [..]` or `FAILED at hop n (Title): reason`.
    ///
    /// Credentials and tokens are redacted unless `show_secrets`.
    pub fn render(&self, show_secrets: bool) -> String {
        let mut out = String::new();
        for (i, hop) in self.hops.iter().enumerate() {
            hop.render_into(&mut out, i + 1, show_secrets);
            out.push('\n');
        }
        match &self.outcome {
            Ok(success) => {
                let _ = write!(out, "OK: tools [{}]", success.tools.join(", "));
            }
            Err(failure) => {
                let number = self.failed_at().unwrap_or(self.hops.len());
                let _ = write!(
                    out,
                    "FAILED at hop {number} ({}): {}",
                    failure.hop.title(),
                    failure.reason
                );
            }
        }
        out
    }

    /// The transcript for scripts: `{"hops": [...], "outcome": {...}}`, where the outcome
    /// has `"result": "ok"` or `"result": "failed"` with the hop's stable name, number,
    /// reason, status and OAuth error.
    ///
    /// Credentials and tokens are redacted unless `show_secrets`.
    pub fn to_json(&self, show_secrets: bool) -> Value {
        let hops: Vec<Value> = self
            .hops
            .iter()
            .enumerate()
            .map(|(i, h)| h.to_json(i + 1, show_secrets))
            .collect();
        let outcome = match &self.outcome {
            Ok(s) => json!({
                "result": "ok",
                "tools": s.tools,
                "call_result": s.call_result,
                "access_token_claims": s.access_token_claims,
                "id_jag_header": s.id_jag_header,
                "id_jag_claims": s.id_jag_claims,
            }),
            Err(f) => json!({
                "result": "failed",
                "hop": f.hop.as_str(),
                "hop_number": self.failed_at(),
                "title": f.hop.title(),
                "reason": f.reason,
                "status": f.status,
                "oauth_error": f.oauth_error,
                "error_description": f.error_description,
            }),
        };
        json!({"hops": hops, "outcome": outcome})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_keeps_its_first_ten_characters_and_anything_else_none() {
        let jwt = format!("eyJhbGciOiJFUzI1NiJ9.{}.sig", "x".repeat(20));
        assert_eq!(redact(&jwt), "eyJhbGciOi…(redacted, 45 bytes)");
        assert_eq!(redact("agent-secret"), "(redacted, 12 bytes)");
        assert_eq!(redact("eyJshort"), "(redacted, 8 bytes)");
    }

    #[test]
    fn an_authorization_header_keeps_its_scheme() {
        assert_eq!(
            shown("Authorization", "Basic YWdlbnQ6c2VjcmV0", false),
            "Basic (redacted, 16 bytes)"
        );
        assert_eq!(
            shown("Authorization", "Basic YWdlbnQ6c2VjcmV0", true),
            "Basic YWdlbnQ6c2VjcmV0"
        );
        assert_eq!(shown("scope", "chat.read", false), "chat.read");
    }

    #[test]
    fn token_members_are_redacted_at_any_depth() {
        let body = json!({"access_token": "at-1", "nested": [{"id_token": "it"}], "n": 1});
        assert_eq!(
            redact_json(&body, false),
            json!({"access_token": "(redacted, 4 bytes)",
                   "nested": [{"id_token": "(redacted, 2 bytes)"}], "n": 1})
        );
        assert_eq!(redact_json(&body, true), body);
    }
}

//! The transcript for people ([`Transcript::render`]) and for scripts
//! ([`Transcript::to_json`]), with credentials redacted unless asked for: by name (a
//! `subject_token` parameter, an `access_token` member) and by value (a secret a server
//! echoed under any name, or inside a sentence).

use super::chain::MCP_SESSION_ID;
use super::{ChainSuccess, DecodedToken, Hop, Transcript};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
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
    // Not a credential, but a handle to an authenticated session (MCP Streamable HTTP).
    MCP_SESSION_ID,
];

/// Whether a value named `name` is a credential.
fn is_secret(name: &str) -> bool {
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `eyJhbGciOi…(redacted, 612 bytes)` for a JWT, whose first ten characters only say
/// `{"alg":"`; `(redacted, 12 bytes)` for anything else, of which no character is shown.
fn redact(value: &str) -> String {
    let n = value.len();
    let jwt_prefix = value
        .get(..10)
        .filter(|p| p.starts_with("eyJ") && value.split('.').count() >= 3 && n > 10);
    match jwt_prefix {
        Some(prefix) => format!("{prefix}…(redacted, {n} bytes)"),
        None => format!("(redacted, {n} bytes)"),
    }
}

/// Values shorter than this are redacted by name only: one of a few bytes would match
/// inside every word of the transcript, and is guessed as fast as it is read.
const MIN_SCRUBBED_BYTES: usize = 4;

/// Replaces known secret values wherever they occur, each by its [`redact`] form.
pub(super) struct Scrubber {
    /// `(value, replacement)`, longest value first, so that a value containing another
    /// (`agent:agent-secret`) is replaced whole.
    patterns: Vec<(String, String)>,
}

impl Scrubber {
    /// Scrubs these values, those of at least [`MIN_SCRUBBED_BYTES`].
    pub(super) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<(String, String)> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SCRUBBED_BYTES)
            .map(|v| (v.to_owned(), redact(v)))
            .collect();
        patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        patterns.dedup();
        Self { patterns }
    }

    /// The credentials a hop sent, which is all a hop knows: the values of secret-named
    /// parameters and headers (a Basic header also decoded), and the tokens of secret-named
    /// response members.
    fn for_hop(hop: &Hop) -> Self {
        let mut values: Vec<String> = Vec::new();
        for (name, value) in hop.request_headers.iter().chain(&hop.request_params) {
            if !is_secret(name) || name.eq_ignore_ascii_case(MCP_SESSION_ID) {
                continue;
            }
            match value.split_once(' ') {
                Some((scheme, credentials)) if name.eq_ignore_ascii_case("authorization") => {
                    values.push(credentials.to_owned());
                    if scheme.eq_ignore_ascii_case("basic")
                        && let Ok(decoded) =
                            base64::engine::general_purpose::STANDARD.decode(credentials)
                    {
                        let decoded = String::from_utf8_lossy(&decoded).into_owned();
                        if let Some((_, secret)) = decoded.split_once(':') {
                            values.push(secret.to_owned());
                            values.extend(
                                form_urlencoded::parse(format!("s={secret}").as_bytes())
                                    .map(|(_, v)| v.into_owned()),
                            );
                        }
                        values.push(decoded);
                    }
                }
                _ => values.push(value.clone()),
            }
        }
        if let Some(response) = &hop.response {
            secret_members(response, &mut values);
        }
        Self::new(values.iter().map(String::as_str))
    }

    /// `text` with every known value replaced, in one pass: a replacement is never
    /// scanned again.
    pub(super) fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.patterns.iter().any(|(v, _)| text.contains(v.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            for (value, replacement) in &self.patterns {
                if let Some(after) = rest.strip_prefix(value.as_str()) {
                    out.push_str(replacement);
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        Cow::Owned(out)
    }

    /// `value` with every member name and string scrubbed, at any depth.
    fn scrub_json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.scrub(s).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.scrub_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.scrub(k).into_owned(), self.scrub_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The strings of secret-named members, at any depth.
fn secret_members(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (name, member) in map {
                match member {
                    Value::String(s) if is_secret(name) => out.push(s.clone()),
                    other => secret_members(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| secret_members(v, out)),
        _ => {}
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

/// How a transcript is shown: whole, or redacted by name and then scrubbed by value (in
/// that order, so that a redaction reports the length of the secret, not of a marker).
///
/// The free text (notes, the failure's reason and OAuth error) was scrubbed when the run
/// ended and is shown as it is: scrubbed twice, a short secret could match inside a
/// marker.
struct View<'a> {
    show: bool,
    scrubber: &'a Scrubber,
}

impl View<'_> {
    fn text(&self, text: &str) -> String {
        if self.show {
            text.to_owned()
        } else {
            self.scrubber.scrub(text).into_owned()
        }
    }

    fn opt(&self, text: Option<&String>) -> Option<String> {
        text.map(|t| self.text(t))
    }

    fn json(&self, value: &Value) -> Value {
        if self.show {
            value.clone()
        } else {
            self.scrubber.scrub_json(&redact_json(value, false))
        }
    }

    fn pairs(&self, list: &[(String, String)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.clone(), self.text(&shown(n, v, self.show))))
            .collect()
    }

    fn pairs_json(&self, list: &[(String, String)]) -> Value {
        Value::Object(
            self.pairs(list)
                .into_iter()
                .map(|(n, v)| (n, Value::String(v)))
                .collect::<Map<_, _>>(),
        )
    }

    fn tokens(&self, tokens: &[DecodedToken]) -> Vec<DecodedToken> {
        tokens
            .iter()
            .map(|t| DecodedToken {
                label: t.label.clone(),
                header: self.json(&t.header),
                claims: self.json(&t.claims),
            })
            .collect()
    }

    fn success(&self, s: &ChainSuccess) -> ChainSuccess {
        ChainSuccess {
            tools: s.tools.iter().map(|t| self.text(t)).collect(),
            call_result: s.call_result.as_ref().map(|v| self.json(v)),
            access_token_claims: self.json(&s.access_token_claims),
            id_jag_claims: self.json(&s.id_jag_claims),
            id_jag_header: self.json(&s.id_jag_header),
        }
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Hop {
    /// This hop as JSON; `number` is its 1-based position.
    fn to_json(&self, number: usize, view: &View<'_>) -> Value {
        let tokens: Vec<Value> = view
            .tokens(&self.tokens)
            .into_iter()
            .map(|t| json!({"label": t.label, "header": t.header, "claims": t.claims}))
            .collect();
        json!({
            "number": number,
            "kind": self.kind.as_str(),
            "title": self.kind.title(),
            "method": self.method,
            "url": view.text(&self.url),
            "request_headers": view.pairs_json(&self.request_headers),
            "request_params": view.pairs_json(&self.request_params),
            "status": self.status,
            "response": self.response.as_ref().map(|r| view.json(r)),
            "request_id": view.opt(self.request_id.as_ref()),
            "tokens": tokens,
            "note": self.note,
        })
    }

    fn render_into(&self, out: &mut String, number: usize, view: &View<'_>) {
        let _ = writeln!(
            out,
            "[{number}] {}  {} {}",
            self.kind.title(),
            self.method,
            view.text(&self.url)
        );
        for (name, value) in view.pairs(&self.request_headers) {
            let _ = writeln!(out, "    {name}: {value}");
        }
        for (name, value) in view.pairs(&self.request_params) {
            let _ = writeln!(out, "    {name}={value}");
        }
        let response = self
            .response
            .as_ref()
            .map(|r| format!(" {}", view.json(r)))
            .unwrap_or_default();
        match self.status {
            Some(status) => {
                let _ = writeln!(out, "    → {status}{response}");
            }
            None => out.push_str("    → no response\n"),
        }
        if let Some(id) = &self.request_id {
            let _ = writeln!(out, "    x-request-id: {}", view.text(id));
        }
        for DecodedToken {
            label,
            header,
            claims,
        } in view.tokens(&self.tokens)
        {
            for (part, value) in [("header", header), ("claims", claims)] {
                let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
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

    fn debug_with(&self, f: &mut fmt::Formatter<'_>, view: &View<'_>) -> fmt::Result {
        f.debug_struct("Hop")
            .field("kind", &self.kind)
            .field("method", &self.method)
            .field("url", &view.text(&self.url))
            .field("request_headers", &view.pairs(&self.request_headers))
            .field("request_params", &view.pairs(&self.request_params))
            .field("status", &self.status)
            .field("response", &self.response.as_ref().map(|r| view.json(r)))
            .field("request_id", &view.opt(self.request_id.as_ref()))
            .field("tokens", &view.tokens(&self.tokens))
            .field("note", &self.note)
            .finish()
    }
}

/// Redacted whatever the caller asks: `Debug` output ends up in logs and panic messages.
/// On its own a hop knows only the credentials it sent; a [`Transcript`]'s `Debug` also
/// scrubs every other secret of the run.
impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scrubber = Scrubber::for_hop(self);
        self.debug_with(
            f,
            &View {
                show: false,
                scrubber: &scrubber,
            },
        )
    }
}

/// A hop's `Debug` with the transcript's scrubber.
struct HopDebug<'a>(&'a Hop, &'a View<'a>);

impl fmt::Debug for HopDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug_with(f, self.1)
    }
}

/// Redacted like `render(false)`, whatever the caller asks.
impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scrubber = self.scrubber();
        let view = View {
            show: false,
            scrubber: &scrubber,
        };
        let hops: Vec<HopDebug<'_>> = self.hops.iter().map(|h| HopDebug(h, &view)).collect();
        let outcome = self.outcome.as_ref().map(|s| view.success(s));
        f.debug_struct("Transcript")
            .field("hops", &hops)
            .field("outcome", &outcome)
            .finish_non_exhaustive()
    }
}

impl Transcript {
    /// Scrubs every value the run used or obtained.
    fn scrubber(&self) -> Scrubber {
        Scrubber::new(self.sensitive.iter().map(|s| s.secret()))
    }

    /// Scrubs the free text a server may have put a secret into (the failure's reason,
    /// OAuth error and description, every note), so that it holds none even when shown
    /// whole; structured parameters and responses stay whole for `render(true)`.
    pub(super) fn scrub_free_text(&mut self) {
        let scrubber = self.scrubber();
        let scrub = |text: &mut String| {
            if let Cow::Owned(scrubbed) = scrubber.scrub(text) {
                *text = scrubbed;
            }
        };
        for hop in &mut self.hops {
            if let Some(note) = &mut hop.note {
                scrub(note);
            }
        }
        if let Err(failure) = &mut self.outcome {
            scrub(&mut failure.reason);
            for text in [&mut failure.oauth_error, &mut failure.error_description]
                .into_iter()
                .flatten()
            {
                scrub(text);
            }
        }
    }

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
    /// Unless `show_secrets`, credentials and tokens are redacted by name, and every secret
    /// the run used or obtained is replaced wherever a server echoed it.
    pub fn render(&self, show_secrets: bool) -> String {
        let scrubber = self.scrubber();
        let view = View {
            show: show_secrets,
            scrubber: &scrubber,
        };
        let mut out = String::new();
        for (i, hop) in self.hops.iter().enumerate() {
            hop.render_into(&mut out, i + 1, &view);
            out.push('\n');
        }
        match &self.outcome {
            Ok(success) => {
                let tools = view.success(success).tools;
                let _ = write!(out, "OK: tools [{}]", tools.join(", "));
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
    /// Redacted as [`Transcript::render`] is, unless `show_secrets`.
    pub fn to_json(&self, show_secrets: bool) -> Value {
        let scrubber = self.scrubber();
        let view = View {
            show: show_secrets,
            scrubber: &scrubber,
        };
        let hops: Vec<Value> = self
            .hops
            .iter()
            .enumerate()
            .map(|(i, h)| h.to_json(i + 1, &view))
            .collect();
        let outcome = match &self.outcome {
            Ok(s) => {
                let s = view.success(s);
                json!({
                    "result": "ok",
                    "tools": s.tools,
                    "call_result": s.call_result,
                    "access_token_claims": s.access_token_claims,
                    "id_jag_header": s.id_jag_header,
                    "id_jag_claims": s.id_jag_claims,
                })
            }
            Err(f) => {
                json!({
                    "result": "failed",
                    "hop": f.hop.as_str(),
                    "hop_number": self.failed_at(),
                    "title": f.hop.title(),
                    "reason": f.reason,
                    "status": f.status,
                    "oauth_error": f.oauth_error,
                    "error_description": f.error_description,
                })
            }
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

    #[test]
    fn every_occurrence_of_a_value_is_replaced_longest_first_and_replacements_are_not_rescanned() {
        let scrubber = Scrubber::new(["agent-secret", "agent:agent-secret", "", "s", "es)!"]);
        assert_eq!(
            scrubber.scrub("x agent:agent-secret y agent-secret z"),
            "x (redacted, 18 bytes) y (redacted, 12 bytes) z"
        );
        // Too short to scrub: `s` stays. The replacement `(redacted, 12 bytes)` and the `!`
        // after it spell `es)!`, which is not matched: a replacement is not scanned again.
        assert_eq!(
            scrubber.scrub("es)! s agent-secret!"),
            "(redacted, 4 bytes) s (redacted, 12 bytes)!"
        );
        assert!(matches!(scrubber.scrub("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            scrubber.scrub_json(&json!({"agent-secret": ["é agent-secret", 1]})),
            json!({"(redacted, 12 bytes)": ["é (redacted, 12 bytes)", 1]})
        );
    }

    #[test]
    fn a_session_id_is_redacted_by_name() {
        assert_eq!(
            shown("mcp-session-id", "s-123", false),
            "(redacted, 5 bytes)"
        );
    }
}

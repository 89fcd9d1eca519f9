//! The one redaction policy: what jagspec never shows of a credential or token, in any
//! rendering (the suite's console, JSON and JUnit reports, the client's transcripts, log
//! lines, exporter errors).
//!
//! Two rules, applied in this order:
//!
//! 1. **By name.** A parameter, header or JSON member whose name is in [`SECRET_NAMES`]
//!    has its value replaced by [`redact`]'s marker, at any depth of a JSON document
//!    ([`redact_json`]); an `Authorization` value keeps its scheme ([`shown`]).
//! 2. **By value.** Every credential jagspec sent and every token it received is
//!    remembered ([`Credentials`]); a [`Scrubber`] replaces each wherever it occurs
//!    afterwards: a server that echoes a secret under another name, inside a sentence or
//!    in a header is shown with the marker too.
//!
//! The marker says how long the value was, never any of its characters, except the first
//! ten of a JWT (`eyJhbGciOi`, which only say `{"alg":"`).

use base64::Engine as _;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

/// Parameter, header and JSON member names whose values are credentials or tokens.
/// Compared without regard to case.
pub(crate) const SECRET_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "client_secret",
    "client_assertion",
    "password",
    "subject_token",
    "actor_token",
    "assertion",
    "access_token",
    "id_token",
    "refresh_token",
    // An exporter's credential towards its SIEM.
    "bearer_token",
    // Not a credential, but a handle to an authenticated session (MCP Streamable HTTP).
    "mcp-session-id",
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

/// A parameter's or header's value as it may be shown: redacted when `name` is a
/// credential. An `Authorization` value keeps its scheme.
pub(crate) fn shown(name: &str, value: &str) -> String {
    if !is_secret(name) {
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
pub(crate) fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if is_secret(k) => Value::String(redact(s)),
                        other => redact_json(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// A body as it may be shown: JSON redacted by name ([`redact_json`]), a form by
/// parameter name, anything else as it is (the [`Scrubber`] still sees it).
pub(crate) fn redact_body(text: &str) -> String {
    if let Ok(json) = serde_json::from_str::<Value>(text) {
        return redact_json(&json).to_string();
    }
    let looks_like_form = !text.is_empty()
        && !text.contains(char::is_whitespace)
        && text.split('&').all(|pair| pair.contains('='));
    if looks_like_form {
        return form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| format!("{k}={}", shown(&k, &v)))
            .collect::<Vec<_>>()
            .join("&");
    }
    text.to_owned()
}

/// Values shorter than this are redacted by name only: one of a few bytes would match
/// inside every word of a report, and is guessed as fast as it is read.
const MIN_SCRUBBED_BYTES: usize = 4;

/// Replaces known secret values wherever they occur, each by its [`redact`] marker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    /// `(value, replacement)`, longest value first, so that a value containing another
    /// (`agent:agent-secret`) is replaced whole.
    patterns: Vec<(String, String)>,
}

impl Scrubber {
    /// Scrubs these values, those of at least [`MIN_SCRUBBED_BYTES`].
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<(String, String)> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SCRUBBED_BYTES)
            .map(|v| (v.to_owned(), redact(v)))
            .collect();
        patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        patterns.dedup();
        Self { patterns }
    }

    /// `text` with every known value replaced, in one pass: a replacement is never
    /// scanned again.
    pub(crate) fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
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

    /// Scrubs `text` where it is.
    pub(crate) fn scrub_in_place(&self, text: &mut String) {
        if let Cow::Owned(scrubbed) = self.scrub(text) {
            *text = scrubbed;
        }
    }

    /// `value` with every member name and string scrubbed, at any depth.
    pub(crate) fn scrub_json(&self, value: &Value) -> Value {
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

/// The credentials and tokens one piece of work (a check, a client run) sent or received,
/// to be scrubbed from whatever it shows. Cloning shares the list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials(Arc<Mutex<Vec<String>>>);

impl Credentials {
    /// Remembers one value as it is.
    pub(crate) fn value(&self, value: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value.to_owned());
    }

    /// Remembers what a parameter or header named `name` carries, if it is a credential.
    /// An `Authorization` value is remembered whole, without its scheme, and for Basic
    /// also decoded: the `id:secret` pair, the secret, and the secret form-decoded (RFC
    /// 6749 §2.3.1 encodes both before joining them).
    pub(crate) fn sent(&self, name: &str, value: &str) {
        if !is_secret(name) || name.eq_ignore_ascii_case("mcp-session-id") {
            return;
        }
        self.value(value);
        let is_authorization = name.eq_ignore_ascii_case("authorization")
            || name.eq_ignore_ascii_case("proxy-authorization");
        let Some((scheme, credentials)) = value.split_once(' ').filter(|_| is_authorization) else {
            return;
        };
        self.value(credentials);
        if scheme.eq_ignore_ascii_case("basic")
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials)
        {
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            if let Some((_, secret)) = decoded.split_once(':') {
                self.value(secret);
                for (_, v) in form_urlencoded::parse(format!("s={secret}").as_bytes()) {
                    self.value(&v);
                }
            }
            self.value(&decoded);
        }
    }

    /// Remembers the credentials of a request's headers and, if it is a form, its body.
    pub(crate) fn request(&self, request: &reqwest::Request) {
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                self.sent(name.as_str(), value);
            }
        }
        let is_form = request
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|t| {
                t.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
        match request.body().and_then(reqwest::Body::as_bytes) {
            Some(body) if is_form => {
                for (name, value) in form_urlencoded::parse(body) {
                    self.sent(&name, &value);
                }
            }
            Some(body) => {
                if let Ok(json) = serde_json::from_slice::<Value>(body) {
                    self.received(&json);
                }
            }
            None => {}
        }
    }

    /// Remembers the strings of credential-named members, at any depth (a token response,
    /// an echo, a JSON request).
    pub(crate) fn received(&self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (name, member) in map {
                    match member {
                        Value::String(s) if is_secret(name) => self.value(s),
                        other => self.received(other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.received(v)),
            _ => {}
        }
    }

    /// A scrubber for everything remembered so far.
    pub(crate) fn scrubber(&self) -> Scrubber {
        let values = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Scrubber::new(values.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_jwt_keeps_its_first_ten_characters_and_anything_else_none() {
        let jwt = format!("eyJhbGciOiJFUzI1NiJ9.{}.sig", "e".repeat(20));
        assert_eq!(redact(&jwt), "eyJhbGciOi…(redacted, 45 bytes)");
        assert_eq!(redact("agent-secret"), "(redacted, 12 bytes)");
        assert_eq!(redact("eyJshort"), "(redacted, 8 bytes)");
    }

    #[test]
    fn an_authorization_header_keeps_its_scheme() {
        assert_eq!(
            shown("Authorization", "Basic YWdlbnQ6c2VjcmV0"),
            "Basic (redacted, 16 bytes)"
        );
        assert_eq!(shown("scope", "chat.read"), "chat.read");
        assert_eq!(shown("mcp-session-id", "s-123"), "(redacted, 5 bytes)");
    }

    #[test]
    fn token_members_are_redacted_at_any_depth() {
        let body = json!({"access_token": "abcd", "nested": [{"ID_TOKEN": "xy"}], "n": 1});
        assert_eq!(
            redact_json(&body),
            json!({"access_token": "(redacted, 4 bytes)",
                   "nested": [{"ID_TOKEN": "(redacted, 2 bytes)"}], "n": 1})
        );
    }

    #[test]
    fn a_form_body_is_redacted_by_parameter_name_and_json_at_any_depth() {
        assert_eq!(
            redact_body("grant_type=x&client_secret=abc&scope=a+b"),
            "grant_type=x&client_secret=(redacted, 3 bytes)&scope=a b"
        );
        assert_eq!(
            redact_body(r#"{"e":{"refresh_token":"abcd"}}"#),
            r#"{"e":{"refresh_token":"(redacted, 4 bytes)"}}"#
        );
        assert_eq!(redact_body("plain words"), "plain words");
    }

    #[test]
    fn values_are_scrubbed_wherever_they_occur_longest_first_and_in_one_pass() {
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
    fn a_basic_header_is_remembered_whole_without_its_scheme_and_decoded() {
        let credentials = Credentials::default();
        // `agent:s%2Bcret` is the pair for client secret `s+cret`, form-encoded.
        let pair = base64::engine::general_purpose::STANDARD.encode("agent:s%2Bcret");
        credentials.sent("Authorization", &format!("Basic {pair}"));
        credentials.sent("scope", "not-a-secret");
        credentials.received(&json!({"x": [{"access_token": "the-token"}]}));
        let scrubber = credentials.scrubber();
        for shown in [
            format!("Basic {pair}"),
            "agent:s%2Bcret".into(),
            "s%2Bcret".into(),
            "s+cret".into(),
            "the-token".into(),
        ] {
            assert!(!scrubber.scrub(&shown).contains(&shown), "{shown}");
        }
        assert_eq!(scrubber.scrub("not-a-secret"), "not-a-secret");
    }
}

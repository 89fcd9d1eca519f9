//! The transcript for people ([`Transcript::render`]) and for scripts
//! ([`Transcript::to_json`]), with credentials redacted unless asked for: by name (a
//! `subject_token` parameter, an `access_token` member) and by value (a secret a server
//! echoed under any name, or inside a sentence).

use super::{ChainSuccess, DecodedToken, Hop, Transcript};
use crate::redact::{self, Credentials, Scrubber};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

/// The credentials a hop sent, which is all a hop knows: the values of secret-named
/// parameters and headers (a Basic header also decoded), and the tokens of secret-named
/// response members.
fn hop_scrubber(hop: &Hop) -> Scrubber {
    let credentials = Credentials::default();
    for (name, value) in hop.request_headers.iter().chain(&hop.request_params) {
        credentials.sent(name, value);
    }
    if let Some(response) = &hop.response {
        credentials.received(response);
    }
    credentials.scrubber()
}

/// A value as it may be shown: redacted when `name` is a credential, unless `show`.
fn shown(name: &str, value: &str, show: bool) -> String {
    if show {
        value.to_owned()
    } else {
        redact::shown(name, value)
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
            self.scrubber.scrub_json(&redact::redact_json(value))
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
        let scrubber = hop_scrubber(self);
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
    fn credentials_are_shown_whole_only_when_asked() {
        assert_eq!(
            shown("Authorization", "Basic YWdlbnQ6c2VjcmV0", false),
            "Basic (redacted, 16 bytes)"
        );
        assert_eq!(
            shown("Authorization", "Basic YWdlbnQ6c2VjcmV0", true),
            "Basic YWdlbnQ6c2VjcmV0"
        );
    }
}

//! Delivery by HTTP POST: NDJSON with `Authorization: Bearer`, or Splunk HEC's envelope
//! with `Authorization: Splunk`. Success is any 2xx (for HEC, whose answer also carries a
//! `code`, only with `code` 0 when the body says one); anything else, a redirect, a refused
//! connection or no answer within the timeout is a failure, and the batch is retried.

use super::config::Envelope;
use super::format;
use crate::audit::AuditEvent;
use crate::types::Secret;

/// The most of a refusal's body quoted in `last_error`.
const QUOTED_BODY_CHARS: usize = 200;
/// The most of an answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// POSTs `events` to `url`; `Err` says why it failed (never with the token).
pub(crate) async fn deliver(
    client: &reqwest::Client,
    url: &url::Url,
    token: &Secret,
    envelope: Envelope,
    events: &[AuditEvent],
) -> Result<(), String> {
    let (body, content_type, scheme) = match envelope {
        Envelope::Ndjson => (format::ndjson(events), "application/x-ndjson", "Bearer"),
        Envelope::SplunkHec => (format::splunk_hec(events), "application/json", "Splunk"),
    };
    let response = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("{scheme} {}", token.secret()),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", describe(&e)))?;
    let status = response.status();
    let read = read_capped(response).await;
    // A collector (or a proxy in front of it) may echo the request's headers: the token
    // never reaches `last_error`, the admin API or the logs.
    let text = redact(&read.text, token);
    if status.is_success() {
        return match envelope {
            // HEC's verdict is in the answer: one that broke off has not said "code 0".
            Envelope::SplunkHec => match read.error {
                Some(e) => Err(format!(
                    "POST {url}: HTTP {status}, but the answer broke off: {e}"
                )),
                None => hec_answer(&text).map_err(|e| format!("POST {url}: {e}")),
            },
            Envelope::Ndjson => Ok(()),
        };
    }
    let quoted: String = text.trim().chars().take(QUOTED_BODY_CHARS).collect();
    Err(if quoted.is_empty() {
        format!("POST {url}: HTTP {status}")
    } else {
        format!("POST {url}: HTTP {status}: {quoted}")
    })
}

/// reqwest's error with its causes (its `Display` alone says only "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An answer as far as it was read.
struct Answer {
    /// The first [`MAX_ANSWER_BYTES`], as text.
    text: String,
    /// Why reading stopped early, if it did.
    error: Option<String>,
}

/// The answer's first [`MAX_ANSWER_BYTES`]: enough to judge and quote it, and a sink that
/// streams without end cannot fill memory.
async fn read_capped(mut response: reqwest::Response) -> Answer {
    let (body, error) = crate::http::read_prefix(&mut response, MAX_ANSWER_BYTES).await;
    Answer {
        text: String::from_utf8_lossy(&body).into_owned(),
        error: error.as_ref().map(describe),
    }
}

/// `text` with every occurrence of the token replaced by the redaction marker (the one
/// policy: [`crate::redact`]).
fn redact(text: &str, token: &Secret) -> String {
    crate::redact::Scrubber::new([token.secret()])
        .scrub(text)
        .into_owned()
}

/// Splunk HEC answers `{"text":"Success","code":0}`; any other `code` is a refusal even
/// under a 2xx (HEC's documented codes: 0 success, 1–27 errors). A body that is not
/// HEC's JSON (a proxy, another collector) is judged by its status alone.
fn hec_answer(body: &str) -> Result<(), String> {
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(body) else {
        return Ok(());
    };
    match answer.get("code").and_then(serde_json::Value::as_i64) {
        None | Some(0) => Ok(()),
        Some(code) => {
            let text = answer
                .get("text")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let text: String = text.chars().take(QUOTED_BODY_CHARS).collect();
            Err(format!("HEC answered code {code}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Secret, hec_answer, redact};

    #[test]
    fn an_answer_that_echoes_the_token_is_quoted_without_it() {
        let token = Secret::new("tok-7f3a");
        assert_eq!(
            redact(
                "bad header: Authorization: Bearer tok-7f3a (tok-7f3a)",
                &token
            ),
            "bad header: Authorization: Bearer (redacted, 8 bytes) ((redacted, 8 bytes))"
        );
    }

    #[test]
    fn a_hec_answer_succeeds_only_with_code_zero_or_without_a_code() {
        assert!(hec_answer(r#"{"text":"Success","code":0}"#).is_ok());
        assert!(hec_answer("").is_ok());
        assert!(hec_answer("ok").is_ok());
        assert_eq!(
            hec_answer(r#"{"text":"Invalid data format","code":6}"#).unwrap_err(),
            "HEC answered code 6: Invalid data format"
        );
    }
}

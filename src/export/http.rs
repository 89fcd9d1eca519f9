//! Delivery by HTTP POST: NDJSON with `Authorization: Bearer`, or Splunk HEC's envelope
//! with `Authorization: Splunk`. Success is any 2xx; anything else, a redirect, a refused
//! connection or no answer within the timeout is a failure, and the batch is retried.

use super::config::Envelope;
use super::format;
use crate::audit::AuditEvent;
use crate::types::Secret;

/// The most of a refusal's body quoted in `last_error`.
const QUOTED_BODY_CHARS: usize = 200;

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
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
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

//! A SIEM sink: an HTTP receiver that keeps every delivery, so a test (or a script in any
//! language, through `GET /received`) can see what an exporter sent.
//!
//! Any POST path is accepted, so one sink stands in for Splunk HEC
//! (`/services/collector/event`), a generic webhook or an NDJSON collector; the answer is
//! Splunk HEC's success shape, which other senders ignore.

use crate::jose::Clock;
use crate::oauth::json_response;
use crate::types::Secret;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The largest delivery kept; exporters batch, but not beyond a few MiB.
pub const MAX_DELIVERY_BYTES: usize = 8 * 1024 * 1024;

/// What the sink keeps at most by default, in total: past it, deliveries are refused with HEC's
/// "server is busy" (503, code 9) instead of growing memory without bound. An exporter
/// must then retry, which is what the export tests want to see anyway.
pub const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;

/// The path that lists what was received, a page at a time.
const RECEIVED_PATH: &str = "/received";
/// Deliveries in one page of `GET /received` unless `limit` says fewer.
pub const DEFAULT_RECEIVED_PAGE: usize = 100;
/// The most deliveries one page may hold.
pub const MAX_RECEIVED_PAGE: usize = 1000;
/// A page stops before its bodies pass this many bytes (it always holds at least one
/// delivery), so one answer never grows to the whole 256 MiB the sink may keep.
pub const MAX_RECEIVED_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// What the sink kept of one delivery.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Delivery {
    /// The request path, e.g. `/services/collector/event` (without the query).
    pub path: String,
    /// The `Content-Type` header, if it was readable text.
    pub content_type: Option<String>,
    /// The body, UTF-8.
    pub body: String,
    /// When it arrived, Unix milliseconds from the injected clock.
    pub received_at_ms: i64,
}

/// An HTTP receiver that keeps every delivery in memory, in order.
pub struct SiemSink {
    deliveries: Mutex<Vec<Delivery>>,
    /// Required as `Bearer <token>` or `Splunk <token>` when set.
    bearer_token: Option<Secret>,
    clock: Arc<dyn Clock>,
    /// The bound on the bodies kept, in bytes ([`MAX_KEPT_BYTES`] unless set).
    max_kept_bytes: usize,
}

impl fmt::Debug for SiemSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiemSink")
            .field("deliveries", &self.lock().len())
            .field("token_required", &self.bearer_token.is_some())
            .finish_non_exhaustive()
    }
}

impl SiemSink {
    /// A sink that requires `bearer_token` (as `Bearer` or Splunk HEC's `Splunk` scheme) on
    /// every delivery when one is given, and timestamps deliveries with `clock`.
    pub fn new(bearer_token: Option<Secret>, clock: Arc<dyn Clock>) -> Self {
        Self {
            deliveries: Mutex::new(Vec::new()),
            bearer_token,
            clock,
            max_kept_bytes: MAX_KEPT_BYTES,
        }
    }

    /// Keeps at most `bytes` of bodies in total; later deliveries get 503 (HEC code 9).
    #[must_use]
    pub fn with_max_kept_bytes(mut self, bytes: usize) -> Self {
        self.max_kept_bytes = bytes;
        self
    }

    /// The routes: POST anywhere but `/received` delivers; GET `/received` lists.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .fallback(dispatch)
            .layer(DefaultBodyLimit::max(MAX_DELIVERY_BYTES))
            .with_state(self)
    }

    /// Everything received so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().clone()
    }

    /// Every non-empty line of every delivery body, parsed as JSON where it parses (NDJSON
    /// batches); a line of several concatenated JSON values (Splunk HEC batches) gives each
    /// value, and a line that is not JSON is kept as a string.
    pub fn events(&self) -> Vec<Value> {
        let deliveries = self.lock();
        let mut events = Vec::new();
        for delivery in deliveries.iter() {
            for line in delivery
                .body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                let values: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(line)
                    .into_iter()
                    .collect();
                match values {
                    Ok(values) => events.extend(values),
                    Err(_) => events.push(Value::String(line.to_owned())),
                }
            }
        }
        events
    }

    /// One page of what was received: `{"deliveries": […], "from", "next", "total"}`, where
    /// `next` is the `from` of the following page, or null after the last.
    fn page(&self, page: Page) -> Value {
        let kept = self.lock();
        let total = kept.len();
        let mut bytes = 0usize;
        let deliveries: Vec<&Delivery> = kept
            .iter()
            .skip(page.from)
            .take(page.limit)
            .take_while(|d| {
                bytes = bytes.saturating_add(d.body.len());
                bytes <= MAX_RECEIVED_PAGE_BYTES || bytes == d.body.len()
            })
            .collect();
        let end = page.from.saturating_add(deliveries.len());
        json!({
            "deliveries": deliveries,
            "from": page.from,
            "next": (end < total).then_some(end),
            "total": total,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Delivery>> {
        // A panic elsewhere cannot leave a Vec half-pushed; keep serving.
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the request carries the configured token, if one is configured.
    fn authorized(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(expected) = &self.bearer_token else {
            return Ok(());
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::TokenMissing);
        };
        let text = value.to_str().map_err(|_| Refusal::AuthorizationInvalid)?;
        let (scheme, token) = text.split_once(' ').ok_or(Refusal::AuthorizationInvalid)?;
        if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("splunk")) {
            return Err(Refusal::AuthorizationInvalid);
        }
        if expected.matches(token.trim()) {
            Ok(())
        } else {
            Err(Refusal::TokenInvalid)
        }
    }

    async fn deliver(&self, request: Request) -> Response {
        if let Err(refusal) = self.authorized(request.headers()) {
            return refusal.response();
        }
        let path = request.uri().path().to_owned();
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = match Bytes::from_request(request, &()).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the delivery exceeds {MAX_DELIVERY_BYTES} bytes"),
                    6,
                );
            }
            Err(_) => return reply(StatusCode::BAD_REQUEST, "the body could not be read", 6),
        };
        let Ok(body) = String::from_utf8(bytes.to_vec()) else {
            return reply(StatusCode::BAD_REQUEST, "the body is not UTF-8", 6);
        };
        let delivery = Delivery {
            path,
            content_type,
            body,
            received_at_ms: self.clock.now_millis(),
        };
        let mut kept = self.lock();
        let used: usize = kept.iter().map(|d| d.body.len()).sum();
        if used.saturating_add(delivery.body.len()) > self.max_kept_bytes {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9);
        }
        kept.push(delivery);
        drop(kept);
        reply(StatusCode::OK, "Success", 0)
    }
}

/// Why a delivery was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No Authorization header.
    TokenMissing,
    /// An Authorization header that is not `Bearer <token>` or `Splunk <token>`.
    AuthorizationInvalid,
    /// The right scheme with another token.
    TokenInvalid,
}

impl Refusal {
    /// Splunk HEC's answers: 401 code 2 "Token is required", 401 code 3 "Invalid
    /// authorization", 403 code 4 "Invalid token".
    fn response(self) -> Response {
        let (status, text, code) = match self {
            Self::TokenMissing => (StatusCode::UNAUTHORIZED, "Token is required", 2),
            Self::AuthorizationInvalid => (StatusCode::UNAUTHORIZED, "Invalid authorization", 3),
            Self::TokenInvalid => (StatusCode::FORBIDDEN, "Invalid token", 4),
        };
        let mut response = reply(status, text, code);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jagspec-siem\""),
        );
        response
    }
}

async fn dispatch(State(sink): State<Arc<SiemSink>>, request: Request) -> Response {
    let method = request.method().clone();
    if request.uri().path() == RECEIVED_PATH {
        // What exporters sent is as confidential as the sending: the same token guards it.
        if let Err(refusal) = sink.authorized(request.headers()) {
            return refusal.response();
        }
        return if method == Method::GET || method == Method::HEAD {
            match Page::of(request.uri().query()) {
                Ok(page) => json_response(StatusCode::OK, &sink.page(page)),
                Err(message) => reply(StatusCode::BAD_REQUEST, &message, 6),
            }
        } else {
            method_not_allowed("GET, HEAD")
        };
    }
    if method == Method::POST {
        sink.deliver(request).await
    } else {
        method_not_allowed("POST")
    }
}

/// `?from=K&limit=N` of `GET /received`: deliveries from index K (0 first), at most N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    from: usize,
    limit: usize,
}

impl Page {
    fn of(query: Option<&str>) -> Result<Self, String> {
        let mut page = Self {
            from: 0,
            limit: DEFAULT_RECEIVED_PAGE,
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let number = || {
                value.parse::<usize>().map_err(|_| {
                    format!(
                        "`{name}` must be a whole number (found `{}`)",
                        crate::oauth::echo(&value)
                    )
                })
            };
            match name.as_ref() {
                "from" => page.from = number()?,
                "limit" => page.limit = number()?,
                other => {
                    return Err(format!(
                        "unknown parameter `{}`: `from` and `limit` page the deliveries",
                        crate::oauth::echo(other)
                    ));
                }
            }
        }
        if !(1..=MAX_RECEIVED_PAGE).contains(&page.limit) {
            return Err(format!("`limit` must be 1 to {MAX_RECEIVED_PAGE}"));
        }
        Ok(page)
    }
}

/// Splunk HEC's response shape: `{"text": …, "code": …}`.
fn reply(status: StatusCode, text: &str, code: u8) -> Response {
    json_response(status, &json!({"text": text, "code": code}))
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = reply(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("this endpoint accepts {allow}"),
        6,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::FixedClock;

    #[test]
    fn debug_output_never_shows_the_token() {
        let sink = SiemSink::new(
            Some(Secret::new("hec-token-123")),
            Arc::new(FixedClock::at(0)),
        );
        let shown = format!("{sink:?}");
        assert!(!shown.contains("hec-token-123"), "{shown}");
        assert!(shown.contains("token_required: true"), "{shown}");
    }

    #[test]
    fn events_split_ndjson_and_concatenated_json_and_keep_other_lines_as_text() {
        let sink = SiemSink::new(None, Arc::new(FixedClock::at(0)));
        sink.lock().push(Delivery {
            path: "/".into(),
            content_type: None,
            body: "{\"a\":1}\n\n{\"b\":2}{\"c\":3}\nnot json\n".into(),
            received_at_ms: 0,
        });
        assert_eq!(
            sink.events(),
            vec![
                json!({"a": 1}),
                json!({"b": 2}),
                json!({"c": 3}),
                json!("not json")
            ]
        );
    }
}

//! The system log: read it filtered and paged, download it as NDJSON or CSV.

use super::api::*;
use crate::audit::{
    AuditEvent, AuditFilter, AuditPage, Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Outcome, export,
};
use crate::oauth::shorten;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

// ---------------------------------------------------------------------------------------
// The system log: read it filtered and paged, download it
// ---------------------------------------------------------------------------------------

/// The filters both audit-event endpoints take, in the order the `link` header repeats them.
const FILTER_PARAMETERS: [&str; 8] = [
    "since",
    "until",
    "user",
    "client",
    "system",
    "outcome",
    "status_detail",
    "request_id",
];

/// Which audit-event endpoint a query is for: each takes the filters plus its own
/// parameters (`limit` and `cursor` for pages, `format` and `cursor` for the export).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogEndpoint {
    Page,
    Export,
}

/// A download format of `GET /audit-events/export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    Ndjson,
    Csv,
}

impl ExportFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8; header=present",
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Self::Ndjson => "attachment; filename=\"audit-events.ndjson\"",
            Self::Csv => "attachment; filename=\"audit-events.csv\"",
        }
    }
}

/// The parsed query of an audit-event endpoint.
#[derive(Debug)]
struct LogQuery {
    filter: AuditFilter,
    cursor: Option<Cursor>,
    limit: usize,
    /// `limit` as given, for the next page's link.
    limit_given: bool,
    format: ExportFormat,
    /// The filter parameters as given (name, value), for the next page's link.
    filters_given: Vec<(&'static str, String)>,
}

impl LogQuery {
    /// Parses the raw query string by hand, so that every refusal names its parameter: an
    /// unknown or repeated parameter, or a value that does not parse, is `invalid_request`.
    fn parse(raw: Option<&str>, endpoint: LogEndpoint) -> Result<Self, ApiError> {
        let mut query = Self {
            filter: AuditFilter::default(),
            cursor: None,
            limit: DEFAULT_PAGE_SIZE,
            limit_given: false,
            format: ExportFormat::Ndjson,
            filters_given: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if seen.iter().any(|s| *s == name) {
                return Err(ApiError::bad_request(format!(
                    "`{}` is given more than once",
                    shorten(&name)
                )));
            }
            seen.push(name.clone().into_owned());
            let value = value.into_owned();
            let bad = |expected: &str| {
                ApiError::bad_request(format!(
                    "`{name}`: expected {expected} (found `{}`)",
                    shorten(&value)
                ))
            };
            let millis = || -> Result<i64, ApiError> {
                parse_millis(&value).ok_or_else(|| {
                    bad("an integer: milliseconds since the Unix epoch, as in `time_ms`")
                })
            };
            match (name.as_ref(), endpoint) {
                ("since", _) => query.filter.since_ms = Some(millis()?),
                ("until", _) => query.filter.until_ms = Some(millis()?),
                ("user", _) => query.filter.user = Some(value.clone()),
                ("client", _) => query.filter.client = Some(value.clone()),
                ("system", _) => query.filter.system = Some(value.clone()),
                ("status_detail", _) => query.filter.status_detail = Some(value.clone()),
                ("request_id", _) => query.filter.request_id = Some(value.clone()),
                ("outcome", _) => {
                    query.filter.outcome = Some(match value.as_str() {
                        "granted" => Outcome::Granted,
                        "denied" => Outcome::Denied,
                        _ => return Err(bad("`granted` or `denied`")),
                    });
                }
                ("cursor", _) => {
                    query.cursor = Some(
                        value
                            .parse()
                            .map_err(|_| bad("a cursor from a previous page (`x-next-cursor`)"))?,
                    );
                }
                ("limit", LogEndpoint::Page) => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                        .ok_or_else(|| bad(&format!("an integer from 1 to {MAX_PAGE_SIZE}")))?;
                    query.limit_given = true;
                }
                ("format", LogEndpoint::Export) => {
                    query.format = match value.as_str() {
                        "ndjson" => ExportFormat::Ndjson,
                        "csv" => ExportFormat::Csv,
                        _ => return Err(bad("`ndjson` or `csv`")),
                    };
                }
                ("limit", LogEndpoint::Export) => {
                    return Err(ApiError::bad_request(
                        "`limit` does not apply to the export, which returns every matching \
                         event; read pages from `GET /admin/audit-events` instead",
                    ));
                }
                ("format", LogEndpoint::Page) => {
                    return Err(ApiError::bad_request(
                        "`format` applies to `GET /admin/audit-events/export` only; this \
                         endpoint answers JSON",
                    ));
                }
                (other, _) => {
                    let own = match endpoint {
                        LogEndpoint::Page => "limit, cursor",
                        LogEndpoint::Export => "format, cursor",
                    };
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter `{}`; expected {}, {own}",
                        shorten(other),
                        FILTER_PARAMETERS.join(", ")
                    )));
                }
            }
            if let Some(filter) = FILTER_PARAMETERS.iter().find(|f| **f == name) {
                query.filters_given.push((filter, value));
            }
        }
        if let (Some(since), Some(until)) = (query.filter.since_ms, query.filter.until_ms)
            && until <= since
        {
            return Err(ApiError::bad_request(format!(
                "`until`: expected a time after `since` ({since}), since the range is \
                 [since, until) (found `{until}`)"
            )));
        }
        Ok(query)
    }

    /// The query of the page after `next`: the same filters and limit, and the cursor.
    fn next_query(&self, next: Cursor) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.filters_given {
            q.append_pair(name, value);
        }
        if self.limit_given {
            q.append_pair("limit", &self.limit.to_string());
        }
        q.append_pair("cursor", &next.to_string());
        q.finish()
    }
}

/// An integer of milliseconds: optional `-`, then at most 18 ASCII digits.
fn parse_millis(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Reads one page of the log on the blocking pool (SQLite is synchronous).
pub(super) async fn read_page(
    state: &Shared,
    filter: AuditFilter,
    after: Option<Cursor>,
    up_to: Option<Cursor>,
    limit: usize,
) -> Result<AuditPage, ApiError> {
    let audit = state.audit.clone();
    tokio::task::spawn_blocking(move || audit.query_up_to(&filter, after, up_to, limit))
        .await
        .map_err(|e| ApiError::server_error(format!("reading the audit log did not finish: {e}")))?
        .map_err(|e| ApiError::server_error(format!("reading the audit log failed: {e}")))
}

/// `GET /audit-events`: a page of the system log, oldest first, as a bare JSON array of
/// events (the shape tools and `jagspec test issuer` profiles read with `?request_id=`).
/// When more events match, the response says where the next page is: `x-next-cursor` and
/// an RFC 8288 `link: <…>; rel="next"`.
pub(super) async fn audit_events(
    _: AdminAuth,
    State(state): State<Shared>,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Reply {
    let query = LogQuery::parse(raw.as_deref(), LogEndpoint::Page)?;
    let page = read_page(
        &state,
        query.filter.clone(),
        query.cursor,
        None,
        query.limit,
    )
    .await?;
    let mut response = ok(&page.events);
    if let Some(next) = page.next {
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.next_query(next));
        // The path is the request's own and the query is percent-encoded: both are
        // visible ASCII, so these values always build.
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&next.to_string()) {
            headers.insert(NEXT_CURSOR, value);
        }
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The response header naming the next page's cursor.
const NEXT_CURSOR: &str = "x-next-cursor";

/// `GET /audit-events/export?format=ndjson|csv`: every matching event, oldest first, as a
/// download streamed page by page: each page of [`MAX_PAGE_SIZE`] is read on the blocking
/// pool (no read holds the log's read connection for long) and sent before the next is
/// read, so a download of the whole log costs one page of memory, and a client that reads
/// slowly holds back the reads (the channel between them holds [`EXPORT_PAGES_AHEAD`]).
///
/// The first page is read before the answer starts, so a log that cannot be read is an
/// honest 500. A read that fails later ends the body without its last chunk: the client
/// sees a broken transfer, never a download that looks complete.
pub(super) async fn export_audit_events(
    _: AdminAuth,
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let query = LogQuery::parse(raw.as_deref(), LogEndpoint::Export)?;
    let format = query.format;
    // The log as it is now: events written while the download runs are left for the next
    // one (from the last event's cursor), so the download always ends.
    let audit = state.audit.clone();
    let up_to = tokio::task::spawn_blocking(move || audit.last_cursor())
        .await
        .map_err(|e| ApiError::server_error(format!("reading the audit log did not finish: {e}")))?
        .map_err(|e| ApiError::server_error(format!("reading the audit log failed: {e}")))?;
    let encode = move |events: &[AuditEvent], first: bool| {
        let mut chunk = Vec::new();
        if first && format == ExportFormat::Csv {
            export::csv_header(&mut chunk);
        }
        for event in events {
            match format {
                ExportFormat::Ndjson => export::ndjson_line(&mut chunk, event),
                ExportFormat::Csv => export::csv_row(&mut chunk, event),
            }
        }
        Bytes::from(chunk)
    };
    let first = match up_to {
        Some(_) => {
            read_page(
                &state,
                query.filter.clone(),
                query.cursor,
                up_to,
                MAX_PAGE_SIZE,
            )
            .await?
        }
        None => AuditPage::default(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(EXPORT_PAGES_AHEAD);
    // The first chunk always fits: the channel is empty and holds at least one.
    let _ = tx.try_send(Ok(encode(&first.events, true)));
    if let Some(mut after) = first.next {
        let filter = query.filter;
        tokio::spawn(async move {
            loop {
                let page = match read_page(
                    &state,
                    filter.clone(),
                    Some(after),
                    up_to,
                    MAX_PAGE_SIZE,
                )
                .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e.description, "the system-log download stopped");
                        let _ = tx.send(Err(std::io::Error::other(e.description))).await;
                        return;
                    }
                };
                // A send fails only when the client has gone: stop reading.
                if tx.send(Ok(encode(&page.events, false))).await.is_err() {
                    return;
                }
                match page.next {
                    Some(next) => after = next,
                    None => return,
                }
            }
        });
    }
    let mut response = axum::body::Body::from_stream(ChannelStream(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(format.disposition()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Pages read ahead of a download's client.
const EXPORT_PAGES_AHEAD: usize = 2;

/// An mpsc receiver as a `Stream` (what `Body::from_stream` takes), without a stream
/// utility crate for ten lines.
struct ChannelStream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for ChannelStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

//! MCP's Streamable HTTP transport, as both of jagspec's MCP callers speak it: the
//! reference client ([`crate::client`]) and the suite's MCP steps. One JSON-RPC message
//! per `POST`, answered by a JSON body or an event stream; the session id and the agreed
//! protocol version sent back on every later request (MCP specification 2025-11-25,
//! "Transports", §Streamable HTTP and §Protocol Version Header).
//!
//! Each caller records and judges what it sees its own way (the client's transcript, the
//! suite's verdicts); what a message is, how it is read and what `initialize` agrees are
//! here, once.

use super::ReadError;
use crate::types::Secret;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

/// The protocol version jagspec asks for in `initialize`.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";
/// The versions jagspec accepts in the `initialize` result: a server may answer with
/// another version it supports, which must be one of these.
pub(crate) const PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// The session a server may assign in its `initialize` response.
pub(crate) const SESSION_ID: &str = "Mcp-Session-Id";
/// The agreed version, sent on every request after `initialize`.
const PROTOCOL_VERSION_HEADER: &str = "MCP-Protocol-Version";

/// One connection to an MCP server: its token, and what `initialize` agreed.
#[derive(Debug)]
pub(crate) struct Session {
    /// The access token; `None` for the unauthenticated `initialize` that asks the server
    /// for its challenge.
    bearer: Option<Secret>,
    /// `Mcp-Session-Id`, when the server assigned one.
    id: Option<String>,
    /// The version the server chose.
    protocol: Option<String>,
    /// The next JSON-RPC request id.
    next_id: u64,
}

/// Why an `initialize` result cannot open a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InitError {
    /// The session id has a byte a header cannot carry back.
    #[error(
        "the Mcp-Session-Id is not visible ASCII (MCP Streamable HTTP: 0x21 to 0x7E), so it \
         cannot be sent back"
    )]
    SessionId,
    /// No version in the result.
    #[error("the initialize result has no protocolVersion")]
    NoVersion,
    /// A version jagspec does not speak.
    #[error(
        "the server chose protocol version `{0}`, which this client does not support \
         ({versions}); the session is not used",
        versions = PROTOCOL_VERSIONS.join(", ")
    )]
    Unsupported(String),
}

impl Session {
    /// A connection that sends `bearer` (or no token) and has agreed nothing yet.
    pub(crate) fn new(bearer: Option<Secret>) -> Self {
        Self {
            bearer,
            id: None,
            protocol: None,
            next_id: 1,
        }
    }

    /// The id for the next request.
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The request headers: what a client accepts, the token, and once agreed the session
    /// id and the protocol version.
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            (
                "Accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ];
        if let Some(bearer) = &self.bearer {
            headers.push((
                "Authorization".to_owned(),
                format!("Bearer {}", bearer.secret()),
            ));
        }
        if let Some(id) = &self.id {
            headers.push((SESSION_ID.to_owned(), id.clone()));
        }
        if let Some(version) = &self.protocol {
            headers.push((PROTOCOL_VERSION_HEADER.to_owned(), version.clone()));
        }
        headers
    }

    /// Takes the `initialize` answer (its headers and `result`): the session id, and the
    /// version the server chose, returned when it is not the one asked for.
    ///
    /// # Errors
    ///
    /// [`InitError`] when the session id cannot be sent back or the version is missing
    /// or one jagspec does not speak.
    pub(crate) fn initialized(
        &mut self,
        headers: &HeaderMap,
        result: &Value,
    ) -> Result<Option<String>, InitError> {
        self.id = match headers.get(SESSION_ID) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| (0x21..=0x7e).contains(&b)))
                    .ok_or(InitError::SessionId)?
                    .to_owned(),
            ),
        };
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or(InitError::NoVersion)?;
        if !PROTOCOL_VERSIONS.contains(&version) {
            return Err(InitError::Unsupported(version.to_owned()));
        }
        self.protocol = Some(version.to_owned());
        Ok((version != PROTOCOL_VERSION).then(|| version.to_owned()))
    }
}

/// `initialize`'s params: the version asked for, no capabilities, jagspec as the client.
pub(crate) fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// A JSON-RPC 2.0 request, or a notification without `id`.
pub(crate) fn message(id: Option<u64>, method: &str, params: Option<Value>) -> Value {
    let mut body = json!({"jsonrpc": "2.0", "method": method});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    if let Some(params) = params {
        body["params"] = params;
    }
    body
}

/// Why a 2xx answer held no response to the request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MessageError {
    /// Neither JSON nor an event stream.
    #[error("expected Content-Type application/json or text/event-stream (found `{0}`)")]
    MediaType(String),
    /// The JSON body was not read whole.
    #[error("{}", match .0 {
        ReadError::TooLarge { cap } => format!("the response body exceeds {cap} bytes"),
        ReadError::Broken(e) => format!("reading the response: {e}"),
    })]
    Read(ReadError),
    /// A JSON body that does not parse; the body, for a transcript.
    #[error("the response is not JSON: {reason}")]
    NotJson {
        /// The parser's complaint.
        reason: String,
        /// What came.
        body: Vec<u8>,
    },
    /// The stream broke off.
    #[error("reading the event stream: {}", super::describe(.0))]
    StreamBroken(reqwest::Error),
    /// The stream ended first.
    #[error("the event stream ended without a response to request {0}")]
    StreamEnded(u64),
    /// The stream grew past the cap first.
    #[error("the event stream exceeds {cap} bytes without a response to request {id}")]
    StreamTooLarge {
        /// The cap, in bytes.
        cap: usize,
        /// The request.
        id: u64,
    },
    /// The server sent a request of its own first, which jagspec does not answer.
    #[error(
        "the server sent a `{method}` request on the event stream before its response to \
         request {id}; this client answers no server request, so it stops rather than wait"
    )]
    ServerRequest {
        /// Its method.
        method: String,
        /// The whole message.
        message: Value,
        /// The request whose response was awaited.
        id: u64,
    },
}

/// The message answering request `id` in a 2xx answer, at most `cap` bytes: the JSON body,
/// or the first response in the event stream. A stream is read until the response
/// arrives, because a server may keep it open after it; a request from the server ends
/// the read at once, since jagspec answers none and the server may wait for one.
///
/// # Errors
///
/// [`MessageError`].
pub(crate) async fn read_response(
    response: &mut reqwest::Response,
    id: u64,
    cap: usize,
) -> Result<Value, MessageError> {
    match media_type(response.headers()).as_str() {
        "application/json" => {
            let body = super::read_capped(response, cap)
                .await
                .map_err(MessageError::Read)?;
            serde_json::from_slice(&body).map_err(|e| MessageError::NotJson {
                reason: e.to_string(),
                body,
            })
        }
        "text/event-stream" => read_stream(response, id, cap).await,
        other => Err(MessageError::MediaType(other.to_owned())),
    }
}

async fn read_stream(
    response: &mut reqwest::Response,
    id: u64,
    cap: usize,
) -> Result<Value, MessageError> {
    let mut reader = SseReader::new(id);
    let mut received = 0;
    loop {
        let chunk = response.chunk().await.map_err(MessageError::StreamBroken)?;
        let found = match chunk {
            None => reader.finish().ok_or(MessageError::StreamEnded(id))?,
            Some(chunk) => {
                received += chunk.len();
                if received > cap {
                    return Err(MessageError::StreamTooLarge { cap, id });
                }
                match reader.push(&chunk) {
                    Some(found) => found,
                    None => continue,
                }
            }
        };
        return match found {
            SseFound::Response(message) => Ok(message),
            SseFound::ServerRequest(method, message) => Err(MessageError::ServerRequest {
                method,
                message,
                id,
            }),
        };
    }
}

/// Why a response message carries no `result`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RpcError {
    /// It answers another request.
    #[error("the JSON-RPC response's id is {found} instead of {id}")]
    WrongId {
        /// Its id, or `missing`.
        found: String,
        /// The request's.
        id: u64,
    },
    /// A JSON-RPC error.
    #[error("{method}: JSON-RPC error {code}: {message}")]
    Error {
        /// The request's method.
        method: String,
        /// The error's code, as JSON.
        code: String,
        /// Its message.
        message: String,
    },
    /// Neither member.
    #[error("the JSON-RPC response has neither result nor error")]
    NoResult,
}

/// The `result` of the response to request `id` (for `method`, named in an error).
///
/// # Errors
///
/// [`RpcError`].
pub(crate) fn result(message: &Value, id: u64, method: &str) -> Result<Value, RpcError> {
    if message.get("id") != Some(&json!(id)) {
        return Err(RpcError::WrongId {
            found: message
                .get("id")
                .map_or("missing".to_owned(), Value::to_string),
            id,
        });
    }
    if let Some(error) = message.get("error") {
        return Err(RpcError::Error {
            method: method.to_owned(),
            code: error.get("code").map_or("?".to_owned(), Value::to_string),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        });
    }
    message.get("result").cloned().ok_or(RpcError::NoResult)
}

/// The media type of `Content-Type`, lower-cased, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// What an event stream's `data` turned out to hold.
#[derive(Debug, PartialEq)]
enum SseFound {
    /// The JSON-RPC response to the request.
    Response(Value),
    /// A JSON-RPC request from the server (`method` and `id`): its method and message.
    ServerRequest(String, Value),
}

/// An incremental event-stream parser (WHATWG HTML §9.2.6): each byte is scanned once,
/// whatever the chunking; only the unfinished line and the current event's data are kept.
struct SseReader {
    /// The request whose response is awaited.
    id: u64,
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// The last line ended with CR: an LF first in the next chunk belongs to it.
    after_cr: bool,
    /// The current event's `data` lines, each followed by LF.
    data: String,
}

impl SseReader {
    fn new(id: u64) -> Self {
        Self {
            id,
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
        }
    }

    /// Feeds a chunk; the first response or server request it completes.
    fn push(&mut self, mut chunk: &[u8]) -> Option<SseFound> {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\r' || b == b'\n') {
            self.line.extend_from_slice(&chunk[..end]);
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            chunk = &chunk[next..];
            let line = std::mem::take(&mut self.line);
            if let Some(found) = self.line_done(&String::from_utf8_lossy(&line)) {
                return Some(found);
            }
        }
        self.line.extend_from_slice(chunk);
        None
    }

    /// The stream ended: an unterminated last line and event still count.
    fn finish(&mut self) -> Option<SseFound> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Some(found) = self.line_done(&String::from_utf8_lossy(&line)) {
                return Some(found);
            }
        }
        self.line_done("")
    }

    fn line_done(&mut self, line: &str) -> Option<SseFound> {
        if !line.is_empty() {
            field(line, &mut self.data);
            return None;
        }
        // A blank line dispatches the event.
        let data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        let message: Value = serde_json::from_str(data.trim_end_matches('\n')).ok()?;
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (Some(method), Some(_)) => Some(SseFound::ServerRequest(method.to_owned(), message)),
            (None, Some(id))
                if *id == json!(self.id)
                    && (message.get("result").is_some() || message.get("error").is_some()) =>
            {
                Some(SseFound::Response(message))
            }
            _ => None,
        }
    }
}

/// One SSE line: only `data` matters here (`event`, `id`, `retry` and comments do not).
fn field(line: &str, data: &mut String) {
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    if name == "data" {
        data.push_str(value.strip_prefix(' ').unwrap_or(value));
        data.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in chunks of `size` bytes, then ends it unless `open`.
    fn read(stream: &[u8], id: u64, size: usize, open: bool) -> Option<SseFound> {
        let mut reader = SseReader::new(id);
        for chunk in stream.chunks(size) {
            if let Some(found) = reader.push(chunk) {
                return Some(found);
            }
        }
        if open { None } else { reader.finish() }
    }

    #[test]
    fn an_sse_response_is_found_among_other_events_and_line_endings_however_it_is_chunked() {
        let stream = b": keep-alive\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":7,\"result\":{}}\r\n\r\n";
        for size in [1, 2, 3, 7, stream.len()] {
            assert_eq!(
                read(stream, 7, size, true),
                Some(SseFound::Response(
                    json!({"jsonrpc": "2.0", "id": 7, "result": {}})
                )),
                "chunks of {size} bytes"
            );
            assert_eq!(read(stream, 8, size, false), None, "chunks of {size} bytes");
        }
    }

    #[test]
    fn a_crlf_split_between_two_chunks_ends_one_line_only() {
        let mut reader = SseReader::new(1);
        assert_eq!(
            reader.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r"),
            None
        );
        // Were the LF a second line ending, this blank line would not be needed.
        assert_eq!(reader.push(b"\n"), None);
        assert_eq!(
            reader.push(b"\r\n"),
            Some(SseFound::Response(
                json!({"jsonrpc": "2.0", "id": 1, "result": {}})
            ))
        );
    }

    #[test]
    fn an_unterminated_sse_event_counts_only_once_the_stream_ended() {
        let stream = b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
        assert_eq!(read(stream, 1, 5, true), None);
        assert_eq!(
            read(stream, 1, 5, false),
            Some(SseFound::Response(
                json!({"jsonrpc": "2.0", "id": 1, "result": {}})
            ))
        );
    }

    #[test]
    fn a_request_from_the_server_on_the_stream_is_reported_with_its_method() {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage",
                             "params": {}});
        let stream = format!(
            "data: {request}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{}}}}\n\n"
        );
        assert_eq!(
            read(stream.as_bytes(), 1, 4, true),
            Some(SseFound::ServerRequest(
                "sampling/createMessage".into(),
                request
            ))
        );
    }

    #[test]
    fn initialize_agrees_a_version_jagspec_speaks_and_a_session_id_it_can_send_back() {
        let mut session = Session::new(Some(Secret::new("token-1")));
        let mut headers = HeaderMap::new();
        headers.insert(SESSION_ID, "s-1".parse().unwrap());
        let asked = json!({"protocolVersion": PROTOCOL_VERSION});
        assert_eq!(session.initialized(&headers, &asked), Ok(None));
        let sent = session.headers();
        assert!(sent.contains(&(SESSION_ID.to_owned(), "s-1".to_owned())));
        assert!(sent.contains(&("Authorization".to_owned(), "Bearer token-1".to_owned())));
        assert!(sent.contains(&(
            PROTOCOL_VERSION_HEADER.to_owned(),
            PROTOCOL_VERSION.to_owned()
        )));
        let older = json!({"protocolVersion": "2025-06-18"});
        assert_eq!(
            session.initialized(&HeaderMap::new(), &older),
            Ok(Some("2025-06-18".to_owned()))
        );
        let unknown = json!({"protocolVersion": "2024-11-05"});
        assert_eq!(
            session.initialized(&HeaderMap::new(), &unknown),
            Err(InitError::Unsupported("2024-11-05".into()))
        );
        assert_eq!(
            session.initialized(&HeaderMap::new(), &json!({})),
            Err(InitError::NoVersion)
        );
        headers.insert(SESSION_ID, "a b".parse().unwrap());
        assert_eq!(
            session.initialized(&headers, &asked),
            Err(InitError::SessionId)
        );
    }

    #[tokio::test]
    async fn the_response_is_read_from_a_stream_that_goes_on_after_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request).await;
            // The response, then a notification, and the stream left open: a reader that
            // kept the last `data:` line, or waited for the end, would get it wrong.
            let events = "data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"ok\":true}}\n\n\
                          data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                 transfer-encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n",
                events.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        let mut response = super::super::client(std::time::Duration::from_secs(20))
            .post(&url)
            .send()
            .await
            .unwrap();
        let message = read_response(&mut response, 4, 1 << 20).await.unwrap();
        assert_eq!(result(&message, 4, "x"), Ok(json!({"ok": true})));
    }

    #[test]
    fn a_result_is_taken_only_from_the_response_to_the_request() {
        let ok = json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": []}});
        assert_eq!(result(&ok, 2, "tools/list"), Ok(json!({"tools": []})));
        assert_eq!(
            result(&ok, 3, "tools/list"),
            Err(RpcError::WrongId {
                found: "2".into(),
                id: 3
            })
        );
        let error = json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32601, "message": "no"}});
        assert_eq!(
            result(&error, 2, "tools/list").unwrap_err().to_string(),
            "tools/list: JSON-RPC error -32601: no"
        );
        assert_eq!(
            result(&json!({"jsonrpc": "2.0", "id": 2}), 2, "x"),
            Err(RpcError::NoResult)
        );
    }
}

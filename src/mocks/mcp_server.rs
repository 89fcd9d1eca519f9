//! A mock MCP server: the resource server at the end of the ID-JAG chain.
//!
//! It speaks the MCP Streamable HTTP transport in its simplest form (one JSON-RPC message
//! per POST, JSON responses, no SSE, no sessions), publishes RFC 9728 protected-resource
//! metadata, and accepts only RFC 9068 JWT access tokens that its own authorization server
//! issued for it. Refusals are RFC 6750 §3 challenges carrying `resource_metadata` (RFC 9728
//! §5.1), so a client can discover where to get a token.
//!
//! Every tool echoes its `text` argument and reports who called it (`sub`, `client_id`,
//! `scope` of the token), so a test can see which token reached the server.

use super::ACCESS_TOKEN_TYP;
use crate::jose::{Clock, TrustedJwks, Verifier};
use crate::oauth::{json_response, shorten};
use crate::wellknown;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The largest JSON-RPC body accepted; an MCP request is a few KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The MCP protocol revisions this mock speaks (the subset it uses is the same in each).
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// The version answered when the client asks for one this mock does not speak (MCP
/// lifecycle: the server then offers the latest it supports).
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-11-25";

/// RFC 9728 §3: the metadata of a resource without a path, and the fallback clients try.
const ROOT_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The description of a tool that declares none.
const ECHO_DESCRIPTION: &str = "Echoes its `text` argument";

/// One tool of a mock MCP server (TOML: `tools = [{ name = "echo", scope = "chat.read" }]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// The tool's name in `tools/list` and `tools/call`.
    pub name: String,
    /// Shown in `tools/list`; by default it says what the tool does and which scope it needs.
    #[serde(default)]
    pub description: Option<String>,
    /// The scope a token must carry to call the tool; `None`: any valid token may.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A mock MCP server as declared in mocks/*.toml (`[[mcp_servers]]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// A short name: the RFC 9728 `resource_name` and part of `serverInfo.name`.
    pub name: String,
    /// The RFC 9728 `scopes_supported`, also offered in the 401 challenge.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The tools it offers.
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
}

/// A mock MCP server: configuration, identity and the verifier of its access tokens.
#[derive(Debug)]
pub struct McpServer {
    config: McpServerConfig,
    /// This server's RFC 9728 resource identifier and URL.
    resource: String,
    /// Its authorization server's issuer identifier.
    authorization_server: String,
    /// The path of the MCP endpoint, e.g. `/mcp`.
    resource_path: String,
    /// The path-inserted metadata path (RFC 9728 §3.1), e.g.
    /// `/.well-known/oauth-protected-resource/mcp`.
    metadata_path: String,
    /// The metadata URL, as the challenges carry it.
    metadata_url: String,
    /// RFC 9068 access tokens from `authorization_server` for `resource`.
    verifier: Verifier,
}

impl McpServer {
    /// A server identified by `resource` (its URL and RFC 9728 resource identifier, e.g.
    /// `http://127.0.0.1:41234/mcp`) trusting access tokens signed with
    /// `access_token_keys` and issued by `authorization_server` (compared exactly, so a
    /// trailing `/` matters).
    ///
    /// `resource` should be an absolute URL; if it does not parse, the endpoint is served
    /// at `/` and the error is logged.
    pub fn new(
        config: McpServerConfig,
        resource: String,
        authorization_server: String,
        access_token_keys: TrustedJwks,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (origin, resource_path) = split_resource(&resource);
        // RFC 9728 §3.1, the same rule the reference client follows.
        let metadata_url = wellknown::inserted(&resource, wellknown::PROTECTED_RESOURCE)
            .unwrap_or_else(|_| format!("{origin}{ROOT_METADATA_PATH}"));
        let metadata_path = url::Url::parse(&metadata_url)
            .map_or_else(|_| ROOT_METADATA_PATH.to_owned(), |u| u.path().to_owned());
        // RFC 9068 §2.2 required claims (`exp` is required by every verifier); the `typ`
        // keeps an ID-JAG or an ID token from being used as an access token (§4).
        let verifier = Verifier::new(access_token_keys)
            .require_typ(ACCESS_TOKEN_TYP)
            .issuer(authorization_server.as_str())
            .audience(resource.as_str())
            .require_claim("sub")
            .require_claim("client_id")
            .require_claim("iat")
            .require_claim("jti")
            .clock(clock);
        Self {
            config,
            resource,
            authorization_server,
            resource_path,
            metadata_path,
            metadata_url,
            verifier,
        }
    }

    /// The routes, served at the root of the server's own listener: the MCP endpoint at the
    /// path of the resource URL, and the RFC 9728 metadata.
    pub fn router(self: Arc<Self>) -> Router {
        // One dispatcher instead of axum routes: any resource path works (axum would read
        // `{` in a path as a capture), and every miss is a JSON 404 or 405.
        Router::new()
            .fallback(dispatch)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self)
    }

    /// The RFC 9728 metadata URL: origin + `/.well-known/oauth-protected-resource` +
    /// resource path (RFC 9728 §3.1 path insertion).
    pub fn metadata_url(&self) -> String {
        self.metadata_url.clone()
    }

    /// The RFC 9728 §2 metadata document.
    fn metadata(&self) -> Value {
        json!({
            "resource": self.resource,
            "authorization_servers": [self.authorization_server],
            "scopes_supported": self.config.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": self.config.name,
        })
    }

    /// A POST to the MCP endpoint: authenticate, read, answer.
    async fn post(&self, request: Request) -> Response {
        // RFC 6750 §3: the token is checked before the body is even read.
        let caller = match self.authenticate(request.headers()) {
            Ok(caller) => caller,
            Err(refusal) => return self.unauthorized(&refusal),
        };
        // MCP transports: an unsupported MCP-Protocol-Version header is a 400.
        if let Some(version) = request.headers().get("mcp-protocol-version") {
            let known = version
                .to_str()
                .is_ok_and(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v));
            if !known {
                return plain_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_protocol_version",
                    &format!(
                        "MCP-Protocol-Version must be one of {}",
                        SUPPORTED_PROTOCOL_VERSIONS.join(", ")
                    ),
                );
            }
        }
        let bytes = match Bytes::from_request(request, &()).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let description = format!("the request body exceeds {MAX_BODY_BYTES} bytes");
                return plain_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &description);
            }
            Err(_) => {
                return plain_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body could not be read",
                );
            }
        };
        let (id, method, params) = match parse_message(&bytes) {
            Ok(Message::Accepted) => return StatusCode::ACCEPTED.into_response(),
            Ok(Message::Request { id, method, params }) => (id, method, params),
            Err(invalid) => return rpc_error(invalid.status, &invalid.id, &invalid.error),
        };
        match self.call(&caller, &method, params.as_ref()) {
            Ok(result) => json_response(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": result}),
            ),
            Err(CallError::Rpc(error)) => rpc_error(StatusCode::OK, &id, &error),
            Err(CallError::InsufficientScope { tool, scope }) => {
                self.insufficient_scope(&tool, &scope)
            }
        }
    }

    /// The bearer token of the request, verified (RFC 6750 §2.1; RFC 9068 §4).
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Unauthorized> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(Unauthorized::NoCredentials);
        };
        if values.next().is_some() {
            return Err(Unauthorized::InvalidRequest(
                "more than one Authorization header".to_owned(),
            ));
        }
        let bytes = value.as_bytes();
        let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &b""[..]),
        };
        // The scheme is case-insensitive (RFC 9110 §11.1); another scheme is no Bearer
        // credential at all, so the challenge carries no error code (RFC 6750 §3.1).
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(Unauthorized::NoCredentials);
        }
        let token = std::str::from_utf8(rest).unwrap_or("").trim_matches(' ');
        if token.is_empty() {
            // A malformed credential, not a token that failed: RFC 6750 §3.1 invalid_request.
            return Err(Unauthorized::InvalidRequest(
                "expected a bearer token after `Bearer` (found none, or non-ASCII text)".to_owned(),
            ));
        }
        let verified = self.verifier.verify(token).map_err(|rejection| {
            tracing::debug!(resource = %self.resource, %rejection, "access token refused");
            Unauthorized::InvalidToken(rejection.to_string())
        })?;
        let mut claims = verified.claims;
        let scope = match claims.remove("scope") {
            None => String::new(),
            Some(Value::String(scope)) => scope,
            Some(other) => {
                return Err(Unauthorized::InvalidToken(format!(
                    "expected the `scope` claim to be a space-separated string, RFC 9068 \
                     §2.2.3 (found {})",
                    crate::jose::json_kind_of(&other)
                )));
            }
        };
        Ok(Caller {
            sub: claims.remove("sub").unwrap_or(Value::Null),
            client_id: claims.remove("client_id").unwrap_or(Value::Null),
            scope,
        })
    }

    /// One JSON-RPC request from an authenticated caller.
    fn call(
        &self,
        caller: &Caller,
        method: &str,
        params: Option<&Value>,
    ) -> Result<Value, CallError> {
        match method {
            "initialize" => {
                let params = params_object(params)?;
                // The client's version if this mock speaks it, else its latest (MCP
                // lifecycle, version negotiation).
                let version = params
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(v))
                    .unwrap_or(DEFAULT_PROTOCOL_VERSION);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {
                        "name": format!("jagspec-mock-{}", self.config.name),
                        "version": env!("CARGO_PKG_VERSION"),
                    },
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => {
                let tools: Vec<Value> = self.config.tools.iter().map(describe_tool).collect();
                Ok(json!({"tools": tools}))
            }
            "tools/call" => self.call_tool(caller, params_object(params)?),
            other => Err(CallError::Rpc(RpcError::MethodNotFound(shorten(other)))),
        }
    }

    /// `tools/call`: the tool, then its scope, then its arguments.
    fn call_tool(
        &self,
        caller: &Caller,
        params: Option<&Map<String, Value>>,
    ) -> Result<Value, CallError> {
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return Err(RpcError::InvalidParams(
                "expected `params.name` to be a string".to_owned(),
            )
            .into());
        };
        let Some(tool) = self.config.tools.iter().find(|t| t.name == name) else {
            return Err(
                RpcError::InvalidParams(format!("unknown tool `{}`", shorten(name))).into(),
            );
        };
        if let Some(needed) = &tool.scope
            && !caller.scope.split(' ').any(|s| s == needed)
        {
            return Err(CallError::InsufficientScope {
                tool: tool.name.clone(),
                scope: needed.clone(),
            });
        }
        let Some(text) = params
            .and_then(|p| p.get("arguments"))
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
        else {
            return Err(RpcError::InvalidParams(
                "expected `arguments.text` to be a string".to_owned(),
            )
            .into());
        };
        Ok(json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": {
                "text": text,
                "sub": caller.sub,
                "client_id": caller.client_id,
                "scope": caller.scope,
            },
            "isError": false,
        }))
    }

    /// A 401 (or 400) with the RFC 6750 §3 challenge for `refusal`.
    fn unauthorized(&self, refusal: &Unauthorized) -> Response {
        let (status, body, challenge) = match refusal {
            Unauthorized::NoCredentials => {
                let mut params = vec![("resource_metadata", self.metadata_url.clone())];
                if !self.config.scopes.is_empty() {
                    params.push(("scope", self.config.scopes.join(" ")));
                }
                // No error code: none applies when no credentials were sent (RFC 6750 §3.1).
                let body = json!({
                    "message": "this MCP server requires a bearer access token",
                });
                (StatusCode::UNAUTHORIZED, body, params)
            }
            Unauthorized::InvalidToken(reason) | Unauthorized::InvalidRequest(reason) => {
                let (status, error) = match refusal {
                    Unauthorized::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                    _ => (StatusCode::UNAUTHORIZED, "invalid_token"),
                };
                let description = header_safe(reason);
                let body = json!({"error": error, "error_description": description});
                let params = vec![
                    ("error", error.to_owned()),
                    ("error_description", description),
                    ("resource_metadata", self.metadata_url.clone()),
                ];
                (status, body, params)
            }
        };
        with_challenge(json_response(status, &body), &challenge)
    }

    /// A 403 naming the scope the tool needs (RFC 6750 §3.1; MCP authorization, scope
    /// challenge handling).
    fn insufficient_scope(&self, tool: &str, scope: &str) -> Response {
        let description = format!("the tool `{tool}` requires scope `{scope}`");
        let body = json!({
            "error": "insufficient_scope",
            "error_description": description,
            "scope": scope,
        });
        let challenge = [
            ("error", "insufficient_scope".to_owned()),
            ("scope", scope.to_owned()),
            ("resource_metadata", self.metadata_url.clone()),
        ];
        with_challenge(json_response(StatusCode::FORBIDDEN, &body), &challenge)
    }
}

/// Routes a request by path and method.
async fn dispatch(State(server): State<Arc<McpServer>>, request: Request) -> Response {
    let path = request.uri().path();
    let method = request.method().clone();
    if path == server.resource_path {
        if method == Method::POST {
            return server.post(request).await;
        }
        // Stateless, JSON only: no SSE stream to GET, no session to DELETE.
        return method_not_allowed("POST");
    }
    if path == server.metadata_path || path == ROOT_METADATA_PATH {
        if method == Method::GET || method == Method::HEAD {
            return json_response(StatusCode::OK, &server.metadata());
        }
        return method_not_allowed("GET, HEAD");
    }
    plain_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Who called, from the verified access token.
struct Caller {
    sub: Value,
    client_id: Value,
    /// The `scope` claim; empty when the token has none.
    scope: String,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unauthorized {
    /// No Bearer credentials: the challenge carries no error code (RFC 6750 §3.1).
    NoCredentials,
    /// A bearer token that did not verify; the text says why.
    InvalidToken(String),
    /// A request that is malformed as a whole (RFC 6750 §3.1 `invalid_request`).
    InvalidRequest(String),
}

/// A JSON-RPC 2.0 error (JSON-RPC 2.0 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RpcError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: batches are not supported")]
    Batch,
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error("method not found: `{0}`")]
    MethodNotFound(String),
    #[error("invalid params: {0}")]
    InvalidParams(String),
}

impl RpcError {
    fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::Batch | Self::InvalidRequest(_) => -32600,
            Self::MethodNotFound(_) => -32601,
            Self::InvalidParams(_) => -32602,
        }
    }
}

/// Why a call produced no result.
enum CallError {
    /// A JSON-RPC error, sent with HTTP 200.
    Rpc(RpcError),
    /// The token lacks the tool's scope: HTTP 403.
    InsufficientScope { tool: String, scope: String },
}

impl From<RpcError> for CallError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

/// One JSON-RPC message, as far as this server cares.
enum Message {
    /// A request: it gets a response.
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// A notification (no `id`), or a response to a server request: accepted, never
    /// answered (MCP Streamable HTTP: 202).
    Accepted,
}

/// A body that is no valid JSON-RPC message.
struct Invalid {
    status: StatusCode,
    /// The request's `id` when it could be read, else null (JSON-RPC 2.0 §5).
    id: Value,
    error: RpcError,
}

fn parse_message(bytes: &[u8]) -> Result<Message, Invalid> {
    let invalid = |status, id, error| Invalid { status, id, error };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(
            StatusCode::BAD_REQUEST,
            Value::Null,
            RpcError::Parse(e.to_string()),
        )
    })?;
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Err(invalid(
                StatusCode::BAD_REQUEST,
                Value::Null,
                RpcError::Batch,
            ));
        }
        _ => {
            return Err(invalid(
                StatusCode::BAD_REQUEST,
                Value::Null,
                RpcError::InvalidRequest("expected a JSON-RPC 2.0 object"),
            ));
        }
    };
    let id = match object.remove("id") {
        None => None,
        // MCP: "the ID MUST NOT be null"; JSON-RPC allows strings and numbers.
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err(invalid(
                StatusCode::OK,
                Value::Null,
                RpcError::InvalidRequest("expected `id` to be a string or a number"),
            ));
        }
    };
    let id_or_null = || id.clone().unwrap_or(Value::Null);
    // A JSON-RPC response the client sends back (to a server request): accepted.
    if id.is_some()
        && !object.contains_key("method")
        && (object.contains_key("result") || object.contains_key("error"))
        && object.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
    {
        return Ok(Message::Accepted);
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(
            StatusCode::OK,
            id_or_null(),
            RpcError::InvalidRequest("expected `jsonrpc` to be \"2.0\""),
        ));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err(invalid(
            StatusCode::OK,
            id_or_null(),
            RpcError::InvalidRequest("expected `method` to be a string"),
        ));
    };
    Ok(match id {
        Some(id) => Message::Request {
            id,
            method,
            params: object.remove("params"),
        },
        None => Message::Accepted,
    })
}

/// `params` as an object, or none.
fn params_object(params: Option<&Value>) -> Result<Option<&Map<String, Value>>, RpcError> {
    match params {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(RpcError::InvalidParams(format!(
            "expected `params` to be an object (found {})",
            crate::jose::json_kind_of(other)
        ))),
    }
}

/// A tool as `tools/list` shows it.
fn describe_tool(tool: &ToolConfig) -> Value {
    let description = match (&tool.description, &tool.scope) {
        (Some(d), _) => d.clone(),
        (None, Some(scope)) => format!("{ECHO_DESCRIPTION}. Requires scope `{scope}`"),
        (None, None) => ECHO_DESCRIPTION.to_owned(),
    };
    json!({
        "name": tool.name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    })
}

/// A JSON-RPC error response.
fn rpc_error(status: StatusCode, id: &Value, error: &RpcError) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": error.code(), "message": error.to_string()},
    });
    json_response(status, &body)
}

/// A JSON error outside JSON-RPC (404, 405, 413).
fn plain_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = plain_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this endpoint accepts {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Adds `WWW-Authenticate: Bearer k="v", …` (RFC 6750 §3).
fn with_challenge(mut response: Response, params: &[(&str, String)]) -> Response {
    let params: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", header_safe(value)))
        .collect();
    let challenge = format!("Bearer {}", params.join(", "));
    // Every value was filtered to visible ASCII, so this holds; fall back rather than panic.
    let value = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, value);
    response
}

/// Text fit for a quoted challenge parameter: RFC 6750 §3 allows %x20-21 / %x23-5B /
/// %x5D-7E, so quotes, backslashes and non-ASCII go (`§` is spelled out).
fn header_safe(text: &str) -> String {
    text.replace('§', "section ")
        .chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

/// The scheme-and-authority, the path and the query of `resource`.
/// The origin and the path of the resource URL.
fn split_resource(resource: &str) -> (String, String) {
    match url::Url::parse(resource) {
        Ok(url) => (
            url[..url::Position::BeforePath].to_owned(),
            url.path().to_owned(),
        ),
        Err(error) => {
            tracing::error!(resource, %error, "the MCP server's resource is not a URL; serving at /");
            (resource.trim_end_matches('/').to_owned(), "/".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_values_keep_only_characters_rfc_6750_allows() {
        assert_eq!(
            header_safe("expected typ `at+jwt`, RFC 7515 §4.1.9 (found \"x\\y\" …)"),
            "expected typ `at+jwt`, RFC 7515 section 4.1.9 (found xy )"
        );
    }

    fn server(resource: &str) -> McpServer {
        McpServer::new(
            McpServerConfig {
                name: "t".into(),
                scopes: vec![],
                tools: vec![],
            },
            resource.to_owned(),
            "http://127.0.0.1:1".to_owned(),
            crate::jose::fixtures::jwks().into(),
            Arc::new(crate::jose::SystemClock),
        )
    }

    #[test]
    fn the_metadata_path_is_inserted_before_the_resource_path() {
        let s = server("http://127.0.0.1:4000/a/mcp/");
        assert_eq!(
            s.metadata_url(),
            "http://127.0.0.1:4000/.well-known/oauth-protected-resource/a/mcp"
        );
        assert_eq!(s.resource_path, "/a/mcp/");
        let root = server("https://mcp.example");
        assert_eq!(
            root.metadata_url(),
            "https://mcp.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(root.resource_path, "/");
    }
}

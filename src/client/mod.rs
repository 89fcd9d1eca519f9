//! The reference MCP client: runs the whole enterprise-managed authorization chain against
//! any MCP server and records every hop, so that a failure names the hop, the HTTP status
//! and the OAuth error.
//!
//! [`run`] performs these hops in order and stops at the first failure (the requirement
//! ids are those of the protocol checklist, §3.3):
//!
//! 1. [`HopKind::Challenge`]: first the configured URLs are checked, so that a bad one
//!    costs no request ([`ClientConfig::allow_insecure_http`], CLI-15); then `initialize`
//!    without a token; the 401's `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728
//!    §5.1), or else the RFC 9728 §3.1 well-known URLs (CLI-01).
//! 2. [`HopKind::ResourceMetadata`]: its `resource` must be identical to the MCP URL
//!    (RFC 9728 §3.3, CLI-02); the first of `authorization_servers` is used, or the
//!    [`ClientConfig::expected_issuer`], which must be listed.
//! 3. [`HopKind::AuthorizationServerMetadata`]: RFC 8414 §3.1, then OpenID Connect
//!    Discovery; its `issuer` must be identical (RFC 8414 §3.3, CLI-03) and it must offer
//!    the jwt-bearer grant (CLI-04).
//! 4. [`HopKind::Login`] (only for [`SubjectToken::Login`]): the password grant at the IdP,
//!    for the ID token.
//! 5. [`HopKind::TokenExchange`]: RFC 8693 at the IdP for an ID-JAG (ID-JAG §4.3), whose
//!    response is checked (CLI-09). The scope is the configured one, else the 401
//!    challenge's (MCP authorization: the client should prefer it), else none.
//! 6. [`HopKind::JwtBearer`]: RFC 7523 §2.1 at the authorization server for an access token.
//! 7. [`HopKind::Initialize`], 8. [`HopKind::ToolsList`], 9. [`HopKind::ToolsCall`] (only
//!    with a [`ToolCall`]): MCP over Streamable HTTP with `Authorization: Bearer`, JSON or
//!    SSE responses. Only the access token ever reaches the MCP server (CLI-13).
//!
//! No redirect is followed: a 3xx, or a response from another URL than the one requested,
//! fails the hop, because a credential would be replayed to a location nobody configured.
//! Credentials travel only over https or to a loopback host, unless
//! [`ClientConfig::allow_insecure_http`].
//!
//! The [`Transcript`] keeps raw credentials and tokens so that a caller who asks can see
//! them; [`Transcript::render`] and [`Transcript::to_json`] redact them unless told not to,
//! and no `Debug` output of this module shows one. Redaction is by name (a `subject_token`
//! parameter, an `access_token` member) and by value: a server may echo a secret anywhere
//! (an `error_description`, a JSON-RPC error message, a member of any name), so every value
//! the run used or obtained is also replaced wherever it appears, and the free text of the
//! transcript (the failure's reason and description, the notes) never holds one.
//!
//! # Example
//!
//! ```no_run
//! use jagspec::client::{self, ClientConfig, SubjectToken};
//! use jagspec::{AuthMethod, Secret};
//!
//! # async fn demo() -> Result<(), reqwest::Error> {
//! let config = ClientConfig {
//!     mcp_url: "http://127.0.0.1:7001/mcp".into(),
//!     idp_token_endpoint: "http://127.0.0.1:7000/token".into(),
//!     subject: SubjectToken::Login {
//!         user: "alice".into(),
//!         password: Secret::new("alice-password"),
//!     },
//!     idp_client_id: "agent".into(),
//!     idp_client_secret: Secret::new("agent-secret"),
//!     client_id: "agent-at-es256".into(),
//!     client_secret: Secret::new("agent-at-es256-secret"),
//!     auth_method: AuthMethod::ClientSecretBasic,
//!     scope: Some("chat.read".into()),
//!     call: None,
//!     expected_issuer: None,
//!     allow_insecure_http: false,
//! };
//! // A client that follows redirects fails every hop that is redirected.
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//! let transcript = client::run(&config, &http).await;
//! println!("{}", transcript.render(false));
//! # Ok(()) }
//! ```

mod chain;
mod challenge;
mod render;

use crate::oauth::AuthMethod;
use crate::types::Secret;
use serde_json::Value;
use std::fmt;

pub(crate) use crate::http::{UrlUse, check_url};

/// The MCP protocol version the client (and the suite's MCP steps) ask for in
/// `initialize`.
pub const MCP_PROTOCOL_VERSION: &str = crate::http::mcp::PROTOCOL_VERSION;
/// The MCP protocol versions the client accepts in the `initialize` result: a server may
/// answer with another version it supports, which must be one of these.
pub const MCP_PROTOCOL_VERSIONS: [&str; 3] = crate::http::mcp::PROTOCOL_VERSIONS;
/// The limit on every request, connection to last byte.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the client presents to the IdP as the token exchange's subject.
#[derive(Debug, Clone)]
pub enum SubjectToken {
    /// An ID token obtained elsewhere; its `aud` must be the client's id at the IdP.
    IdToken(Secret),
    /// A test user's credentials: the client first logs in with the password grant (which
    /// the reference issuer offers for test users) and exchanges the ID token it returns.
    Login {
        /// The user name.
        user: String,
        /// The user's password.
        password: Secret,
    },
}

/// A tool to call once the chain is complete.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name, as `tools/list` lists it.
    pub name: String,
    /// The `arguments` object of `tools/call`.
    pub arguments: Value,
}

/// Everything one run needs. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The MCP server's URL: the endpoint called, and the resource identifier the
    /// protected-resource metadata must name exactly.
    pub mcp_url: String,
    /// The IdP's token endpoint (IdP discovery is out of scope, ID-JAG App. A.4.2).
    pub idp_token_endpoint: String,
    /// The user's identity.
    pub subject: SubjectToken,
    /// The client's id at the IdP.
    pub idp_client_id: String,
    /// The client's secret at the IdP.
    pub idp_client_secret: Secret,
    /// The client's id at the MCP server's authorization server (ID-JAG §5: it may differ
    /// from the IdP's).
    pub client_id: String,
    /// The client's secret at the authorization server.
    pub client_secret: Secret,
    /// How the client authenticates, at the IdP and at the authorization server alike.
    pub auth_method: AuthMethod,
    /// Space-separated scopes, sent in the token exchange and in the jwt-bearer request.
    /// `None` uses the `scope` of the MCP server's 401 challenge, if it names one.
    pub scope: Option<String>,
    /// A tool to call at the end, if any.
    pub call: Option<ToolCall>,
    /// The authorization server the client trusts for this MCP server: when set, the
    /// protected-resource metadata must list exactly this issuer, or the chain stops before
    /// any metadata is fetched or secret sent. `None` trusts the first one listed.
    pub expected_issuer: Option<String>,
    /// Send credentials over plain http to hosts other than loopback (127.0.0.0/8, ::1,
    /// `localhost`). Off, such a token endpoint or MCP URL fails the chain (CLI-15).
    pub allow_insecure_http: bool,
}

/// The hops of the chain, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HopKind {
    /// The unauthenticated MCP request and its 401 challenge.
    Challenge,
    /// RFC 9728 protected-resource metadata.
    ResourceMetadata,
    /// RFC 8414 authorization-server metadata.
    AuthorizationServerMetadata,
    /// The password grant at the IdP, for a test user's ID token.
    Login,
    /// The RFC 8693 token exchange at the IdP: ID token for ID-JAG.
    TokenExchange,
    /// The RFC 7523 jwt-bearer grant at the authorization server: ID-JAG for access token.
    JwtBearer,
    /// MCP `initialize` (and `notifications/initialized`) with the access token.
    Initialize,
    /// MCP `tools/list`.
    ToolsList,
    /// MCP `tools/call`.
    ToolsCall,
}

impl HopKind {
    /// Every hop, in order.
    pub const ALL: [Self; 9] = [
        Self::Challenge,
        Self::ResourceMetadata,
        Self::AuthorizationServerMetadata,
        Self::Login,
        Self::TokenExchange,
        Self::JwtBearer,
        Self::Initialize,
        Self::ToolsList,
        Self::ToolsCall,
    ];

    /// A title for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Challenge => "Challenge",
            Self::ResourceMetadata => "Protected resource metadata",
            Self::AuthorizationServerMetadata => "Authorization server metadata",
            Self::Login => "Login",
            Self::TokenExchange => "Token exchange",
            Self::JwtBearer => "JWT bearer grant",
            Self::Initialize => "Initialize",
            Self::ToolsList => "List tools",
            Self::ToolsCall => "Call tool",
        }
    }

    /// A stable identifier for scripts (the `to_json` output uses it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Challenge => "challenge",
            Self::ResourceMetadata => "resource_metadata",
            Self::AuthorizationServerMetadata => "authorization_server_metadata",
            Self::Login => "login",
            Self::TokenExchange => "token_exchange",
            Self::JwtBearer => "jwt_bearer",
            Self::Initialize => "initialize",
            Self::ToolsList => "tools_list",
            Self::ToolsCall => "tools_call",
        }
    }
}

impl fmt::Display for HopKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// A token seen on a hop, decoded without verification, for display only.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedToken {
    /// What it is: "ID token", "ID-JAG", "access token".
    pub label: String,
    /// The JOSE header.
    pub header: Value,
    /// The claims set.
    pub claims: Value,
}

/// One HTTP exchange of the chain, as sent and as answered.
///
/// Parameters, headers and the response hold raw values, credentials included, so that
/// [`Transcript::render`] can show them when asked; they are redacted when rendered without
/// secrets and in `Debug`: by name, and by value (every secret of the run, or for a hop on
/// its own the credentials it sent). The `note` never holds a secret of the run.
#[derive(Clone, PartialEq)]
pub struct Hop {
    /// Which hop.
    pub kind: HopKind,
    /// The HTTP method.
    pub method: String,
    /// The URL requested (the last one, when well-known locations were tried in turn).
    pub url: String,
    /// Request headers the client set, in order.
    pub request_headers: Vec<(String, String)>,
    /// Form parameters, or for MCP hops the JSON-RPC `method`, `id` and `params`.
    pub request_params: Vec<(String, String)>,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The response body: JSON as parsed (for SSE, the matching event's message), other
    /// text as a string.
    pub response: Option<Value>,
    /// The response's `x-request-id` header, which names the server's audit record.
    pub request_id: Option<String>,
    /// Tokens the hop obtained, decoded without verification.
    pub tokens: Vec<DecodedToken>,
    /// What the client noticed on the way: fallbacks, optional checks, caveats.
    pub note: Option<String>,
}

impl Hop {
    fn new(kind: HopKind, method: &str, url: &str) -> Self {
        Self {
            kind,
            method: method.to_owned(),
            url: url.to_owned(),
            request_headers: Vec::new(),
            request_params: Vec::new(),
            status: None,
            response: None,
            request_id: None,
            tokens: Vec::new(),
            note: None,
        }
    }

    /// Adds a note, after any earlier one.
    fn add_note(&mut self, note: impl Into<String>) {
        let note = note.into();
        self.note = Some(match self.note.take() {
            Some(earlier) => format!("{earlier}; {note}"),
            None => note,
        });
    }
}

/// What a completed chain obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSuccess {
    /// The names `tools/list` returned, in order.
    pub tools: Vec<String>,
    /// The `tools/call` result, when a call was asked for.
    pub call_result: Option<Value>,
    /// The access token's claims if it is a JWT, else `null` (opaque tokens are valid).
    pub access_token_claims: Value,
    /// The ID-JAG's claims, decoded without verification.
    pub id_jag_claims: Value,
    /// The ID-JAG's JOSE header.
    pub id_jag_header: Value,
}

/// Where and why the chain stopped. The text fields hold no secret of the run, even where
/// a server echoed one: [`run`] replaced each by its redacted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFailure {
    /// The hop that failed (the last in the transcript).
    pub hop: HopKind,
    /// What went wrong, in a sentence that names the rule.
    pub reason: String,
    /// The HTTP status of the failing response, if one arrived.
    pub status: Option<u16>,
    /// The OAuth `error` code (RFC 6749 §5.2, or RFC 6750 §3.1 from a challenge).
    pub oauth_error: Option<String>,
    /// The accompanying `error_description`.
    pub error_description: Option<String>,
}

impl fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.hop.title(), self.reason)
    }
}

impl std::error::Error for ChainFailure {}

/// Every hop that ran, and how the chain ended.
///
/// `Debug` redacts like `render(false)`: by name and by value.
#[derive(Clone)]
pub struct Transcript {
    /// The hops in order; on failure the failing hop is the last.
    pub hops: Vec<Hop>,
    /// What the chain obtained, or where it stopped.
    pub outcome: Result<ChainSuccess, ChainFailure>,
    /// Every secret the run used or obtained, in each form it travelled in: what rendering
    /// without secrets replaces wherever a server echoed it.
    sensitive: Vec<Secret>,
}

impl Transcript {
    /// The hop of this kind, if it ran.
    pub fn hop(&self, kind: HopKind) -> Option<&Hop> {
        self.hops.iter().find(|h| h.kind == kind)
    }
}

/// Runs the chain with `http` and returns its transcript. Never panics and never returns
/// early: every failure, including a connection error, ends the transcript as a
/// [`ChainFailure`].
///
/// Every request gets a [`REQUEST_TIMEOUT`]. Give an `http` client that does not follow
/// redirects (`redirect(Policy::none())`): a redirected hop fails either way, but one that
/// follows has already replayed the request to the new location.
pub async fn run(config: &ClientConfig, http: &reqwest::Client) -> Transcript {
    chain::run(config, http).await
}

//! The reference client against wiremock servers standing in for the IdP, the MCP server's
//! authorization server and the MCP server: every hop is recorded, each refusal stops the
//! chain at the hop that failed, and nothing after that hop is contacted. One module per
//! hop; the parties (`World`) and the matchers are shared here.

mod chain;
mod command;
mod discovery;
mod exchange;
mod mcp_calls;
mod rendering;

use crate::support::{NOW, key};
use base64::Engine as _;
use jagspec::client::{self, ClientConfig, HopKind, SubjectToken, ToolCall, Transcript};
use jagspec::{Alg, AuthMethod, ID_JAG_TYP, Secret};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const PRM_ROOT: &str = "/.well-known/oauth-protected-resource";
const AS_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
const SESSION: &str = "session-1";

/// A request whose form body has `name` = `value`.
struct FormParam(&'static str, &'static str);

impl Match for FormParam {
    fn matches(&self, request: &Request) -> bool {
        form(request).get(self.0).map(String::as_str) == Some(self.1)
    }
}

/// A request without an `Authorization` header.
struct Unauthenticated;

impl Match for Unauthenticated {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key("authorization")
    }
}

fn form(request: &Request) -> BTreeMap<String, String> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn header_of(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    Sse,
}

/// A fake MCP server's answer to an authenticated JSON-RPC message, echoing its id.
fn mcp_answer(framing: Framing) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |request: &Request| {
        let message: Value = request.body_json().unwrap_or(Value::Null);
        let Some(id) = message.get("id").cloned() else {
            return ResponseTemplate::new(202);
        };
        let result = match message["method"].as_str() {
            Some("initialize") => json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-mcp", "version": "1"},
            }),
            Some("tools/list") => json!({"tools": [
                {"name": "echo", "inputSchema": {"type": "object"}},
                {"name": "publish", "inputSchema": {"type": "object"}},
            ]}),
            Some("tools/call") => json!({
                "content": [{"type": "text", "text": message["params"]["arguments"]["text"]}],
                "isError": false,
            }),
            _ => json!(null),
        };
        let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
        let template = match framing {
            Framing::Json => ResponseTemplate::new(200).set_body_json(reply),
            Framing::Sse => {
                // A progress notification first: the client must pick the response by id.
                let stream = format!(
                    ": ping\n\nevent: message\ndata: {}\n\nevent: message\ndata: {reply}\n\n",
                    json!({"jsonrpc": "2.0", "method": "notifications/message",
                           "params": {"level": "info", "data": "working"}})
                );
                ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream")
            }
        };
        template.insert_header("Mcp-Session-Id", SESSION)
    }
}

/// The three parties, with the tokens they hand out.
struct World {
    idp: MockServer,
    auth: MockServer,
    mcp: MockServer,
    id_token: String,
    id_jag: String,
    access_token: String,
}

impl World {
    /// Every party answering as a conforming one does (priority 5); tests mount overrides
    /// at priority 1.
    async fn start(framing: Framing) -> Self {
        let (idp, auth, mcp) = (
            MockServer::start().await,
            MockServer::start().await,
            MockServer::start().await,
        );
        let mcp_url = format!("{}/mcp", mcp.uri());
        let issuer = auth.uri();
        let es256 = key(Alg::ES256);
        let id_token = jagspec::mint(
            &es256,
            Some("JWT"),
            &json!({"iss": idp.uri(), "sub": "alice", "aud": "agent",
                    "iat": NOW, "exp": NOW + 600}),
        )
        .unwrap()
        .into_secret();
        let id_jag = jagspec::mint(&es256, Some(ID_JAG_TYP), &id_jag_claims(&idp, &auth, &mcp))
            .unwrap()
            .into_secret();
        let access_token = jagspec::mint(
            &es256,
            Some("at+jwt"),
            &json!({"iss": issuer, "sub": "alice", "aud": mcp_url, "client_id": "agent-at-as",
                    "scope": "tools.read", "jti": "at-1", "iat": NOW, "exp": NOW + 300}),
        )
        .unwrap()
        .into_secret();
        let world = Self {
            idp,
            auth,
            mcp,
            id_token,
            id_jag,
            access_token,
        };

        Mock::given(method("POST"))
            .and(path("/mcp"))
            .and(Unauthenticated)
            .respond_with(ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer realm="mcp", resource_metadata="{}{PRM_PATH}", scope="tools.read""#,
                    world.mcp.uri()
                )
                .as_str(),
            ))
            .mount(&world.mcp)
            .await;
        Mock::given(method("POST"))
            .and(path("/mcp"))
            .and(header(
                "authorization",
                format!("Bearer {}", world.access_token).as_str(),
            ))
            .respond_with(mcp_answer(framing))
            .mount(&world.mcp)
            .await;
        Mock::given(method("GET"))
            .and(path(PRM_PATH))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(world.protected_resource(&mcp_url)),
            )
            .mount(&world.mcp)
            .await;
        Mock::given(method("GET"))
            .and(path(AS_METADATA_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(world.as_metadata(&issuer)))
            .mount(&world.auth)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(FormParam("grant_type", JWT_BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": world.access_token, "token_type": "Bearer",
                "expires_in": 300, "scope": "tools.read",
            })))
            .mount(&world.auth)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(FormParam("grant_type", "password"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "opaque-login-token", "token_type": "Bearer",
                "id_token": world.id_token, "expires_in": 600,
            })))
            .mount(&world.idp)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(FormParam("grant_type", TOKEN_EXCHANGE))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-request-id", "req-te-1")
                    .set_body_json(world.exchange_response(ID_JAG_TYPE, "N_A")),
            )
            .mount(&world.idp)
            .await;
        world
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.mcp.uri())
    }

    fn issuer(&self) -> String {
        self.auth.uri()
    }

    fn protected_resource(&self, resource: &str) -> Value {
        json!({
            "resource": resource,
            "authorization_servers": [self.issuer()],
            "scopes_supported": ["tools.read", "tools.write"],
            "bearer_methods_supported": ["header"],
        })
    }

    fn as_metadata(&self, issuer: &str) -> Value {
        json!({
            "issuer": issuer,
            "token_endpoint": format!("{}/token", self.issuer()),
            "grant_types_supported": [JWT_BEARER],
            "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })
    }

    fn exchange_response(&self, issued_token_type: &str, token_type: &str) -> Value {
        json!({
            "issued_token_type": issued_token_type, "access_token": self.id_jag,
            "token_type": token_type, "expires_in": 300, "scope": "tools.read",
        })
    }

    fn config(&self, subject: SubjectToken) -> ClientConfig {
        ClientConfig {
            mcp_url: self.mcp_url(),
            idp_token_endpoint: format!("{}/token", self.idp.uri()),
            subject,
            idp_client_id: "agent".into(),
            idp_client_secret: Secret::new("agent-secret"),
            client_id: "agent-at-as".into(),
            client_secret: Secret::new("agent-at-as-secret"),
            auth_method: AuthMethod::ClientSecretBasic,
            scope: Some("tools.read".into()),
            call: Some(ToolCall {
                name: "echo".into(),
                arguments: json!({"text": "hello from jagspec"}),
            }),
            expected_issuer: None,
            allow_insecure_http: false,
        }
    }

    fn login(&self) -> SubjectToken {
        SubjectToken::Login {
            user: "alice".into(),
            password: Secret::new("alice-password"),
        }
    }

    fn with_id_token(&self) -> SubjectToken {
        SubjectToken::IdToken(Secret::new(self.id_token.clone()))
    }

    /// Any token request at either token endpoint fails the test (verified on drop).
    async fn forbid_token_requests(&self) {
        for server in [&self.idp, &self.auth] {
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(ResponseTemplate::new(500))
                .with_priority(1)
                .expect(0)
                .named("no token request")
                .mount(server)
                .await;
        }
    }

    /// The jwt-bearer grant must not be requested (verified on drop).
    async fn forbid_jwt_bearer(&self) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(500))
            .with_priority(1)
            .expect(0)
            .named("no jwt-bearer request")
            .mount(&self.auth)
            .await;
    }

    /// Overrides the MCP server's answer to the authenticated JSON-RPC `rpc_method`.
    async fn answer(&self, rpc_method: &str, respond: impl Respond + 'static) {
        Mock::given(method("POST"))
            .and(path("/mcp"))
            .and(header(
                "authorization",
                format!("Bearer {}", self.access_token).as_str(),
            ))
            .and(body_partial_json(json!({"method": rpc_method})))
            .respond_with(respond)
            .with_priority(1)
            .mount(&self.mcp)
            .await;
    }

    /// Overrides the authorization server's RFC 8414 metadata with `metadata`.
    async fn as_metadata_answer(&self, metadata: Value) {
        Mock::given(method("GET"))
            .and(path(AS_METADATA_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
            .with_priority(1)
            .mount(&self.auth)
            .await;
    }

    /// Overrides the authorization server's answer to the jwt-bearer grant.
    async fn grant_answer(&self, body: Value) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(FormParam("grant_type", JWT_BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(1)
            .mount(&self.auth)
            .await;
    }

    /// The JSON-RPC messages the MCP server received, in order.
    async fn mcp_messages(&self) -> Vec<Value> {
        let requests = self.mcp.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .map(|r| r.body_json::<Value>().unwrap())
            .collect()
    }

    async fn run(&self, config: &ClientConfig) -> Transcript {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client::run(config, &http).await
    }
}

/// Why the chain failed at `hop`; panics, saying where it stopped instead, when it did not
/// fail there.
#[track_caller]
fn failed_at(transcript: &Transcript, hop: HopKind) -> &str {
    match &transcript.outcome {
        Err(f) if f.hop == hop => &f.reason,
        Err(f) => panic!("the chain failed at {:?}, not {hop:?}: {}", f.hop, f.reason),
        Ok(_) => panic!("the chain completed; it should have failed at {hop:?}"),
    }
}

fn id_jag_claims(idp: &MockServer, auth: &MockServer, mcp: &MockServer) -> Value {
    json!({
        "iss": idp.uri(), "sub": "alice", "aud": auth.uri(), "client_id": "agent-at-as",
        "jti": "jag-1", "iat": NOW, "exp": NOW + 300,
        "resource": format!("{}/mcp", mcp.uri()), "scope": "tools.read",
    })
}

/// A JSON-RPC response echoing the request's id.
fn reply(request: &Request, result: Value) -> ResponseTemplate {
    let message: Value = request.body_json().unwrap_or(Value::Null);
    ResponseTemplate::new(200)
        .set_body_json(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}))
}

fn methods(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["method"].as_str().unwrap_or("?"))
        .collect()
}

fn kinds(t: &Transcript) -> Vec<HopKind> {
    t.hops.iter().map(|h| h.kind).collect()
}

fn statuses(t: &Transcript) -> Vec<Option<u16>> {
    t.hops.iter().map(|h| h.status).collect()
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

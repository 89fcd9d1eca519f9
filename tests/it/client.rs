//! The reference client against wiremock servers standing in for the IdP, the MCP server's
//! authorization server and the MCP server: every hop is recorded, each refusal stops the
//! chain at the hop that failed, and nothing after that hop is contacted.

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

#[tokio::test]
async fn the_whole_chain_runs_every_hop_in_order_and_sends_each_party_exactly_its_parameters() {
    let world = World::start(Framing::Json).await;
    let transcript = world.run(&world.config(world.login())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(kinds(&transcript), HopKind::ALL);
    assert_eq!(
        statuses(&transcript),
        [401, 200, 200, 200, 200, 200, 200, 200, 200].map(Some)
    );
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        success.call_result,
        Some(
            json!({"content": [{"type": "text", "text": "hello from jagspec"}], "isError": false})
        )
    );
    assert_eq!(
        success.id_jag_claims,
        id_jag_claims(&world.idp, &world.auth, &world.mcp)
    );
    assert_eq!(success.id_jag_header["typ"], ID_JAG_TYP);
    assert_eq!(success.id_jag_header["alg"], "ES256");
    assert_eq!(success.access_token_claims["aud"], world.mcp_url());

    let hop = |kind| transcript.hop(kind).unwrap();
    assert_eq!(hop(HopKind::Challenge).url, world.mcp_url());
    assert_eq!(
        hop(HopKind::ResourceMetadata).url,
        format!("{}{PRM_PATH}", world.mcp.uri())
    );
    assert_eq!(
        hop(HopKind::AuthorizationServerMetadata).url,
        format!("{}{AS_METADATA_PATH}", world.issuer())
    );
    assert_eq!(
        hop(HopKind::TokenExchange).request_id.as_deref(),
        Some("req-te-1")
    );
    let labels =
        |kind| -> Vec<String> { hop(kind).tokens.iter().map(|t| t.label.clone()).collect() };
    assert_eq!(labels(HopKind::Login), ["ID token"]);
    assert_eq!(labels(HopKind::TokenExchange), ["ID-JAG"]);
    assert_eq!(labels(HopKind::JwtBearer), ["access token"]);
    assert_eq!(
        hop(HopKind::Initialize).note.as_deref(),
        Some("notifications/initialized → 202")
    );

    // The IdP: the login, then the exchange with the AS issuer and the PRM resource.
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(idp.len(), 2);
    let login = form(&idp[0]);
    assert_eq!(
        login,
        BTreeMap::from([
            ("grant_type".into(), "password".into()),
            ("username".into(), "alice".into()),
            ("password".into(), "alice-password".into()),
        ])
    );
    let exchange = form(&idp[1]);
    assert_eq!(
        exchange,
        BTreeMap::from([
            ("grant_type".into(), TOKEN_EXCHANGE.into()),
            ("requested_token_type".into(), ID_JAG_TYPE.into()),
            ("audience".into(), world.issuer()),
            ("resource".into(), world.mcp_url()),
            ("scope".into(), "tools.read".into()),
            ("subject_token".into(), world.id_token.clone()),
            ("subject_token_type".into(), ID_TOKEN_TYPE.into()),
        ])
    );
    for request in &idp {
        assert_eq!(
            header_of(request, "authorization"),
            Some(basic("agent", "agent-secret"))
        );
    }

    // The authorization server: the ID-JAG with the client's credentials there.
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(
        form(grant),
        BTreeMap::from([
            ("grant_type".into(), JWT_BEARER.into()),
            ("assertion".into(), world.id_jag.clone()),
            ("scope".into(), "tools.read".into()),
        ])
    );
    assert_eq!(
        header_of(grant, "authorization"),
        Some(basic("agent-at-as", "agent-at-as-secret"))
    );

    // The MCP server: no token, then only the access token (CLI-13), with the session.
    let mcp: Vec<Request> = world
        .mcp
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    let methods: Vec<String> = mcp
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["method"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call"
        ]
    );
    let bearer = format!("Bearer {}", world.access_token);
    assert_eq!(header_of(&mcp[0], "authorization"), None);
    for request in &mcp[1..] {
        assert_eq!(header_of(request, "authorization").as_ref(), Some(&bearer));
        assert_eq!(
            header_of(request, "accept").as_deref(),
            Some("application/json, text/event-stream")
        );
    }
    for request in &mcp[2..] {
        assert_eq!(
            header_of(request, "mcp-session-id").as_deref(),
            Some(SESSION)
        );
        assert_eq!(
            header_of(request, "mcp-protocol-version").as_deref(),
            Some("2025-11-25")
        );
    }
    assert_eq!(header_of(&mcp[1], "mcp-session-id"), None);
    assert_eq!(
        mcp[1].body_json::<Value>().unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")}}})
    );
}

#[tokio::test]
async fn the_rendering_redacts_every_credential_and_token_unless_secrets_are_shown() {
    let world = World::start(Framing::Json).await;
    let transcript = world.run(&world.config(world.login())).await;
    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));

    let secrets = [
        world.id_token.as_str(),
        world.id_jag.as_str(),
        world.access_token.as_str(),
        "alice-password",
        "opaque-login-token",
        "agent-secret",
        "agent-at-as-secret",
    ];
    let basic_idp = basic("agent", "agent-secret");
    let redacted = transcript.render(false);
    let as_json = transcript.to_json(false).to_string();
    let debug = format!("{transcript:?}");
    for text in [&redacted, &as_json, &debug] {
        for secret in secrets
            .iter()
            .copied()
            .chain([&basic_idp["Basic ".len()..]])
        {
            assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
        }
    }
    assert!(redacted.contains(&format!(
        "    subject_token=eyJhbGciOi…(redacted, {} bytes)\n",
        world.id_token.len()
    )));
    assert!(redacted.contains(&format!(
        "    assertion=eyJhbGciOi…(redacted, {} bytes)\n",
        world.id_jag.len()
    )));
    assert!(redacted.contains(&format!(
        "    Authorization: Bearer eyJhbGciOi…(redacted, {} bytes)\n",
        world.access_token.len()
    )));
    assert!(redacted.contains("    password=(redacted, 14 bytes)\n"));
    assert!(redacted.contains("    Authorization: Basic (redacted, 24 bytes)\n"));
    assert!(redacted.starts_with(&format!("[1] Challenge  POST {}\n", world.mcp_url())));
    assert!(redacted.contains(&format!(
        "\n[5] Token exchange  POST {}/token\n",
        world.idp.uri()
    )));
    assert!(redacted.contains("    → 401\n"));
    assert!(redacted.contains("    x-request-id: req-te-1\n"));
    assert!(redacted.contains("    ID-JAG claims (unverified):\n      {\n"));
    assert_eq!(last_line(&redacted), "OK: tools [echo, publish]");

    // With Basic authentication the client secrets travel base64-encoded.
    let basic_as = basic("agent-at-as", "agent-at-as-secret");
    let shown = transcript.render(true);
    for secret in secrets[..5]
        .iter()
        .copied()
        .chain([basic_idp.as_str(), basic_as.as_str()])
    {
        assert!(shown.contains(secret), "`{secret}` missing from:\n{shown}");
    }
    assert_eq!(last_line(&shown), "OK: tools [echo, publish]");
    assert_eq!(
        transcript.to_json(true)["hops"][4]["request_params"]["subject_token"],
        world.id_token.as_str()
    );
    assert_eq!(transcript.to_json(false)["outcome"]["result"], "ok");
}

#[tokio::test]
async fn a_resource_metadata_naming_another_resource_stops_the_chain_before_any_token_request() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let other = format!("{}/", world.mcp_url());
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(world.protected_resource(&other)))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(AS_METADATA_PATH))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .expect(0)
        .mount(&world.auth)
        .await;

    let transcript = world.run(&world.config(world.login())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ResourceMetadata);
    assert_eq!(
        failure.reason,
        format!(
            "the metadata's resource `{other}` is not identical to the MCP server URL `{}` \
             (RFC 9728 §3.3, CLI-02); the metadata is not used",
            world.mcp_url()
        )
    );
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        kinds(&transcript),
        [HopKind::Challenge, HopKind::ResourceMetadata]
    );
    assert_eq!(
        last_line(&transcript.render(false)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): {}",
            failure.reason
        )
    );
}

#[tokio::test]
async fn authorization_server_metadata_with_another_issuer_is_not_used_and_no_token_is_requested() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let other = format!("{}/", world.issuer());
    Mock::given(method("GET"))
        .and(path(AS_METADATA_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(world.as_metadata(&other)))
        .with_priority(1)
        .mount(&world.auth)
        .await;

    let transcript = world.run(&world.config(world.login())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::AuthorizationServerMetadata);
    assert_eq!(
        failure.reason,
        format!(
            "the metadata's issuer `{other}` is not identical to `{}`, the issuer it was \
             fetched for (RFC 8414 §3.3, CLI-03); the document is not used",
            world.issuer()
        )
    );
    assert_eq!(
        kinds(&transcript),
        [
            HopKind::Challenge,
            HopKind::ResourceMetadata,
            HopKind::AuthorizationServerMetadata
        ]
    );
}

#[tokio::test]
async fn metadata_without_the_jwt_bearer_grant_stops_the_chain_before_the_token_exchange() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let mut metadata = world.as_metadata(&world.issuer());
    metadata["grant_types_supported"] = json!(["authorization_code"]);
    Mock::given(method("GET"))
        .and(path(AS_METADATA_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
        .with_priority(1)
        .mount(&world.auth)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::AuthorizationServerMetadata);
    assert_eq!(
        failure.reason,
        format!("grant_types_supported does not list {JWT_BEARER} (CLI-04)")
    );
}

#[tokio::test]
async fn a_refused_token_exchange_reports_the_oauth_error_and_the_request_id() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-request-id", "req-denied-7")
                .set_body_json(json!({
                    "error": "invalid_target",
                    "error_description": "Audience not registered",
                })),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(400));
    assert_eq!(failure.oauth_error.as_deref(), Some("invalid_target"));
    assert_eq!(
        failure.error_description.as_deref(),
        Some("Audience not registered")
    );
    assert_eq!(
        failure.reason,
        "the IdP refused the token exchange: HTTP 400 invalid_target (Audience not \
         registered) [x-request-id req-denied-7]"
    );
    let hop = transcript.hop(HopKind::TokenExchange).unwrap();
    assert_eq!(hop.request_id.as_deref(), Some("req-denied-7"));
    assert_eq!(
        hop.response,
        Some(json!({"error": "invalid_target", "error_description": "Audience not registered"}))
    );
    // Without a login the exchange is the fourth hop.
    assert_eq!(
        last_line(&transcript.render(false)),
        format!("FAILED at hop 4 (Token exchange): {}", failure.reason)
    );
    let json = transcript.to_json(false);
    assert_eq!(
        json["outcome"],
        json!({
            "result": "failed", "hop": "token_exchange", "hop_number": 4,
            "title": "Token exchange", "reason": failure.reason, "status": 400,
            "oauth_error": "invalid_target", "error_description": "Audience not registered",
        })
    );
}

#[tokio::test]
async fn a_token_exchange_answer_whose_token_type_is_not_n_a_is_not_presented_anywhere() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.exchange_response(ID_JAG_TYPE, "Bearer")),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        failure.reason,
        "token_type is `Bearer` instead of N_A (RFC 8693 §2.2.1, CLI-09); the token is not used"
    );
}

#[tokio::test]
async fn a_token_exchange_answer_of_another_token_type_is_not_presented_anywhere() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let access_token_type = "urn:ietf:params:oauth:token-type:access_token";
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.exchange_response(access_token_type, "n_a")),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(
        failure.reason,
        format!(
            "issued_token_type is `{access_token_type}` instead of {ID_JAG_TYPE} \
             (ID-JAG §4.3.4, CLI-09); the token is not used"
        )
    );
}

#[tokio::test]
async fn an_insufficient_scope_answer_to_the_tool_call_names_the_scope_required() {
    let world = World::start(Framing::Json).await;
    let challenge = format!(
        r#"Bearer error="insufficient_scope", scope="tools.write", resource_metadata="{}{PRM_PATH}", error_description="publish needs tools.write""#,
        world.mcp.uri()
    );
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(body_partial_json(json!({"method": "tools/call"})))
        .respond_with(
            ResponseTemplate::new(403).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.call = Some(ToolCall {
        name: "publish".into(),
        arguments: json!({"text": "hi"}),
    });

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ToolsCall);
    assert_eq!(failure.status, Some(403));
    assert_eq!(failure.oauth_error.as_deref(), Some("insufficient_scope"));
    assert_eq!(
        failure.error_description.as_deref(),
        Some("publish needs tools.write")
    );
    assert_eq!(
        failure.reason,
        "the MCP server requires scope `tools.write` (HTTP 403 insufficient_scope) \
         (publish needs tools.write)"
    );
    assert_eq!(
        last_line(&transcript.render(false)),
        format!("FAILED at hop 8 (Call tool): {}", failure.reason)
    );
}

#[tokio::test]
async fn an_access_token_refused_with_401_names_the_challenge_error_at_initialize() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(header(
            "authorization",
            format!("Bearer {}", world.access_token).as_str(),
        ))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            r#"Bearer error="invalid_token", error_description="audience mismatch""#,
        ))
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(failure.status, Some(401));
    assert_eq!(failure.oauth_error.as_deref(), Some("invalid_token"));
    assert_eq!(
        failure.reason,
        "the MCP server refused the access token: HTTP 401 invalid_token (audience mismatch)"
    );
}

#[tokio::test]
async fn an_mcp_server_answering_with_server_sent_events_is_understood() {
    let world = World::start(Framing::Sse).await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        success.call_result,
        Some(
            json!({"content": [{"type": "text", "text": "hello from jagspec"}], "isError": false})
        )
    );
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().response,
        Some(json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
            {"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "publish", "inputSchema": {"type": "object"}},
        ]}}))
    );
}

#[tokio::test]
async fn without_resource_metadata_in_the_challenge_the_well_known_url_of_the_path_is_used() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Bearer realm="mcp""#),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let challenge = transcript.hop(HopKind::Challenge).unwrap();
    assert_eq!(
        challenge.note.as_deref(),
        Some(
            "WWW-Authenticate: Bearer realm=\"mcp\"; the challenge has no Bearer \
             resource_metadata; trying the RFC 9728 well-known URLs (CLI-01)"
        )
    );
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().url,
        format!("{}{PRM_PATH}", world.mcp.uri())
    );
}

#[tokio::test]
async fn without_any_challenge_header_the_root_well_known_url_is_tried_after_the_path_one() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(ResponseTemplate::new(401))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(PRM_ROOT))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.protected_resource(&world.mcp_url())),
        )
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let hop = transcript.hop(HopKind::ResourceMetadata).unwrap();
    assert_eq!(hop.url, format!("{}{PRM_ROOT}", world.mcp.uri()));
    assert_eq!(
        hop.note.as_deref(),
        Some(
            format!(
                "GET {0}{PRM_PATH} → 404; trying {0}{PRM_ROOT}",
                world.mcp.uri()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form_and_no_authorization_header() {
    let world = World::start(Framing::Json).await;
    let mut config = world.config(world.with_id_token());
    config.auth_method = AuthMethod::ClientSecretPost;
    config.scope = None;

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(idp.len(), 1);
    assert_eq!(header_of(&idp[0], "authorization"), None);
    let exchange = form(&idp[0]);
    assert_eq!(exchange.get("client_id").map(String::as_str), Some("agent"));
    assert_eq!(
        exchange.get("client_secret").map(String::as_str),
        Some("agent-secret")
    );
    // No scope configured: the challenge's `scope="tools.read"` is used.
    assert_eq!(
        exchange.get("scope").map(String::as_str),
        Some("tools.read")
    );
    assert_eq!(
        transcript
            .hop(HopKind::TokenExchange)
            .unwrap()
            .note
            .as_deref(),
        Some("scope `tools.read` from the 401 challenge (none configured)")
    );
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(header_of(grant, "authorization"), None);
    assert_eq!(
        form(grant),
        BTreeMap::from([
            ("grant_type".into(), JWT_BEARER.into()),
            ("assertion".into(), world.id_jag.clone()),
            ("scope".into(), "tools.read".into()),
            ("client_id".into(), "agent-at-as".into()),
            ("client_secret".into(), "agent-at-as-secret".into()),
        ])
    );
    assert!(
        transcript
            .render(false)
            .contains("    client_secret=(redacted, 18 bytes)\n")
    );
}

#[tokio::test]
async fn an_mcp_server_that_answers_without_asking_for_a_token_fails_the_challenge() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        failure.reason,
        "the MCP server did not ask for a token: HTTP 200 to an unauthenticated initialize, \
         where a 401 with a Bearer challenge was expected (RFC 9728 §5.1)"
    );
}

#[tokio::test]
async fn an_unreachable_mcp_server_fails_the_challenge_with_the_cause() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = World::start(Framing::Json).await;
    let mut config = world.config(world.with_id_token());
    config.mcp_url = format!("http://127.0.0.1:{port}/mcp");

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(failure.status, None);
    let prefix = format!("POST http://127.0.0.1:{port}/mcp: ");
    assert!(failure.reason.starts_with(&prefix), "{}", failure.reason);
    assert!(
        failure.reason.to_lowercase().contains("connection refused"),
        "{}",
        failure.reason
    );
    assert_eq!(transcript.hops.len(), 1);
    assert!(transcript.render(false).contains("    → no response\n"));
}

// ---------------------------------------------------------------------------------------
// A hostile or broken party: secrets echoed, redirects, insecure transport, bad syntax.

#[tokio::test]
async fn secrets_a_server_echoes_are_scrubbed_from_every_rendering_except_the_full_one() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let basic_sent = basic("agent", "agent-secret");
    let basic_sent = &basic_sent["Basic ".len()..];
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-request-id", "agent-secret")
                .set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": format!(
                        "subject_token {} refused for agent:agent-secret ({basic_sent})",
                        world.id_token
                    ),
                    "debug": {"seen": world.id_token, "client": "agent-secret"},
                })),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    let id_token = format!(
        "{}…(redacted, {} bytes)",
        &world.id_token[..10],
        world.id_token.len()
    );
    let description =
        format!("subject_token {id_token} refused for (redacted, 18 bytes) ((redacted, 24 bytes))");
    assert_eq!(
        failure.error_description.as_deref(),
        Some(description.as_str())
    );
    assert_eq!(
        failure.reason,
        format!(
            "the IdP refused the token exchange: HTTP 400 invalid_grant ({description}) \
             [x-request-id (redacted, 12 bytes)]"
        )
    );
    let texts = [
        transcript.render(false),
        transcript.to_json(false).to_string(),
        format!("{transcript:?}"),
        format!("{:?}", transcript.hops),
        failure.to_string(),
        format!("{failure:?}"),
    ];
    for text in &texts {
        for secret in [world.id_token.as_str(), "agent-secret", basic_sent] {
            assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
        }
    }
    let hop = &transcript.to_json(false)["hops"][3];
    assert_eq!(
        hop["response"]["debug"],
        json!({"seen": id_token, "client": "(redacted, 12 bytes)"})
    );
    assert_eq!(hop["request_id"], "(redacted, 12 bytes)");
    // Shown whole, the response is as it came; the free text stays scrubbed.
    let shown = transcript.render(true);
    assert!(shown.contains(&format!(r#""seen":"{}""#, world.id_token)));
    assert_eq!(
        last_line(&shown),
        format!("FAILED at hop 4 (Token exchange): {}", failure.reason)
    );
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_fails_the_hop_whether_or_not_the_http_client_follows_it()
 {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let elsewhere = format!("{}/elsewhere", world.idp.uri());
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", elsewhere.as_str()))
        .with_priority(1)
        .mount(&world.idp)
        .await;
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.exchange_response(ID_JAG_TYPE, "N_A")),
        )
        .mount(&world.idp)
        .await;
    let replayed = || async {
        let requests = world.idp.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.url.path() == "/elsewhere")
            .count()
    };
    let config = world.config(world.with_id_token());

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(307));
    assert_eq!(
        failure.reason,
        format!(
            "HTTP 307 (Location `{elsewhere}`): redirects are not followed: a credential would \
             be replayed to a location nobody configured"
        )
    );
    assert_eq!(replayed().await, 0);

    // A caller's client that follows redirects has replayed the request; the hop fails all
    // the same, and the ID-JAG it obtained is not presented.
    let following = client::run(&config, &reqwest::Client::new()).await;

    let failure = following.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(
        failure.reason,
        format!(
            "the response came from `{elsewhere}`, not from the URL requested, so the HTTP \
             client followed a redirect; redirects are not followed: a credential would be \
             replayed to a location nobody configured (build it with redirect(Policy::none()))"
        )
    );
    assert_eq!(replayed().await, 1);
}

#[tokio::test]
async fn plain_http_token_endpoints_on_other_hosts_fail_before_any_credential_is_sent() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let insecure = |url: &str| {
        format!(
            "`{url}` is plain http to a host other than loopback: credentials would cross \
             the network unencrypted (CLI-15); use https, or allow insecure http explicitly"
        )
    };
    let mut config = world.config(world.with_id_token());
    config.idp_token_endpoint = "http://idp.example/token".into();

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(
        failure.reason,
        format!(
            "the IdP token endpoint {}",
            insecure("http://idp.example/token")
        )
    );
    assert_eq!(failure.status, None);
    assert_eq!(world.mcp_messages().await, Vec::<Value>::new());

    // The authorization server's token endpoint, as its metadata names it.
    let mut metadata = world.as_metadata(&world.issuer());
    metadata["token_endpoint"] = json!("http://as.example/token");
    Mock::given(method("GET"))
        .and(path(AS_METADATA_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
        .with_priority(1)
        .mount(&world.auth)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::AuthorizationServerMetadata);
    assert_eq!(
        failure.reason,
        format!("the token_endpoint {}", insecure("http://as.example/token"))
    );
}

#[tokio::test]
async fn urls_with_userinfo_or_a_fragment_fail_before_any_request_and_userinfo_is_never_shown() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let mut config = world.config(world.with_id_token());
    config.mcp_url = world.mcp_url().replace("http://", "http://alice:hunter2@");

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(
        failure.reason,
        format!(
            "the MCP URL `{}` was given with userinfo (`user:password@`, removed here), which \
             is never sent; give the URL without it",
            world.mcp_url()
        )
    );
    assert_eq!(transcript.hops[0].url, world.mcp_url());
    for text in [
        transcript.render(true),
        transcript.to_json(true).to_string(),
        format!("{transcript:?}"),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }

    let mut config = world.config(world.with_id_token());
    config.idp_token_endpoint = format!("{}/token#f", world.idp.uri());
    let failure = world.run(&config).await.outcome.unwrap_err();
    assert_eq!(
        failure.reason,
        format!(
            "the IdP token endpoint `{}/token#f` has a fragment, which no request URL or \
             identifier may have",
            world.idp.uri()
        )
    );
    assert_eq!(world.mcp_messages().await, Vec::<Value>::new());

    // Discovered: a challenge naming metadata at a URL with a fragment.
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer resource_metadata="{}{PRM_PATH}#x""#,
                    world.mcp.uri()
                )
                .as_str(),
            ),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let transcript = world.run(&world.config(world.with_id_token())).await;
    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(
        failure.reason,
        format!(
            "the challenge's resource_metadata `{}{PRM_PATH}#x` has a fragment, which no \
             request URL or identifier may have (RFC 9728 §5.1)",
            world.mcp.uri()
        )
    );
}

#[tokio::test]
async fn an_access_token_that_is_no_b64token_is_refused_at_the_jwt_bearer_grant() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": "at 1\u{7f}", "token_type": "Bearer"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::JwtBearer);
    assert_eq!(
        failure.reason,
        "the access token is not an RFC 6750 §2.1 b64token (letters, digits, `-._~+/`, then \
         `=`s), so no Authorization header can carry it; it is not sent"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

#[tokio::test]
async fn a_session_id_that_cannot_be_sent_back_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("initialize", |request: &Request| {
            reply(
                request,
                json!({"protocolVersion": "2025-11-25", "capabilities": {}}),
            )
            .insert_header("Mcp-Session-Id", "a b")
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(
        failure.reason,
        "the Mcp-Session-Id is not visible ASCII (MCP Streamable HTTP: 0x21 to 0x7E), so it \
         cannot be sent back"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize"]
    );
}

#[tokio::test]
async fn a_pinned_issuer_missing_from_the_resource_metadata_stops_the_chain_before_any_metadata_fetch()
 {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .expect(0)
        .named("no authorization server metadata")
        .mount(&world.auth)
        .await;
    let mut config = world.config(world.with_id_token());
    config.expected_issuer = Some("https://as.example".into());

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ResourceMetadata);
    assert_eq!(
        failure.reason,
        format!(
            "the metadata's authorization_servers [\"{}\"] do not include the expected issuer \
             `https://as.example`; no metadata is fetched and no secret sent",
            world.issuer()
        )
    );
    assert_eq!(
        kinds(&transcript),
        [HopKind::Challenge, HopKind::ResourceMetadata]
    );
}

#[tokio::test]
async fn a_pinned_issuer_is_used_wherever_the_resource_metadata_lists_it() {
    let world = World::start(Framing::Json).await;
    let mut prm = world.protected_resource(&world.mcp_url());
    prm["authorization_servers"] = json!(["https://as.example", world.issuer()]);
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(prm))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.expected_issuer = Some(world.issuer());

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().note,
        Some(format!(
            "2 authorization servers listed; using the expected one, {}",
            world.issuer()
        ))
    );
}

#[tokio::test]
async fn a_bearer_challenge_after_another_schemes_token68_is_found() {
    let world = World::start(Framing::Json).await;
    let advertised = format!("{}/prm-elsewhere", world.mcp.uri());
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Basic abc/def=, Bearer resource_metadata="{advertised}""#).as_str(),
        ))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path("/prm-elsewhere"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.protected_resource(&world.mcp_url())),
        )
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().url,
        advertised
    );
}

#[tokio::test]
async fn without_a_scope_configured_or_in_the_challenge_none_is_requested_and_the_note_says_so() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer resource_metadata="{}{PRM_PATH}""#,
                    world.mcp.uri()
                )
                .as_str(),
            ),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.scope = None;

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript
            .hop(HopKind::TokenExchange)
            .unwrap()
            .note
            .as_deref(),
        Some("no scope: none configured and the 401 challenge names none")
    );
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(form(&idp[0]).get("scope"), None);
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(form(grant).get("scope"), None);
}

#[tokio::test]
async fn a_protocol_version_the_client_does_not_support_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("initialize", |request: &Request| {
            reply(
                request,
                json!({"protocolVersion": "2024-11-05", "capabilities": {}}),
            )
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(
        failure.reason,
        "the server chose protocol version `2024-11-05`, which this client does not support \
         (2025-03-26, 2025-06-18, 2025-11-25); the session is not used"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize"]
    );
}

#[tokio::test]
async fn an_access_token_equal_to_the_id_jag_is_refused_at_the_jwt_bearer_grant() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": world.id_jag, "token_type": "Bearer"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::JwtBearer);
    assert_eq!(
        failure.reason,
        "the access token is the ID-JAG or the ID token itself, which must never reach the \
         MCP server (CLI-13); it is not sent"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

#[tokio::test]
async fn an_access_token_of_a_type_other_than_bearer_is_not_presented() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": world.access_token, "token_type": "DPoP"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::JwtBearer);
    assert_eq!(
        failure.reason,
        "token_type is `DPoP` instead of Bearer (RFC 6750); this client presents bearer \
         tokens only"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

#[tokio::test]
async fn a_json_rpc_response_with_another_id_fails_the_hop() {
    let world = World::start(Framing::Json).await;
    world
        .answer(
            "initialize",
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": 99, "result": {}})),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(
        failure.reason,
        "the JSON-RPC response's id is 99 instead of 1"
    );
}

#[tokio::test]
async fn a_response_body_over_one_mebibyte_fails_the_hop() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(vec![b' '; 1024 * 1024 + 1], "application/json"),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ResourceMetadata);
    assert_eq!(failure.status, Some(200));
    assert_eq!(failure.reason, "the response body exceeds 1048576 bytes");
}

#[tokio::test]
async fn an_event_stream_that_ends_without_the_response_fails_the_hop() {
    let world = World::start(Framing::Sse).await;
    let notification = json!({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": "info", "data": "working"}});
    world
        .answer(
            "tools/list",
            ResponseTemplate::new(200)
                .set_body_raw(format!("data: {notification}\n\n"), "text/event-stream"),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ToolsList);
    assert_eq!(
        failure.reason,
        "the event stream ended without a response to request 2"
    );
}

#[tokio::test]
async fn a_request_from_the_mcp_server_on_the_event_stream_fails_the_hop_naming_its_method() {
    let world = World::start(Framing::Sse).await;
    let request = json!({"jsonrpc": "2.0", "id": "s-1", "method": "sampling/createMessage",
                         "params": {"messages": []}});
    world
        .answer(
            "initialize",
            ResponseTemplate::new(200)
                .set_body_raw(format!("data: {request}\n\n"), "text/event-stream"),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(
        failure.reason,
        "the server sent a `sampling/createMessage` request on the event stream before its \
         response to request 1; this client answers no server request, so it stops rather \
         than wait"
    );
    assert_eq!(
        transcript.hop(HopKind::Initialize).unwrap().response,
        Some(request)
    );
}

#[tokio::test]
async fn tools_list_follows_next_cursor_and_sends_it_back() {
    let world = World::start(Framing::Json).await;
    world
        .answer("tools/list", |request: &Request| {
            let message: Value = request.body_json().unwrap_or(Value::Null);
            let result = match message["params"]["cursor"].as_str() {
                None => json!({"tools": [{"name": "echo"}], "nextCursor": "page-2"}),
                Some(_) => json!({"tools": [{"name": "publish"}]}),
            };
            reply(request, result)
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().note.as_deref(),
        Some("2 pages (nextCursor followed)")
    );
    let lists: Vec<Value> = world
        .mcp_messages()
        .await
        .into_iter()
        .filter(|m| m["method"] == "tools/list")
        .collect();
    assert_eq!(
        lists,
        [
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list",
                   "params": {"cursor": "page-2"}}),
        ]
    );
}

#[tokio::test]
async fn tools_list_stops_after_twenty_pages_of_a_server_that_never_stops_paging() {
    let world = World::start(Framing::Json).await;
    world
        .answer("tools/list", |request: &Request| {
            reply(
                request,
                json!({"tools": [{"name": "echo"}], "nextCursor": "more"}),
            )
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, vec!["echo"; 20]);
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().note.as_deref(),
        Some("stopped after 20 pages; the server offered more")
    );
    let messages = world.mcp_messages().await;
    assert_eq!(
        methods(&messages)
            .iter()
            .filter(|m| **m == "tools/list")
            .count(),
        20
    );
}

#[tokio::test]
async fn a_refused_initialized_notification_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("notifications/initialized", ResponseTemplate::new(500))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(failure.status, Some(500));
    assert_eq!(
        failure.reason,
        "notifications/initialized: the MCP server answered HTTP 500"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize", "notifications/initialized"]
    );
}

// ---------------------------------------------------------------------------------------
// `jagspec client`

fn jagspec(args: &[String], env: &[(&str, &str)]) -> Output {
    jagspec_with_stdin(args, env, None)
}

/// Runs `jagspec` with only the environment given of its own variables, and `stdin`.
fn jagspec_with_stdin(args: &[String], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(args)
        .env_remove("JAGSPEC_IDP_CLIENT_SECRET")
        .env_remove("JAGSPEC_CLIENT_SECRET")
        .env_remove("JAGSPEC_PASSWORD")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jagspec binary runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("the jagspec binary runs")
}

/// `args` with `flag`'s value replaced, or the flag removed for `None`.
fn with_flag(mut args: Vec<String>, flag: &str, value: Option<&str>) -> Vec<String> {
    let at = args.iter().position(|a| a == flag).unwrap();
    match value {
        Some(value) => value.clone_into(&mut args[at + 1]),
        None => {
            args.drain(at..at + 2);
        }
    }
    args
}

fn cli_args(world: &World, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "client",
        "--mcp-url",
        &world.mcp_url(),
        "--idp-token-endpoint",
        &format!("{}/token", world.idp.uri()),
        "--user",
        "alice",
        "--password",
        "alice-password",
        "--idp-client-id",
        "agent",
        "--idp-client-secret",
        "agent-secret",
        "--client-id",
        "agent-at-as",
        "--scope",
        "tools.read",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test]
async fn the_client_command_exits_zero_after_a_complete_chain_and_prints_no_secret() {
    let world = World::start(Framing::Json).await;
    let out = jagspec(
        &cli_args(&world, &["--call", "echo"]),
        &[("JAGSPEC_CLIENT_SECRET", "agent-at-as-secret")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_line(&stdout), "OK: tools [echo, publish]");
    let basic_idp = basic("agent", "agent-secret");
    let basic_as = basic("agent-at-as", "agent-at-as-secret");
    for secret in [
        world.id_token.as_str(),
        world.id_jag.as_str(),
        world.access_token.as_str(),
        "alice-password",
        "agent-secret",
        "agent-at-as-secret",
        &basic_idp["Basic ".len()..],
        &basic_as["Basic ".len()..],
    ] {
        assert!(!stdout.contains(secret), "`{secret}` leaked:\n{stdout}");
    }
    assert!(stdout.contains("[9] Call tool  POST "));
    assert!(stdout.contains("    Authorization: Basic (redacted, 24 bytes)\n"));
    assert!(stdout.contains("    Authorization: Basic (redacted, 40 bytes)\n"));
}

#[tokio::test]
async fn the_client_command_reads_the_password_from_standard_input_or_the_environment() {
    let world = World::start(Framing::Json).await;
    let secret = [("JAGSPEC_CLIENT_SECRET", "agent-at-as-secret")];
    let args = with_flag(cli_args(&world, &[]), "--password", Some("-"));
    let from_stdin = jagspec_with_stdin(&args, &secret, Some("alice-password\n"));
    let stdout = String::from_utf8_lossy(&from_stdin.stdout);
    assert_eq!(from_stdin.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("    password=(redacted, 14 bytes)\n"),
        "{stdout}"
    );

    let args = with_flag(cli_args(&world, &[]), "--password", None);
    let env = [secret[0], ("JAGSPEC_PASSWORD", "alice-password")];
    let from_env = jagspec(&args, &env);
    let stdout = String::from_utf8_lossy(&from_env.stdout);
    assert_eq!(from_env.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("alice-password"), "{stdout}");

    let idp = world.idp.received_requests().await.unwrap();
    let logins: Vec<_> = idp
        .iter()
        .map(form)
        .filter(|f| f.get("grant_type").map(String::as_str) == Some("password"))
        .collect();
    assert_eq!(logins.len(), 2);
    for login in logins {
        assert_eq!(
            login.get("password").map(String::as_str),
            Some("alice-password")
        );
    }
}

#[tokio::test]
async fn the_client_command_exits_one_and_names_the_failing_hop_on_its_last_line() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.protected_resource("https://elsewhere.example/mcp")),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let out = jagspec(
        &cli_args(&world, &["--client-secret", "agent-at-as-secret"]),
        &[],
    );

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_line(&String::from_utf8_lossy(&out.stdout)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): the metadata's resource \
             `https://elsewhere.example/mcp` is not identical to the MCP server URL `{}` \
             (RFC 9728 §3.3, CLI-02); the metadata is not used",
            world.mcp_url()
        )
    );
    let out = jagspec(
        &cli_args(&world, &["--client-secret", "agent-at-as-secret", "--json"]),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["outcome"]["hop"], "resource_metadata");
    assert_eq!(printed["outcome"]["hop_number"], 2);
    assert_eq!(printed["hops"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_client_command_exits_two_on_bad_input() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let not_an_object = jagspec(
        &cli_args(
            &world,
            &[
                "--client-secret",
                "s",
                "--call",
                "echo",
                "--arguments",
                "[1]",
            ],
        ),
        &[],
    );
    assert_eq!(not_an_object.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&not_an_object.stderr).trim(),
        "error: --arguments: expected a JSON object (MCP tools/call arguments)"
    );
    let both_subjects = jagspec(
        &cli_args(&world, &["--client-secret", "s", "--id-token", "eyJ.x.y"]),
        &[],
    );
    assert_eq!(both_subjects.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both_subjects.stderr).starts_with(
            "error: the argument '--user <NAME>' cannot be used with '--id-token <TOKEN>'"
        ),
        "{}",
        String::from_utf8_lossy(&both_subjects.stderr)
    );
    let bad_url = jagspec(
        &[
            "client",
            "--mcp-url",
            "mcp.example",
            "--idp-token-endpoint",
            "http://127.0.0.1:9/token",
            "--id-token",
            "t",
            "--idp-client-id",
            "a",
            "--idp-client-secret",
            "s",
            "--client-id",
            "b",
            "--client-secret",
            "s",
        ]
        .map(str::to_owned),
        &[],
    );
    assert_eq!(bad_url.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad_url.stderr).trim(),
        "error: --mcp-url: `mcp.example` is not an absolute URL (relative URL without a base)"
    );
    let insecure = jagspec(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--idp-token-endpoint",
            Some("http://idp.example/token"),
        ),
        &[],
    );
    assert_eq!(insecure.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&insecure.stderr).trim(),
        "error: --idp-token-endpoint: `http://idp.example/token` is plain http to a host other \
         than loopback: credentials would cross the network unencrypted (CLI-15); use https, \
         or allow insecure http explicitly"
    );
    let fragment = jagspec(
        &cli_args(
            &world,
            &["--client-secret", "s", "--issuer", "https://as.example/#x"],
        ),
        &[],
    );
    assert_eq!(fragment.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&fragment.stderr).trim(),
        "error: --issuer: `https://as.example/#x` has a fragment, which no request URL or \
         identifier may have"
    );
    let password_with_token = jagspec(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--password",
            Some("alice-password"),
        )
        .into_iter()
        .map(|a| {
            if a == "--user" {
                "--id-token".to_owned()
            } else {
                a
            }
        })
        .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(password_with_token.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&password_with_token.stderr).trim(),
        "error: --password goes with --user, not with --id-token"
    );
    let empty_password = jagspec_with_stdin(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--password",
            Some("-"),
        ),
        &[],
        Some("\n"),
    );
    assert_eq!(empty_password.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&empty_password.stderr).trim(),
        "error: --password: the password is empty"
    );
}

#[tokio::test]
async fn the_client_command_pins_the_issuer_given_with_the_issuer_flag() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;

    let out = jagspec(
        &cli_args(
            &world,
            &[
                "--client-secret",
                "agent-at-as-secret",
                "--issuer",
                "https://as.example",
            ],
        ),
        &[],
    );

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_line(&String::from_utf8_lossy(&out.stdout)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): the metadata's \
             authorization_servers [\"{}\"] do not include the expected issuer \
             `https://as.example`; no metadata is fetched and no secret sent",
            world.issuer()
        )
    );
}

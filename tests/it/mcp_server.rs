//! The mock MCP server and the SIEM sink over real sockets: RFC 9728 metadata, RFC 6750
//! challenges with their exact headers, the JSON-RPC surface, and what the sink keeps.

use crate::support::{NOW, clock, key};
use jagspec::mocks::ACCESS_TOKEN_TYP;
use jagspec::mocks::mcp_server::{McpServer, McpServerConfig, ToolConfig};
use jagspec::mocks::siem::{Delivery, SiemSink};
use jagspec::{Alg, FixedClock, ID_JAG_TYP, JwsHeader, KeySet, KeyStatus, Secret, TrustedJwks};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The issuer identifier of the server's authorization server (with its trailing slash).
const AS: &str = "http://127.0.0.1:9/";

/// A running MCP server and what a test needs to talk to it.
struct Env {
    /// The server's resource identifier, which is also its MCP endpoint.
    resource: String,
    /// `http://127.0.0.1:<port>`.
    origin: String,
    metadata_url: String,
    clock: Arc<FixedClock>,
    http: reqwest::Client,
}

/// What the server answered.
struct Reply {
    status: u16,
    www_authenticate: Option<String>,
    allow: Option<String>,
    content_type: Option<String>,
    text: String,
    /// The body as JSON, or null when it is empty or not JSON.
    body: Value,
}

/// Two scopes; `echo` needs none, `history` needs `chat.history`.
fn config() -> McpServerConfig {
    McpServerConfig {
        name: "chat".to_owned(),
        scopes: vec!["chat.read".to_owned(), "chat.history".to_owned()],
        tools: vec![
            ToolConfig {
                name: "echo".to_owned(),
                description: None,
                scope: None,
            },
            ToolConfig {
                name: "history".to_owned(),
                description: None,
                scope: Some("chat.history".to_owned()),
            },
        ],
    }
}

/// The AS's keys as the server trusts them: ES256 fixture key 1 only.
fn trusted() -> TrustedJwks {
    let mut keys = KeySet::new();
    keys.insert(key(Alg::ES256), KeyStatus::Active).unwrap();
    keys.jwks().into()
}

async fn serve(router: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

impl Env {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{origin}/mcp");
        let clock = clock();
        let server = Arc::new(McpServer::new(
            config(),
            resource.clone(),
            AS.to_owned(),
            trusted(),
            clock.clone(),
        ));
        let metadata_url = server.metadata_url();
        let router = server.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            resource,
            origin,
            metadata_url,
            clock,
            http: reqwest::Client::new(),
        }
    }

    /// RFC 9068 claims for this server, issued at NOW for five minutes.
    fn claims(&self) -> Value {
        json!({
            "iss": AS,
            "sub": "alice",
            "aud": self.resource,
            "client_id": "agent-at-as",
            "scope": "chat.read",
            "iat": NOW,
            "exp": NOW + 300,
            "jti": "at-1",
        })
    }

    /// A valid access token with these claims.
    fn token_with(&self, claims: &Value) -> String {
        let header = JwsHeader::new().typ(ACCESS_TOKEN_TYP);
        jagspec::sign(&key(Alg::ES256), &header, claims)
            .unwrap()
            .into_secret()
    }

    fn token(&self) -> String {
        self.token_with(&self.claims())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let www_authenticate = header("www-authenticate");
        let allow = header("allow");
        let content_type = header("content-type");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            www_authenticate,
            allow,
            content_type,
            text,
            body,
        }
    }

    /// POSTs `body` to the MCP endpoint with `authorization` as the header, if any.
    async fn post_raw(&self, authorization: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
        let mut request = self
            .http
            .post(&self.resource)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        self.send(request).await
    }

    /// A JSON-RPC message with `token` as its bearer token.
    async fn post(&self, token: Option<&str>, message: &Value) -> Reply {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.post_raw(authorization.as_deref(), message.to_string())
            .await
    }

    /// A JSON-RPC request (id 1) with a valid token.
    async fn rpc(&self, method: &str, params: Value) -> Reply {
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.post(Some(&self.token()), &message).await
    }

    async fn initialize(&self, token: Option<&str>) -> Reply {
        let message = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        });
        self.post(token, &message).await
    }

    /// The challenge an invalid token gets, with this description.
    fn invalid_token(&self, description: &str) -> String {
        format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\", \
             resource_metadata=\"{}\"",
            self.metadata_url
        )
    }
}

#[tokio::test]
async fn the_protected_resource_metadata_is_served_at_the_path_inserted_url_and_at_the_root() {
    let env = Env::start().await;
    assert_eq!(
        env.metadata_url,
        format!("{}/.well-known/oauth-protected-resource/mcp", env.origin)
    );
    let expected = json!({
        "resource": env.resource,
        "authorization_servers": [AS],
        "scopes_supported": ["chat.read", "chat.history"],
        "bearer_methods_supported": ["header"],
        "resource_name": "chat",
    });
    for url in [
        env.metadata_url.clone(),
        format!("{}/.well-known/oauth-protected-resource", env.origin),
    ] {
        let r = env.send(env.http.get(&url)).await;
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.body, expected, "{url}");
    }
    let r = env.send(env.http.post(&env.metadata_url)).await;
    assert_eq!((r.status, r.allow.as_deref()), (405, Some("GET, HEAD")));
}

#[tokio::test]
async fn an_initialize_without_a_token_gets_401_naming_the_metadata_and_the_scopes() {
    let env = Env::start().await;
    let expected = format!(
        "Bearer resource_metadata=\"{}\", scope=\"chat.read chat.history\"",
        env.metadata_url
    );
    let r = env.initialize(None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.www_authenticate.as_deref(), Some(expected.as_str()));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    // Another scheme is no bearer credential either: no error code (RFC 6750 §3.1).
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let r = env
        .post_raw(Some("Basic YWxpY2U6cHc="), message.to_string())
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.www_authenticate.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn a_valid_access_token_initializes_notifies_lists_tools_and_calls_echo() {
    let env = Env::start().await;
    let token = env.token();

    let r = env.initialize(Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        r.body,
        json!({
            "jsonrpc": "2.0", "id": 1,
            "result": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "jagspec-mock-chat", "version": env!("CARGO_PKG_VERSION")},
            },
        })
    );

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = env.post(Some(&token), &initialized).await;
    assert_eq!((r.status, r.text.as_str()), (202, ""));

    let r = env.rpc("ping", json!({})).await;
    assert_eq!(r.body, json!({"jsonrpc": "2.0", "id": 1, "result": {}}));

    let r = env.rpc("tools/list", json!({})).await;
    let schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    });
    assert_eq!(
        r.body["result"],
        json!({"tools": [
            {"name": "echo", "description": "Echoes its `text` argument", "inputSchema": schema},
            {
                "name": "history",
                "description": "Echoes its `text` argument. Requires scope `chat.history`",
                "inputSchema": schema,
            },
        ]})
    );

    // The scheme is case-insensitive (RFC 9110 §11.1).
    let call = json!({
        "jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hello"}},
    });
    let r = env
        .post_raw(Some(&format!("bearer {token}")), call.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({
            "jsonrpc": "2.0", "id": "call-1",
            "result": {
                "content": [{"type": "text", "text": "hello"}],
                "structuredContent": {
                    "text": "hello", "sub": "alice", "client_id": "agent-at-as", "scope": "chat.read",
                },
                "isError": false,
            },
        })
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refused_with_invalid_token() {
    let env = Env::start().await;
    let token = env.token();
    // Within exp + the 60 s skew it is still accepted; at exp + 60 s it is not.
    env.clock.advance(300 + 59);
    assert_eq!(env.initialize(Some(&token)).await.status, 200);
    env.clock.advance(1);
    let r = env.initialize(Some(&token)).await;
    assert_eq!(r.status, 401);
    let description = format!(
        "expected exp after now {} - skew 60s (found exp {}: expired)",
        NOW + 360,
        NOW + 300
    );
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(env.invalid_token(&description).as_str())
    );
    assert_eq!(
        r.body,
        json!({"error": "invalid_token", "error_description": description})
    );
}

#[tokio::test]
async fn an_access_token_for_another_mcp_server_is_refused_with_invalid_token() {
    let env = Env::start().await;
    let mut claims = env.claims();
    claims["aud"] = json!("http://127.0.0.1:1/mcp");
    let r = env.initialize(Some(&env.token_with(&claims))).await;
    assert_eq!(r.status, 401);
    let description = format!(
        "expected aud `{}` (found http://127.0.0.1:1/mcp)",
        env.resource
    );
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(env.invalid_token(&description).as_str())
    );
}

#[tokio::test]
async fn an_access_token_from_another_issuer_is_refused_with_invalid_token() {
    let env = Env::start().await;
    let mut claims = env.claims();
    // The issuer identifier is compared exactly: without its trailing slash it is another.
    claims["iss"] = json!("http://127.0.0.1:9");
    let r = env.initialize(Some(&env.token_with(&claims))).await;
    assert_eq!(r.status, 401);
    let description = "expected iss `http://127.0.0.1:9/` (found `http://127.0.0.1:9`)";
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(env.invalid_token(description).as_str())
    );
}

#[tokio::test]
async fn a_token_signed_by_an_untrusted_key_is_refused_with_invalid_token() {
    let env = Env::start().await;
    let header = JwsHeader::new().typ(ACCESS_TOKEN_TYP);
    let untrusted = jagspec::fixtures::signing_key(Alg::ES256, 2);
    let token = jagspec::sign(&untrusted, &header, &env.claims())
        .unwrap()
        .into_secret();
    let r = env.initialize(Some(&token)).await;
    assert_eq!(r.status, 401);
    let description = format!(
        "expected a kid from the trusted JWKS [{}] (found `{}`)",
        key(Alg::ES256).kid().as_str(),
        untrusted.kid().as_str()
    );
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(env.invalid_token(&description).as_str())
    );

    // The trusted key's kid does not help a signature made with another key.
    let forged = jagspec::sign(
        &untrusted,
        &header.kid(key(Alg::ES256).kid().clone()),
        &env.claims(),
    )
    .unwrap()
    .into_secret();
    let r = env.initialize(Some(&forged)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_token");
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("expected a signature that verifies"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_id_jag_presented_as_a_bearer_token_is_refused_by_its_typ() {
    let env = Env::start().await;
    let id_jag = jagspec::mint(&key(Alg::ES256), Some(ID_JAG_TYP), &env.claims())
        .unwrap()
        .into_secret();
    let r = env.initialize(Some(&id_jag)).await;
    assert_eq!(r.status, 401);
    let description = "expected typ `at+jwt`, RFC 7515 section 4.1.9 (found `oauth-id-jag+jwt`)";
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(env.invalid_token(description).as_str())
    );
    // An untyped token (an ID token, say) is refused too.
    let untyped = jagspec::mint(&key(Alg::ES256), None, &env.claims())
        .unwrap()
        .into_secret();
    let r = env.initialize(Some(&untyped)).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["error_description"],
        "expected typ `at+jwt`, RFC 7515 section 4.1.9 (found no typ)"
    );
    // And text that is no JWT at all.
    let r = env.initialize(Some("not-a-jwt")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_token");
}

#[tokio::test]
async fn a_tool_needing_a_scope_the_token_lacks_answers_403_insufficient_scope() {
    let env = Env::start().await;
    let call = json!({"name": "history", "arguments": {"text": "hi"}});
    let r = env.rpc("tools/call", call.clone()).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"chat.history\", \
                 resource_metadata=\"{}\"",
                env.metadata_url
            )
            .as_str()
        )
    );
    assert_eq!(r.body["error"], "insufficient_scope");

    // With the scope, the same call succeeds.
    let mut claims = env.claims();
    claims["scope"] = json!("chat.read chat.history");
    let message = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call});
    let r = env.post(Some(&env.token_with(&claims)), &message).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["result"]["structuredContent"]["scope"],
        "chat.read chat.history"
    );
}

#[tokio::test]
async fn malformed_messages_unknown_methods_and_unknown_tools_get_json_rpc_errors() {
    let env = Env::start().await;
    let bearer = format!("Bearer {}", env.token());
    let error = |r: &Reply| {
        (
            r.status,
            r.body["id"].clone(),
            r.body["error"]["code"].clone(),
        )
    };

    let r = env.post_raw(Some(&bearer), "{not json").await;
    assert_eq!(error(&r), (400, Value::Null, json!(-32700)));
    assert_eq!(r.body["jsonrpc"], "2.0");

    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]);
    let r = env.post_raw(Some(&bearer), batch.to_string()).await;
    assert_eq!(error(&r), (400, Value::Null, json!(-32600)));
    assert_eq!(
        r.body["error"]["message"],
        "invalid request: batches are not supported"
    );

    let old = json!({"jsonrpc": "1.0", "id": 2, "method": "ping"});
    let r = env.post_raw(Some(&bearer), old.to_string()).await;
    assert_eq!(error(&r), (200, json!(2), json!(-32600)));

    let no_method = json!({"jsonrpc": "2.0", "id": 3});
    let r = env.post_raw(Some(&bearer), no_method.to_string()).await;
    assert_eq!(error(&r), (200, json!(3), json!(-32600)));

    let r = env.rpc("resources/list", json!({})).await;
    assert_eq!(error(&r), (200, json!(1), json!(-32601)));

    let r = env
        .rpc(
            "tools/call",
            json!({"name": "nope", "arguments": {"text": "x"}}),
        )
        .await;
    assert_eq!(error(&r), (200, json!(1), json!(-32602)));
    assert_eq!(
        r.body["error"]["message"],
        "invalid params: unknown tool `nope`"
    );

    let r = env
        .rpc(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": 5}}),
        )
        .await;
    assert_eq!(error(&r), (200, json!(1), json!(-32602)));

    // The token is checked before the body: garbage without a token is a 401, not a 400.
    let r = env.post_raw(None, "{not json").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let env = Env::start().await;
    let bearer = format!("Bearer {}", env.token());
    let r = env
        .post_raw(Some(&bearer), vec![b' '; 1024 * 1024 + 1])
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"], "too_large");
}

#[tokio::test]
async fn get_and_delete_on_the_mcp_endpoint_answer_405_and_other_paths_404() {
    let env = Env::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = env
            .send(
                env.http
                    .request(method.clone(), &env.resource)
                    .bearer_auth(env.token()),
            )
            .await;
        assert_eq!(
            (r.status, r.allow.as_deref()),
            (405, Some("POST")),
            "{method}"
        );
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
    }
    let r = env
        .send(env.http.post(format!("{}/other", env.origin)))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
}

/// A sink requiring `hec-token`, at NOW.
async fn siem() -> (Arc<SiemSink>, String) {
    let sink = Arc::new(SiemSink::new(Some(Secret::new("hec-token")), clock()));
    let url = serve(sink.clone().router()).await;
    (sink, url)
}

#[tokio::test]
async fn the_siem_sink_keeps_ndjson_deliveries_in_order_and_lists_them_at_received() {
    let (sink, url) = siem().await;
    let http = reqwest::Client::new();
    let batch = "{\"event\":\"a\"}\n{\"event\":\"b\"}\n";
    let r = http
        .post(format!("{url}/events"))
        .bearer_auth("hec-token")
        .header("content-type", "application/x-ndjson")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"text": "Success", "code": 0})
    );
    // Splunk HEC's own scheme works too.
    let r = http
        .post(format!("{url}/services/collector/event"))
        .header("authorization", "Splunk hec-token")
        .body("{\"event\":\"c\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let first = Delivery {
        path: "/events".to_owned(),
        content_type: Some("application/x-ndjson".to_owned()),
        body: batch.to_owned(),
        received_at_ms: NOW * 1000,
    };
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0], first);
    assert_eq!(deliveries[1].path, "/services/collector/event");
    assert_eq!(
        sink.events(),
        vec![
            json!({"event": "a"}),
            json!({"event": "b"}),
            json!({"event": "c"})
        ]
    );

    let listed: Value = http
        .get(format!("{url}/received"))
        .bearer_auth("hec-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["deliveries"][0],
        serde_json::to_value(&first).unwrap()
    );
    assert_eq!(listed["deliveries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_siem_sink_refuses_a_missing_or_wrong_token_and_non_utf8_without_storing() {
    let (sink, url) = siem().await;
    let http = reqwest::Client::new();
    // Splunk HEC's own statuses and codes.
    let attempts = [
        (None, &b"{}"[..], 401, Some(2_u64)),
        (Some("Basic hec-token"), &b"{}"[..], 401, Some(3)),
        (Some("Bearer wrong-token"), &b"{}"[..], 403, Some(4)),
        (Some("Bearer hec-token"), &[0xff, 0xfe][..], 400, Some(6)),
    ];
    for (authorization, body, status, code) in attempts {
        let mut request = http.post(format!("{url}/events")).body(body.to_vec());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{authorization:?}");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"].as_u64(), code, "{authorization:?}");
    }
    assert_eq!(sink.deliveries(), vec![]);
    // What was received is guarded by the same token.
    let listing = http.get(format!("{url}/received")).send().await.unwrap();
    assert_eq!(listing.status(), 401);
    let listing = http
        .get(format!("{url}/received"))
        .header("authorization", "Splunk hec-token")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);
    assert!(!format!("{sink:?}").contains("hec-token"));
}

#[tokio::test]
async fn an_empty_bearer_credential_or_two_authorization_headers_are_invalid_requests() {
    let env = Env::start().await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let empty = env.post_raw(Some("Bearer "), ping.clone()).await;
    assert_eq!(
        (empty.status, empty.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(
        empty
            .www_authenticate
            .as_deref()
            .unwrap()
            .starts_with("Bearer error=\"invalid_request\""),
        "{:?}",
        empty.www_authenticate
    );

    let token = env.token();
    let two = env
        .send(
            env.http
                .post(&env.resource)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .header("authorization", format!("Bearer {token}"))
                .body(ping),
        )
        .await;
    assert_eq!(
        (two.status, two.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn initialize_answers_the_clients_version_only_when_the_server_speaks_it() {
    let env = Env::start().await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("banana", "2025-11-25"),
    ] {
        let reply = env
            .rpc(
                "initialize",
                json!({"protocolVersion": asked, "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}),
            )
            .await;
        assert_eq!(
            reply.body["result"]["protocolVersion"], answered,
            "asked {asked}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_mcp_protocol_version_header_is_a_400() {
    let env = Env::start().await;
    let reply = env
        .send(
            env.http
                .post(&env.resource)
                .bearer_auth(env.token())
                .header("mcp-protocol-version", "1999-01-01")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("unsupported_protocol_version"))
    );
    let ok = env
        .send(
            env.http
                .post(&env.resource)
                .bearer_auth(env.token())
                .header("mcp-protocol-version", "2025-11-25")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn a_json_rpc_response_from_the_client_is_accepted_with_202() {
    let env = Env::start().await;
    let reply = env
        .post(
            Some(&env.token()),
            &json!({"jsonrpc": "2.0", "id": 7, "result": {}}),
        )
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (202, ""));
}

#[tokio::test]
async fn a_full_siem_sink_answers_busy_and_keeps_what_it_had() {
    let sink = Arc::new(SiemSink::new(None, clock()).with_max_kept_bytes(10));
    let url = serve(Arc::clone(&sink).router()).await;
    let http = reqwest::Client::new();
    let first = http
        .post(format!("{url}/e"))
        .body("12345678")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = http
        .post(format!("{url}/e"))
        .body("123")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 503);
    let body: Value = second.json().await.unwrap();
    assert_eq!(
        (body["text"].as_str(), body["code"].as_u64()),
        (Some("Server is busy"), Some(9))
    );
    assert_eq!(sink.deliveries().len(), 1);
}

//! The issuer's admin API over real sockets: authentication, every registration rule of the
//! seeds with its exact status, code and message, the kill switch, scopes, grants, users,
//! clients and key rotation as the JWKS publishes it.

use crate::support::TempDb;
use jagspec::Secret;
use jagspec::issuer::{IssuerConfig, RunningIssuer};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-of-the-admin-tests";

/// An issuer with a known admin token, and a client for it.
struct Admin {
    issuer: RunningIssuer,
    http: reqwest::Client,
    _db: TempDb,
}

/// A response: status, headers, and the body as JSON (`Null` when empty).
struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Reply {
    /// Asserts an admin-API error: exact status, code and message, `no-store`.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.body,
            json!({"error": code, "error_description": message}),
            "status {status}"
        );
        assert_eq!(self.header("cache-control"), "no-store");
        assert_eq!(self.header("content-type"), "application/json");
    }

    #[track_caller]
    fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        &self.body
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Admin {
    async fn start(name: &str) -> Self {
        let db = TempDb::new(name);
        let issuer = RunningIssuer::start(IssuerConfig {
            admin_token: Secret::new(TOKEN),
            ..IssuerConfig::new(db.path())
        })
        .await
        .expect("the issuer starts");
        Self {
            issuer,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    fn url(&self) -> &str {
        &self.issuer.url
    }

    /// Sends `method path` with the admin token and `body` as JSON.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends a raw body with a given content type.
    async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body);
        send(request).await
    }

    /// The kids the issuer publishes at its JWKS.
    async fn published_kids(&self) -> Vec<String> {
        let jwks: Value = self
            .http
            .get(format!("{}/jwks", self.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Registers a resource server with scopes, returning its JSON.
    async fn register(&self, audience: &str) -> Value {
        self.post(
            "/admin/resource-servers",
            json!({
                "id": "chat",
                "name": "Chat MCP",
                "audience": audience,
                "resource_uris": ["https://mcp.example/mcp", "https://mcp.example/v2/mcp"],
                "max_lifetime": 120,
                "alg": "RS256",
                "scopes": [
                    {"name": "chat.read", "enabled": true},
                    {"name": "chat.write", "enabled": false},
                ],
            }),
        )
        .await
        .assert_status(201)
        .clone()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Reply {
        status,
        headers,
        text,
        body,
    }
}

/// Every endpoint, with a concrete path.
fn every_endpoint() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/admin/tenant"),
        (Method::PATCH, "/admin/tenant"),
        (Method::GET, "/admin/resource-servers"),
        (Method::POST, "/admin/resource-servers"),
        (Method::GET, "/admin/resource-servers/chat"),
        (Method::PATCH, "/admin/resource-servers/chat"),
        (Method::DELETE, "/admin/resource-servers/chat"),
        (Method::POST, "/admin/resource-servers/chat/disable"),
        (Method::POST, "/admin/resource-servers/chat/enable"),
        (Method::PUT, "/admin/resource-servers/chat/scopes/chat.read"),
        (
            Method::DELETE,
            "/admin/resource-servers/chat/scopes/chat.read",
        ),
        (Method::GET, "/admin/grants"),
        (Method::POST, "/admin/grants"),
        (Method::DELETE, "/admin/grants"),
        (Method::GET, "/admin/users"),
        (Method::POST, "/admin/users"),
        (Method::DELETE, "/admin/users/alice"),
        (Method::GET, "/admin/clients"),
        (Method::POST, "/admin/clients"),
        (Method::DELETE, "/admin/clients/agent"),
        (Method::GET, "/admin/keys"),
        (Method::POST, "/admin/keys"),
        (Method::POST, "/admin/keys/k1/retire"),
        (Method::DELETE, "/admin/keys/k1"),
        (Method::GET, "/admin/no-such-endpoint"),
        (Method::PUT, "/admin/tenant"),
    ]
}

#[tokio::test]
async fn every_admin_endpoint_refuses_a_request_without_the_admin_token_with_401() {
    let admin = Admin::start("no-token").await;
    let missing = "the admin API requires `Authorization: Bearer <admin token>`";
    let wrong = "the admin token is not valid";
    let cases: [(Option<&str>, &str, &str); 6] = [
        (None, missing, "Bearer realm=\"jagspec-admin\""),
        (
            Some("Basic YWRtaW46YWRtaW4="),
            missing,
            "Bearer realm=\"jagspec-admin\"",
        ),
        (Some("Bearer"), missing, "Bearer realm=\"jagspec-admin\""),
        // Trailing whitespace is not part of a field value (RFC 9110 §5.5): no token.
        (Some("Bearer "), missing, "Bearer realm=\"jagspec-admin\""),
        (
            Some("Bearer admin-token-of-the-admin-test"),
            wrong,
            "Bearer realm=\"jagspec-admin\", error=\"invalid_token\"",
        ),
        (
            Some("Bearer admin-token-of-the-admin-tests-and-more"),
            wrong,
            "Bearer realm=\"jagspec-admin\", error=\"invalid_token\"",
        ),
    ];
    for (method, path) in every_endpoint() {
        for (authorization, message, challenge) in &cases {
            // A body that would be refused as malformed: authentication comes first.
            let mut request = admin
                .http
                .request(method.clone(), format!("{}{path}", admin.url()))
                .header("content-type", "application/json")
                .body("{not json");
            if let Some(a) = authorization {
                request = request.header("authorization", HeaderValue::from_str(a).unwrap());
            }
            let reply = send(request).await;
            reply.assert_error(401, "invalid_token", message);
            assert_eq!(
                reply.header("www-authenticate"),
                *challenge,
                "{method} {path}"
            );
        }
    }
    // Nothing was changed by the refused writes.
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));
    assert_eq!(admin.get("/admin/keys").await.body, json!([]));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
    let admin = Admin::start("scheme").await;
    let reply = send(
        admin
            .http
            .get(format!("{}/admin/tenant", admin.url()))
            .header("authorization", format!("bearer {TOKEN}")),
    )
    .await;
    reply.assert_status(200);
    let reply = send(
        admin
            .http
            .get(format!("{}/admin/tenant", admin.url()))
            .header("authorization", format!("Bearer {}", TOKEN.to_uppercase())),
    )
    .await;
    reply.assert_error(401, "invalid_token", "the admin token is not valid");
}

#[tokio::test]
async fn the_tenant_settings_are_shown_and_patched() {
    let admin = Admin::start("tenant").await;
    let reply = admin.get("/admin/tenant").await;
    assert_eq!(
        reply.assert_status(200),
        &json!({
            "url": admin.url(),
            "ema_enabled": true,
            "default_alg": "ES256",
            "default_max_lifetime": null,
        })
    );
    assert_eq!(reply.header("cache-control"), "no-store");

    let reply = admin
        .patch(
            "/admin/tenant",
            json!({"default_alg": "EdDSA", "default_max_lifetime": 600}),
        )
        .await;
    let expected = json!({
        "url": admin.url(),
        "ema_enabled": true,
        "default_alg": "EdDSA",
        "default_max_lifetime": 600,
    });
    assert_eq!(reply.assert_status(200), &expected);
    assert_eq!(admin.get("/admin/tenant").await.body, expected);

    // `null` unsets the default lifetime (back to 300 s); absent fields are kept.
    let reply = admin
        .patch("/admin/tenant", json!({"default_max_lifetime": null}))
        .await;
    assert_eq!(
        reply.assert_status(200)["default_max_lifetime"],
        Value::Null
    );
    assert_eq!(reply.body["default_alg"], "EdDSA");

    admin
        .patch("/admin/tenant", json!({"default_max_lifetime": 0}))
        .await
        .assert_error(
            400,
            "invalid_lifetime",
            "expected a maximum grant lifetime of at least 1 second (found 0)",
        );
    // The URL is the issuer identifier: not a patchable field.
    let reply = admin
        .patch("/admin/tenant", json!({"url": "https://elsewhere.example"}))
        .await;
    reply.assert_error(
        400,
        "invalid_request",
        "Failed to deserialize the JSON body into the target type: url: unknown field `url`, expected one of `ema_enabled`, `default_alg`, `default_max_lifetime` at line 1 column 6",
    );
}

#[tokio::test]
async fn a_registered_resource_server_is_shown_as_posted_and_can_be_posted_back() {
    let admin = Admin::start("register").await;
    let created = admin.register("https://as.example").await;
    let expected = json!({
        "id": "chat",
        "name": "Chat MCP",
        "audience": "https://as.example",
        "resource_uris": ["https://mcp.example/mcp", "https://mcp.example/v2/mcp"],
        "max_lifetime": 120,
        "alg": "RS256",
        "disabled": false,
        "modify_claims_hook": null,
        "scopes": [
            {"name": "chat.read", "enabled": true},
            {"name": "chat.write", "enabled": false},
        ],
    });
    assert_eq!(created, expected);
    assert_eq!(
        admin
            .get("/admin/resource-servers/chat")
            .await
            .assert_status(200),
        &expected
    );
    assert_eq!(
        admin
            .get("/admin/resource-servers")
            .await
            .assert_status(200),
        &json!([expected])
    );

    // A minimal registration: id derived, name = audience, indefinite lifetime, inherit.
    let minimal = admin
        .post(
            "/admin/resource-servers",
            json!({"audience": "https://as2.example"}),
        )
        .await;
    assert_eq!(
        minimal.assert_status(201),
        &json!({
            "id": "rs1",
            "name": "https://as2.example",
            "audience": "https://as2.example",
            "resource_uris": [],
            "max_lifetime": null,
            "alg": "inherit",
            "disabled": false,
            "modify_claims_hook": null,
            "scopes": [],
        })
    );

    // The shown JSON is a valid registration: delete, post it back, get the same server.
    admin
        .delete("/admin/resource-servers/chat")
        .await
        .assert_status(204);
    admin
        .get("/admin/resource-servers/chat")
        .await
        .assert_error(404, "not_found", "no resource server with id `chat`");
    let again = admin
        .post("/admin/resource-servers", expected.clone())
        .await;
    assert_eq!(again.assert_status(201), &expected);
}

#[tokio::test]
async fn registration_without_an_audience_is_refused() {
    let admin = Admin::start("audience-required").await;
    for body in [
        json!({}),
        json!({"audience": ""}),
        json!({"audience": "   ", "resource_uris": ["https://mcp.example/mcp"]}),
    ] {
        admin
            .post("/admin/resource-servers", body)
            .await
            .assert_error(400, "audience_required", "the audience is required");
    }
}

#[tokio::test]
async fn registration_with_the_tenant_url_as_audience_is_refused_with_or_without_a_trailing_slash()
{
    let admin = Admin::start("audience-tenant").await;
    let url = admin.url().to_owned();
    let message = format!(
        "the audience must not be the tenant's own URL `{url}`: the tenant is the issuer, not the audience"
    );
    for audience in [url.clone(), format!("{url}/")] {
        admin
            .post("/admin/resource-servers", json!({"audience": audience}))
            .await
            .assert_error(400, "audience_is_tenant_url", &message);
    }
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));
}

#[tokio::test]
async fn every_spelling_of_the_tenant_url_is_refused_and_one_url_is_registered_once() {
    let admin = Admin::start("audience-spellings").await;
    let url = admin.url().to_owned();
    let port = url.rsplit(':').next().unwrap().to_owned();
    let tenant = format!(
        "the audience must not be the tenant's own URL `{url}`: the tenant is the issuer, not the audience"
    );
    for spelling in [
        format!("HTTP://127.0.0.1:{port}"),
        format!("http://127.1:{port}"),
        format!("http://127.0.0.1:0{port}"),
        format!("{url}/."),
        format!("{url}/a/.."),
        format!("{url}?"),
    ] {
        admin
            .post("/admin/resource-servers", json!({"audience": spelling}))
            .await
            .assert_error(400, "audience_is_tenant_url", &tenant);
    }
    // A fragment or user info is refused outright, whatever it names; the password is
    // never quoted back (the URL is shown as a parser writes it, without it).
    for (spelling, shown, reason) in [
        (
            format!("{url}#"),
            format!("{url}#"),
            "it has a fragment (`#`)",
        ),
        (
            format!("http://user:pass@127.0.0.1:{port}"),
            format!("http://user@127.0.0.1:{port}/"),
            "it carries user info (`user:password@`)",
        ),
    ] {
        admin
            .post("/admin/resource-servers", json!({"audience": spelling}))
            .await
            .assert_error(
                400,
                "audience_not_url",
                &format!("expected the audience to be an absolute http(s) URL (found `{shown}`): {reason}"),
            );
    }
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));

    // One authorization server, two spellings: the second is a duplicate.
    admin.register("https://as.example").await;
    for spelling in [
        "https://as.example/",
        "HTTPS://AS.EXAMPLE:443",
        "https://as.example?",
    ] {
        admin
            .post("/admin/resource-servers", json!({"audience": spelling}))
            .await
            .assert_error(
                409,
                "conflict",
                "a resource server with audience `https://as.example` already exists; add the resource URIs to it instead",
            );
    }
    // Resource URIs that are one URL are kept once, in the first spelling.
    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"resource_uris": ["https://mcp.example/mcp", "HTTPS://mcp.example:443/mcp", "https://mcp.example/./mcp"]}),
        )
        .await;
    assert_eq!(
        reply.assert_status(200)["resource_uris"],
        json!(["https://mcp.example/mcp"])
    );
    // A server id is one path segment of the admin API: `.`, `..`, `/`, `?`, `#`, `%`,
    // spaces and control characters would name another path or none.
    for id in [".", "..", "a/b", "a?b", "a#b", "a%2e", " a", "a\u{7}"] {
        admin
            .post("/admin/resource-servers", json!({"audience": "https://other.example", "id": id}))
            .await
            .assert_error(
                400,
                "invalid_request",
                &format!(
                    "the id `{}` is not a path segment of its own: use letters, digits, `-`, `.`, `_` and `~` (RFC 3986 §2.3), and not `.` or `..`",
                    id.escape_debug()
                ),
            );
    }
    // Naming the current audience in another spelling is no change.
    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"audience": "HTTPS://as.example/", "name": "Chat"}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["audience"], "https://as.example");
}

#[tokio::test]
async fn registration_with_an_audience_that_is_not_an_absolute_http_url_is_refused() {
    let admin = Admin::start("audience-url").await;
    for (audience, reason) in [
        ("as.example", "it is not an absolute URL"),
        ("/issuer", "it is not an absolute URL"),
        ("ftp://as.example", "it is not an http(s) URL with a host"),
        ("https://", "it is not an absolute URL"),
        ("https://as.example#", "it has a fragment (`#`)"),
        (
            "https://user:pass@as.example",
            "it carries user info (`user:password@`)",
        ),
        ("https://as.example\n", "it begins or ends with white space"),
    ] {
        // The password is never quoted back.
        let shown = audience.replace("user:pass@as.example", "user@as.example/");
        admin
            .post("/admin/resource-servers", json!({"audience": audience}))
            .await
            .assert_error(
                400,
                "audience_not_url",
                &format!(
                    "expected the audience to be an absolute http(s) URL (found `{}`): {reason}",
                    shown.escape_debug()
                ),
            );
    }
    // The wrong JSON type is a body error, not a rule.
    admin
        .post("/admin/resource-servers", json!({"audience": 5}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to deserialize the JSON body into the target type: audience: invalid type: integer `5`, expected a string at line 1 column 13",
        );
}

#[tokio::test]
async fn a_second_registration_with_the_same_audience_is_refused_with_409() {
    let admin = Admin::start("audience-taken").await;
    admin.register("https://as.example").await;
    let reply = admin
        .post(
            "/admin/resource-servers",
            json!({"id": "other", "audience": "https://as.example"}),
        )
        .await;
    reply.assert_error(
        409,
        "conflict",
        "a resource server with audience `https://as.example` already exists; add the resource URIs to it instead",
    );
    // The id is unique too.
    admin
        .post(
            "/admin/resource-servers",
            json!({"id": "chat", "audience": "https://as3.example"}),
        )
        .await
        .assert_error(
            409,
            "conflict",
            "a resource server with id `chat` already exists",
        );
    assert_eq!(
        admin
            .get("/admin/resource-servers")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_audience_cannot_be_changed_after_creation() {
    let admin = Admin::start("audience-immutable").await;
    let before = admin.register("https://as.example").await;
    admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"audience": "https://as-new.example"}),
        )
        .await
        .assert_error(
            400,
            "audience_immutable",
            "the audience is fixed after creation (it is `https://as.example`; found `https://as-new.example`): re-register the server to change it",
        );
    assert_eq!(admin.get("/admin/resource-servers/chat").await.body, before);

    // Naming the current audience is not a change.
    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"audience": "https://as.example", "name": "Chat"}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["name"], "Chat");
    assert_eq!(reply.body["audience"], "https://as.example");
}

#[tokio::test]
async fn resource_uris_must_be_absolute_urls_without_a_fragment() {
    let admin = Admin::start("resource-uris").await;
    for (uri, reason) in [
        ("mcp.example/mcp", "it is not an absolute URL"),
        ("/mcp", "it is not an absolute URL"),
        ("https://mcp.example/mcp#tools", "it has a fragment (`#`)"),
        (
            "https://u:p@mcp.example/mcp",
            "it carries user info (`user:password@`)",
        ),
        (
            " https://mcp.example/mcp",
            "it begins or ends with white space",
        ),
    ] {
        let shown = uri.replace("u:p@", "u@");
        let message = format!("resource URI `{shown}` is refused: {reason}");
        admin
            .post(
                "/admin/resource-servers",
                json!({"audience": "https://as.example", "resource_uris": ["https://ok.example/mcp", uri]}),
            )
            .await
            .assert_error(400, "invalid_resource_uri", &message);
        assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));
    }
    let before = admin.register("https://as.example").await;
    admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"resource_uris": ["https://mcp.example/mcp#frag"]}),
        )
        .await
        .assert_error(
            400,
            "invalid_resource_uri",
            "resource URI `https://mcp.example/mcp#frag` is refused: it has a fragment (`#`)",
        );
    assert_eq!(admin.get("/admin/resource-servers/chat").await.body, before);

    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"resource_uris": ["https://mcp.example/v3/mcp"]}),
        )
        .await;
    assert_eq!(
        reply.assert_status(200)["resource_uris"],
        json!(["https://mcp.example/v3/mcp"])
    );
}

#[tokio::test]
async fn a_signing_algorithm_other_than_inherit_eddsa_rs256_or_es256_is_refused() {
    let admin = Admin::start("alg").await;
    for alg in ["HS256", "es256", "none"] {
        let body = format!(r#"{{"audience":"https://as.example","alg":"{alg}"}}"#);
        let column = body.len();
        admin
            .raw(
                Method::POST,
                "/admin/resource-servers",
                "application/json",
                body.into_bytes(),
            )
            .await
            .assert_error(
                400,
                "invalid_request",
                &format!(
                    "Failed to deserialize the JSON body into the target type: alg: expected one of inherit, EdDSA, RS256, ES256 (found `{alg}`) at line 1 column {column}"
                ),
            );
    }
    for alg in ["inherit", "EdDSA", "RS256", "ES256"] {
        let audience = format!("https://as-{}.example", alg.to_lowercase());
        let reply = admin
            .post(
                "/admin/resource-servers",
                json!({"audience": audience, "alg": alg}),
            )
            .await;
        assert_eq!(reply.assert_status(201)["alg"], alg);
    }
    admin
        .patch("/admin/resource-servers/rs1", json!({"alg": "PS256"}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to deserialize the JSON body into the target type: alg: expected one of inherit, EdDSA, RS256, ES256 (found `PS256`) at line 1 column 15",
        );
}

#[tokio::test]
async fn the_modify_claims_hook_is_refused_as_not_yet_available() {
    let admin = Admin::start("hook").await;
    let message =
        "the modify-claims hook is not yet available: the field is reserved for a future release";
    admin
        .post(
            "/admin/resource-servers",
            json!({"audience": "https://as.example", "modify_claims_hook": "fn-123"}),
        )
        .await
        .assert_error(400, "modify_claims_hook_not_available", message);
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));

    let before = admin.register("https://as.example").await;
    admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"modify_claims_hook": "fn-123"}),
        )
        .await
        .assert_error(400, "modify_claims_hook_not_available", message);
    // `null` is "no hook", which is what it already is.
    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"modify_claims_hook": null}),
        )
        .await;
    assert_eq!(reply.assert_status(200), &before);
}

#[tokio::test]
async fn registration_is_refused_while_the_tenant_has_enterprise_managed_authorization_disabled() {
    let admin = Admin::start("tenant-disabled").await;
    admin
        .patch("/admin/tenant", json!({"ema_enabled": false}))
        .await
        .assert_status(200);
    admin
        .post(
            "/admin/resource-servers",
            json!({"audience": "https://as.example"}),
        )
        .await
        .assert_error(
            409,
            "tenant_disabled",
            "enterprise-managed authorization is disabled for the tenant: resource servers cannot be registered",
        );
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));
    admin
        .patch("/admin/tenant", json!({"ema_enabled": true}))
        .await
        .assert_status(200);
    admin.register("https://as.example").await;
}

#[tokio::test]
async fn a_zero_maximum_grant_lifetime_is_refused_and_null_means_indefinite() {
    let admin = Admin::start("lifetime").await;
    let message = "expected a maximum grant lifetime of at least 1 second (found 0)";
    admin
        .post(
            "/admin/resource-servers",
            json!({"audience": "https://as.example", "max_lifetime": 0}),
        )
        .await
        .assert_error(400, "invalid_lifetime", message);
    admin.register("https://as.example").await;
    admin
        .patch("/admin/resource-servers/chat", json!({"max_lifetime": 0}))
        .await
        .assert_error(400, "invalid_lifetime", message);
    let reply = admin
        .patch(
            "/admin/resource-servers/chat",
            json!({"max_lifetime": null}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["max_lifetime"], Value::Null);
}

#[tokio::test]
async fn disabling_then_enabling_a_server_keeps_its_whole_configuration() {
    let admin = Admin::start("kill-switch").await;
    let before = admin.register("https://as.example").await;
    assert_eq!(before["disabled"], false);

    let disabled = admin
        .post("/admin/resource-servers/chat/disable", json!({}))
        .await;
    let mut expected = before.clone();
    expected["disabled"] = json!(true);
    assert_eq!(disabled.assert_status(200), &expected);
    assert_eq!(
        admin.get("/admin/resource-servers/chat").await.body,
        expected
    );

    // Disabling twice is still disabled.
    admin
        .post("/admin/resource-servers/chat/disable", json!({}))
        .await
        .assert_status(200);

    let enabled = admin
        .post("/admin/resource-servers/chat/enable", json!({}))
        .await;
    assert_eq!(enabled.assert_status(200), &before);
    assert_eq!(admin.get("/admin/resource-servers/chat").await.body, before);

    // The kill switch through PATCH is the same switch.
    let reply = admin
        .patch("/admin/resource-servers/chat", json!({"disabled": true}))
        .await;
    assert_eq!(reply.assert_status(200), &expected);

    admin
        .post("/admin/resource-servers/nope/disable", json!({}))
        .await
        .assert_error(404, "not_found", "no resource server with id `nope`");
    admin
        .post("/admin/resource-servers/nope/enable", json!({}))
        .await
        .assert_error(404, "not_found", "no resource server with id `nope`");
}

#[tokio::test]
async fn scopes_are_defined_enabled_disabled_and_removed() {
    let admin = Admin::start("scopes").await;
    admin.register("https://as.example").await;
    let path = "/admin/resource-servers/chat/scopes";

    let reply = admin
        .put(&format!("{path}/chat.write"), json!({"enabled": true}))
        .await;
    assert_eq!(
        reply.assert_status(200)["scopes"],
        json!([
            {"name": "chat.read", "enabled": true},
            {"name": "chat.write", "enabled": true},
        ])
    );
    let reply = admin
        .put(&format!("{path}/chat.read"), json!({"enabled": false}))
        .await;
    assert_eq!(
        reply.assert_status(200)["scopes"],
        json!([
            {"name": "chat.read", "enabled": false},
            {"name": "chat.write", "enabled": true},
        ])
    );
    let reply = admin
        .put(&format!("{path}/chat.admin"), json!({"enabled": false}))
        .await;
    assert_eq!(
        reply.assert_status(200)["scopes"][2],
        json!({"name": "chat.admin", "enabled": false})
    );

    admin
        .delete(&format!("{path}/chat.admin"))
        .await
        .assert_status(204);
    admin
        .delete(&format!("{path}/chat.admin"))
        .await
        .assert_error(
            404,
            "not_found",
            "no scope `chat.admin` on resource server `chat`",
        );
    assert_eq!(
        admin.get("/admin/resource-servers/chat").await.body["scopes"],
        json!([
            {"name": "chat.read", "enabled": false},
            {"name": "chat.write", "enabled": true},
        ])
    );

    admin
        .put(&format!("{path}/chat%20read"), json!({"enabled": true}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "`chat read` is not a valid scope token (RFC 6749 §3.3)",
        );
    admin
        .put(
            "/admin/resource-servers/nope/scopes/chat.read",
            json!({"enabled": true}),
        )
        .await
        .assert_error(404, "not_found", "no resource server with id `nope`");
    admin
        .put(&format!("{path}/chat.read"), json!({}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to deserialize the JSON body into the target type: missing field `enabled` at line 1 column 2",
        );
}

#[tokio::test]
async fn grants_are_added_listed_filtered_and_removed() {
    let admin = Admin::start("grants").await;
    admin.register("https://as.example").await;
    admin
        .post(
            "/admin/users",
            json!({"name": "alice", "password": "pw-alice"}),
        )
        .await
        .assert_status(201);
    admin
        .post("/admin/users", json!({"name": "bob", "password": "pw-bob"}))
        .await
        .assert_status(201);

    let grant = json!({"user": "alice", "server": "chat", "scope": "chat.read"});
    assert_eq!(
        admin
            .post("/admin/grants", grant.clone())
            .await
            .assert_status(201),
        &grant
    );
    // Granting again is not an error; 200 says it already existed.
    assert_eq!(
        admin
            .post("/admin/grants", grant.clone())
            .await
            .assert_status(200),
        &grant
    );
    let bob = json!({"user": "bob", "server": "chat", "scope": "chat.write"});
    admin
        .post("/admin/grants", bob.clone())
        .await
        .assert_status(201);
    assert_eq!(
        admin.get("/admin/grants").await.assert_status(200),
        &json!([grant, bob])
    );
    assert_eq!(
        admin.get("/admin/grants?user=bob").await.assert_status(200),
        &json!([bob])
    );
    assert_eq!(
        admin
            .get("/admin/grants?server=chat&scope=chat.read")
            .await
            .assert_status(200),
        &json!([grant])
    );

    admin
        .post(
            "/admin/grants",
            json!({"user": "carol", "server": "chat", "scope": "chat.read"}),
        )
        .await
        .assert_error(404, "not_found", "no user `carol`");
    admin
        .post(
            "/admin/grants",
            json!({"user": "alice", "server": "nope", "scope": "chat.read"}),
        )
        .await
        .assert_error(404, "not_found", "no resource server with id `nope`");
    admin
        .post(
            "/admin/grants",
            json!({"user": "alice", "server": "chat", "scope": "chat.admin"}),
        )
        .await
        .assert_error(
            404,
            "not_found",
            "no scope `chat.admin` on resource server `chat`",
        );

    // Removal by JSON body, then by query.
    admin
        .call(Method::DELETE, "/admin/grants", Some(grant.clone()))
        .await
        .assert_status(204);
    assert_eq!(admin.get("/admin/grants").await.body, json!([bob]));
    admin
        .delete("/admin/grants?user=bob&server=chat&scope=chat.write")
        .await
        .assert_status(204);
    assert_eq!(admin.get("/admin/grants").await.body, json!([]));
    // Revoking what is not held succeeds (idempotent).
    admin
        .delete("/admin/grants?user=bob&server=chat&scope=chat.write")
        .await
        .assert_status(204);
    admin.delete("/admin/grants?user=bob").await.assert_error(
        400,
        "invalid_request",
        "name the grant with all of `user`, `server` and `scope` in the query, or with a JSON body",
    );
    admin.delete("/admin/grants").await.assert_error(
        400,
        "invalid_request",
        "expected `Content-Type: application/json` (found none)",
    );
}

#[tokio::test]
async fn users_are_listed_with_their_sub_and_never_their_password_hash() {
    let admin = Admin::start("users").await;
    let reply = admin
        .post(
            "/admin/users",
            json!({"name": "alice", "sub": "u-0001", "password": "pw-alice"}),
        )
        .await;
    assert_eq!(
        reply.assert_status(201),
        &json!({"name": "alice", "sub": "u-0001"})
    );
    let reply = admin
        .post("/admin/users", json!({"name": "bob", "password": "pw-bob"}))
        .await;
    assert_eq!(
        reply.assert_status(201),
        &json!({"name": "bob", "sub": "bob"})
    );

    let reply = admin.get("/admin/users").await;
    assert_eq!(
        reply.assert_status(200),
        &json!([{"name": "alice", "sub": "u-0001"}, {"name": "bob", "sub": "bob"}])
    );
    for leak in ["sha256$", "pw-alice", "password"] {
        assert!(!reply.text.contains(leak), "{leak} in {}", reply.text);
    }

    admin
        .post(
            "/admin/users",
            json!({"name": "alice", "password": "other"}),
        )
        .await
        .assert_error(
            409,
            "conflict",
            "a user with name or sub `alice` already exists",
        );
    admin
        .post(
            "/admin/users",
            json!({"name": "carol", "sub": "u-0001", "password": "other"}),
        )
        .await
        .assert_error(
            409,
            "conflict",
            "a user with name or sub `carol` already exists",
        );
    admin
        .post("/admin/users", json!({"name": "carol", "password": ""}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "a user needs a name, a sub and a password",
        );

    admin.delete("/admin/users/bob").await.assert_status(204);
    admin
        .delete("/admin/users/bob")
        .await
        .assert_error(404, "not_found", "no user `bob`");
    assert_eq!(
        admin.get("/admin/users").await.body,
        json!([{"name": "alice", "sub": "u-0001"}])
    );
}

#[tokio::test]
async fn clients_are_listed_with_their_as_client_ids_and_never_their_secret_hash() {
    let admin = Admin::start("clients").await;
    let reply = admin
        .post(
            "/admin/clients",
            json!({
                "client_id": "agent",
                "client_secret": "agent-secret",
                "as_client_ids": {"https://as.example": "agent-at-as"},
            }),
        )
        .await;
    let agent =
        json!({"client_id": "agent", "as_client_ids": {"https://as.example": "agent-at-as"}});
    assert_eq!(reply.assert_status(201), &agent);
    let reply = admin
        .post(
            "/admin/clients",
            json!({"client_id": "bot", "client_secret": "bot-secret"}),
        )
        .await;
    let bot = json!({"client_id": "bot", "as_client_ids": {}});
    assert_eq!(reply.assert_status(201), &bot);

    let reply = admin.get("/admin/clients").await;
    assert_eq!(reply.assert_status(200), &json!([agent, bot]));
    for leak in ["sha256$", "agent-secret", "secret"] {
        assert!(!reply.text.contains(leak), "{leak} in {}", reply.text);
    }

    admin
        .post(
            "/admin/clients",
            json!({"client_id": "agent", "client_secret": "x"}),
        )
        .await
        .assert_error(409, "conflict", "a client `agent` already exists");
    admin
        .post(
            "/admin/clients",
            json!({"client_id": "carol", "client_secret": ""}),
        )
        .await
        .assert_error(400, "invalid_request", "a client needs an id and a secret");

    admin.delete("/admin/clients/bot").await.assert_status(204);
    admin
        .delete("/admin/clients/bot")
        .await
        .assert_error(404, "not_found", "no client `bot`");
    assert_eq!(admin.get("/admin/clients").await.body, json!([agent]));
}

#[tokio::test]
async fn generating_a_key_makes_it_active_retires_the_previous_one_and_the_jwks_publishes_both() {
    let admin = Admin::start("keys-rotate").await;
    assert_eq!(admin.get("/admin/keys").await.body, json!([]));

    let first = admin.post("/admin/keys", json!({"alg": "ES256"})).await;
    let first = first.assert_status(201).clone();
    assert_eq!(first["alg"], "ES256");
    assert_eq!(first["status"], "active");
    let k1 = first["kid"].as_str().unwrap().to_owned();

    let second = admin.post("/admin/keys", json!({"alg": "ES256"})).await;
    let second = second.assert_status(201).clone();
    let k2 = second["kid"].as_str().unwrap().to_owned();
    assert_ne!(k1, k2);

    let reply = admin.get("/admin/keys").await;
    assert_eq!(
        reply.assert_status(200),
        &json!([
            {"kid": k1, "alg": "ES256", "status": "retired"},
            {"kid": k2, "alg": "ES256", "status": "active"},
        ])
    );
    assert!(!reply.text.contains("PRIVATE"), "{}", reply.text);
    assert_eq!(admin.published_kids().await, vec![k1, k2]);

    admin
        .post("/admin/keys", json!({"alg": "HS256"}))
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to deserialize the JSON body into the target type: alg: unknown variant `HS256`, expected one of `EdDSA`, `RS256`, `ES256` at line 1 column 14",
        );
}

#[tokio::test]
async fn a_retired_key_stays_published_and_a_deleted_key_leaves_the_jwks() {
    let admin = Admin::start("keys-retire").await;
    let mut kids = Vec::new();
    for alg in ["EdDSA", "RS256", "ES256"] {
        let reply = admin.post("/admin/keys", json!({"alg": alg})).await;
        let key = reply.assert_status(201);
        assert_eq!(key["alg"], alg);
        assert_eq!(key["status"], "active");
        kids.push(key["kid"].as_str().unwrap().to_owned());
    }
    assert_eq!(admin.published_kids().await, kids);

    let rsa = kids[1].clone();
    let reply = admin
        .post(&format!("/admin/keys/{rsa}/retire"), json!({}))
        .await;
    assert_eq!(
        reply.assert_status(200),
        &json!({"kid": rsa, "alg": "RS256", "status": "retired"})
    );
    assert_eq!(admin.published_kids().await, kids);

    admin
        .delete(&format!("/admin/keys/{rsa}"))
        .await
        .assert_status(204);
    assert_eq!(
        admin.published_kids().await,
        vec![kids[0].clone(), kids[2].clone()]
    );
    assert_eq!(
        admin.get("/admin/keys").await.body,
        json!([
            {"kid": kids[0], "alg": "EdDSA", "status": "active"},
            {"kid": kids[2], "alg": "ES256", "status": "active"},
        ])
    );

    admin
        .delete(&format!("/admin/keys/{rsa}"))
        .await
        .assert_error(404, "not_found", &format!("no signing key `{rsa}`"));
    admin
        .post("/admin/keys/nope/retire", json!({}))
        .await
        .assert_error(404, "not_found", "no signing key `nope`");
}

#[tokio::test]
async fn malformed_json_a_wrong_content_type_and_unknown_fields_get_400_invalid_request() {
    let admin = Admin::start("bad-json").await;
    let path = "/admin/resource-servers";
    admin
        .raw(Method::POST, path, "application/json", b"{\"audience\":".to_vec())
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to parse the request body as JSON: audience: EOF while parsing a value at line 1 column 12",
        );
    admin
        .raw(
            Method::POST,
            path,
            "text/plain",
            br#"{"audience":"https://as.example"}"#.to_vec(),
        )
        .await
        .assert_error(
            400,
            "invalid_request",
            "expected `Content-Type: application/json` (found `text/plain`)",
        );
    admin
        .raw(
            Method::POST,
            path,
            "application/json",
            br#"{"audience":"https://as.example","colour":"red"}"#.to_vec(),
        )
        .await
        .assert_error(
            400,
            "invalid_request",
            "Failed to deserialize the JSON body into the target type: colour: unknown field `colour`, expected one of `id`, `name`, `audience`, `resource_uris`, `max_lifetime`, `alg`, `disabled`, `modify_claims_hook`, `scopes` at line 1 column 41",
        );
    // Serde would read a struct from an array, positionally: not through this API.
    for body in [&b"[]"[..], br#"[null, null, "https://as.example"]"#] {
        admin
            .raw(Method::POST, path, "application/json", body.to_vec())
            .await
            .assert_error(
                400,
                "invalid_request",
                "expected the body to be a JSON object",
            );
    }
    assert_eq!(admin.get(path).await.body, json!([]));
    // Media-type parameters and `+json` types are JSON.
    for content_type in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        admin
            .raw(
                Method::PATCH,
                "/admin/tenant",
                content_type,
                br#"{"default_alg":"RS256"}"#.to_vec(),
            )
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let admin = Admin::start("too-large").await;
    let uris: Vec<String> = (0..3000)
        .map(|n| format!("https://mcp.example/{n:05}/mcp"))
        .collect();
    let body =
        serde_json::to_vec(&json!({"audience": "https://as.example", "resource_uris": uris}))
            .unwrap();
    assert!(body.len() > 64 * 1024);
    admin
        .raw(
            Method::POST,
            "/admin/resource-servers",
            "application/json",
            body,
        )
        .await
        .assert_error(
            413,
            "invalid_request",
            "the request body exceeds the admin API's limit of 65536 bytes",
        );
    assert_eq!(admin.get("/admin/resource-servers").await.body, json!([]));
}

#[tokio::test]
async fn unknown_admin_paths_get_a_json_404_and_wrong_methods_a_json_405() {
    let admin = Admin::start("fallbacks").await;
    admin.get("/admin/no-such-endpoint").await.assert_error(
        404,
        "not_found",
        "no admin endpoint `GET /admin/no-such-endpoint`",
    );
    admin.put("/admin/tenant", json!({})).await.assert_error(
        405,
        "method_not_allowed",
        "`/admin/tenant` does not accept PUT",
    );
}

#[tokio::test]
async fn an_unknown_resource_server_gets_404_on_get_patch_and_delete() {
    let admin = Admin::start("unknown-server").await;
    let message = "no resource server with id `nope`";
    admin
        .get("/admin/resource-servers/nope")
        .await
        .assert_error(404, "not_found", message);
    admin
        .patch("/admin/resource-servers/nope", json!({"name": "x"}))
        .await
        .assert_error(404, "not_found", message);
    admin
        .delete("/admin/resource-servers/nope")
        .await
        .assert_error(404, "not_found", message);
}

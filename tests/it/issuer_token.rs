//! The reference issuer's token endpoint over a real socket: every documented denial with
//! its exact HTTP status, OAuth error and audit status detail; the kill switch; lifetime and
//! algorithm inheritance; per-scope outcomes; one audit event per request.

use crate::support::TempDb;
use jagspec::audit::{AuditEvent, Outcome, ScopeOutcome, ScopeVerdict};
use jagspec::issuer::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, IssuerConfig, RunningIssuer, Seed, TOKEN_EXCHANGE_GRANT,
    TenantPatch,
};
use jagspec::{Alg, FixedClock, ID_JAG_TYP, TrustedJwks, Verifier, dangerous};
use serde_json::{Value, json};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const CHAT: &str = "https://as.chat.example";
const CHAT_MCP: &str = "https://mcp.chat.example/mcp";

/// An issuer seeded from `fixtures/tenant-examples.toml`, a clock the test moves, an HTTP client.
struct Env {
    issuer: RunningIssuer,
    /// Removes the database when the test ends.
    _db: TempDb,
    clock: Arc<FixedClock>,
    http: reqwest::Client,
}

/// What the token endpoint answered, and the audit event of that request.
struct Answer {
    status: u16,
    cache_control: Option<String>,
    www_authenticate: Option<String>,
    body: Value,
    event: AuditEvent,
}

impl Env {
    async fn start(name: &str) -> Self {
        let seed = Seed::from_toml(include_str!("../../fixtures/tenant-examples.toml")).unwrap();
        let clock = Arc::new(FixedClock::at(NOW));
        let db = TempDb::new(&format!("issuer-{name}"));
        let config = IssuerConfig {
            seed: Some(seed),
            clock: clock.clone(),
            ..IssuerConfig::new(db.path())
        };
        let issuer = RunningIssuer::start(config).await.unwrap();
        Self {
            issuer,
            _db: db,
            clock,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> &str {
        &self.issuer.url
    }

    /// POSTs a form to the token endpoint with client_secret_basic (if `basic`).
    async fn post(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
        let mut req = self.http.post(format!("{}/token", self.url())).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        self.answer(req.send().await.unwrap()).await
    }

    async fn answer(&self, response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let cache_control = header("cache-control");
        let www_authenticate = header("www-authenticate");
        let request_id = header("x-request-id").expect("every token response names its request");
        let body: Value = response.json().await.unwrap();
        let events = self.issuer.state.audit.events().unwrap();
        let mut mine: Vec<AuditEvent> = events
            .into_iter()
            .filter(|e| e.request_id == request_id)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "exactly one audit event for request {request_id}"
        );
        Answer {
            status,
            cache_control,
            www_authenticate,
            body,
            event: mine.remove(0),
        }
    }

    /// A test user's ID token for `client` (password grant).
    async fn login(&self, user: &str, password: &str, client: (&str, &str)) -> String {
        let a = self
            .post(
                Some(client),
                &[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", password),
                    ("scope", "openid"),
                ],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["id_token"].as_str().unwrap().to_owned()
    }

    async fn alice(&self) -> String {
        self.login("alice", "alice-password", AGENT).await
    }

    /// A token exchange by the agent for `audience`, with extra parameters.
    async fn exchange(&self, subject: &str, audience: &str, extra: &[(&str, &str)]) -> Answer {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", ID_JAG_TOKEN_TYPE),
            ("subject_token", subject),
            ("subject_token_type", ID_TOKEN_TYPE),
            ("audience", audience),
        ];
        form.extend_from_slice(extra);
        self.post(Some(AGENT), &form).await
    }

    /// The issuer's published JWKS, fetched over HTTP as any relying party would.
    async fn jwks(&self) -> TrustedJwks {
        let body = self
            .http
            .get(format!("{}/jwks", self.url()))
            .send()
            .await
            .unwrap();
        TrustedJwks::from_json(&body.bytes().await.unwrap()).unwrap()
    }

    async fn verifier_for(&self, audience: &str) -> Verifier {
        Verifier::id_jag(self.jwks().await, self.url(), audience).clock(self.clock.clone())
    }
}

const AGENT: (&str, &str) = ("agent", "agent-secret");
const OTHER: (&str, &str) = ("other-agent", "other-agent-secret");

/// Asserts a denial: HTTP status, OAuth error, no-store, and the audit event's outcome and
/// status detail.
fn assert_denied(a: &Answer, status: u16, error: &str, detail: &str) {
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (status, Some(error)),
        "{}",
        a.body
    );
    assert!(a.body["error_description"].is_string());
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    assert_eq!(a.event.outcome, Outcome::Denied);
    assert_eq!(a.event.status_detail, detail);
    assert_eq!(a.event.oauth_error.as_deref(), Some(error));
    assert_eq!(a.event.token_id, None);
    assert!(a.body.get("access_token").is_none());
}

/// Audience, extra parameters, then the expected HTTP status, OAuth error, status detail.
type DenialCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);

fn outcome(scope: &str, verdict: ScopeVerdict, reason: Option<&str>) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.into(),
        outcome: verdict,
        reason: reason.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_token_exchange_mints_an_id_jag_that_verifies_with_every_claim_and_is_audited() {
    let env = Env::start("granted").await;
    let id_token = env.alice().await;
    let a = env
        .exchange(
            &id_token,
            CHAT,
            &[("resource", CHAT_MCP), ("scope", "chat.read")],
        )
        .await;

    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    assert_eq!(a.body["issued_token_type"], ID_JAG_TOKEN_TYPE);
    assert_eq!(a.body["token_type"], "N_A");
    assert_eq!(a.body["expires_in"], 600);
    assert_eq!(a.body["scope"], "chat.read");
    assert!(a.body.get("refresh_token").is_none());

    let id_jag = a.body["access_token"].as_str().unwrap();
    let verified = env
        .verifier_for(CHAT)
        .await
        .pin(Alg::ES256)
        .verify(id_jag)
        .unwrap();
    assert_eq!(verified.header["typ"], ID_JAG_TYP);
    let c = &verified.claims;
    assert_eq!(c["iss"], env.url());
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], CHAT);
    assert_eq!(
        c["client_id"], "agent-at-chat",
        "the client's id at the authorization server"
    );
    assert_eq!(c["resource"], CHAT_MCP);
    assert_eq!(c["scope"], "chat.read");
    assert_eq!(
        (c["iat"].as_i64(), c["exp"].as_i64()),
        (Some(NOW), Some(NOW + 600))
    );

    let e = &a.event;
    assert_eq!(e.outcome, Outcome::Granted);
    assert_eq!(e.status_detail, "Granted");
    assert_eq!(e.oauth_error, None);
    assert_eq!(e.user.as_deref(), Some("alice"));
    assert_eq!(e.client.as_deref(), Some("agent"));
    assert_eq!(e.system.as_deref(), Some(CHAT));
    assert_eq!(e.resource.as_deref(), Some(CHAT_MCP));
    assert_eq!(
        e.scopes,
        vec![outcome("chat.read", ScopeVerdict::Granted, None)]
    );
    assert_eq!(e.token_id.as_deref(), c["jti"].as_str());
    assert_eq!(
        e.signing_key_id.as_deref(),
        verified.kid.as_ref().map(|k| k.as_str())
    );
    assert_eq!(e.algorithm, Some(Alg::ES256));
    assert_eq!(e.lifetime_secs, Some(600));
    assert_eq!(e.time_ms, NOW * 1000);
    let stored = serde_json::to_string(e).unwrap();
    assert!(
        !stored.contains(id_jag) && !stored.contains(&id_token),
        "no token material in the audit log"
    );
}

#[tokio::test]
async fn each_documented_denial_has_its_exact_status_error_and_status_detail() {
    let env = Env::start("denials").await;
    let t = env.alice().await;
    let cases: Vec<DenialCase<'_>> = vec![
        (
            "https://as.unknown.example",
            vec![],
            400,
            "invalid_target",
            "Audience not registered",
        ),
        (
            CHAT,
            vec![("resource", "https://elsewhere.example/mcp")],
            400,
            "invalid_target",
            "Target URL not registered",
        ),
        (
            "https://as.multi.example",
            vec![],
            400,
            "invalid_target",
            "Target URL not specified",
        ),
        (
            "https://as.paused.example",
            vec![("scope", "read")],
            400,
            "access_denied",
            "Server paused",
        ),
        (
            CHAT,
            vec![("scope", "chat.write")],
            400,
            "invalid_scope",
            "No grant for the scope",
        ),
        (
            CHAT,
            vec![("scope", "chat.admin")],
            400,
            "invalid_scope",
            "Scope not enabled",
        ),
        (
            CHAT,
            vec![("scope", "chat.nonexistent")],
            400,
            "invalid_scope",
            "Scope not registered",
        ),
        (
            "https://as.rsa.example",
            vec![("scope", "read")],
            500,
            "server_error",
            "No signing key for the algorithm",
        ),
    ];
    for (audience, extra, status, error, detail) in cases {
        let a = env.exchange(&t, audience, &extra).await;
        assert_denied(&a, status, error, detail);
        assert_eq!(a.event.system.as_deref(), Some(audience));
        assert_eq!(a.event.user.as_deref(), Some("alice"));
        assert_eq!(a.event.client.as_deref(), Some("agent"));
    }
}

#[tokio::test]
async fn scopes_are_narrowed_to_the_granted_subset_and_every_outcome_is_recorded() {
    let env = Env::start("narrow").await;
    let t = env.alice().await;
    let a = env
        .exchange(&t, CHAT, &[("scope", "chat.read chat.write chat.admin")])
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["scope"], "chat.read");
    assert_eq!(a.event.status_detail, "Granted (narrowed)");
    assert_eq!(
        a.event.scopes,
        vec![
            outcome("chat.read", ScopeVerdict::Granted, None),
            outcome(
                "chat.write",
                ScopeVerdict::Denied,
                Some("No grant for the scope")
            ),
            outcome(
                "chat.admin",
                ScopeVerdict::Denied,
                Some("Scope not enabled")
            ),
        ]
    );
    let claims = env
        .verifier_for(CHAT)
        .await
        .verify(a.body["access_token"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(claims["scope"], "chat.read");

    // No scope requested: every enabled scope the user holds (chat.admin is held, not enabled).
    let a = env.exchange(&t, CHAT, &[]).await;
    assert_eq!(
        (a.status, a.body["scope"].as_str()),
        (200, Some("chat.read"))
    );

    // No scope requested, and nothing held: the same status detail.
    let bob = env.login("bob", "bob-password", AGENT).await;
    let a = env.exchange(&bob, CHAT, &[]).await;
    assert_denied(&a, 400, "invalid_scope", "No grant for the scope");
    assert_eq!(a.event.scopes, vec![]);

    // Denied as a whole: each scope keeps its own reason.
    let a = env
        .exchange(&t, CHAT, &[("scope", "chat.write chat.admin")])
        .await;
    assert_denied(&a, 400, "invalid_scope", "No grant for the scope");
    assert_eq!(
        a.event.scopes,
        vec![
            outcome(
                "chat.write",
                ScopeVerdict::Denied,
                Some("No grant for the scope")
            ),
            outcome(
                "chat.admin",
                ScopeVerdict::Denied,
                Some("Scope not enabled")
            ),
        ]
    );
}

#[tokio::test]
async fn a_server_with_one_resource_uri_is_the_target_when_none_is_named() {
    let env = Env::start("d2").await;
    let t = env.alice().await;
    let a = env.exchange(&t, CHAT, &[("scope", "chat.read")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = env
        .verifier_for(CHAT)
        .await
        .verify(a.body["access_token"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(claims["resource"], CHAT_MCP);
    let a = env
        .exchange(
            &t,
            "https://as.multi.example",
            &[("resource", "https://b.multi.example/mcp")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn the_kill_switch_denies_new_requests_keeps_the_configuration_and_spares_issued_tokens() {
    let env = Env::start("kill").await;
    let store = &env.issuer.state.store;
    let t = env.alice().await;
    let before = env.exchange(&t, CHAT, &[("scope", "chat.read")]).await;
    assert_eq!(before.status, 200);
    let issued = before.body["access_token"].as_str().unwrap().to_owned();
    let config = store.server("chat").unwrap();

    store.set_disabled("chat", true).unwrap();
    assert_denied(
        &env.exchange(&t, CHAT, &[("scope", "chat.read")]).await,
        400,
        "access_denied",
        "Server paused",
    );
    // A token minted before the pause keeps working until it expires.
    let verifier = env.verifier_for(CHAT).await;
    assert!(verifier.verify(&issued).is_ok());
    env.clock.advance(600 + 60);
    assert!(matches!(
        verifier.verify(&issued),
        Err(jagspec::Rejection::Expired { .. })
    ));
    env.clock.set(NOW);

    let restored = store.set_disabled("chat", false).unwrap();
    assert_eq!(
        restored, config,
        "re-enabling restores the server as it was"
    );
    assert_eq!(
        env.exchange(&t, CHAT, &[("scope", "chat.read")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn lifetime_is_the_servers_maximum_else_the_tenant_default_else_300_seconds() {
    let env = Env::start("lifetime").await;
    let store = &env.issuer.state.store;
    let t = env.alice().await;
    let inherit = "https://as.inherit.example";
    let lifetime = |a: &Answer| (a.body["expires_in"].as_u64(), a.event.lifetime_secs);
    assert_eq!(
        lifetime(&env.exchange(&t, CHAT, &[]).await),
        (Some(600), Some(600))
    );
    assert_eq!(
        lifetime(&env.exchange(&t, inherit, &[]).await),
        (Some(300), Some(300)),
        "indefinite, no tenant default"
    );
    store
        .update_tenant(&TenantPatch {
            default_max_lifetime: Some(Some(120)),
            ..Default::default()
        })
        .unwrap();
    let a = env.exchange(&t, inherit, &[]).await;
    assert_eq!(
        lifetime(&a),
        (Some(120), Some(120)),
        "indefinite inherits the tenant default"
    );
    let claims = env
        .verifier_for(inherit)
        .await
        .verify(a.body["access_token"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
}

#[tokio::test]
async fn the_algorithm_is_the_servers_or_the_inherited_tenant_default_and_a_missing_key_denies() {
    let env = Env::start("alg").await;
    let store = &env.issuer.state.store;
    let t = env.alice().await;
    let inherit = "https://as.inherit.example";
    let alg_of = |a: &Answer| a.event.algorithm;
    assert_eq!(
        alg_of(&env.exchange(&t, "https://as.eddsa.example", &[]).await),
        Some(Alg::EdDSA)
    );
    assert_eq!(
        alg_of(&env.exchange(&t, inherit, &[]).await),
        Some(Alg::ES256),
        "ES256 unless set"
    );
    store
        .update_tenant(&TenantPatch {
            default_alg: Some(Alg::EdDSA),
            ..Default::default()
        })
        .unwrap();
    let a = env.exchange(&t, inherit, &[]).await;
    assert_eq!(alg_of(&a), Some(Alg::EdDSA));
    let verified = env
        .verifier_for(inherit)
        .await
        .pin(Alg::EdDSA)
        .verify(a.body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(verified.kid.map(|k| k.to_string()), a.event.signing_key_id);
    store
        .update_tenant(&TenantPatch {
            default_alg: Some(Alg::RS256),
            ..Default::default()
        })
        .unwrap();
    let a = env.exchange(&t, inherit, &[("scope", "read")]).await;
    assert_denied(&a, 500, "server_error", "No signing key for the algorithm");
    assert_eq!(
        a.event.scopes,
        vec![outcome(
            "read",
            ScopeVerdict::Denied,
            Some("No signing key for the algorithm")
        )]
    );
}

#[tokio::test]
async fn a_tenant_without_enterprise_managed_authorization_denies_every_request() {
    let env = Env::start("tenant-off").await;
    let t = env.alice().await;
    env.issuer
        .state
        .store
        .update_tenant(&TenantPatch {
            ema_enabled: Some(false),
            ..Default::default()
        })
        .unwrap();
    let a = env.exchange(&t, CHAT, &[("scope", "chat.read")]).await;
    assert_denied(
        &a,
        400,
        "access_denied",
        "Enterprise-managed authorization disabled",
    );
}

#[tokio::test]
async fn client_authentication_is_enforced_with_basic_or_post_but_not_both() {
    let env = Env::start("client-auth").await;
    let t = env.alice().await;
    let base = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("requested_token_type", ID_JAG_TOKEN_TYPE),
        ("subject_token", t.as_str()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("audience", CHAT),
    ];
    let none = env.post(None, &base).await;
    assert_denied(&none, 401, "invalid_client", "Client authentication failed");
    assert_eq!(
        none.www_authenticate.as_deref(),
        Some("Basic realm=\"jagspec\"")
    );
    assert_denied(
        &env.post(Some(("agent", "wrong")), &base).await,
        401,
        "invalid_client",
        "Client authentication failed",
    );
    assert_denied(
        &env.post(Some(("nobody", "x")), &base).await,
        401,
        "invalid_client",
        "Client authentication failed",
    );
    let mut post = base.to_vec();
    post.extend([("client_id", "agent"), ("client_secret", "agent-secret")]);
    assert_eq!(
        env.post(None, &post).await.status,
        200,
        "client_secret_post"
    );
    let both = env.post(Some(AGENT), &post).await;
    assert_denied(&both, 401, "invalid_client", "Client authentication failed");
}

#[tokio::test]
async fn the_subject_token_must_be_a_valid_id_token_of_this_issuer_for_the_authenticated_client() {
    let env = Env::start("subject").await;
    let for_other = env.login("alice", "alice-password", OTHER).await;
    let a = env.exchange(&for_other, CHAT, &[]).await;
    assert_denied(
        &a,
        400,
        "invalid_grant",
        "Subject token issued to another client",
    );

    let t = env.alice().await;
    let tampered = dangerous::replace_payload(
        &t,
        &json!({"iss": env.url(), "sub": "bob", "aud": "agent", "iat": NOW, "exp": NOW + 600}),
    );
    assert_denied(
        &env.exchange(&tampered, CHAT, &[]).await,
        400,
        "invalid_grant",
        "Subject token invalid",
    );
    let garbage = env
        .exchange("garbage", CHAT, &[("scope", "chat.read")])
        .await;
    assert_denied(&garbage, 400, "invalid_grant", "Subject token invalid");
    assert_eq!(
        garbage.event.scopes,
        vec![outcome(
            "chat.read",
            ScopeVerdict::Denied,
            Some("Subject token invalid")
        )],
        "a scope the policy never reached is denied with the request's reason"
    );

    // An ID-JAG is not an ID token (explicit typing, RFC 8725 §3.11).
    let id_jag = env.exchange(&t, CHAT, &[]).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_denied(
        &env.exchange(&id_jag, CHAT, &[]).await,
        400,
        "invalid_grant",
        "Subject token invalid",
    );

    // A valid ID token of a user who has since been deleted.
    let bob = env.login("bob", "bob-password", AGENT).await;
    env.issuer.state.store.delete_user("bob").unwrap();
    let a = env.exchange(&bob, CHAT, &[]).await;
    assert_denied(&a, 400, "invalid_grant", "Unknown user");

    env.clock.advance(600 + 61);
    assert_denied(
        &env.exchange(&t, CHAT, &[]).await,
        400,
        "invalid_grant",
        "Subject token invalid",
    );
}

#[tokio::test]
async fn malformed_requests_get_an_oauth_error_and_an_audit_event() {
    let env = Env::start("malformed").await;
    let t = env.alice().await;
    let wrong_requested = env.exchange(&t, CHAT, &[]).await; // baseline works
    assert_eq!(wrong_requested.status, 200);

    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", t.as_str()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("audience", CHAT),
    ];
    assert_denied(
        &env.post(Some(AGENT), &form).await,
        400,
        "invalid_request",
        "Requested token type not supported",
    );
    form[1].1 = ID_JAG_TOKEN_TYPE;
    form[3].1 = "urn:ietf:params:oauth:token-type:saml2";
    assert_denied(
        &env.post(Some(AGENT), &form).await,
        400,
        "invalid_request",
        "Subject token type not supported",
    );
    form[3].1 = ID_TOKEN_TYPE;
    form.push(("audience", "https://as.paused.example"));
    assert_denied(
        &env.post(Some(AGENT), &form).await,
        400,
        "invalid_request",
        "Malformed request",
    );
    form.pop();
    form.remove(4);
    assert_denied(
        &env.post(Some(AGENT), &form).await,
        400,
        "invalid_request",
        "Malformed request",
    );
    assert_denied(
        &env.post(Some(AGENT), &[("grant_type", "client_credentials")])
            .await,
        400,
        "unsupported_grant_type",
        "Unsupported grant type",
    );
    assert_denied(
        &env.post(Some(AGENT), &[]).await,
        400,
        "invalid_request",
        "Malformed request",
    );

    let json_body = env
        .http
        .post(format!("{}/token", env.url()))
        .basic_auth("agent", Some("agent-secret"))
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_denied(
        &env.answer(json_body).await,
        400,
        "invalid_request",
        "Malformed request",
    );
    let huge = "a".repeat(70 * 1024);
    let big = env
        .http
        .post(format!("{}/token", env.url()))
        .basic_auth("agent", Some("agent-secret"))
        .form(&[("grant_type", "password"), ("username", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_denied(
        &env.answer(big).await,
        413,
        "invalid_request",
        "Request too large",
    );
    let bad_login = env
        .post(
            Some(AGENT),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_denied(&bad_login, 400, "invalid_grant", "Invalid user credentials");
}

#[tokio::test]
async fn the_password_grant_returns_an_id_token_for_the_authenticating_client() {
    let env = Env::start("password").await;
    let id_token = env.alice().await;
    let verified = Verifier::new(env.jwks().await)
        .require_typ("JWT")
        .issuer(env.url())
        .audience("agent")
        .clock(env.clock.clone())
        .verify(&id_token)
        .unwrap();
    assert_eq!(verified.claims["sub"], "alice");
}

#[tokio::test]
async fn discovery_metadata_names_the_endpoints_grants_and_the_id_jag_token_type() {
    let env = Env::start("metadata").await;
    let m: Value = env
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            env.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["issuer"], env.url());
    assert_eq!(m["token_endpoint"], format!("{}/token", env.url()));
    assert_eq!(m["jwks_uri"], format!("{}/jwks", env.url()));
    assert_eq!(
        m["grant_types_supported"],
        json!([TOKEN_EXCHANGE_GRANT, "password"])
    );
    assert_eq!(
        m["identity_chaining_requested_token_types_supported"],
        json!([ID_JAG_TOKEN_TYPE])
    );
    assert_eq!(env.jwks().await.len(), 2, "ES256 and EdDSA fixture keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_mixed_requests_write_exactly_two_hundred_events() {
    let env = Arc::new(Env::start("concurrent").await);
    let t = env.alice().await;
    let before = env.issuer.state.audit.count().unwrap();
    let audiences = [
        CHAT,
        "https://as.paused.example",
        "https://as.unknown.example",
        "https://as.rsa.example",
        "https://as.eddsa.example",
    ];
    let mut tasks = Vec::new();
    for i in 0..200 {
        let env = Arc::clone(&env);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let audience = audiences[i % audiences.len()];
            let a = env.exchange(&t, audience, &[]).await;
            (a.status, a.event.event_id)
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut granted = 0;
    for task in tasks {
        let (status, id) = task.await.unwrap();
        granted += usize::from(status == 200);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 200);
    assert_eq!(env.issuer.state.audit.count().unwrap() - before, 200);
    assert_eq!(
        granted, 80,
        "CHAT and EdDSA requests are granted, the other three denied"
    );
}

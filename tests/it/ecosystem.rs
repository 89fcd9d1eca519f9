//! The mock ecosystem over real sockets: the whole chain for each algorithm, the
//! cross-algorithm matrix, every refusal of the mock authorization server with its exact
//! error, replay under concurrency, JWKS refresh, the kill switch's effect on tokens
//! already minted, and the manifest.

use jagspec::mocks::auth_server::{GrantRefusal, IssuedAccessToken};
use jagspec::mocks::{Ecosystem, EcosystemOptions, ManifestAuthorizationServer};
use jagspec::{Alg, AlgSet, FixedClock, ID_JAG_TYP, JwsHeader, Rejection, dangerous, fixtures};
use serde_json::{Value, json};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The default ecosystem at a fixed time, and an HTTP client.
pub(crate) struct Eco {
    pub(crate) eco: Ecosystem,
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) http: reqwest::Client,
}

/// A token endpoint's answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Eco {
    pub(crate) async fn start() -> Self {
        let clock = Arc::new(FixedClock::at(NOW));
        let eco = Ecosystem::start_with(EcosystemOptions {
            clock: clock.clone(),
            ..EcosystemOptions::default()
        })
        .await
        .unwrap();
        Self {
            eco,
            clock,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn server(&self, name: &str) -> &ManifestAuthorizationServer {
        self.eco
            .manifest()
            .authorization_servers
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no authorization server `{name}` in the manifest"))
    }

    pub(crate) fn mcp_url(&self, server: &str, mcp: &str) -> String {
        let s = self.server(server);
        s.mcp_servers
            .iter()
            .find(|m| m.name == mcp)
            .unwrap_or_else(|| panic!("`{server}` has no MCP server `{mcp}`"))
            .url
            .clone()
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// alice's ID token for the `agent` client (password grant).
    pub(crate) async fn id_token(&self, user: &str) -> String {
        let m = self.eco.manifest();
        let password = format!("{user}-password");
        let a = Self::answer(
            self.http
                .post(&m.issuer.token_endpoint)
                .basic_auth("agent", Some("agent-secret"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", &password),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, 200, "login: {}", a.body);
        a.body["id_token"].as_str().unwrap().to_owned()
    }

    /// A token exchange by `agent` for `user`.
    pub(crate) async fn exchange(
        &self,
        user: &str,
        audience: &str,
        resource: &str,
        scope: &str,
    ) -> Answer {
        let id_token = self.id_token(user).await;
        Self::answer(
            self.http
                .post(&self.eco.manifest().issuer.token_endpoint)
                .basic_auth("agent", Some("agent-secret"))
                .form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:id-jag",
                    ),
                    ("audience", audience),
                    ("resource", resource),
                    ("scope", scope),
                    ("subject_token", &id_token),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// An ID-JAG from the issuer for `server`'s first MCP server.
    pub(crate) async fn id_jag(&self, server: &str, scope: &str) -> String {
        let s = self.server(server);
        let a = self
            .exchange("alice", &s.issuer, &s.mcp_servers[0].url, scope)
            .await;
        assert_eq!(a.status, 200, "token exchange: {}", a.body);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    /// A jwt-bearer request at `server` with its client (basic) and extra parameters.
    pub(crate) async fn redeem(
        &self,
        server: &str,
        assertion: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let s = self.server(server);
        let mut form = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
        form.extend_from_slice(extra);
        Self::answer(
            self.http
                .post(&s.token_endpoint)
                .basic_auth(&s.client_id, Some(s.client_secret.secret()))
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The refusal the authorization server recorded for its last request.
    pub(crate) fn last_refusal(&self, server: &str) -> GrantRefusal {
        let r = self.eco.authorization_server(server).unwrap().redemptions();
        r.last().unwrap().outcome.clone().unwrap_err()
    }

    /// Claims the issuer would put in an ID-JAG for `server`, at NOW.
    pub(crate) fn claims(&self, server: &str, scope: &str) -> Value {
        let s = self.server(server);
        json!({
            "iss": self.eco.manifest().issuer.url,
            "sub": "alice",
            "aud": s.issuer,
            "client_id": s.client_id,
            "jti": format!("jti-{}", rand_suffix()),
            "iat": NOW,
            "exp": NOW + 300,
            "resource": s.mcp_servers[0].url,
            "scope": scope,
        })
    }

    /// A JSON-RPC call at an MCP server.
    pub(crate) async fn mcp(&self, url: &str, token: &str, method: &str, params: Value) -> Answer {
        Self::answer(
            self.http
                .post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Signs `claims` with fixture key 1 of `alg`: the issuer's own key for that algorithm.
fn signed(alg: Alg, claims: &Value) -> String {
    jagspec::mint(&fixtures::signing_key(alg, 1), Some(ID_JAG_TYP), claims)
        .unwrap()
        .into_secret()
}

fn segment(token: &str, n: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(n).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn read_scope(server: &str) -> &'static str {
    if server == "es256" {
        "chat.read"
    } else {
        "tools.read"
    }
}

fn alg_of(server: &str) -> Alg {
    match server {
        "eddsa" => Alg::EdDSA,
        "rs256" => Alg::RS256,
        _ => Alg::ES256,
    }
}

#[tokio::test]
async fn the_whole_chain_works_for_each_signing_algorithm() {
    let e = Eco::start().await;
    for server in ["eddsa", "rs256", "es256"] {
        let id_jag = e.id_jag(server, read_scope(server)).await;
        assert_eq!(segment(&id_jag, 0)["alg"], alg_of(server).as_str());
        assert_eq!(segment(&id_jag, 0)["typ"], ID_JAG_TYP);
        let a = e.redeem(server, &id_jag, &[]).await;
        assert_eq!(a.status, 200, "{server}: {}", a.body);
        assert_eq!(a.body["token_type"], "Bearer");
        assert_eq!(a.body["scope"], read_scope(server));
        assert_eq!(a.body["expires_in"], 300);
        assert!(a.body.get("refresh_token").is_none(), "AS-24");
        assert_eq!(a.headers["cache-control"], "no-store");
        let access_token = a.body["access_token"].as_str().unwrap();
        let mcp = e.server(server).mcp_servers[0].url.clone();
        assert_eq!(a.body["resource"], mcp.as_str());

        let call = e
            .mcp(
                &mcp,
                access_token,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "hi"}}),
            )
            .await;
        assert_eq!(call.status, 200, "{server}: {}", call.body);
        assert_eq!(call.body["result"]["content"][0]["text"], "hi");
        assert_eq!(call.body["result"]["structuredContent"]["sub"], "alice");
    }
    e.eco.stop().await;
}

#[tokio::test]
async fn access_tokens_are_rfc_9068_jwts_for_the_id_jag_resource() {
    let e = Eco::start().await;
    let id_jag = e.id_jag("es256", "chat.read").await;
    let a = e.redeem("es256", &id_jag, &[]).await;
    let at = a.body["access_token"].as_str().unwrap();
    let header = segment(at, 0);
    let claims = segment(at, 1);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], e.server("es256").issuer.as_str());
    assert_eq!(claims["aud"], e.mcp_url("es256", "chat").as_str());
    assert_eq!(claims["client_id"], "agent-at-es256");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "chat.read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    // The ID-JAG carried the client id mapped for this authorization server (IDP-22).
    assert_eq!(segment(&id_jag, 1)["client_id"], "agent-at-es256");
    e.eco.stop().await;
}

#[tokio::test]
async fn an_id_jag_signed_with_any_other_algorithm_is_refused_by_a_pinned_server() {
    let e = Eco::start().await;
    for server in ["eddsa", "rs256", "es256"] {
        for alg in Alg::ALL {
            let token = signed(alg, &e.claims(server, read_scope(server)));
            let a = e.redeem(server, &token, &[]).await;
            if alg == alg_of(server) {
                assert_eq!(a.status, 200, "{alg} at {server}: {}", a.body);
            } else {
                assert_eq!(
                    (a.status, a.body["error"].as_str()),
                    (400, Some("invalid_grant")),
                    "{alg} at {server}"
                );
                assert_eq!(
                    e.last_refusal(server),
                    GrantRefusal::Assertion(Rejection::AlgNotAllowed {
                        found: alg,
                        allowed: AlgSet::only(alg_of(server)),
                    })
                );
            }
        }
    }
    e.eco.stop().await;
}

#[tokio::test]
async fn the_algorithm_mismatch_of_the_seeds_is_granted_by_the_issuer_and_refused_by_the_server() {
    let e = Eco::start().await;
    // `legacy` inherits ES256 at the issuer; its authorization server verifies RS256.
    let legacy = e.server("legacy");
    assert_eq!(legacy.alg, Alg::RS256);
    let id_jag = e.id_jag("legacy", "tools.read").await;
    assert_eq!(segment(&id_jag, 0)["alg"], "ES256");
    let a = e.redeem("legacy", &id_jag, &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        e.last_refusal("legacy"),
        GrantRefusal::Assertion(Rejection::AlgNotAllowed {
            found: Alg::ES256,
            allowed: AlgSet::only(Alg::RS256),
        })
    );
    e.eco.stop().await;
}

/// Each mutation of a valid ID-JAG, what the es256 server must answer, and the refusal.
#[tokio::test]
async fn each_refusal_of_the_authorization_server_has_its_exact_error() {
    let e = Eco::start().await;
    let issuer = e.eco.manifest().issuer.url.clone();
    let es = e.server("es256").issuer.clone();
    let other = e.server("eddsa").issuer.clone();
    let base = e.claims("es256", "chat.read");
    let with = |patch: Value| {
        let mut c = base.clone();
        c["jti"] = json!(format!("jti-{}", rand_suffix()));
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let es256 = |c: &Value| signed(Alg::ES256, c);

    // typ: an ID token's typ, and none.
    let jwt_typed = jagspec::mint(
        &fixtures::signing_key(Alg::ES256, 1),
        Some("JWT"),
        &with(json!({})),
    )
    .unwrap()
    .into_secret();
    let untyped = jagspec::mint(
        &fixtures::signing_key(Alg::ES256, 1),
        None,
        &with(json!({})),
    )
    .unwrap()
    .into_secret();
    // An untrusted issuer, and a trusted issuer's name with a key it never published.
    let evil = es256(&with(json!({"iss": "https://evil.example"})));
    let unknown_kid = jagspec::mint(
        &fixtures::signing_key(Alg::ES256, 2),
        Some(ID_JAG_TYP),
        &with(json!({})),
    )
    .unwrap()
    .into_secret();
    let none = dangerous::assemble(
        &json!({"alg": "none", "typ": ID_JAG_TYP}),
        &with(json!({})),
        b"",
    );

    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("typ JWT", jwt_typed, 400, "invalid_grant", "typ_mismatch"),
        ("no typ", untyped, 400, "invalid_grant", "typ_missing"),
        ("alg none", none, 400, "invalid_grant", "alg_none"),
        (
            "untrusted iss",
            evil,
            400,
            "invalid_grant",
            "untrusted_issuer",
        ),
        (
            "unknown kid",
            unknown_kid,
            400,
            "invalid_grant",
            "kid_unknown",
        ),
        (
            "aud of another server",
            es256(&with(json!({"aud": other}))),
            400,
            "invalid_grant",
            "audience_mismatch",
        ),
        (
            "aud with two members",
            es256(&with(json!({"aud": [es.clone(), other.clone()]}))),
            400,
            "invalid_grant",
            "audience_multiple",
        ),
        (
            "aud with a trailing slash",
            es256(&with(json!({"aud": format!("{es}/")}))),
            400,
            "invalid_grant",
            "audience_mismatch",
        ),
        (
            "client_id of another client",
            es256(&with(json!({"client_id": "someone-else"}))),
            400,
            "invalid_grant",
            "claim_mismatch",
        ),
        (
            "no sub",
            es256(&with(json!({"sub": null}))),
            400,
            "invalid_grant",
            "claim_missing",
        ),
        (
            "no jti",
            es256(&with(json!({"jti": null}))),
            400,
            "invalid_grant",
            "claim_missing",
        ),
        (
            "expired",
            es256(&with(json!({"iat": NOW - 1000, "exp": NOW - 61}))),
            400,
            "invalid_grant",
            "expired",
        ),
        (
            "iat in the future",
            es256(&with(json!({"iat": NOW + 61, "exp": NOW + 300}))),
            400,
            "invalid_grant",
            "issued_in_future",
        ),
        (
            "nbf in the future",
            es256(&with(json!({"nbf": NOW + 61}))),
            400,
            "invalid_grant",
            "not_yet_valid",
        ),
        (
            "a foreign resource",
            es256(&with(json!({"resource": e.mcp_url("eddsa", "tools")}))),
            400,
            "invalid_grant",
            "foreign_resource",
        ),
        (
            "two resources",
            es256(&with(
                json!({"resource": [e.mcp_url("es256", "chat"), e.mcp_url("es256", "unlisted")]}),
            )),
            400,
            "invalid_grant",
            "resource_multiple",
        ),
        (
            "no resource, two MCP servers",
            es256(&with(json!({"resource": null}))),
            400,
            "invalid_grant",
            "resource_missing",
        ),
        (
            "a scope the MCP server does not define",
            es256(&with(json!({"scope": "chat.read mail.read"}))),
            400,
            "invalid_grant",
            "scope_not_registered",
        ),
        (
            "an ID token as the assertion",
            e.id_token("alice").await,
            400,
            "invalid_grant",
            "typ_mismatch",
        ),
    ];
    for (what, token, status, error, code) in cases {
        let a = e.redeem("es256", &token, &[]).await;
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (status, Some(error)),
            "{what}: {}",
            a.body
        );
        assert_eq!(e.last_refusal("es256").code(), code, "{what}");
        assert_eq!(a.headers["cache-control"], "no-store", "{what}");
    }
    assert!(!issuer.is_empty());
    e.eco.stop().await;
}

#[tokio::test]
async fn request_level_refusals_have_their_exact_error() {
    let e = Eco::start().await;
    let s = e.server("es256").clone();
    let token = signed(Alg::ES256, &e.claims("es256", "chat.read"));

    // No client authentication, and a wrong secret: 401 invalid_client with a challenge.
    for basic in [None, Some("wrong")] {
        let mut req = e
            .http
            .post(&s.token_endpoint)
            .form(&[("grant_type", JWT_BEARER), ("assertion", token.as_str())]);
        if let Some(secret) = basic {
            req = req.basic_auth(&s.client_id, Some(secret));
        }
        let a = Eco::answer(req.send().await.unwrap()).await;
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(a.headers.contains_key("www-authenticate"));
        assert_eq!(
            e.last_refusal("es256").code(),
            "client_authentication_failed"
        );
    }

    // client_secret_post works as well as basic.
    let post = Eco::answer(
        e.http
            .post(&s.token_endpoint)
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", token.as_str()),
                ("client_id", s.client_id.as_str()),
                ("client_secret", s.client_secret.secret()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, 200, "{}", post.body);

    let a = e.redeem("es256", "", &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(e.last_refusal("es256"), GrantRefusal::AssertionMissing);

    let a = Eco::answer(
        e.http
            .post(&s.token_endpoint)
            .basic_auth(&s.client_id, Some(s.client_secret.secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // A resource parameter naming another resource than the claim (AS-19).
    let fresh = signed(Alg::ES256, &e.claims("es256", "chat.read"));
    let other = e.mcp_url("es256", "unlisted");
    let a = e.redeem("es256", &fresh, &[("resource", &other)]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_target"))
    );

    // Requested scopes outside the ID-JAG: narrowed, or invalid_scope when nothing is left.
    let two = signed(Alg::ES256, &e.claims("es256", "chat.read chat.write"));
    let a = e
        .redeem("es256", &two, &[("scope", "chat.write chat.admin")])
        .await;
    assert_eq!(
        (a.status, a.body["scope"].as_str()),
        (200, Some("chat.write")),
        "{}",
        a.body
    );
    let one = signed(Alg::ES256, &e.claims("es256", "chat.read"));
    let a = e.redeem("es256", &one, &[("scope", "chat.admin")]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // An oversized body.
    let huge = "a".repeat(70 * 1024);
    let a = e.redeem("es256", &huge, &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (413, Some("invalid_request"))
    );
    e.eco.stop().await;
}

#[tokio::test]
async fn a_replayed_id_jag_is_refused_serially() {
    let e = Eco::start().await;
    let id_jag = e.id_jag("es256", "chat.read").await;
    assert_eq!(e.redeem("es256", &id_jag, &[]).await.status, 200);
    let again = e.redeem("es256", &id_jag, &[]).await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let jti = segment(&id_jag, 1)["jti"].as_str().unwrap().to_owned();
    assert_eq!(e.last_refusal("es256"), GrantRefusal::Replayed { jti });
    e.eco.stop().await;
}

#[tokio::test]
async fn of_32_concurrent_redemptions_of_one_id_jag_exactly_one_gets_an_access_token() {
    let e = Arc::new(Eco::start().await);
    let id_jag = e.id_jag("es256", "chat.read").await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (e, id_jag) = (Arc::clone(&e), id_jag.clone());
        tasks.push(tokio::spawn(async move {
            e.redeem("es256", &id_jag, &[]).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        31,
        "{statuses:?}"
    );
    let redemptions = e.eco.authorization_server("es256").unwrap().redemptions();
    let granted: Vec<&IssuedAccessToken> = redemptions
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .collect();
    assert_eq!(granted.len(), 1);
    let replays = redemptions
        .iter()
        .filter(|r| matches!(r.outcome, Err(GrantRefusal::Replayed { .. })))
        .count();
    assert_eq!(replays, 31);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval() {
    let e = Eco::start().await;
    // The first redemption caches the issuer's JWKS.
    let first = e.id_jag("es256", "chat.read").await;
    assert_eq!(e.redeem("es256", &first, &[]).await.status, 200);

    // Rotate the issuer's ES256 key through the admin API.
    let m = e.eco.manifest();
    let rotated = e
        .http
        .post(format!("{}/keys", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .json(&json!({"alg": "ES256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let new_kid = rotated.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let second = e.id_jag("es256", "chat.read").await;
    assert_eq!(segment(&second, 0)["kid"], new_kid.as_str());
    // Within the interval the cached set stands: the new kid is unknown.
    let a = e.redeem("es256", &second, &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(e.last_refusal("es256").code(), "kid_unknown");

    // Once the interval (30 s) has passed, one refetch finds it.
    e.clock.advance(30);
    let third = e.id_jag("es256", "chat.read").await;
    let a = e.redeem("es256", &third, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    e.eco.stop().await;
}

#[tokio::test]
async fn pausing_a_server_stops_new_token_requests_but_not_tokens_already_minted() {
    let e = Eco::start().await;
    let id_jag = e.id_jag("es256", "chat.read").await;
    let m = e.eco.manifest();
    let paused = e
        .http
        .post(format!(
            "{}/resource-servers/chat/disable",
            m.issuer.admin_url
        ))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);

    // The next token request is denied with the seeds' status detail...
    let s = e.server("es256");
    let denied = e
        .exchange("alice", &s.issuer, &s.mcp_servers[0].url, "chat.read")
        .await;
    assert_eq!(
        (denied.status, denied.body["error"].as_str()),
        (400, Some("access_denied"))
    );
    let request_id = denied.headers["x-request-id"].to_str().unwrap();
    let events = e
        .eco
        .issuer()
        .state
        .audit
        .find_by_request_id(request_id)
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status_detail, "Server paused");

    // ...while the ID-JAG minted before still redeems, and its access token still works.
    let a = e.redeem("es256", &id_jag, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let call = e
        .mcp(
            &e.mcp_url("es256", "chat"),
            a.body["access_token"].as_str().unwrap(),
            "tools/list",
            json!({}),
        )
        .await;
    assert_eq!(call.status, 200);
    e.eco.stop().await;
}

#[tokio::test]
async fn the_authorization_server_metadata_advertises_the_id_jag_profile() {
    let e = Eco::start().await;
    for s in &e.eco.manifest().authorization_servers {
        let m: Value = e
            .http
            .get(&s.metadata_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], s.issuer.as_str(), "AS-04");
        assert_eq!(m["token_endpoint"], s.token_endpoint.as_str());
        assert_eq!(m["grant_types_supported"], json!([JWT_BEARER]), "AS-02");
        assert_eq!(
            m["authorization_grant_profiles_supported"],
            json!(["urn:ietf:params:oauth:grant-profile:id-jag"]),
            "AS-01"
        );
        // AS-03: no issuer allow-list in public metadata.
        assert!(!m.to_string().contains(&e.eco.manifest().issuer.url));
    }
    e.eco.stop().await;
}

#[tokio::test]
async fn the_manifest_names_every_party_and_credential() {
    let e = Eco::start().await;
    let m = serde_json::to_value(e.eco.manifest()).unwrap();
    for key in [
        "url",
        "token_endpoint",
        "jwks_uri",
        "admin_url",
        "admin_token",
    ] {
        assert!(m["issuer"][key].is_string(), "issuer.{key}");
    }
    assert_eq!(m["users"][0]["name"], "alice");
    assert_eq!(m["users"][0]["password"], "alice-password");
    assert_eq!(m["clients"][0]["client_id"], "agent");
    assert_eq!(m["clients"][0]["client_secret"], "agent-secret");
    let names: Vec<&str> = m["authorization_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "eddsa",
            "rs256",
            "es256",
            "paused",
            "unregistered",
            "legacy"
        ]
    );
    let es = &m["authorization_servers"][2];
    assert_eq!(es["alg"], "ES256");
    for key in ["issuer", "token_endpoint", "client_id", "client_secret"] {
        assert!(es[key].is_string(), "authorization_servers[].{key}");
    }
    assert_eq!(
        es["mcp_servers"][0]["scopes"],
        json!(["chat.read", "chat.write", "chat.admin"])
    );
    assert!(
        m["siem_sink"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    // Debug output carries no credential.
    let debug = format!("{:?}", e.eco.manifest());
    assert!(
        !debug.contains("agent-secret")
            && !debug.contains(e.eco.manifest().issuer.admin_token.secret())
    );
    e.eco.stop().await;
}

#[tokio::test]
async fn every_mock_server_listens_on_loopback_only() {
    let e = Eco::start().await;
    let m = e.eco.manifest();
    let mut urls = vec![m.issuer.url.clone()];
    for s in &m.authorization_servers {
        urls.push(s.issuer.clone());
        urls.extend(s.mcp_servers.iter().map(|x| x.url.clone()));
    }
    for url in urls {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
    let _ = JwsHeader::new();
    e.eco.stop().await;
}

#[tokio::test]
async fn a_one_element_audience_array_is_accepted() {
    let e = Eco::start().await;
    let mut claims = e.claims("es256", "chat.read");
    claims["aud"] = json!([e.server("es256").issuer]);
    let a = e.redeem("es256", &signed(Alg::ES256, &claims), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    e.eco.stop().await;
}

#[tokio::test]
async fn the_mcp_server_refuses_an_id_jag_or_a_token_for_another_server_as_a_bearer_token() {
    let e = Eco::start().await;
    let chat = e.mcp_url("es256", "chat");
    let id_jag = e.id_jag("es256", "chat.read").await;
    let a = e.mcp(&chat, &id_jag, "tools/list", json!({})).await;
    assert_eq!(a.status, 401);
    let challenge = a.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            e.server("es256").mcp_servers[0].resource_metadata
        )),
        "{challenge}"
    );

    // An access token for the eddsa server's MCP server is foreign here (RFC 8707).
    let eddsa_jag = e.id_jag("eddsa", "tools.read").await;
    let at = e.redeem("eddsa", &eddsa_jag, &[]).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = e.mcp(&chat, &at, "tools/list", json!({})).await;
    assert_eq!(a.status, 401);

    // A token of its own authorization server works, until it expires.
    let fresh = e.id_jag("es256", "chat.read").await;
    let own = e.redeem("es256", &fresh, &[]).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        e.mcp(&chat, &own, "tools/list", json!({})).await.status,
        200
    );
    // A tool needing a scope the token lacks: 403 insufficient_scope.
    let post = e
        .mcp(
            &chat,
            &own,
            "tools/call",
            json!({"name": "post", "arguments": {"text": "x"}}),
        )
        .await;
    assert_eq!(post.status, 403);
    assert!(
        post.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\", scope=\"chat.write\""),
        "{:?}",
        post.headers
    );
    e.clock.advance(300 + 61);
    let expired = e.mcp(&chat, &own, "tools/list", json!({})).await;
    assert_eq!(expired.status, 401);
    e.eco.stop().await;
}

#[tokio::test]
async fn the_reference_client_completes_the_chain_with_either_client_authentication_method() {
    use jagspec::AuthMethod;
    use jagspec::client::{ClientConfig, HopKind, SubjectToken, ToolCall};
    let e = Eco::start().await;
    let m = e.eco.manifest().clone();
    for (server, method) in [
        ("eddsa", AuthMethod::ClientSecretBasic),
        ("rs256", AuthMethod::ClientSecretPost),
        ("es256", AuthMethod::ClientSecretBasic),
    ] {
        let s = e.server(server).clone();
        let config = ClientConfig {
            mcp_url: s.mcp_servers[0].url.clone(),
            idp_token_endpoint: m.issuer.token_endpoint.clone(),
            subject: SubjectToken::Login {
                user: "alice".into(),
                password: m.users[0].password.clone(),
            },
            idp_client_id: "agent".into(),
            idp_client_secret: m.clients[0].client_secret.clone(),
            client_id: s.client_id.clone(),
            client_secret: s.client_secret.clone(),
            auth_method: method,
            scope: Some(read_scope(server).into()),
            call: Some(ToolCall {
                name: "echo".into(),
                arguments: json!({"text": "hi"}),
            }),
            expected_issuer: None,
            allow_insecure_http: false,
        };
        let t = jagspec::client::run(&config, &e.http).await;
        let success = t
            .outcome
            .as_ref()
            .unwrap_or_else(|f| panic!("{server}: {f}"));
        assert_eq!(success.id_jag_header["alg"], alg_of(server).as_str());
        assert_eq!(
            success.access_token_claims["aud"],
            s.mcp_servers[0].url.as_str()
        );
        assert_eq!(t.hops.len(), HopKind::ALL.len(), "{server}: every hop ran");
        // Rendering without secrets shows none of them.
        let text = t.render(false);
        assert!(!text.contains(s.client_secret.secret()) && !text.contains("alice-password"));
    }
    e.eco.stop().await;
}

#[tokio::test]
async fn authorization_details_are_granted_as_the_id_jag_carries_them_and_must_be_an_array() {
    let e = Eco::start().await;
    let details = json!([{"type": "chat_history", "channels": ["general"]}]);
    let mut claims = e.claims("es256", "chat.read");
    claims["resource"] = json!(e.mcp_url("es256", "chat"));
    claims["authorization_details"] = details.clone();
    let a = e.redeem("es256", &signed(Alg::ES256, &claims), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["authorization_details"], details, "AS-23");
    let at = a.body["access_token"].as_str().unwrap();
    assert_eq!(segment(at, 1)["authorization_details"], details);

    let mut bad = e.claims("es256", "chat.read");
    bad["authorization_details"] = json!("chat_history");
    let a = e.redeem("es256", &signed(Alg::ES256, &bad), &[]).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(e.last_refusal("es256").code(), "claim_type");
    e.eco.stop().await;
}

#[tokio::test]
async fn a_kept_database_is_not_reseeded_and_moved_ports_are_reported() {
    let db = crate::support::TempDb::new("ecosystem-kept");
    let options = || EcosystemOptions {
        db: Some(db.path().to_owned()),
        clock: Arc::new(FixedClock::at(NOW)),
        ..EcosystemOptions::default()
    };
    let first = Ecosystem::start_with(options()).await.unwrap();
    assert_eq!(first.warnings(), &[] as &[String]);
    // An admin change that a reseed would undo.
    let m = first.manifest().clone();
    let http = reqwest::Client::new();
    let deleted = http
        .delete(format!("{}/users/bob", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    first.stop().await;
    assert!(db.path().exists(), "a database given with `db` is kept");

    // Ephemeral ports again: the stored audiences name the old ones.
    let second = Ecosystem::start_with(options()).await.unwrap();
    let snapshot = second.issuer().state.store.snapshot();
    assert!(
        snapshot.users.values().all(|u| u.name != "bob"),
        "not reseeded"
    );
    assert_eq!(second.warnings().len(), 5, "{:?}", second.warnings());
    assert!(
        second.warnings()[0].contains("--port-base"),
        "{:?}",
        second.warnings()
    );
    second.stop().await;
}

#[tokio::test]
async fn the_audit_events_of_a_request_are_read_through_the_admin_api_only_with_its_token() {
    let e = Eco::start().await;
    let s = e.server("paused").clone();
    let denied = e
        .exchange("alice", &s.issuer, &s.mcp_servers[0].url, "tools.read")
        .await;
    let request_id = denied.headers["x-request-id"].to_str().unwrap().to_owned();
    let m = e.eco.manifest();
    let url = format!("{}/audit-events", m.issuer.admin_url);

    let events: Value = e
        .http
        .get(format!("{url}?request_id={request_id}"))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["status_detail"], "Server paused");
    assert_eq!(events[0]["outcome"], "denied");
    assert_eq!(events[0]["oauth_error"], "access_denied");

    let no_token = e
        .http
        .get(format!("{url}?request_id=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    // Without request_id the log is listed (issue 7); a limit of 0 is a bad request.
    let no_id = Eco::answer(
        e.http
            .get(format!("{url}?limit=0"))
            .bearer_auth(m.issuer.admin_token.secret())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (no_id.status, no_id.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    e.eco.stop().await;
}

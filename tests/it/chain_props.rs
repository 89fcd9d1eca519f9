//! Property tests over the whole chain on real sockets. Each property runs every case
//! against ONE ecosystem (issuer, mock authorization servers, MCP servers) started at a
//! fixed time, through a manually driven proptest `TestRunner`, so a failure shrinks to a
//! minimal counter-example like any `proptest!` test and is persisted the same way.
//!
//! * Algorithm pinning: every ID-JAG the issuer mints is accepted by the authorization
//!   server pinned to its algorithm, and the same claims re-addressed to another server are
//!   refused there for the algorithm alone (a control re-signed with that server's own
//!   algorithm is accepted).
//! * Mutation: each spec-forbidden change to a valid ES256 ID-JAG is refused by the es256
//!   server with HTTP 400 `invalid_grant`, for the reason the change introduces; the
//!   unchanged token, and valid variations of it (one-element `aud`, times at the skew's
//!   edges, no `kid` while exactly one published key fits ES256), are accepted.
//! * Audit: whatever mix of token requests arrives concurrently, the issuer's audit log
//!   holds exactly one event per request, found by the response's `x-request-id`.

use jagspec::audit::{AuditEvent, Outcome};
use jagspec::mocks::auth_server::GrantRefusal;
use jagspec::mocks::{Ecosystem, EcosystemOptions, ManifestAuthorizationServer};
use jagspec::{
    Alg, AlgSet, FixedClock, ID_JAG_TOKEN_TYPE, ID_JAG_TYP, ID_TOKEN_TYPE, JWT_BEARER_GRANT,
    JwsHeader, Rejection, TOKEN_EXCHANGE_GRANT, dangerous, fixtures,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseResult, TestRunner, contextualize_config};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The fixed "now" of every party.
const NOW: i64 = 1_800_000_000;

/// The three authorization servers with one granted chain each, and their algorithms.
const PINNED: [(&str, Alg); 3] = [
    ("eddsa", Alg::EdDSA),
    ("rs256", Alg::RS256),
    ("es256", Alg::ES256),
];

/// The scopes alice holds and may obtain on each pinned server (tenant.toml: `chat.admin`
/// is granted but not enabled, `chat.write` enabled but granted to nobody).
fn granted_scopes(server: &str) -> Vec<&'static str> {
    if server == "es256" {
        vec!["chat.read"]
    } else {
        vec!["tools.read", "tools.write"]
    }
}

fn alg_of(server: &str) -> Alg {
    PINNED
        .iter()
        .find(|(name, _)| *name == server)
        .map(|(_, alg)| *alg)
        .unwrap_or_else(|| panic!("`{server}` is not a pinned server"))
}

/// A jti never used before in this process, so a shrinking run never trips replay
/// protection.
fn fresh_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("chain-props-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// How a client authenticates at a token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Basic,
    Post,
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![Just(Auth::Basic), Just(Auth::Post)]
}

/// A token endpoint's answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.json().await.unwrap_or(Value::Null);
        Self {
            status,
            request_id,
            body,
        }
    }

    /// Status and `error`, for one exact comparison.
    fn error(&self) -> (u16, Option<&str>) {
        (self.status, self.body["error"].as_str())
    }
}

/// The ecosystem at [`NOW`], the runtime serving it, and alice's ID token for `agent`.
struct Chain {
    runtime: tokio::runtime::Runtime,
    eco: Ecosystem,
    http: reqwest::Client,
    /// alice's ID token: it lives 600 s, and the clock never moves.
    id_token: String,
}

impl Chain {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let eco = runtime
            .block_on(Ecosystem::start_with(EcosystemOptions {
                clock: Arc::new(FixedClock::at(NOW)),
                ..EcosystemOptions::default()
            }))
            .unwrap();
        let mut chain = Self {
            runtime,
            eco,
            http: reqwest::Client::new(),
            id_token: String::new(),
        };
        let login = chain.block_on(chain.password_login("alice", "alice-password"));
        assert_eq!(login.status, 200, "alice's login: {}", login.body);
        chain.id_token = login.body["id_token"].as_str().unwrap().to_owned();
        chain
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn stop(self) {
        let Self { runtime, eco, .. } = self;
        runtime.block_on(eco.stop());
    }

    fn server(&self, name: &str) -> &ManifestAuthorizationServer {
        self.eco
            .manifest()
            .authorization_servers
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no authorization server `{name}` in the manifest"))
    }

    fn mcp_url(&self, server: &str, mcp: &str) -> String {
        self.server(server)
            .mcp_servers
            .iter()
            .find(|m| m.name == mcp)
            .unwrap_or_else(|| panic!("`{server}` has no MCP server `{mcp}`"))
            .url
            .clone()
    }

    fn issuer_url(&self) -> &str {
        &self.eco.manifest().issuer.url
    }

    /// A form POST with client authentication by `auth`.
    async fn post_form(
        &self,
        url: &str,
        auth: Auth,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> Answer {
        let mut form = form.to_vec();
        let mut request = self.http.post(url);
        match auth {
            Auth::Basic => request = request.basic_auth(client.0, Some(client.1)),
            Auth::Post => form.extend([("client_id", client.0), ("client_secret", client.1)]),
        }
        Answer::read(request.form(&form).send().await.unwrap()).await
    }

    /// The password grant at the issuer, as `agent`.
    async fn password_login(&self, user: &str, password: &str) -> Answer {
        self.post_form(
            &self.eco.manifest().issuer.token_endpoint,
            Auth::Basic,
            ("agent", "agent-secret"),
            &[
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
            ],
        )
        .await
    }

    /// A token exchange at the issuer by `agent` with alice's ID token; `scope` is left
    /// out when `None`.
    async fn exchange(
        &self,
        auth: Auth,
        secret: &str,
        audience: &str,
        resource: &str,
        scope: Option<&str>,
    ) -> Answer {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", ID_JAG_TOKEN_TYPE),
            ("audience", audience),
            ("resource", resource),
            ("subject_token", self.id_token.as_str()),
            ("subject_token_type", ID_TOKEN_TYPE),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.post_form(
            &self.eco.manifest().issuer.token_endpoint,
            auth,
            ("agent", secret),
            &form,
        )
        .await
    }

    /// A jwt-bearer request at `server` with its registered client.
    async fn redeem(&self, server: &str, auth: Auth, assertion: &str) -> Answer {
        let s = self.server(server);
        self.post_form(
            &s.token_endpoint,
            auth,
            (&s.client_id, s.client_secret.secret()),
            &[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)],
        )
        .await
    }

    /// The outcome the authorization server recorded for its last request.
    fn last_outcome(&self, server: &str) -> Result<String, GrantRefusal> {
        let redemptions = self.eco.authorization_server(server).unwrap().redemptions();
        redemptions
            .last()
            .unwrap_or_else(|| panic!("`{server}` recorded no request"))
            .outcome
            .clone()
            .map(|issued| issued.scopes.join(" "))
    }

    /// The claims the issuer mints for `server`'s first MCP server, at [`NOW`].
    fn claims(&self, server: &str, scope: &str, jti: &str) -> Value {
        let s = self.server(server);
        json!({
            "iss": self.issuer_url(),
            "sub": "alice",
            "aud": s.issuer,
            "client_id": s.client_id,
            "jti": jti,
            "iat": NOW,
            "exp": NOW + 600,
            "resource": s.mcp_servers[0].url,
            "scope": scope,
        })
    }
}

/// Runs `test` on `cases` values of `strategy` with proptest's runner (shrinking, failure
/// persistence next to this file), panicking with the minimal failing input.
fn check<S>(name: &'static str, cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let mut config = contextualize_config(ProptestConfig::with_cases(cases));
    config.test_name = Some(name);
    config.source_file = Some(file!());
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}\n{runner}");
    }
}

/// Signs `claims` with fixture key 1 of `alg` (the key the default tenant signs with) and
/// the ID-JAG `typ`.
fn signed(alg: Alg, claims: &Value) -> String {
    jagspec::mint(&fixtures::signing_key(alg, 1), Some(ID_JAG_TYP), claims)
        .unwrap()
        .into_secret()
}

fn signed_with(alg: Alg, header: &JwsHeader, claims: &Value) -> String {
    jagspec::sign(&fixtures::signing_key(alg, 1), header, claims)
        .unwrap()
        .into_secret()
}

/// A segment of a compact JWS, decoded (0: header, 1: payload).
fn segment(token: &str, n: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(n).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------------------------------------
// (c) Every minted ID-JAG is accepted only by the server pinned to its algorithm
// ---------------------------------------------------------------------------------------

/// A scope of one pinned server as the equivalent scope of another: the tools servers
/// define `tools.read`/`tools.write`, the chat server `chat.read`/`chat.write`.
fn scope_at(scope: &str, server: &str) -> String {
    let (_, action) = scope.split_once('.').unwrap();
    if server == "es256" {
        format!("chat.{action}")
    } else {
        format!("tools.{action}")
    }
}

/// A pinned server, an ordered subset of alice's scopes there (empty: no `scope`
/// parameter), and how the client authenticates at the issuer and at the server.
fn minting_case() -> impl Strategy<Value = (&'static str, Vec<&'static str>, Auth, Auth)> {
    select(PINNED.map(|(name, _)| name).to_vec()).prop_flat_map(|server| {
        let scopes = granted_scopes(server);
        let n = scopes.len();
        (
            Just(server),
            subsequence(scopes, 0..=n).prop_shuffle(),
            auth(),
            auth(),
        )
    })
}

#[test]
fn every_id_jag_the_issuer_mints_is_accepted_only_by_the_authorization_server_pinned_to_its_algorithm()
 {
    let chain = Chain::start();
    check(
        "chain_props::pinned_algorithm",
        32,
        minting_case(),
        |(server, scopes, issuer_auth, server_auth)| {
            chain.block_on(async {
                // Arrange: the issuer mints an ID-JAG for the server's MCP server.
                let s = chain.server(server);
                let alg = alg_of(server);
                let requested = scopes.join(" ");
                let minted = chain
                    .exchange(
                        issuer_auth,
                        "agent-secret",
                        &s.issuer,
                        &s.mcp_servers[0].url,
                        (!scopes.is_empty()).then_some(requested.as_str()),
                    )
                    .await;
                prop_assert_eq!(minted.status, 200, "token exchange: {}", minted.body);
                prop_assert_eq!(&minted.body["issued_token_type"], ID_JAG_TOKEN_TYPE);
                let id_jag = minted.body["access_token"].as_str().unwrap().to_owned();
                let expected_scope = if scopes.is_empty() {
                    granted_scopes(server).join(" ")
                } else {
                    requested.clone()
                };
                let header = segment(&id_jag, 0);
                let claims = segment(&id_jag, 1);
                prop_assert_eq!(
                    header,
                    json!({
                        "alg": alg.as_str(),
                        "typ": ID_JAG_TYP,
                        "kid": fixtures::signing_key(alg, 1).kid().as_str(),
                    })
                );
                let lifetime = if server == "es256" { 600 } else { 300 };
                prop_assert_eq!(
                    &claims,
                    &json!({
                        "iss": chain.issuer_url(),
                        "sub": "alice",
                        "aud": s.issuer,
                        "client_id": s.client_id,
                        "jti": claims["jti"],
                        "iat": NOW,
                        "exp": NOW + lifetime,
                        "resource": s.mcp_servers[0].url,
                        "scope": expected_scope,
                    })
                );
                prop_assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

                // Act + Assert: its own server grants exactly the minted scopes.
                let own = chain.redeem(server, server_auth, &id_jag).await;
                prop_assert_eq!(own.status, 200, "{} at {}: {}", alg, server, own.body);
                prop_assert_eq!(&own.body["scope"], expected_scope.as_str());
                prop_assert_eq!(&own.body["resource"], s.mcp_servers[0].url.as_str());

                for (other, other_alg) in PINNED.iter().filter(|(name, _)| *name != server) {
                    // The same claims addressed to the other server: its audience, its
                    // client id, its MCP server, the equivalent scopes. Only the
                    // algorithm differs from what it accepts.
                    let o = chain.server(other);
                    let mut adjusted = claims.clone();
                    adjusted["aud"] = json!(o.issuer);
                    adjusted["client_id"] = json!(o.client_id);
                    adjusted["resource"] = json!(o.mcp_servers[0].url);
                    let other_scope = expected_scope
                        .split(' ')
                        .map(|sc| scope_at(sc, other))
                        .collect::<Vec<_>>()
                        .join(" ");
                    adjusted["scope"] = json!(other_scope);

                    let foreign = chain
                        .redeem(other, server_auth, &signed(alg, &adjusted))
                        .await;
                    prop_assert_eq!(
                        foreign.error(),
                        (400, Some("invalid_grant")),
                        "{} ID-JAG at {}: {}",
                        alg,
                        other,
                        foreign.body
                    );
                    prop_assert_eq!(
                        chain.last_outcome(other),
                        Err(GrantRefusal::Assertion(Rejection::AlgNotAllowed {
                            found: alg,
                            allowed: AlgSet::only(*other_alg),
                        }))
                    );

                    // Control: the very same claims (same jti: the refusal did not use it
                    // up) signed with the other server's algorithm are accepted.
                    let control = chain
                        .redeem(other, server_auth, &signed(*other_alg, &adjusted))
                        .await;
                    prop_assert_eq!(
                        control.status,
                        200,
                        "control: {} ID-JAG at {}: {}",
                        other_alg,
                        other,
                        control.body
                    );
                    prop_assert_eq!(chain.last_outcome(other), Ok(other_scope.clone()));
                }
                Ok(())
            })
        },
    );
    chain.stop();
}

// ---------------------------------------------------------------------------------------
// (d) Every spec-forbidden mutation of a valid ID-JAG is refused with invalid_grant
// ---------------------------------------------------------------------------------------

/// Another party of the ecosystem, named so the strategy needs no URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    /// An authorization server other than es256, by manifest name.
    Server(&'static str),
    /// The reference issuer.
    Issuer,
    /// The reference issuer's URL with a trailing slash: another identifier.
    IssuerWithSlash,
}

const OTHER_SERVERS: [&str; 5] = ["eddsa", "rs256", "paused", "unregistered", "legacy"];

fn party() -> impl Strategy<Value = Party> {
    prop_oneof![
        select(OTHER_SERVERS.to_vec()).prop_map(Party::Server),
        Just(Party::Issuer),
    ]
}

/// A URL no party of the ecosystem has.
fn stranger_url() -> impl Strategy<Value = String> {
    "[a-z]{1,10}".prop_map(|host| format!("https://{host}.example"))
}

/// A value that replaces a URL-valued claim.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Url {
    Of(Party),
    Stranger(String),
}

fn url() -> impl Strategy<Value = Url> {
    prop_oneof![
        party().prop_map(Url::Of),
        stranger_url().prop_map(Url::Stranger)
    ]
}

/// A signed claim changed after signing, keeping the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tamper {
    /// `sub` becomes another user.
    Sub(String),
    /// `scope` gains scopes the issuer never granted.
    WidenScope,
    /// `exp` is pushed later by this many seconds.
    ExtendExp(i64),
    /// `jti` gains a suffix, as a replayer would to dodge replay protection.
    Jti(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        "[a-z]{1,8}"
            .prop_filter("alice signed it", |s| s != "alice")
            .prop_map(Tamper::Sub),
        Just(Tamper::WidenScope),
        (1_i64..=86_400).prop_map(Tamper::ExtendExp),
        "[a-z0-9]{1,8}".prop_map(Tamper::Jti),
    ]
}

/// One spec-forbidden change to a valid ID-JAG for the es256 server.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mutation {
    /// `typ` of another media type (RFC 8725 §3.11; ID-JAG §3.1).
    TypChanged(String),
    TypRemoved,
    /// `alg` `none` in any case, no signature (RFC 8725 §3.1).
    AlgNone(String),
    /// HS256 keyed with the issuer's public ES256 key (RFC 8725 §2.1).
    AlgHs256,
    /// Signed with the issuer's own key of another pinned algorithm.
    AlgOtherPinned(Alg),
    /// An `alg` no server verifies, over an ES256 signature.
    AlgUnsupported(String),
    /// A kid the issuer's JWKS does not have, over a valid ES256 signature.
    KidUnknown(String),
    /// A `crit` extension the verifier does not understand (RFC 7515 §4.1.11).
    CritUnknown(String),
    /// `jku` or `x5u` pointing at an attacker, with the attacker's key and kid
    /// (RFC 8725 §3.10).
    KeySourceInjected(&'static str, String),
    PayloadTampered(Tamper),
    /// `iss` of another party, or the issuer's URL with a trailing slash.
    IssChanged(Url),
    AudChanged(Url),
    /// `aud` as two members, ours among them, in either order.
    AudTwoMembers(Url, bool),
    AudTrailingSlash,
    ClientIdChanged(String),
    ClaimRemoved(&'static str),
    /// `exp` this many seconds before `now - skew`.
    ExpiredBeyondSkew(i64),
    /// `iat` this many seconds after `now + skew`.
    IatBeyondSkew(i64),
    /// `nbf` this many seconds after `now + skew`.
    NbfBeyondSkew(i64),
    ResourceForeign(Url),
    /// The chat MCP server's URL with a trailing slash.
    ResourceTrailingSlash,
    /// `resource` as two members, the chat server first or second.
    ResourceTwoMembers(&'static str, bool),
    /// A scope the chat MCP server does not define, beside `chat.read` or alone.
    ScopeUndefined(String, bool),
}

/// The seven claims an ID-JAG MUST carry (ID-JAG §3.1).
const REQUIRED: [&str; 7] = ["iss", "sub", "aud", "client_id", "jti", "exp", "iat"];

/// The scopes the chat MCP server defines (mocks/as-es256.toml).
const CHAT_SCOPES: [&str; 3] = ["chat.read", "chat.write", "chat.admin"];

/// Each kind of mutation, with the strategy of its parameters.
fn mutation_kinds() -> Vec<BoxedStrategy<Mutation>> {
    let not_ours = |t: &String| {
        let lower = t.to_ascii_lowercase();
        lower != "oauth-id-jag+jwt" && lower != "application/oauth-id-jag+jwt"
    };
    let published: Vec<String> = PINNED
        .iter()
        .map(|(_, alg)| fixtures::signing_key(*alg, 1).kid().to_string())
        .collect();
    let unknown_kid = "[A-Za-z0-9_-]{1,43}".prop_filter("a kid the issuer publishes", move |k| {
        !published.contains(k)
    });
    vec![
        prop_oneof![
            select(vec![
                "JWT",
                "at+jwt",
                "id-jag+jwt",
                "oauth-id-jag",
                "application/jwt"
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z/+.-]{0,24}".prop_filter("the ID-JAG media type", not_ours),
        ]
        .prop_map(Mutation::TypChanged)
        .boxed(),
        Just(Mutation::TypRemoved).boxed(),
        select(vec!["none", "None", "NONE", "nOnE"])
            .prop_map(|a| Mutation::AlgNone(a.into()))
            .boxed(),
        Just(Mutation::AlgHs256).boxed(),
        select(vec![Alg::EdDSA, Alg::RS256])
            .prop_map(Mutation::AlgOtherPinned)
            .boxed(),
        select(vec![
            "es256", "ES384", "ES512", "PS256", "RS512", "Ed25519", "ES256K",
        ])
        .prop_map(|a| Mutation::AlgUnsupported(a.into()))
        .boxed(),
        unknown_kid.clone().prop_map(Mutation::KidUnknown).boxed(),
        "[a-z][a-z0-9_]{0,11}"
            .prop_filter("a registered header parameter", |n| {
                ![
                    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "typ", "cty", "crit",
                ]
                .contains(&n.as_str())
            })
            .prop_map(Mutation::CritUnknown)
            .boxed(),
        (select(vec!["jku", "x5u"]), unknown_kid)
            .prop_map(|(p, kid)| Mutation::KeySourceInjected(p, kid))
            .boxed(),
        tamper().prop_map(Mutation::PayloadTampered).boxed(),
        prop_oneof![
            select(OTHER_SERVERS.to_vec()).prop_map(|s| Url::Of(Party::Server(s))),
            stranger_url().prop_map(Url::Stranger),
            Just(Url::Of(Party::IssuerWithSlash)),
        ]
        .prop_map(Mutation::IssChanged)
        .boxed(),
        url().prop_map(Mutation::AudChanged).boxed(),
        (url(), any::<bool>())
            .prop_map(|(u, first)| Mutation::AudTwoMembers(u, first))
            .boxed(),
        Just(Mutation::AudTrailingSlash).boxed(),
        prop_oneof![
            select(vec![
                "agent",
                "other-agent",
                "agent-at-eddsa",
                "agent-at-paused"
            ])
            .prop_map(str::to_owned),
            "[a-z-]{0,16}",
        ]
        .prop_filter("the registered client", |c| c != "agent-at-es256")
        .prop_map(Mutation::ClientIdChanged)
        .boxed(),
        select(REQUIRED.to_vec())
            .prop_map(Mutation::ClaimRemoved)
            .boxed(),
        (0_i64..=86_400)
            .prop_map(Mutation::ExpiredBeyondSkew)
            .boxed(),
        (1_i64..=86_400).prop_map(Mutation::IatBeyondSkew).boxed(),
        (1_i64..=86_400).prop_map(Mutation::NbfBeyondSkew).boxed(),
        url().prop_map(Mutation::ResourceForeign).boxed(),
        Just(Mutation::ResourceTrailingSlash).boxed(),
        (select(vec!["chat", "unlisted"]), any::<bool>())
            .prop_map(|(m, first)| Mutation::ResourceTwoMembers(m, first))
            .boxed(),
        (
            "[a-z]{1,6}\\.[a-z]{1,6}"
                .prop_filter("a chat scope", |s| !CHAT_SCOPES.contains(&s.as_str())),
            any::<bool>(),
        )
            .prop_map(|(s, alone)| Mutation::ScopeUndefined(s, alone))
            .boxed(),
    ]
}

/// One mutation of any kind, each kind equally likely.
fn mutation() -> impl Strategy<Value = Mutation> {
    proptest::strategy::Union::new(mutation_kinds())
}

/// Each kind's simplest mutation: the value shrinking ends at, so every kind runs in
/// every test run however the random cases fall.
fn simplest_of_each_kind() -> Vec<Mutation> {
    let mut runner = TestRunner::deterministic();
    mutation_kinds()
        .into_iter()
        .map(|kind| {
            let mut tree = kind.new_tree(&mut runner).unwrap();
            while tree.simplify() {}
            tree.current()
        })
        .collect()
}

/// The ecosystem's view the mutations need.
struct Es256Case<'a> {
    chain: &'a Chain,
    /// The es256 server's allowed skew, seconds.
    skew: i64,
}

impl Es256Case<'_> {
    fn url(&self, url: &Url) -> String {
        match url {
            Url::Of(Party::Server(name)) => self.chain.server(name).issuer.clone(),
            Url::Of(Party::Issuer) => self.chain.issuer_url().to_owned(),
            Url::Of(Party::IssuerWithSlash) => format!("{}/", self.chain.issuer_url()),
            Url::Stranger(u) => u.clone(),
        }
    }

    /// An MCP server URL of the party (the issuer has none: its token endpoint).
    fn resource_url(&self, url: &Url) -> String {
        match url {
            Url::Of(Party::Server(name)) => self.chain.server(name).mcp_servers[0].url.clone(),
            Url::Of(Party::Issuer | Party::IssuerWithSlash) => {
                self.chain.eco.manifest().issuer.token_endpoint.clone()
            }
            Url::Stranger(u) => format!("{u}/mcp"),
        }
    }

    /// A valid ID-JAG for es256 as the issuer mints it, with a fresh jti.
    fn claims(&self) -> Value {
        self.chain.claims("es256", "chat.read", &fresh_jti())
    }

    /// The mutated token and the refusal code the mutation must cause.
    fn apply(&self, mutation: &Mutation) -> (String, &'static str) {
        let mut claims = self.claims();
        let typed = JwsHeader::new().typ(ID_JAG_TYP);
        let es256 = |c: &Value| signed(Alg::ES256, c);
        let es = self.chain.server("es256").issuer.clone();
        let chat = self.chain.mcp_url("es256", "chat");
        match mutation {
            Mutation::TypChanged(typ) => (
                signed_with(Alg::ES256, &JwsHeader::new().typ(typ.as_str()), &claims),
                "typ_mismatch",
            ),
            Mutation::TypRemoved => (
                signed_with(Alg::ES256, &JwsHeader::new(), &claims),
                "typ_missing",
            ),
            Mutation::AlgNone(none) => (
                dangerous::assemble(&json!({"alg": none, "typ": ID_JAG_TYP}), &claims, b""),
                "alg_none",
            ),
            Mutation::AlgHs256 => {
                let key = fixtures::signing_key(Alg::ES256, 1);
                let header = json!({"alg": "HS256", "typ": ID_JAG_TYP, "kid": key.kid().as_str()});
                let public_pem = key.public_pem().unwrap();
                (
                    dangerous::hs256(public_pem.as_bytes(), &header, &claims).unwrap(),
                    "alg_symmetric",
                )
            }
            Mutation::AlgOtherPinned(alg) => (signed(*alg, &claims), "alg_not_allowed"),
            Mutation::AlgUnsupported(alg) => (
                signed_with(Alg::ES256, &typed.param("alg", json!(alg)), &claims),
                "alg_unsupported",
            ),
            Mutation::KidUnknown(kid) => (
                signed_with(Alg::ES256, &typed.kid(kid.as_str()), &claims),
                "kid_unknown",
            ),
            Mutation::CritUnknown(name) => (
                signed_with(
                    Alg::ES256,
                    &typed
                        .param("crit", json!([name]))
                        .param(name.as_str(), json!(true)),
                    &claims,
                ),
                "crit_unknown",
            ),
            Mutation::KeySourceInjected(param, kid) => {
                let attacker = fixtures::signing_key(Alg::ES256, 2);
                let header = typed
                    .kid(kid.as_str())
                    .param(*param, json!("https://attacker.example/keys"));
                (
                    jagspec::sign(&attacker, &header, &claims)
                        .unwrap()
                        .into_secret(),
                    "kid_unknown",
                )
            }
            Mutation::PayloadTampered(t) => {
                let token = es256(&claims);
                match t {
                    Tamper::Sub(sub) => claims["sub"] = json!(sub),
                    Tamper::WidenScope => claims["scope"] = json!(CHAT_SCOPES.join(" ")),
                    Tamper::ExtendExp(secs) => claims["exp"] = json!(NOW + 600 + secs),
                    Tamper::Jti(suffix) => {
                        claims["jti"] =
                            json!(format!("{}{suffix}", claims["jti"].as_str().unwrap()));
                    }
                }
                (
                    dangerous::replace_payload(&token, &claims),
                    "signature_invalid",
                )
            }
            Mutation::IssChanged(url) => {
                claims["iss"] = json!(self.url(url));
                (es256(&claims), "untrusted_issuer")
            }
            Mutation::AudChanged(url) => {
                claims["aud"] = json!(self.url(url));
                (es256(&claims), "audience_mismatch")
            }
            Mutation::AudTwoMembers(url, ours_first) => {
                let other = self.url(url);
                claims["aud"] = if *ours_first {
                    json!([es, other])
                } else {
                    json!([other, es])
                };
                (es256(&claims), "audience_multiple")
            }
            Mutation::AudTrailingSlash => {
                claims["aud"] = json!(format!("{es}/"));
                (es256(&claims), "audience_mismatch")
            }
            Mutation::ClientIdChanged(client) => {
                claims["client_id"] = json!(client);
                (es256(&claims), "claim_mismatch")
            }
            Mutation::ClaimRemoved(claim) => {
                claims.as_object_mut().unwrap().remove(*claim);
                (es256(&claims), "claim_missing")
            }
            Mutation::ExpiredBeyondSkew(secs) => {
                let exp = NOW - self.skew - secs;
                claims["exp"] = json!(exp);
                claims["iat"] = json!(exp - 600);
                (es256(&claims), "expired")
            }
            Mutation::IatBeyondSkew(secs) => {
                let iat = NOW + self.skew + secs;
                claims["iat"] = json!(iat);
                claims["exp"] = json!(iat + 600);
                (es256(&claims), "issued_in_future")
            }
            Mutation::NbfBeyondSkew(secs) => {
                claims["nbf"] = json!(NOW + self.skew + secs);
                (es256(&claims), "not_yet_valid")
            }
            Mutation::ResourceForeign(url) => {
                claims["resource"] = json!(self.resource_url(url));
                (es256(&claims), "foreign_resource")
            }
            Mutation::ResourceTrailingSlash => {
                claims["resource"] = json!(format!("{chat}/"));
                (es256(&claims), "foreign_resource")
            }
            Mutation::ResourceTwoMembers(mcp, chat_first) => {
                let other = self.chain.mcp_url("es256", mcp);
                claims["resource"] = if *chat_first {
                    json!([chat, other])
                } else {
                    json!([other, chat])
                };
                (es256(&claims), "resource_multiple")
            }
            Mutation::ScopeUndefined(scope, alone) => {
                claims["scope"] = if *alone {
                    json!(scope)
                } else {
                    json!(format!("chat.read {scope}"))
                };
                (es256(&claims), "scope_not_registered")
            }
        }
    }
}

fn es256_skew(chain: &Chain) -> i64 {
    let skew = chain
        .eco
        .authorization_server("es256")
        .unwrap()
        .config()
        .max_skew;
    i64::try_from(skew).unwrap()
}

impl Es256Case<'_> {
    /// The property: the mutated token is refused with 400 `invalid_grant`, for the reason
    /// the mutation introduced.
    fn refused(&self, mutation: &Mutation, auth: Auth) -> TestCaseResult {
        // Arrange
        let (token, code) = self.apply(mutation);

        // Act
        let answer = self
            .chain
            .block_on(self.chain.redeem("es256", auth, &token));

        // Assert
        prop_assert_eq!(
            answer.error(),
            (400, Some("invalid_grant")),
            "{:?}: {}",
            mutation,
            answer.body
        );
        let refusal = self.chain.last_outcome("es256").map_err(|r| r.code());
        prop_assert_eq!(refusal, Err(code), "{:?}: {}", mutation, answer.body);
        Ok(())
    }
}

#[test]
fn every_spec_forbidden_mutation_of_a_valid_id_jag_is_refused_with_invalid_grant() {
    let chain = Chain::start();
    let case = Es256Case {
        chain: &chain,
        skew: es256_skew(&chain),
    };
    // Every kind once in its simplest form (random cases may miss one of 23 kinds)...
    let simplest = simplest_of_each_kind();
    assert_eq!(simplest.len(), mutation_kinds().len());
    for mutation in &simplest {
        if let Err(e) = case.refused(mutation, Auth::Basic) {
            panic!("the simplest {mutation:?} was not refused: {e}");
        }
    }
    // ...then random mutations of random kinds, shrunk to a minimal one on failure.
    check(
        "chain_props::mutation",
        64,
        (mutation(), auth()),
        |(mutation, auth)| case.refused(&mutation, auth),
    );
    chain.stop();
}

/// A valid variation of the issuer's ES256 ID-JAG: the client authentication method,
/// `aud` as a one-element array, an ordered subset of the chat scopes (never empty), and
/// times at the edges of the skew the mutations step beyond.
#[derive(Clone, Debug)]
struct Valid {
    auth: Auth,
    aud_array: bool,
    /// No `kid`: accepted while exactly one published key fits ES256 (RFC 7515 §4.1.4
    /// makes `kid` optional; the verifier then takes the only candidate).
    without_kid: bool,
    scopes: Vec<&'static str>,
    /// `exp` this many seconds after `now - skew`: 1..=skew+600, each still valid.
    exp_margin: i64,
    /// `iat` in `now - 600 ..= now + skew`.
    iat_offset: i64,
    /// `nbf`, if any, in `now - 600 ..= now + skew`.
    nbf_offset: Option<i64>,
}

#[test]
fn the_unmutated_id_jag_and_its_valid_variations_are_accepted_each_with_a_fresh_jti() {
    let chain = Chain::start();
    let skew = es256_skew(&chain);
    let case = Es256Case {
        chain: &chain,
        skew,
    };
    let valid = (
        (auth(), any::<bool>(), any::<bool>()),
        subsequence(CHAT_SCOPES.to_vec(), 1..=3).prop_shuffle(),
        1..=skew + 600,
        -600..=skew,
        proptest::option::of(-600..=skew),
    )
        .prop_map(
            |((auth, aud_array, without_kid), scopes, exp_margin, iat_offset, nbf_offset)| Valid {
                auth,
                aud_array,
                without_kid,
                scopes,
                exp_margin,
                iat_offset,
                nbf_offset,
            },
        );
    check("chain_props::control", 32, valid, |v| {
        // The base of every mutation, as is.
        let unmutated = signed(Alg::ES256, &case.claims());
        let answer = chain.block_on(chain.redeem("es256", v.auth, &unmutated));
        prop_assert_eq!(answer.status, 200, "unmutated: {}", answer.body);
        prop_assert_eq!(&answer.body["scope"], "chat.read");

        // Arrange: a valid variation.
        let mut claims = case.claims();
        let jti = claims["jti"].clone();
        let es = chain.server("es256").issuer.clone();
        if v.aud_array {
            claims["aud"] = json!([es]);
        }
        claims["scope"] = json!(v.scopes.join(" "));
        claims["exp"] = json!(NOW - skew + v.exp_margin);
        claims["iat"] = json!(NOW + v.iat_offset);
        if let Some(nbf) = v.nbf_offset {
            claims["nbf"] = json!(NOW + nbf);
        }
        let header = if v.without_kid {
            JwsHeader::new().typ(ID_JAG_TYP).without_kid()
        } else {
            JwsHeader::new().typ(ID_JAG_TYP)
        };
        let token = signed_with(Alg::ES256, &header, &claims);

        // Act
        let answer = chain.block_on(chain.redeem("es256", v.auth, &token));

        // Assert
        prop_assert_eq!(answer.status, 200, "{:?}: {}", v, answer.body);
        prop_assert_eq!(&answer.body["scope"], &json!(v.scopes.join(" ")));
        prop_assert_eq!(
            &answer.body["resource"],
            &json!(chain.mcp_url("es256", "chat"))
        );
        let redemptions = chain
            .eco
            .authorization_server("es256")
            .unwrap()
            .redemptions();
        let last = redemptions.last().unwrap();
        prop_assert_eq!(last.jti.as_deref(), jti.as_str());
        Ok(())
    });
    chain.stop();
}

// ---------------------------------------------------------------------------------------
// (e) Exactly one audit event per token request, whatever the mix
// ---------------------------------------------------------------------------------------

/// One request to the issuer's token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenRequest {
    /// A token exchange the policy grants in full.
    Exchange(&'static str, Auth),
    /// The `paused` server's kill switch is on.
    PausedServer,
    /// es256's `unlisted` MCP server: the resource server does not list its URL.
    UnlistedTarget,
    /// The `unregistered` authorization server: no resource server has its audience.
    UnregisteredAudience,
    /// `chat.write`: enabled, granted to nobody.
    UngrantedScope,
    /// `chat.admin`: granted to alice, not enabled.
    DisabledScope,
    /// `agent` with a wrong secret.
    BadClientSecret(Auth, String),
    /// A valid exchange's parameters in a body of another media type.
    WrongContentType(&'static str),
    /// A valid exchange with one parameter sent twice.
    RepeatedParameter(&'static str, bool),
    /// A form body of this many bytes, over the 64 KiB limit.
    Oversized(usize),
    /// The password grant, with the right password or not.
    Login(&'static str, bool),
}

/// What the issuer must answer and record for a request.
struct Expected {
    status: u16,
    error: Option<&'static str>,
    outcome: Outcome,
    status_detail: &'static str,
    grant_type: Option<&'static str>,
}

impl TokenRequest {
    fn expected(&self) -> Expected {
        let denied = |status, error, status_detail, grant_type| Expected {
            status,
            error: Some(error),
            outcome: Outcome::Denied,
            status_detail,
            grant_type,
        };
        let exchange = Some(TOKEN_EXCHANGE_GRANT);
        match self {
            Self::Exchange(..) => Expected {
                status: 200,
                error: None,
                outcome: Outcome::Granted,
                status_detail: "Granted",
                grant_type: exchange,
            },
            Self::PausedServer => denied(400, "access_denied", "Server paused", exchange),
            Self::UnlistedTarget => {
                denied(400, "invalid_target", "Target URL not registered", exchange)
            }
            Self::UnregisteredAudience => {
                denied(400, "invalid_target", "Audience not registered", exchange)
            }
            Self::UngrantedScope => {
                denied(400, "invalid_scope", "No grant for the scope", exchange)
            }
            Self::DisabledScope => denied(400, "invalid_scope", "Scope not enabled", exchange),
            Self::BadClientSecret(..) => denied(
                401,
                "invalid_client",
                "Client authentication failed",
                exchange,
            ),
            Self::WrongContentType(_) | Self::RepeatedParameter(..) => {
                denied(400, "invalid_request", "Malformed request", None)
            }
            Self::Oversized(_) => denied(413, "invalid_request", "Request too large", None),
            Self::Login(_, true) => Expected {
                status: 200,
                error: None,
                outcome: Outcome::Granted,
                status_detail: "Granted",
                grant_type: Some("password"),
            },
            Self::Login(_, false) => denied(
                400,
                "invalid_grant",
                "Invalid user credentials",
                Some("password"),
            ),
        }
    }
}

/// The largest token-endpoint body the issuer reads (src/oauth.rs).
const MAX_BODY: usize = 64 * 1024;

fn token_request() -> impl Strategy<Value = TokenRequest> {
    prop_oneof![
        (select(PINNED.map(|(name, _)| name).to_vec()), auth())
            .prop_map(|(server, auth)| TokenRequest::Exchange(server, auth)),
        Just(TokenRequest::PausedServer),
        Just(TokenRequest::UnlistedTarget),
        Just(TokenRequest::UnregisteredAudience),
        Just(TokenRequest::UngrantedScope),
        Just(TokenRequest::DisabledScope),
        (
            auth(),
            "[a-zA-Z0-9]{1,16}".prop_filter("the secret", |s| s != "agent-secret")
        )
            .prop_map(|(auth, secret)| TokenRequest::BadClientSecret(auth, secret)),
        select(vec![
            "application/json",
            "text/plain",
            "multipart/form-data"
        ])
        .prop_map(TokenRequest::WrongContentType),
        (
            select(vec![
                "grant_type",
                "audience",
                "resource",
                "scope",
                "subject_token"
            ]),
            any::<bool>()
        )
            .prop_map(|(name, same)| TokenRequest::RepeatedParameter(name, same)),
        (MAX_BODY + 1..=MAX_BODY + 16 * 1024).prop_map(TokenRequest::Oversized),
        (select(vec!["alice", "bob"]), any::<bool>())
            .prop_map(|(user, right)| TokenRequest::Login(user, right)),
    ]
}

/// What a request task needs, owned so it can be spawned.
#[derive(Clone)]
struct IssuerClient {
    http: reqwest::Client,
    token_endpoint: String,
    id_token: String,
    /// Audience and resource of each authorization server's first MCP server, by name.
    targets: Vec<(String, String, String)>,
    unlisted: String,
}

impl IssuerClient {
    fn new(chain: &Chain) -> Self {
        Self {
            http: chain.http.clone(),
            token_endpoint: chain.eco.manifest().issuer.token_endpoint.clone(),
            id_token: chain.id_token.clone(),
            targets: chain
                .eco
                .manifest()
                .authorization_servers
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.issuer.clone(),
                        a.mcp_servers[0].url.clone(),
                    )
                })
                .collect(),
            unlisted: chain.mcp_url("es256", "unlisted"),
        }
    }

    fn target(&self, server: &str) -> (&str, &str) {
        let (_, audience, resource) = self
            .targets
            .iter()
            .find(|(name, ..)| name == server)
            .unwrap_or_else(|| panic!("no authorization server `{server}`"));
        (audience, resource)
    }

    /// A token exchange's parameters.
    fn exchange_form<'a>(
        &'a self,
        audience: &'a str,
        resource: &'a str,
        scope: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", ID_JAG_TOKEN_TYPE),
            ("audience", audience),
            ("resource", resource),
            ("scope", scope),
            ("subject_token", self.id_token.as_str()),
            ("subject_token_type", ID_TOKEN_TYPE),
        ]
    }

    async fn send(self, request: TokenRequest) -> Answer {
        let post = || self.http.post(&self.token_endpoint);
        let basic = || post().basic_auth("agent", Some("agent-secret"));
        let es256 = self.target("es256");
        let response = match &request {
            TokenRequest::Exchange(server, auth) => {
                let (audience, resource) = self.target(server);
                let scope = if *server == "es256" {
                    "chat.read"
                } else {
                    "tools.read"
                };
                let mut form = self.exchange_form(audience, resource, scope);
                if *auth == Auth::Post {
                    form.extend([("client_id", "agent"), ("client_secret", "agent-secret")]);
                    post().form(&form)
                } else {
                    basic().form(&form)
                }
            }
            TokenRequest::PausedServer => {
                let (audience, resource) = self.target("paused");
                basic().form(&self.exchange_form(audience, resource, "tools.read"))
            }
            TokenRequest::UnlistedTarget => {
                basic().form(&self.exchange_form(es256.0, &self.unlisted, "chat.read"))
            }
            TokenRequest::UnregisteredAudience => {
                let (audience, resource) = self.target("unregistered");
                basic().form(&self.exchange_form(audience, resource, "tools.read"))
            }
            TokenRequest::UngrantedScope => {
                basic().form(&self.exchange_form(es256.0, es256.1, "chat.write"))
            }
            TokenRequest::DisabledScope => {
                basic().form(&self.exchange_form(es256.0, es256.1, "chat.admin"))
            }
            TokenRequest::BadClientSecret(auth, secret) => {
                let mut form = self.exchange_form(es256.0, es256.1, "chat.read");
                if *auth == Auth::Post {
                    form.extend([("client_id", "agent"), ("client_secret", secret.as_str())]);
                    post().form(&form)
                } else {
                    post().basic_auth("agent", Some(secret)).form(&form)
                }
            }
            TokenRequest::WrongContentType(media) => {
                let form: serde_json::Map<String, Value> = self
                    .exchange_form(es256.0, es256.1, "chat.read")
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect();
                basic()
                    .header("content-type", *media)
                    .body(Value::Object(form).to_string())
            }
            TokenRequest::RepeatedParameter(name, same) => {
                let mut form = self.exchange_form(es256.0, es256.1, "chat.read");
                let (_, value) = *form.iter().find(|(n, _)| n == name).unwrap();
                form.push((name, if *same { value } else { "repeated" }));
                basic().form(&form)
            }
            TokenRequest::Oversized(len) => {
                let prefix = "grant_type=password&username=alice&password=";
                let body = format!("{prefix}{}", "a".repeat(len - prefix.len()));
                basic()
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
            TokenRequest::Login(user, right) => {
                let password = if *right {
                    format!("{user}-password")
                } else {
                    format!("{user}-wrong")
                };
                basic().form(&[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", &password),
                ])
            }
        };
        Answer::read(response.send().await.unwrap()).await
    }
}

#[test]
fn the_audit_log_holds_exactly_one_event_per_token_request_whatever_the_concurrent_mix() {
    let chain = Chain::start();
    let client = IssuerClient::new(&chain);
    let admin = &chain.eco.manifest().issuer;
    let audit_events = format!("{}/audit-events", admin.admin_url);
    check(
        "chain_props::audit",
        48,
        prop::collection::vec(token_request(), 1..=20),
        |requests| {
            chain.block_on(async {
                // Arrange
                let before = chain.eco.issuer().state.audit.count().unwrap();

                // Act: every request at once.
                let tasks: Vec<_> = requests
                    .iter()
                    .map(|r| tokio::spawn(client.clone().send(r.clone())))
                    .collect();
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.unwrap());
                }

                // Assert: each answer as documented, with a request id of its own...
                let mut ids = BTreeSet::new();
                for (request, answer) in requests.iter().zip(&answers) {
                    let expected = request.expected();
                    prop_assert_eq!(
                        answer.error(),
                        (expected.status, expected.error),
                        "{:?}: {}",
                        request,
                        answer.body
                    );
                    let Some(id) = &answer.request_id else {
                        return Err(TestCaseError::fail(format!(
                            "{request:?}: no x-request-id on the response"
                        )));
                    };
                    prop_assert!(
                        ids.insert(id.clone()),
                        "{:?}: x-request-id {} twice",
                        request,
                        id
                    );

                    // ...and exactly one audit event under it, which records this request.
                    let response = chain
                        .http
                        .get(
                            reqwest::Url::parse_with_params(&audit_events, [("request_id", id)])
                                .unwrap(),
                        )
                        .bearer_auth(admin.admin_token.secret())
                        .send()
                        .await
                        .unwrap();
                    prop_assert_eq!(response.status().as_u16(), 200);
                    let events: Vec<AuditEvent> = response.json().await.unwrap();
                    prop_assert_eq!(events.len(), 1, "{:?}: {:?}", request, events);
                    let event = &events[0];
                    prop_assert_eq!(&event.request_id, id);
                    prop_assert_eq!(
                        (
                            event.outcome,
                            event.status_detail.as_str(),
                            event.oauth_error.as_deref(),
                            event.grant_type.as_deref(),
                        ),
                        (
                            expected.outcome,
                            expected.status_detail,
                            expected.error,
                            expected.grant_type,
                        ),
                        "{:?}",
                        request
                    );
                }
                let after = chain.eco.issuer().state.audit.count().unwrap();
                prop_assert_eq!(after - before, u64::try_from(requests.len()).unwrap());
                Ok(())
            })
        },
    );
    chain.stop();
}

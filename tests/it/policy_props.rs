//! Property tests of the issuer's decision on a token exchange: on random tenants and
//! requests, `jagspec::issuer::decide` gives exactly the answer of a deliberately simple
//! model written here from the seeds' rules (docs/architecture.md, "The reference
//! issuer's rules from the seeds", and docs/positions.md D2), and a granted lifetime never exceeds its bound.
//!
//! The comparison draws a third of its cases from tenants patched so that every rule
//! passes (otherwise only one case in seven would be a grant); a deterministic check makes
//! sure the unpatched generator reaches every denial and every kind of grant.
//!
//! The model reads the generated *specification* of a tenant (plain indices and flags),
//! never the `TenantState` built from it, and shares no code with `policy.rs`: the status
//! details are the seeds' exact words, spelled out below.

use jagspec::audit::{ScopeOutcome, ScopeVerdict};
use jagspec::issuer::{
    AlgChoice, Client, Decision, ExchangeRequest, Lifetime, Refusal, ResourceServer, Scope,
    TenantSettings, TenantState, User, decide,
};
use jagspec::{Alg, KeySet, KeyStatus, Kid, fixtures};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{BTreeMap, BTreeSet};

// The status details of the seeds' table and of the protocol-level denials: exact strings,
// "what admins search for".
const TENANT_DISABLED: &str = "Enterprise-managed authorization disabled";
const AUDIENCE_NOT_REGISTERED: &str = "Audience not registered";
const SERVER_PAUSED: &str = "Server paused";
const TARGET_URL_NOT_REGISTERED: &str = "Target URL not registered";
const TARGET_URL_NOT_SPECIFIED: &str = "Target URL not specified";
const NO_GRANT: &str = "No grant for the scope";
const SCOPE_NOT_ENABLED: &str = "Scope not enabled";
const SCOPE_NOT_REGISTERED: &str = "Scope not registered";
const NO_SIGNING_KEY: &str = "No signing key for the algorithm";

/// Seed: the default maximum grant lifetime is 300 s unless the tenant sets one.
const FALLBACK_LIFETIME: u64 = 300;

const TENANT_URL: &str = "https://idp.example";

/// Every scope name a server may define. Servers draw from the same names, so a grant or a
/// request for `chat.read` on one server says nothing about `chat.read` on another.
const POOL: [&str; 5] = [
    "chat.read",
    "chat.write",
    "chat.history",
    "files.read",
    "admin",
];
/// A scope no server defines.
const UNKNOWN_SCOPE: &str = "never.defined";

const MAX_USERS: usize = 3;
const MAX_SERVERS: usize = 4;
const MAX_CLIENTS: usize = 2;
/// One flag per (user, server, pool scope) that may hold a grant.
const GRANT_SLOTS: usize = MAX_USERS * MAX_SERVERS * POOL.len();

/// Audiences no server has: another host, a registered one with a trailing slash (audiences
/// compare as exact strings), and the tenant's own URL.
const UNREGISTERED_AUDIENCES: [&str; 3] = [
    "https://unregistered.example",
    "https://as0.example/",
    TENANT_URL,
];

// ---------------------------------------------------------------------------------------
// The specification of a tenant and a request, as generated.
// ---------------------------------------------------------------------------------------

/// One algorithm's fixture key 1 in the tenant's key set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyChoice {
    Absent,
    Active,
    Retired,
}

#[derive(Clone, Debug)]
struct ServerSpec {
    /// 1 to 3 resource URIs.
    uri_count: usize,
    /// `None`: indefinite.
    max_lifetime: Option<u64>,
    alg: AlgChoice,
    disabled: bool,
    /// (index into [`POOL`], enabled), distinct names, in the server's order.
    scopes: Vec<(usize, bool)>,
}

#[derive(Clone, Debug)]
struct TenantSpec {
    ema_enabled: bool,
    default_alg: Alg,
    default_max_lifetime: Option<u64>,
    /// Per algorithm of [`Alg::ALL`].
    keys: [KeyChoice; 3],
    servers: Vec<ServerSpec>,
    users: usize,
    /// Per client, per server index: whether it has an id mapped at that server's AS.
    clients: Vec<[bool; MAX_SERVERS]>,
    /// Indexed by [`grant_slot`].
    grants: Vec<bool>,
}

#[derive(Clone, Debug)]
enum AudienceChoice {
    /// The audience of server `n % servers`.
    Registered,
    /// [`UNREGISTERED_AUDIENCES`]`[k % 3]`.
    Unregistered(usize),
}

#[derive(Clone, Debug)]
enum ResourceChoice {
    /// One of the target server's URIs.
    Own(usize),
    /// Another server's URI, a made-up one, or one of the target's with a trailing slash.
    Foreign(usize),
    Absent,
}

#[derive(Clone, Debug)]
struct ScopeChoice {
    /// No `scope` parameter at all.
    none: bool,
    /// Which of the target server's scopes (by position) are requested ...
    mask: [bool; 4],
    /// ... in this order (a permutation of 0..4).
    order: Vec<usize>,
    /// Insert [`UNKNOWN_SCOPE`] at this position (modulo).
    unknown: Option<usize>,
    /// Insert a pool scope the target server does not define at this position (modulo).
    foreign: Option<(usize, usize)>,
    /// Repeat the requested scope at this position (modulo) at the end.
    repeat: Option<usize>,
}

#[derive(Clone, Debug)]
struct RequestSpec {
    user: usize,
    client: usize,
    /// The server the request is about: its audience (or an unregistered one), its URIs.
    target: usize,
    audience: AudienceChoice,
    resource: ResourceChoice,
    scopes: ScopeChoice,
}

/// A request, resolved against a tenant spec.
#[derive(Clone, Debug)]
struct Request {
    user: usize,
    client: usize,
    audience: String,
    resource: Option<String>,
    scopes: Vec<String>,
}

fn grant_slot(user: usize, server: usize, pool: usize) -> usize {
    (user * MAX_SERVERS + server) * POOL.len() + pool
}

fn user_name(u: usize) -> String {
    format!("user{u}")
}

fn client_id(c: usize) -> String {
    format!("agent{c}")
}

fn mapped_client_id(c: usize, n: usize) -> String {
    format!("agent{c}-at-as{n}")
}

fn server_id(n: usize) -> String {
    format!("rs{n}")
}

fn audience(n: usize) -> String {
    format!("https://as{n}.example")
}

fn resource_uris(n: usize, count: usize) -> Vec<String> {
    (0..count)
        .map(|k| format!("https://mcp{n}-{k}.example/mcp"))
        .collect()
}

fn alg_position(alg: Alg) -> usize {
    Alg::ALL
        .iter()
        .position(|a| *a == alg)
        .expect("Alg::ALL has every algorithm")
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

fn alg() -> impl Strategy<Value = Alg> {
    prop::sample::select(Alg::ALL.to_vec())
}

fn alg_choice() -> impl Strategy<Value = AlgChoice> {
    prop_oneof![Just(AlgChoice::Inherit), alg().prop_map(AlgChoice::Alg)]
}

fn max_lifetime() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(1..=3600_u64)
}

fn key_choice() -> impl Strategy<Value = KeyChoice> {
    prop_oneof![
        1 => Just(KeyChoice::Absent),
        3 => Just(KeyChoice::Active),
        1 => Just(KeyChoice::Retired),
    ]
}

fn server_spec() -> impl Strategy<Value = ServerSpec> {
    (
        1..=3_usize,
        max_lifetime(),
        alg_choice(),
        prop::bool::weighted(0.1),
        prop::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 0..=4).prop_shuffle(),
        prop::array::uniform4(prop::bool::weighted(0.8)),
    )
        .prop_map(
            |(uri_count, max_lifetime, alg, disabled, names, enabled)| ServerSpec {
                uri_count,
                max_lifetime,
                alg,
                disabled,
                scopes: names.into_iter().zip(enabled).collect(),
            },
        )
}

fn tenant_spec() -> impl Strategy<Value = TenantSpec> {
    (
        prop::bool::weighted(0.95),
        alg(),
        max_lifetime(),
        prop::array::uniform3(key_choice()),
        prop::collection::vec(server_spec(), 1..=MAX_SERVERS),
        1..=MAX_USERS,
        prop::collection::vec(prop::array::uniform4(any::<bool>()), 1..=MAX_CLIENTS),
        prop::collection::vec(prop::bool::weighted(0.6), GRANT_SLOTS),
    )
        .prop_map(
            |(
                ema_enabled,
                default_alg,
                default_max_lifetime,
                keys,
                servers,
                users,
                clients,
                grants,
            )| {
                TenantSpec {
                    ema_enabled,
                    default_alg,
                    default_max_lifetime,
                    keys,
                    servers,
                    users,
                    clients,
                    grants,
                }
            },
        )
}

fn request_spec() -> impl Strategy<Value = RequestSpec> {
    let audience = prop_oneof![
        9 => Just(AudienceChoice::Registered),
        1 => (0..8_usize).prop_map(AudienceChoice::Unregistered),
    ];
    let resource = prop_oneof![
        6 => (0..8_usize).prop_map(ResourceChoice::Own),
        1 => (0..16_usize).prop_map(ResourceChoice::Foreign),
        2 => Just(ResourceChoice::Absent),
    ];
    let scopes = (
        prop::bool::weighted(0.2),
        prop::array::uniform4(any::<bool>()),
        Just(vec![0, 1, 2, 3]).prop_shuffle(),
        prop::option::weighted(0.2, 0..8_usize),
        prop::option::weighted(0.2, (0..8_usize, 0..8_usize)),
        prop::option::weighted(0.1, 0..8_usize),
    )
        .prop_map(
            |(none, mask, order, unknown, foreign, repeat)| ScopeChoice {
                none,
                mask,
                order,
                unknown,
                foreign,
                repeat,
            },
        );
    (
        0..8_usize,
        0..8_usize,
        0..8_usize,
        audience,
        resource,
        scopes,
    )
        .prop_map(
            |(user, client, target, audience, resource, scopes)| RequestSpec {
                user,
                client,
                target,
                audience,
                resource,
                scopes,
            },
        )
}

/// Resolves a request spec against a tenant spec: registered users and clients only (the
/// subject token and client authentication were checked before `decide`).
fn resolve(t: &TenantSpec, r: &RequestSpec) -> Request {
    let n = r.target % t.servers.len();
    let server = &t.servers[n];
    let own = resource_uris(n, server.uri_count);
    let audience = match r.audience {
        AudienceChoice::Registered => audience(n),
        AudienceChoice::Unregistered(k) => {
            UNREGISTERED_AUDIENCES[k % UNREGISTERED_AUDIENCES.len()].to_owned()
        }
    };
    let resource = match r.resource {
        ResourceChoice::Own(k) => Some(own[k % own.len()].clone()),
        ResourceChoice::Foreign(k) => {
            let mut foreign: Vec<String> = (0..t.servers.len())
                .filter(|m| *m != n)
                .flat_map(|m| resource_uris(m, t.servers[m].uri_count))
                .collect();
            foreign.push("https://elsewhere.example/mcp".to_owned());
            foreign.push(format!("{}/", own[0]));
            Some(foreign[k % foreign.len()].clone())
        }
        ResourceChoice::Absent => None,
    };
    let mut scopes: Vec<String> = Vec::new();
    let s = &r.scopes;
    if !s.none {
        scopes = s
            .order
            .iter()
            .filter(|i| **i < server.scopes.len() && s.mask[**i])
            .map(|i| POOL[server.scopes[*i].0].to_owned())
            .collect();
        if let Some(at) = s.unknown {
            scopes.insert(at % (scopes.len() + 1), UNKNOWN_SCOPE.to_owned());
        }
        if let Some((which, at)) = s.foreign {
            let undefined: Vec<&str> = (0..POOL.len())
                .filter(|p| server.scopes.iter().all(|(q, _)| q != p))
                .map(|p| POOL[p])
                .collect();
            let name = undefined[which % undefined.len()].to_owned();
            scopes.insert(at % (scopes.len() + 1), name);
        }
        if let Some(which) = s.repeat
            && !scopes.is_empty()
        {
            let again = scopes[which % scopes.len()].clone();
            scopes.push(again);
        }
    }
    Request {
        user: r.user % t.users,
        client: r.client % t.clients.len(),
        audience,
        resource,
        scopes,
    }
}

fn case() -> impl Strategy<Value = (TenantSpec, Request)> {
    (tenant_spec(), request_spec()).prop_map(|(t, r)| {
        let request = resolve(&t, &r);
        (t, request)
    })
}

/// A case on which every rule passes, so the request must be granted: the tenant enabled,
/// a registered audience, the server live, one of its URIs, a requested (or, with no
/// `scope`, implied) scope that is enabled and held, an active key for its algorithm.
fn grantable_case() -> impl Strategy<Value = (TenantSpec, Request)> {
    (tenant_spec(), request_spec()).prop_map(|(mut t, mut r)| {
        let n = r.target % t.servers.len();
        let user = r.user % t.users;
        t.ema_enabled = true;
        r.audience = AudienceChoice::Registered;
        if !matches!(r.resource, ResourceChoice::Own(_)) {
            r.resource = ResourceChoice::Own(0);
        }
        let server = &mut t.servers[n];
        server.disabled = false;
        if server.scopes.is_empty() {
            server.scopes.push((0, true));
        }
        server.scopes[0].1 = true;
        let held = server.scopes[0].0;
        let alg = match server.alg {
            AlgChoice::Inherit => t.default_alg,
            AlgChoice::Alg(a) => a,
        };
        t.grants[grant_slot(user, n, held)] = true;
        t.keys[alg_position(alg)] = KeyChoice::Active;
        let mut request = resolve(&t, &r);
        if !request.scopes.is_empty() && !request.scopes.iter().any(|s| s == POOL[held]) {
            request.scopes.push(POOL[held].to_owned());
        }
        (t, request)
    })
}

// ---------------------------------------------------------------------------------------
// The tenant state `decide` reads, built from the spec.
// ---------------------------------------------------------------------------------------

fn build(t: &TenantSpec) -> TenantState {
    let mut keys = KeySet::new();
    for (alg, choice) in Alg::ALL.iter().zip(t.keys) {
        let status = match choice {
            KeyChoice::Absent => continue,
            KeyChoice::Active => KeyStatus::Active,
            KeyChoice::Retired => KeyStatus::Retired,
        };
        keys.insert(fixtures::signing_key(*alg, 1), status)
            .expect("fixture kids are distinct");
    }
    let users = (0..t.users)
        .map(|u| {
            let user = User {
                name: user_name(u),
                sub: format!("sub-{u}"),
                password_hash: "unused".to_owned(),
            };
            (user.name.clone(), user)
        })
        .collect();
    let clients = t
        .clients
        .iter()
        .enumerate()
        .map(|(c, mapped)| {
            let as_client_ids = (0..t.servers.len())
                .filter(|n| mapped[*n])
                .map(|n| (audience(n), mapped_client_id(c, n)))
                .collect();
            let client = Client {
                client_id: client_id(c),
                secret_hash: "unused".to_owned(),
                as_client_ids,
            };
            (client.client_id.clone(), client)
        })
        .collect::<BTreeMap<_, _>>();
    let servers = t
        .servers
        .iter()
        .enumerate()
        .map(|(n, s)| ResourceServer {
            id: server_id(n),
            name: format!("Server {n}"),
            audience: audience(n),
            resource_uris: resource_uris(n, s.uri_count),
            max_lifetime: s
                .max_lifetime
                .map_or(Lifetime::Indefinite, Lifetime::Seconds),
            alg: s.alg,
            disabled: s.disabled,
            modify_claims_hook: None,
            scopes: s
                .scopes
                .iter()
                .map(|(p, enabled)| Scope {
                    name: POOL[*p].to_owned(),
                    enabled: *enabled,
                })
                .collect(),
        })
        .collect();
    let mut grants = BTreeSet::new();
    for u in 0..t.users {
        for n in 0..t.servers.len() {
            for (p, scope) in POOL.iter().enumerate() {
                if t.grants[grant_slot(u, n, p)] {
                    grants.insert((user_name(u), server_id(n), (*scope).to_owned()));
                }
            }
        }
    }
    TenantState {
        settings: TenantSettings {
            url: TENANT_URL.to_owned(),
            ema_enabled: t.ema_enabled,
            default_alg: t.default_alg,
            default_max_lifetime: t.default_max_lifetime,
        },
        users,
        clients,
        servers,
        grants,
        trusted_jwks: keys.jwks().into(),
        keys,
    }
}

fn run_decide(state: &TenantState, r: &Request) -> Result<Decision, Refusal> {
    let request = ExchangeRequest {
        user: &state.users[&user_name(r.user)],
        client: &state.clients[&client_id(r.client)],
        audience: &r.audience,
        resource: r.resource.as_deref(),
        scopes: &r.scopes,
    };
    decide(state, &request)
}

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// The requested scopes as a set in request order: the first of each repeat.
fn distinct(scopes: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for s in scopes {
        if !seen.contains(&s.as_str()) {
            seen.push(s);
        }
    }
    seen
}

/// An answer to a token request, as the model and `decide` are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Denied {
        detail: String,
        outcomes: Vec<ScopeOutcome>,
    },
    Granted {
        server_id: String,
        audience: String,
        resource: String,
        scopes: Vec<String>,
        narrowed: bool,
        alg: Alg,
        kid: Kid,
        lifetime: u64,
        as_client_id: String,
        outcomes: Vec<ScopeOutcome>,
    },
}

fn granted(scope: &str) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.to_owned(),
        outcome: ScopeVerdict::Granted,
        reason: None,
    }
}

fn denied(scope: &str, reason: &str) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.to_owned(),
        outcome: ScopeVerdict::Denied,
        reason: Some(reason.to_owned()),
    }
}

/// The seeds' rules, checked in this order (the order `policy.rs` documents; the seeds'
/// table lists the denials without fixing one, so this is the reference's reading of them:
/// tenant switch, then what the request names, from the system down to its scopes, then
/// the key that would sign):
///
/// 1. enterprise-managed authorization disabled for the tenant: every request is denied;
/// 2. no resource server has the audience (exact string): "Audience not registered";
/// 3. the server is disabled (the kill switch): "Server paused";
/// 4. a `resource` not among the server's URIs (exact string): "Target URL not
///    registered"; no `resource`: the server's only URI, and with several, "Target URL not
///    specified" (D2);
/// 5. scopes, a set (RFC 6749 §3.3: repeats say nothing more), each judged in request
///    order: not defined on this server → "Scope not registered", defined but disabled →
///    "Scope not enabled", no grant for this user on this server → "No grant for the
///    scope"; the token carries the granted subset and the request is denied only when
///    none is granted, with the first scope's reason. No `scope` at all asks for every
///    enabled scope the user holds on the server, in the server's order (none: "No grant
///    for the scope");
/// 6. the server's algorithm (inherit: the tenant default) needs an active key; a retired
///    key is published but no longer signs: "No signing key for the algorithm";
/// 7. the lifetime is the server's maximum, or for an indefinite server the tenant
///    default, or 300 s.
///
/// Every requested scope's outcome is recorded either way; when the request is denied
/// before scopes are judged (1–4), each is denied with the request's status detail, and
/// when it is denied for the key (6), the scopes that would have been granted are too.
/// The client's `client_id` at the authorization server is its mapping for the audience,
/// else its issuer id.
fn model(t: &TenantSpec, r: &Request) -> Answer {
    let requested = distinct(&r.scopes);
    let deny_all = |detail: &str| Answer::Denied {
        detail: detail.to_owned(),
        outcomes: requested.iter().map(|s| denied(s, detail)).collect(),
    };

    // 1.
    if !t.ema_enabled {
        return deny_all(TENANT_DISABLED);
    }
    // 2.
    let Some(n) = (0..t.servers.len()).find(|n| audience(*n) == r.audience) else {
        return deny_all(AUDIENCE_NOT_REGISTERED);
    };
    let server = &t.servers[n];
    // 3.
    if server.disabled {
        return deny_all(SERVER_PAUSED);
    }
    // 4.
    let uris = resource_uris(n, server.uri_count);
    let resource = match &r.resource {
        Some(x) if uris.contains(x) => x.clone(),
        Some(_) => return deny_all(TARGET_URL_NOT_REGISTERED),
        None if uris.len() == 1 => uris[0].clone(),
        None => return deny_all(TARGET_URL_NOT_SPECIFIED),
    };
    // 5.
    let holds = |p: usize| t.grants[grant_slot(r.user, n, p)];
    let mut outcomes: Vec<ScopeOutcome> = if requested.is_empty() {
        server
            .scopes
            .iter()
            .filter(|(p, enabled)| *enabled && holds(*p))
            .map(|(p, _)| granted(POOL[*p]))
            .collect()
    } else {
        requested
            .iter()
            .map(
                |s| match server.scopes.iter().find(|(p, _)| POOL[*p] == *s) {
                    None => denied(s, SCOPE_NOT_REGISTERED),
                    Some((_, false)) => denied(s, SCOPE_NOT_ENABLED),
                    Some((p, true)) if !holds(*p) => denied(s, NO_GRANT),
                    Some(_) => granted(s),
                },
            )
            .collect()
    };
    let scopes: Vec<String> = outcomes
        .iter()
        .filter(|o| o.outcome == ScopeVerdict::Granted)
        .map(|o| o.scope.clone())
        .collect();
    if scopes.is_empty() {
        let detail = outcomes
            .first()
            .and_then(|o| o.reason.clone())
            .unwrap_or_else(|| NO_GRANT.to_owned());
        return Answer::Denied { detail, outcomes };
    }
    // 6.
    let alg = match server.alg {
        AlgChoice::Inherit => t.default_alg,
        AlgChoice::Alg(a) => a,
    };
    if t.keys[alg_position(alg)] != KeyChoice::Active {
        for o in &mut outcomes {
            if o.outcome == ScopeVerdict::Granted {
                *o = denied(&o.scope, NO_SIGNING_KEY);
            }
        }
        return Answer::Denied {
            detail: NO_SIGNING_KEY.to_owned(),
            outcomes,
        };
    }
    // 7.
    let lifetime = server
        .max_lifetime
        .or(t.default_max_lifetime)
        .unwrap_or(FALLBACK_LIFETIME);
    let as_client_id = if t.clients[r.client][n] {
        mapped_client_id(r.client, n)
    } else {
        client_id(r.client)
    };
    Answer::Granted {
        server_id: server_id(n),
        audience: audience(n),
        resource,
        narrowed: scopes.len() < outcomes.len(),
        scopes,
        alg,
        kid: fixtures::signing_key(alg, 1).kid().clone(),
        lifetime,
        as_client_id,
        outcomes,
    }
}

/// `decide`'s result in the model's terms.
fn observed(result: &Result<Decision, Refusal>) -> Answer {
    match result {
        Err(refusal) => Answer::Denied {
            detail: refusal.denial.status_detail().to_owned(),
            outcomes: refusal.scope_outcomes.clone(),
        },
        Ok(d) => Answer::Granted {
            server_id: d.server_id.clone(),
            audience: d.audience.clone(),
            resource: d.resource.clone(),
            scopes: d.scopes.clone(),
            narrowed: d.narrowed,
            alg: d.key.alg(),
            kid: d.key.kid().clone(),
            lifetime: d.lifetime,
            as_client_id: d.as_client_id.clone(),
            outcomes: d.scope_outcomes.clone(),
        },
    }
}

/// A label for the kind of answer, for the coverage check.
fn label(answer: &Answer, request: &Request) -> String {
    match answer {
        Answer::Denied { detail, .. } => detail.clone(),
        Answer::Granted { narrowed: true, .. } => "granted, narrowed".to_owned(),
        Answer::Granted { .. } if request.scopes.is_empty() => {
            "granted, no scope requested".to_owned()
        }
        Answer::Granted { .. } => "granted in full".to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decide_gives_the_answer_of_the_seeds_model_on_random_tenants_and_requests(
        (tenant, request) in prop_oneof![2 => case(), 1 => grantable_case()]
    ) {
        // Arrange
        let state = build(&tenant);

        // Act
        let result = run_decide(&state, &request);

        // Assert
        prop_assert_eq!(observed(&result), model(&tenant, &request), "request {:?}", request);
    }

    #[test]
    fn every_requested_scope_has_exactly_one_outcome_in_request_order(
        (tenant, request) in case()
    ) {
        // Arrange
        let state = build(&tenant);
        let distinct = distinct(&request.scopes);

        // Act
        let result = run_decide(&state, &request);

        // Assert: one outcome per distinct requested scope, in order; the granted ones are
        // exactly the token's scopes; a denied one says why. With no `scope`, the outcomes
        // are those of the implied scopes, which a refusal before scopes are judged has none
        // of.
        let (outcomes, token_scopes) = match &result {
            Ok(d) => (&d.scope_outcomes, d.scopes.clone()),
            Err(r) => (&r.scope_outcomes, Vec::new()),
        };
        let named: Vec<&str> = outcomes.iter().map(|o| o.scope.as_str()).collect();
        if request.scopes.is_empty() {
            // The implied scopes: on a grant, exactly the token's.
            if result.is_ok() {
                let token: Vec<&str> = token_scopes.iter().map(String::as_str).collect();
                prop_assert_eq!(&named, &token);
            }
        } else {
            prop_assert_eq!(&named, &distinct);
        }
        let granted_in_outcomes: Vec<String> = outcomes
            .iter()
            .filter(|o| o.outcome == ScopeVerdict::Granted)
            .map(|o| o.scope.clone())
            .collect();
        prop_assert_eq!(granted_in_outcomes, token_scopes);
        for o in outcomes {
            prop_assert_eq!(o.reason.is_some(), o.outcome == ScopeVerdict::Denied, "{:?}", o);
        }
        if result.is_err() {
            prop_assert!(
                outcomes.iter().all(|o| o.outcome == ScopeVerdict::Denied),
                "a refusal grants nothing: {:?}", outcomes
            );
        }
    }

    #[test]
    fn a_granted_lifetime_is_positive_and_never_exceeds_the_servers_maximum_or_the_default(
        (tenant, request) in grantable_case()
    ) {
        // Arrange
        let state = build(&tenant);
        let server = &state.servers[(0..tenant.servers.len())
            .find(|n| audience(*n) == request.audience)
            .expect("a grantable case names a registered audience")];
        let bound = match server.max_lifetime {
            Lifetime::Seconds(s) => s,
            Lifetime::Indefinite => tenant.default_max_lifetime.unwrap_or(FALLBACK_LIFETIME),
        };

        // Act
        let result = run_decide(&state, &request);

        // Assert
        let decision = match result {
            Ok(d) => d,
            Err(r) => {
                return Err(TestCaseError::fail(format!(
                    "every rule passes, yet refused with {:?}; request {request:?}",
                    r.denial
                )));
            }
        };
        prop_assert!(decision.lifetime > 0, "lifetime 0");
        prop_assert!(
            decision.lifetime <= bound,
            "lifetime {} exceeds {bound} (server {:?}, tenant default {:?})",
            decision.lifetime, server.max_lifetime, tenant.default_max_lifetime
        );
    }
}

/// The generators reach every answer: without this, a property could pass because some
/// rule is never exercised.
#[test]
fn the_generated_cases_reach_every_denial_and_every_kind_of_grant() {
    // Arrange
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();

    // Act
    for _ in 0..2000 {
        let (tenant, request) = strategy
            .new_tree(&mut runner)
            .expect("the strategy never rejects")
            .current();
        let answer = model(&tenant, &request);
        *seen.entry(label(&answer, &request)).or_default() += 1;
    }

    // Assert
    let expected = [
        TENANT_DISABLED,
        AUDIENCE_NOT_REGISTERED,
        SERVER_PAUSED,
        TARGET_URL_NOT_REGISTERED,
        TARGET_URL_NOT_SPECIFIED,
        NO_GRANT,
        SCOPE_NOT_ENABLED,
        SCOPE_NOT_REGISTERED,
        NO_SIGNING_KEY,
        "granted, narrowed",
        "granted, no scope requested",
        "granted in full",
    ];
    for kind in expected {
        assert!(
            seen.get(kind).copied().unwrap_or(0) >= 10,
            "`{kind}` seen fewer than 10 times in 2000 cases: {seen:?}"
        );
    }
    assert_eq!(seen.len(), expected.len(), "unexpected kinds: {seen:?}");
}

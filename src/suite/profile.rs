//! Someone else's issuer, described by a profile (`jagspec test issuer --profile FILE`).
//!
//! The profile says where the issuer is, which client the suite acts as, how to get a
//! subject token for each test user, and which pre-provisioned resource servers play which
//! role ("the ES256 server paused", "an ungranted scope of the EdDSA server", …). A scenario
//! whose role the profile lacks is skipped with the reason; audit scenarios run only when
//! the profile says how to read the issuer's system log. jagspec never changes an external
//! target's configuration or clock, so scenarios that would are skipped too.
//!
//! [`IssuerProfile::parse`] checks the whole file and reports every problem at once, each
//! with its fix; [`IssuerProfile::resolve`] then reads the metadata the profile points at.
//! `examples/issuer-profile.toml` is a complete profile for `jagspec serve --port-base
//! 18400`, documented line by line.

use super::role::{RoleName, ServerRole};
use super::target::{AuditAccess, AuthorizationServerAccess, Credentials, Login, Role, Target};
use crate::http::{UrlError, UrlUse};
use crate::jose::Alg;
use crate::types::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// One thing wrong with a profile: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    /// The table or key, e.g. `[users.alice]` or `[[servers]] #2 alg`.
    pub at: String,
    /// What is wrong.
    pub problem: String,
    /// What to write instead.
    pub fix: String,
}

impl fmt::Display for ProfileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} Fix: {}", self.at, self.problem, self.fix)
    }
}

/// Why a profile cannot be used; every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the profile has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ProfileError(pub Vec<ProfileProblem>);

// ---- the file, as written -------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    issuer: IssuerSection,
    client: ClientSection,
    other_client: Option<ClientSection>,
    #[serde(default)]
    users: BTreeMap<String, UserSection>,
    audit: Option<AuditSection>,
    #[serde(default)]
    servers: Vec<ServerSection>,
    #[serde(default)]
    authorization_servers: Vec<AsSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerSection {
    /// RFC 8414 metadata URL; gives `issuer` and `token_endpoint`.
    metadata_url: Option<String>,
    issuer: Option<String>,
    token_endpoint: Option<String>,
    /// An audience no resource server has ("Audience not registered").
    unregistered_audience: Option<String>,
    #[serde(default)]
    allow_insecure_http: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSection {
    client_id: String,
    client_secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSection {
    password: Option<String>,
    subject_token: Option<String>,
    subject_token_command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    events_url: String,
    bearer_token: Option<String>,
    request_id_header: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    alg: String,
    #[serde(default)]
    state: Option<String>,
    audience: String,
    resource: String,
    scope: String,
    ungranted_scope: Option<String>,
    scope_not_enabled: Option<String>,
    unlisted_resource: Option<String>,
    max_lifetime: Option<toml::Value>,
    #[serde(default)]
    inherits_default_alg: bool,
    #[serde(default)]
    single_resource_uri: bool,
    authorization_server: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsSection {
    name: String,
    metadata_url: Option<String>,
    issuer: Option<String>,
    token_endpoint: Option<String>,
    alg: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    mcp_servers: Vec<String>,
}

// ---- the profile, checked ---------------------------------------------------------------

/// Where a server or the issuer's endpoints come from.
#[derive(Debug, Clone)]
enum Endpoints {
    /// Read `issuer` and `token_endpoint` from RFC 8414 metadata.
    Metadata(String),
    /// Given directly.
    Given {
        issuer: String,
        token_endpoint: String,
    },
}

/// A resource server's state at the issuer, as the profile declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Active,
    Paused,
    NoSigningKey,
}

#[derive(Debug, Clone)]
struct Server {
    alg: Alg,
    state: ServerState,
    audience: String,
    resource: String,
    scope: String,
    ungranted_scope: Option<String>,
    scope_not_enabled: Option<String>,
    unlisted_resource: Option<String>,
    /// `None`: not declared; `Some(None)`: indefinite; `Some(Some(n))`: n seconds.
    max_lifetime: Option<Option<u64>>,
    inherits_default_alg: bool,
    single_resource_uri: bool,
    authorization_server: Option<String>,
}

#[derive(Debug, Clone)]
struct AsDecl {
    name: String,
    endpoints: Endpoints,
    alg: Alg,
    client: Credentials,
    mcp_servers: Vec<String>,
}

/// A validated issuer profile. Build with [`IssuerProfile::parse`]; turn into a target
/// with [`IssuerProfile::resolve`].
#[derive(Debug, Clone)]
pub struct IssuerProfile {
    issuer: Endpoints,
    unregistered_audience: Option<String>,
    client: Credentials,
    other_client: Option<Credentials>,
    users: BTreeMap<String, Login>,
    audit: Option<AuditAccess>,
    servers: Vec<Server>,
    authorization_servers: Vec<AsDecl>,
}

/// The user every scenario signs in as.
const SCENARIO_USER: &str = "alice";

impl IssuerProfile {
    /// Parses and checks a profile. `${jagspec}` in a subject-token command is replaced by
    /// `jagspec_exe` (the running binary), so a profile can call `jagspec sign-in`.
    ///
    /// # Errors
    ///
    /// [`ProfileError`] with every problem found and its fix.
    pub fn parse(text: &str, jagspec_exe: &str) -> Result<Self, ProfileError> {
        let file: File = parse_toml(text, "examples/issuer-profile.toml")?;
        let mut problems = Vec::new();
        let mut problem = |at: &str, what: String, fix: &str| {
            problems.push(ProfileProblem {
                at: at.to_owned(),
                problem: what,
                fix: fix.to_owned(),
            });
        };
        let insecure = file.issuer.allow_insecure_http;

        // [issuer]
        let issuer = endpoints(
            "[issuer]",
            file.issuer.metadata_url.as_deref(),
            file.issuer.issuer.as_deref(),
            file.issuer.token_endpoint.as_deref(),
            insecure,
            &mut problem,
        );
        if let Some(aud) = &file.issuer.unregistered_audience {
            check_url("[issuer] unregistered_audience", aud, true, &mut problem);
        }

        // [client], [other_client]
        for (at, c) in [
            ("[client]", Some(&file.client)),
            ("[other_client]", file.other_client.as_ref()),
        ] {
            if let Some(c) = c
                && (c.client_id.is_empty() || c.client_secret.is_empty())
            {
                problem(
                    at,
                    "client_id or client_secret is empty.".into(),
                    "give the client's id and secret as registered at the issuer",
                );
            }
        }

        // [users.NAME]
        let mut users = BTreeMap::new();
        if !file.users.contains_key(SCENARIO_USER) {
            problem(
                "[users]",
                format!(
                    "there is no [users.{SCENARIO_USER}]: every scenario signs in as \"{SCENARIO_USER}\"."
                ),
                "add [users.alice] with one of password, subject_token or subject_token_command",
            );
        }
        for (name, u) in &file.users {
            let at = format!("[users.{name}]");
            let given = [
                u.password.is_some(),
                u.subject_token.is_some(),
                u.subject_token_command.is_some(),
            ]
            .iter()
            .filter(|g| **g)
            .count();
            if given != 1 {
                problem(
                    &at,
                    format!("it gives {given} ways to get a subject token."),
                    "keep exactly one of password (the issuer's password grant), subject_token \
                     (a fixed ID token) or subject_token_command (a command that prints one)",
                );
                continue;
            }
            let login = if let Some(p) = &u.password {
                Login::Password(Secret::new(p.clone()))
            } else if let Some(t) = &u.subject_token {
                Login::SubjectToken(Secret::new(t.trim().to_owned()))
            } else {
                let command: Vec<String> = u
                    .subject_token_command
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| a.replace("${jagspec}", jagspec_exe))
                    .collect();
                if command.first().is_none_or(String::is_empty) {
                    problem(
                        &at,
                        "subject_token_command is empty.".into(),
                        "give the program and its arguments, e.g. [\"${jagspec}\", \"sign-in\", …]",
                    );
                    continue;
                }
                Login::Command(command)
            };
            users.insert(name.clone(), login);
        }

        // [audit]
        let audit = file.audit.as_ref().and_then(|a| {
            if !a.events_url.contains("{request_id}") {
                problem(
                    "[audit] events_url",
                    "it has no {request_id} placeholder.".into(),
                    "write the URL that lists one request's audit events, with {request_id} \
                     where the request id goes",
                );
                return None;
            }
            check_url("[audit] events_url", &a.events_url, insecure, &mut problem);
            Some(AuditAccess {
                events_url: a.events_url.clone(),
                bearer_token: a.bearer_token.clone().map(Secret::new),
                request_id_header: a
                    .request_id_header
                    .clone()
                    .unwrap_or_else(|| "x-request-id".into())
                    .to_ascii_lowercase(),
            })
        });

        // [[authorization_servers]]
        let mut authorization_servers = Vec::new();
        for (i, a) in file.authorization_servers.iter().enumerate() {
            let at = format!("[[authorization_servers]] #{} ({})", i + 1, a.name);
            let Some(alg) = parse_alg(&at, &a.alg, &mut problem) else {
                continue;
            };
            let Some(endpoints) = endpoints(
                &at,
                a.metadata_url.as_deref(),
                a.issuer.as_deref(),
                a.token_endpoint.as_deref(),
                insecure,
                &mut problem,
            ) else {
                continue;
            };
            if authorization_servers
                .iter()
                .any(|d: &AsDecl| d.name == a.name)
            {
                problem(
                    &at,
                    "the name is used twice.".into(),
                    "give each authorization server its own name",
                );
            }
            authorization_servers.push(AsDecl {
                name: a.name.clone(),
                endpoints,
                alg,
                client: Credentials {
                    client_id: a.client_id.clone(),
                    secret: Secret::new(a.client_secret.clone()),
                },
                mcp_servers: a.mcp_servers.clone(),
            });
        }

        // [[servers]]
        let mut servers: Vec<Server> = Vec::new();
        for (i, s) in file.servers.iter().enumerate() {
            let at = format!("[[servers]] #{}", i + 1);
            let Some(alg) = parse_alg(&at, &s.alg, &mut problem) else {
                continue;
            };
            let state = match s.state.as_deref().unwrap_or("active") {
                "active" => Some(ServerState::Active),
                "paused" => Some(ServerState::Paused),
                "no-signing-key" => Some(ServerState::NoSigningKey),
                other => {
                    problem(
                        &format!("{at} state"),
                        format!("`{other}` is not a state."),
                        "write \"active\" (the default), \"paused\" (disabled: the kill switch) \
                         or \"no-signing-key\" (the tenant holds no key for its algorithm)",
                    );
                    None
                }
            };
            check_url(&format!("{at} audience"), &s.audience, true, &mut problem);
            check_url(&format!("{at} resource"), &s.resource, true, &mut problem);
            if let Some(u) = &s.unlisted_resource {
                check_url(&format!("{at} unlisted_resource"), u, true, &mut problem);
            }
            if s.scope.trim().is_empty() {
                problem(
                    &format!("{at} scope"),
                    "it is empty.".into(),
                    "give a scope the test user is granted",
                );
            }
            let max_lifetime = match &s.max_lifetime {
                None => None,
                Some(toml::Value::String(t)) if t == "indefinite" => Some(None),
                Some(toml::Value::Integer(n)) if *n > 0 => Some(u64::try_from(*n).ok()),
                Some(other) => {
                    problem(
                        &format!("{at} max_lifetime"),
                        format!("`{other}` is neither \"indefinite\" nor a number of seconds."),
                        "write \"indefinite\" (inherits the tenant default, which the seeds \
                         resolve to 300 s when unset) or the maximum in seconds",
                    );
                    None
                }
            };
            if let Some(name) = &s.authorization_server
                && !authorization_servers.iter().any(|a| &a.name == name)
            {
                problem(
                    &format!("{at} authorization_server"),
                    format!("no [[authorization_servers]] is named `{name}`."),
                    "declare it, or remove the key (its ID-JAGs are then not redeemed)",
                );
            }
            // Every key is checked before a bad state drops the server.
            let Some(state) = state else {
                continue;
            };
            servers.push(Server {
                alg,
                state,
                audience: s.audience.clone(),
                resource: s.resource.clone(),
                scope: s.scope.clone(),
                ungranted_scope: s.ungranted_scope.clone(),
                scope_not_enabled: s.scope_not_enabled.clone(),
                unlisted_resource: s.unlisted_resource.clone(),
                max_lifetime,
                inherits_default_alg: s.inherits_default_alg,
                single_resource_uri: s.single_resource_uri,
                authorization_server: s.authorization_server.clone(),
            });
        }
        if servers.is_empty() {
            problem(
                "[[servers]]",
                "no resource server is declared, so every scenario would be skipped.".into(),
                "declare at least one [[servers]] with alg, audience, resource and scope",
            );
        }

        match (issuer, problems.is_empty()) {
            (Some(issuer), true) => Ok(Self {
                issuer,
                unregistered_audience: file.issuer.unregistered_audience,
                client: Credentials {
                    client_id: file.client.client_id,
                    secret: Secret::new(file.client.client_secret),
                },
                other_client: file.other_client.map(|c| Credentials {
                    client_id: c.client_id,
                    secret: Secret::new(c.client_secret),
                }),
                users,
                audit,
                servers,
                authorization_servers,
            }),
            _ => Err(ProfileError(problems)),
        }
    }

    /// The roles the profile's servers play.
    pub fn roles(&self) -> BTreeMap<RoleName, Role> {
        let mut roles = BTreeMap::new();
        let mut add = |name: RoleName, s: &Server, resource: &str, scope: &str| {
            roles.entry(name).or_insert_with(|| Role {
                audience: s.audience.clone(),
                resource: resource.to_owned(),
                scope: scope.to_owned(),
                ungranted_scope: s.ungranted_scope.clone(),
                other_scope: None,
                authorization_server: s.authorization_server.clone(),
                provision: None,
            });
        };
        for s in &self.servers {
            let of = |kind| RoleName::Of(s.alg, kind);
            match s.state {
                ServerState::Paused => add(of(ServerRole::Paused), s, &s.resource, &s.scope),
                ServerState::NoSigningKey => {
                    add(of(ServerRole::WithoutSigningKey), s, &s.resource, &s.scope);
                }
                ServerState::Active => {
                    add(of(ServerRole::Server), s, &s.resource, &s.scope);
                    if let Some(scope) = &s.ungranted_scope {
                        add(of(ServerRole::UngrantedScope), s, &s.resource, scope);
                    }
                    if let Some(scope) = &s.scope_not_enabled {
                        add(of(ServerRole::ScopeNotEnabled), s, &s.resource, scope);
                    }
                    if let Some(url) = &s.unlisted_resource {
                        add(of(ServerRole::UnlistedTarget), s, url, &s.scope);
                    }
                    match s.max_lifetime {
                        Some(None) => add(RoleName::IndefiniteLifetime, s, &s.resource, &s.scope),
                        Some(Some(n)) => add(RoleName::MaxLifetime(n), s, &s.resource, &s.scope),
                        None => {}
                    }
                    if s.single_resource_uri {
                        add(RoleName::SingleResourceUri, s, &s.resource, &s.scope);
                    }
                    if s.inherits_default_alg {
                        add(RoleName::InheritsDefaultAlg, s, &s.resource, &s.scope);
                    }
                    let verifies = s
                        .authorization_server
                        .as_ref()
                        .and_then(|n| self.authorization_servers.iter().find(|a| &a.name == n))
                        .map(|a| a.alg);
                    if verifies.is_some_and(|v| v != s.alg) {
                        add(RoleName::VerifiesAnotherAlg, s, &s.resource, &s.scope);
                    }
                }
            }
        }
        if let Some(aud) = &self.unregistered_audience {
            roles.insert(
                RoleName::UnregisteredAudience,
                Role {
                    audience: aud.clone(),
                    resource: self
                        .servers
                        .first()
                        .map(|s| s.resource.clone())
                        .unwrap_or_else(|| aud.clone()),
                    scope: self
                        .servers
                        .first()
                        .map(|s| s.scope.clone())
                        .unwrap_or_default(),
                    ungranted_scope: None,
                    other_scope: None,
                    authorization_server: None,
                    provision: None,
                },
            );
        }
        roles
    }

    /// Reads the metadata the profile points at and builds the target.
    ///
    /// # Errors
    ///
    /// [`ProfileError`] naming each endpoint that could not be read, with the fix.
    pub async fn resolve(&self, name: &str) -> Result<Target, ProfileError> {
        let http = super::http::Http::new();
        let mut problems = Vec::new();
        let issuer = fetch_endpoints(&http, "[issuer]", &self.issuer, &mut problems).await;
        let mut authorization_servers = BTreeMap::new();
        for a in &self.authorization_servers {
            let at = format!("[[authorization_servers]] {}", a.name);
            if let Some((issuer, token_endpoint)) =
                fetch_endpoints(&http, &at, &a.endpoints, &mut problems).await
            {
                authorization_servers.insert(
                    a.name.clone(),
                    AuthorizationServerAccess {
                        issuer,
                        alg: a.alg,
                        token_endpoint,
                        client: a.client.clone(),
                        mcp_servers: a.mcp_servers.clone(),
                    },
                );
            }
        }
        let Some((issuer, token_endpoint)) = issuer.filter(|_| problems.is_empty()) else {
            return Err(ProfileError(problems));
        };
        Ok(Target::external(
            name,
            issuer,
            token_endpoint,
            self.client.clone(),
            self.other_client.clone(),
            self.users.clone(),
            self.roles(),
            authorization_servers,
            self.audit.clone(),
        ))
    }
}

/// A profile's TOML, or the one problem that it does not parse, naming the line and the
/// example that shows every key.
fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    example: &str,
) -> Result<T, ProfileError> {
    toml::from_str(text).map_err(|e| {
        ProfileError(vec![ProfileProblem {
            at: "the file".into(),
            problem: format!("it is not a valid profile: {}", e.message()),
            fix: match e.span() {
                Some(span) => format!(
                    "correct line {} (see {example} for every key)",
                    line_of(text, span.start)
                ),
                None => format!("see {example} for every key"),
            },
        }])
    })
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

fn parse_alg(at: &str, text: &str, problem: &mut impl FnMut(&str, String, &str)) -> Option<Alg> {
    match text.parse::<Alg>() {
        Ok(a) => Some(a),
        Err(_) => {
            problem(
                &format!("{at} alg"),
                format!("`{text}` is not an algorithm jagspec tests."),
                "write EdDSA, RS256 or ES256 (exactly so)",
            );
            None
        }
    }
}

/// Checks a URL by the one URL policy: absolute http(s) with a host, no userinfo, no
/// fragment, and plain http only to loopback unless `plain_http_ok` (the profile allows
/// it, or the URL is an identifier nothing is sent to).
fn check_url(
    at: &str,
    text: &str,
    plain_http_ok: bool,
    problem: &mut impl FnMut(&str, String, &str),
) {
    let usage = UrlUse::Credentials {
        allow_insecure_http: plain_http_ok,
    };
    match crate::http::check_url(text, usage) {
        Ok(_) => {}
        Err(e @ UrlError::InsecureHttp { .. }) => problem(
            at,
            format!("{e}."),
            "use https, or set allow_insecure_http = true in [issuer] for a test network",
        ),
        Err(e) => problem(at, format!("{e}."), "write an absolute https URL"),
    }
}

fn endpoints(
    at: &str,
    metadata_url: Option<&str>,
    issuer: Option<&str>,
    token_endpoint: Option<&str>,
    insecure: bool,
    problem: &mut impl FnMut(&str, String, &str),
) -> Option<Endpoints> {
    match (metadata_url, issuer, token_endpoint) {
        (Some(m), None, None) => {
            check_url(&format!("{at} metadata_url"), m, insecure, problem);
            Some(Endpoints::Metadata(m.to_owned()))
        }
        (None, Some(i), Some(t)) => {
            check_url(&format!("{at} token_endpoint"), t, insecure, problem);
            Some(Endpoints::Given {
                issuer: i.to_owned(),
                token_endpoint: t.to_owned(),
            })
        }
        _ => {
            problem(
                at,
                "it must say where the server is: metadata_url, or issuer with token_endpoint."
                    .into(),
                "give metadata_url (its RFC 8414 metadata), or both issuer and token_endpoint, \
                 not both forms",
            );
            None
        }
    }
}

/// `(issuer, token_endpoint)` from the endpoints, reading RFC 8414 metadata if needed.
async fn fetch_endpoints(
    http: &super::http::Http,
    at: &str,
    endpoints: &Endpoints,
    problems: &mut Vec<ProfileProblem>,
) -> Option<(String, String)> {
    let url = match endpoints {
        Endpoints::Given {
            issuer,
            token_endpoint,
        } => return Some((issuer.clone(), token_endpoint.clone())),
        Endpoints::Metadata(url) => url,
    };
    let mut problem = |what: String, fix: &str| {
        problems.push(ProfileProblem {
            at: format!("{at} metadata_url"),
            problem: what,
            fix: fix.to_owned(),
        });
    };
    let response = match http.send(http.get(url)).await {
        Ok(r) => r,
        Err(e) => {
            problem(
                format!("GET {url} failed: {e}."),
                "start the server, or correct the URL",
            );
            return None;
        }
    };
    let status = response.status();
    let read = http.read(response, super::http::MAX_ANSWER_BYTES).await;
    let parsed = read
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let body = match parsed {
        Some(b) if status.is_success() => b,
        _ => {
            problem(
                format!("GET {url} answered HTTP {status} without JSON metadata."),
                "give the RFC 8414 metadata URL (…/.well-known/oauth-authorization-server)",
            );
            return None;
        }
    };
    let issuer = body["issuer"].as_str().map(str::to_owned);
    let token_endpoint = body["token_endpoint"].as_str().map(str::to_owned);
    match (issuer, token_endpoint) {
        (Some(i), Some(t)) => {
            // RFC 8414 §3.3: the metadata's issuer is the one its URL was built from.
            let expected = crate::wellknown::inserted(&i, crate::wellknown::AUTHORIZATION_SERVER);
            if expected.as_deref().is_ok_and(|e| e != url) {
                problem(
                    format!(
                        "the metadata names issuer `{i}`, whose metadata URL is not {url} (RFC 8414 §3.3)."
                    ),
                    "give the metadata URL built from the issuer identifier",
                );
                return None;
            }
            Some((i, t))
        }
        _ => {
            problem(
                format!("the metadata at {url} has no issuer or no token_endpoint."),
                "point at the server's RFC 8414 metadata",
            );
            None
        }
    }
}

// ---- `jagspec test as`: an authorization server, with jagspec as its trusted IdP --------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsFile {
    idp: IdpSection,
    authorization_server: AsUnderTest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdpSection {
    /// `host:port` on loopback; the issuer URL is `http://host:port`.
    listen: String,
    /// Where the IdP's keys are kept (relative to the profile's directory).
    keys_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsUnderTest {
    metadata_url: Option<String>,
    issuer: Option<String>,
    token_endpoint: Option<String>,
    alg: String,
    client_id: String,
    client_secret: String,
    resource: String,
    scope: String,
    other_scope: Option<String>,
    subject: String,
    foreign_resource: Option<String>,
    #[serde(default)]
    call_mcp_server: bool,
    #[serde(default)]
    allow_insecure_http: bool,
}

/// A validated `jagspec test as` profile: the authorization server under test, and where
/// jagspec's IdP listens and keeps its keys.
#[derive(Debug, Clone)]
pub struct AsProfile {
    /// `host:port` the IdP binds.
    pub listen: String,
    /// The IdP's keys directory.
    pub keys_dir: std::path::PathBuf,
    endpoints: Endpoints,
    alg: Alg,
    client: Credentials,
    resource: String,
    scope: String,
    other_scope: Option<String>,
    subject: String,
    foreign_resource: Option<String>,
    call_mcp_server: bool,
}

impl AsProfile {
    /// Parses and checks a profile; `base` is the profile's directory (for `keys_dir`).
    ///
    /// # Errors
    ///
    /// [`ProfileError`] with every problem found and its fix.
    pub fn parse(text: &str, base: &std::path::Path) -> Result<Self, ProfileError> {
        let file: AsFile = parse_toml(text, "examples/as-profile.toml")?;
        let mut problems = Vec::new();
        let mut problem = |at: &str, what: String, fix: &str| {
            problems.push(ProfileProblem {
                at: at.to_owned(),
                problem: what,
                fix: fix.to_owned(),
            });
        };
        let a = &file.authorization_server;
        let insecure = a.allow_insecure_http;
        match file.idp.listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => {}
            _ => problem(
                "[idp] listen",
                format!("`{}` is not a loopback address and port.", file.idp.listen),
                "write e.g. \"127.0.0.1:18500\": a fixed port keeps the issuer URL the \
                 authorization server trusts the same from run to run",
            ),
        }
        let alg = parse_alg("[authorization_server]", &a.alg, &mut problem);
        let endpoints = endpoints(
            "[authorization_server]",
            a.metadata_url.as_deref(),
            a.issuer.as_deref(),
            a.token_endpoint.as_deref(),
            insecure,
            &mut problem,
        );
        check_url(
            "[authorization_server] resource",
            &a.resource,
            !a.call_mcp_server || insecure,
            &mut problem,
        );
        if let Some(f) = &a.foreign_resource {
            check_url(
                "[authorization_server] foreign_resource",
                f,
                true,
                &mut problem,
            );
        }
        for (key, value) in [
            ("client_id", &a.client_id),
            ("client_secret", &a.client_secret),
            ("scope", &a.scope),
            ("subject", &a.subject),
        ] {
            if value.trim().is_empty() {
                problem(
                    &format!("[authorization_server] {key}"),
                    "it is empty.".into(),
                    "give the value the authorization server expects",
                );
            }
        }
        match (alg, endpoints, problems.is_empty()) {
            (Some(alg), Some(endpoints), true) => Ok(Self {
                listen: file.idp.listen,
                keys_dir: base.join(&file.idp.keys_dir),
                endpoints,
                alg,
                client: Credentials {
                    client_id: a.client_id.clone(),
                    secret: Secret::new(a.client_secret.clone()),
                },
                resource: a.resource.clone(),
                scope: a.scope.clone(),
                other_scope: a.other_scope.clone(),
                subject: a.subject.clone(),
                foreign_resource: a.foreign_resource.clone(),
                call_mcp_server: a.call_mcp_server,
            }),
            _ => Err(ProfileError(problems)),
        }
    }

    /// The algorithm the authorization server verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Before the battery: one valid ID-JAG from the IdP must be redeemed, or every check
    /// would fail for the same reason (usually: the server does not trust the IdP yet).
    ///
    /// # Errors
    ///
    /// What the server answered, and what to check.
    pub async fn preflight(
        &self,
        idp: &super::idp::LocalIdp,
        target: std::sync::Arc<Target>,
    ) -> Result<(), String> {
        // The suite's own steps mint and redeem it, as every check's control does.
        let answer = super::steps::mint_and_redeem(target, RoleName::server(self.alg))
            .await
            .map_err(|e| format!("the preflight redemption did not run: {e}"))?;
        if answer.status == 200 {
            return Ok(());
        }
        let body = &answer.body;
        Err(format!(
            "the authorization server refused a valid {} ID-JAG from jagspec's IdP (HTTP \
             {}, error `{}`{}), so every check would fail for the same reason. Check \
             that it trusts the issuer {} (it finds the JWKS through that issuer's RFC 8414 \
             metadata), that it verifies {}, that `{}` is a client there with that secret, \
             and that it serves {} with scope `{}`",
            self.alg,
            answer.status,
            body["error"].as_str().unwrap_or("-"),
            body["error_description"]
                .as_str()
                .map_or_else(String::new, |d| format!(": {d}")),
            idp.issuer,
            self.alg,
            self.client.client_id,
            self.resource,
            self.scope
        ))
    }

    /// Reads the authorization server's metadata and builds the target around the
    /// running IdP.
    ///
    /// # Errors
    ///
    /// [`ProfileError`] naming the endpoint that could not be read.
    pub async fn resolve(&self, idp: &super::idp::LocalIdp) -> Result<Target, ProfileError> {
        let http = super::http::Http::new();
        let mut problems = Vec::new();
        let found = fetch_endpoints(
            &http,
            "[authorization_server]",
            &self.endpoints,
            &mut problems,
        )
        .await;
        let Some((issuer, token_endpoint)) = found else {
            return Err(ProfileError(problems));
        };
        let server = AuthorizationServerAccess {
            issuer: issuer.clone(),
            alg: self.alg,
            token_endpoint,
            client: self.client.clone(),
            mcp_servers: vec![self.resource.clone()],
        };
        let role = Role {
            audience: issuer,
            resource: self.resource.clone(),
            scope: self.scope.clone(),
            ungranted_scope: None,
            other_scope: self.other_scope.clone(),
            authorization_server: Some("authorization server".into()),
            provision: None,
        };
        Ok(Target::minting(
            idp,
            self.subject.clone(),
            BTreeMap::from([(RoleName::server(self.alg), role)]),
            BTreeMap::from([("authorization server".to_owned(), server)]),
            self.foreign_resource.clone(),
            self.call_mcp_server,
        ))
    }
}

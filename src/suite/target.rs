//! What a suite run is pointed at. Steps see only a [`Target`]: URLs, credentials and
//! *roles* (which audience, resource and scope play "the ES256 server paused", "an
//! ungranted scope of the EdDSA server", …, by [`RoleName`]), all reached over HTTP. The reference target is the embedded ecosystem:
//! read-only checks share one, and a check that changes it gets its own, so checks cannot
//! disturb each other and time can be moved. Someone else's issuer fills the same struct
//! from a profile; for someone else's authorization server, jagspec's own IdP
//! ([`super::idp::LocalIdp`]) is the issuer and mints. Which of these a run uses is
//! [`super::TargetSpec`].

use super::role::{RoleName, ServerRole};
use crate::jose::{Alg, Clock, FixedClock, SystemClock};
use crate::mocks::{Ecosystem, EcosystemError, EcosystemOptions, Manifest};
use crate::types::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A client's credentials at the issuer or an authorization server.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// Its secret.
    pub secret: Secret,
}

/// An authorization server the suite may redeem ID-JAGs at.
#[derive(Debug, Clone)]
pub struct AuthorizationServerAccess {
    /// Its issuer identifier: the audience of the token exchange.
    pub issuer: String,
    /// The algorithm it verifies.
    pub alg: Alg,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// The agent's credentials there.
    pub client: Credentials,
    /// Its MCP servers' URLs.
    pub mcp_servers: Vec<String>,
}

/// What the issuer needs from the target for a token exchange, by role name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The `audience` parameter.
    pub audience: String,
    /// The `resource` parameter.
    pub resource: String,
    /// The `scope` parameter.
    pub scope: String,
    /// A scope of the same server granted to nobody, if the target names one.
    pub ungranted_scope: Option<String>,
    /// Another scope its MCP server defines, which the test user may also be granted.
    pub other_scope: Option<String>,
    /// The authorization server (a key of [`Target::authorization_servers`]) that redeems
    /// ID-JAGs minted for this role, if the target has it.
    pub authorization_server: Option<String>,
    /// An admin change that makes the role true, done when a check first asks for it.
    pub provision: Option<Provision>,
}

/// An admin change a role needs (reference target only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// Retire the active signing key of this algorithm: "no signing key for the algorithm".
    RetireKey(Alg),
    /// Disable the role's resource server (the kill switch): "server paused".
    Disable,
}

/// How the suite gets a subject token (an ID token) for a test user.
#[derive(Clone)]
pub enum Login {
    /// The issuer's resource-owner password grant (jagspec's reference issuer offers it to
    /// tests only).
    Password(Secret),
    /// A fixed ID token.
    SubjectToken(Secret),
    /// A command whose standard output is a fresh ID token.
    Command(Vec<String>),
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(redacted)"),
            Self::SubjectToken(_) => f.write_str("SubjectToken(redacted)"),
            // A command line may carry a password: only the program is shown.
            Self::Command(c) => write!(f, "Command({} …)", c.first().map_or("", String::as_str)),
        }
    }
}

/// jagspec as the issuer: what it mints ID-JAGs with.
#[derive(Debug, Clone)]
pub struct MintAccess {
    /// The `sub` of every ID-JAG.
    pub subject: String,
    /// How long each lives.
    pub lifetime_secs: i64,
}

/// How to read the issuer's system log: one request's audit events, as JSON in the shape
/// of jagspec's admin API (docs/admin-api.md).
#[derive(Debug, Clone)]
pub struct AuditAccess {
    /// A URL with `{request_id}` where the request id goes.
    pub events_url: String,
    /// A bearer token for it, if it needs one.
    pub bearer_token: Option<Secret>,
    /// The response header that carries a token request's id (lower case).
    pub request_id_header: String,
}

/// The admin API, when the target exposes one.
#[derive(Debug, Clone)]
pub struct AdminAccess {
    /// `…/admin`.
    pub url: String,
    /// Its bearer token.
    pub token: Secret,
}

/// Everything steps may use. Built by [`super::TargetSpec::provision`].
pub struct Target {
    /// The target's name in reports.
    pub name: String,
    /// The issuer identifier.
    pub issuer: String,
    /// The issuer's token endpoint.
    pub token_endpoint: String,
    /// The agent's credentials at the issuer.
    pub client: Credentials,
    /// Another registered client, for "a subject token issued to another client".
    pub other_client: Option<Credentials>,
    /// Test users and how to get each one's subject token.
    pub users: BTreeMap<String, Login>,
    /// Roles by name.
    pub roles: BTreeMap<RoleName, Role>,
    /// Authorization servers by name.
    pub authorization_servers: BTreeMap<String, AuthorizationServerAccess>,
    /// The admin API (reference targets): what scenarios that change the target use.
    pub admin: Option<AdminAccess>,
    /// The issuer's system log, when the suite may read it.
    pub audit: Option<AuditAccess>,
    /// The issuer's private signing keys, when the suite holds them (the reference's are
    /// the committed fixtures; `test as`'s are jagspec's own IdP's): steps re-sign ID-JAGs
    /// with one property changed.
    pub signing_keys: Option<crate::jose::KeySet>,
    /// When jagspec is the issuer (`test as`): ID-JAGs are minted, not requested.
    pub mint: Option<MintAccess>,
    /// An MCP server no authorization server of the role serves, when the target names one
    /// (otherwise another authorization server's).
    pub foreign_resource: Option<String>,
    /// Where the attacker's JWKS is served (the `jku` case); its certificates are at
    /// `…/attacker/{alg}.pem` beside it (the `x5u` case).
    pub attacker_jwks_url: Option<String>,
    /// Whether scenarios may call the role's resource as an MCP server.
    pub mcp_calls: bool,
    /// The clock every party reads, when the suite may move it.
    clock: Option<Arc<FixedClock>>,
    /// Serves the attacker's JWKS for the reference target.
    attacker_server: Option<super::idp::LocalIdp>,
    /// Keeps the reference ecosystem running while the target lives.
    ecosystem: Option<Ecosystem>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The reference target's roles that name no algorithm: each names the mock that plays
/// it (see `fixtures/tenant.toml`), its MCP server and the scope to request.
const REFERENCE_ROLES: [(RoleName, &str, &str, &str); 6] = [
    (RoleName::IndefiniteLifetime, "eddsa", "tools", "tools.read"),
    (RoleName::MaxLifetime(600), "es256", "chat", "chat.read"),
    (
        RoleName::InheritsDefaultAlg,
        "legacy",
        "tools",
        "tools.read",
    ),
    (RoleName::SingleResourceUri, "eddsa", "tools", "tools.read"),
    (
        RoleName::UnregisteredAudience,
        "unregistered",
        "tools",
        "tools.read",
    ),
    (
        RoleName::VerifiesAnotherAlg,
        "legacy",
        "tools",
        "tools.read",
    ),
];

/// The reference's server per algorithm: its authorization server, MCP server, a granted
/// scope, a scope granted to nobody, a granted scope that is not enabled, and another
/// scope its MCP server defines (granted to the test user on the tools servers, to nobody
/// on chat).
const REFERENCE_PER_ALG: [(Alg, &str, &str, [&str; 4]); 3] = [
    (
        Alg::EdDSA,
        "eddsa",
        "tools",
        ["tools.read", "tools.delete", "tools.admin", "tools.write"],
    ),
    (
        Alg::RS256,
        "rs256",
        "tools",
        ["tools.read", "tools.delete", "tools.admin", "tools.write"],
    ),
    (
        Alg::ES256,
        "es256",
        "chat",
        ["chat.read", "chat.write", "chat.admin", "chat.write"],
    ),
];

/// What each kind of role of an algorithm's server means at the reference: the MCP
/// server (`mcp`, or the server no resource server lists), the scope, and the admin
/// change that makes it true.
fn reference_kind<'a>(
    alg: Alg,
    kind: ServerRole,
    mcp: &'a str,
    [granted, ungranted, not_enabled, _]: [&'a str; 4],
) -> (&'a str, &'a str, Option<Provision>) {
    match kind {
        ServerRole::Server => (mcp, granted, None),
        ServerRole::UngrantedScope => (mcp, ungranted, None),
        ServerRole::ScopeNotEnabled => (mcp, not_enabled, None),
        ServerRole::UnlistedTarget => ("unlisted", granted, None),
        ServerRole::Paused => (mcp, granted, Some(Provision::Disable)),
        ServerRole::WithoutSigningKey => (mcp, granted, Some(Provision::RetireKey(alg))),
    }
}

impl Target {
    pub(crate) async fn reference(faults: crate::mocks::Faults) -> Result<Self, EcosystemError> {
        // A fixed clock at the real time: tokens look ordinary, and checks move it.
        let clock = Arc::new(FixedClock::at(SystemClock.now()));
        let ecosystem = Ecosystem::start_with(EcosystemOptions {
            clock: clock.clone(),
            faults,
            ..EcosystemOptions::default()
        })
        .await?;
        let mut target = Self::from_manifest("reference", ecosystem.manifest());
        target.clock = Some(clock);
        // The reference tenant signs with the committed fixture keys (fixtures/tenant.toml),
        // so the suite can re-sign an ID-JAG as its issuer would.
        target.signing_keys = Some(crate::jose::fixtures::key_set());
        target.ecosystem = Some(ecosystem);
        target.mcp_calls = true;
        // The attacker's JWKS, for the `jku` case.
        if let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await
            && let Ok(server) = super::idp::LocalIdp::start_on(listener, crate::jose::KeySet::new())
        {
            target.attacker_jwks_url = Some(server.attacker_jwks_url());
            target.attacker_server = Some(server);
        }
        Ok(target)
    }

    /// jagspec as the issuer, minting for one authorization server (`test as`).
    pub(crate) fn minting(
        idp: &super::idp::LocalIdp,
        subject: String,
        roles: BTreeMap<RoleName, Role>,
        authorization_servers: BTreeMap<String, AuthorizationServerAccess>,
        foreign_resource: Option<String>,
        mcp_calls: bool,
    ) -> Self {
        let mut target = Self::external(
            "authorization server",
            idp.issuer.clone(),
            String::new(),
            Credentials {
                client_id: String::new(),
                secret: Secret::new(""),
            },
            None,
            BTreeMap::new(),
            roles,
            authorization_servers,
            None,
        );
        target.signing_keys = Some(idp.keys.clone());
        target.mint = Some(MintAccess {
            subject,
            lifetime_secs: 300,
        });
        target.foreign_resource = foreign_resource;
        target.attacker_jwks_url = Some(idp.attacker_jwks_url());
        target.mcp_calls = mcp_calls;
        target
    }

    /// The target a manifest describes (the reference ecosystem's, or `jagspec serve`'s).
    pub fn from_manifest(name: &str, m: &Manifest) -> Self {
        let authorization_servers: BTreeMap<String, AuthorizationServerAccess> = m
            .authorization_servers
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    AuthorizationServerAccess {
                        issuer: a.issuer.clone(),
                        alg: a.alg,
                        token_endpoint: a.token_endpoint.clone(),
                        client: Credentials {
                            client_id: a.client_id.clone(),
                            secret: a.client_secret.clone(),
                        },
                        mcp_servers: a.mcp_servers.iter().map(|s| s.url.clone()).collect(),
                    },
                )
            })
            .collect();
        let mut roles = BTreeMap::new();
        let mut add = |role: RoleName,
                       server: &str,
                       mcp: &str,
                       scope: &str,
                       ungranted: Option<&str>,
                       other: Option<&str>,
                       provision| {
            let Some(a) = m.authorization_servers.iter().find(|a| a.name == server) else {
                return;
            };
            let Some(s) = a.mcp_servers.iter().find(|s| s.name == mcp) else {
                return;
            };
            roles.insert(
                role,
                Role {
                    audience: a.issuer.clone(),
                    resource: s.url.clone(),
                    scope: scope.to_owned(),
                    ungranted_scope: ungranted.map(str::to_owned),
                    other_scope: other.map(str::to_owned),
                    authorization_server: Some(server.to_owned()),
                    provision,
                },
            );
        };
        for (role, server, mcp, scope) in REFERENCE_ROLES {
            add(role, server, mcp, scope, None, None, None);
        }
        for (alg, server, mcp, scopes) in REFERENCE_PER_ALG {
            for kind in ServerRole::ALL {
                let (mcp, scope, provision) = reference_kind(alg, kind, mcp, scopes);
                // Only the plain server's role names the other scope (the scope-set checks).
                let other = (kind == ServerRole::Server).then_some(scopes[3]);
                let role = RoleName::Of(alg, kind);
                add(role, server, mcp, scope, Some(scopes[1]), other, provision);
            }
        }
        let client = |i: usize| {
            m.clients.get(i).map(|c| Credentials {
                client_id: c.client_id.clone(),
                secret: c.client_secret.clone(),
            })
        };
        let audit = AuditAccess {
            events_url: format!(
                "{}/audit-events?request_id={{request_id}}",
                m.issuer.admin_url
            ),
            bearer_token: Some(m.issuer.admin_token.clone()),
            request_id_header: "x-request-id".into(),
        };
        let mut target = Self::external(
            name,
            m.issuer.url.clone(),
            m.issuer.token_endpoint.clone(),
            client(0).unwrap_or(Credentials {
                client_id: String::new(),
                secret: Secret::new(""),
            }),
            client(1),
            m.users
                .iter()
                .map(|u| (u.name.clone(), Login::Password(u.password.clone())))
                .collect(),
            roles,
            authorization_servers,
            Some(audit),
        );
        target.admin = Some(AdminAccess {
            url: m.issuer.admin_url.clone(),
            token: m.issuer.admin_token.clone(),
        });
        target
    }

    /// A target from its parts, without an admin API, clock or signing keys: an issuer
    /// the suite does not run; the other constructors add what their targets have.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn external(
        name: &str,
        issuer: String,
        token_endpoint: String,
        client: Credentials,
        other_client: Option<Credentials>,
        users: BTreeMap<String, Login>,
        roles: BTreeMap<RoleName, Role>,
        authorization_servers: BTreeMap<String, AuthorizationServerAccess>,
        audit: Option<AuditAccess>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            issuer,
            token_endpoint,
            client,
            other_client,
            users,
            roles,
            authorization_servers,
            admin: None,
            audit,
            signing_keys: None,
            mint: None,
            foreign_resource: None,
            attacker_jwks_url: None,
            mcp_calls: false,
            clock: None,
            attacker_server: None,
            ecosystem: None,
        }
    }

    /// Moves every party's clock forward, when the target lets the suite do that.
    pub fn advance_clock(&self, secs: i64) -> bool {
        match &self.clock {
            Some(clock) => {
                clock.advance(secs);
                true
            }
            None => false,
        }
    }

    /// Stops the reference ecosystem, if this target runs one.
    pub async fn shut_down(self) {
        if let Some(e) = self.ecosystem {
            e.stop().await;
        }
        if let Some(s) = self.attacker_server {
            s.stop().await;
        }
    }
}

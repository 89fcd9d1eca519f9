//! What a suite run is pointed at. Steps see only a [`Target`]: URLs, credentials and
//! *roles* (which audience, resource and scope play "a paused server", "an ungranted
//! scope", …), all reached over HTTP. The reference target is the embedded ecosystem,
//! provisioned fresh for every check so checks cannot disturb each other and time can be
//! moved; external issuers and authorization servers (a later issue) fill the same struct
//! from a profile.

use crate::jose::{Alg, Clock, FixedClock, SystemClock};
use crate::mocks::{Ecosystem, EcosystemError, EcosystemOptions, Manifest};
use crate::types::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which target to run against.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetSpec {
    /// jagspec's own issuer and mock ecosystem, started in-process on loopback.
    Reference,
    /// The reference with deliberate defects: the suite's self-test shows that exactly
    /// the checks that should catch each defect fail.
    #[doc(hidden)]
    BrokenReference(crate::mocks::Faults),
}

impl TargetSpec {
    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::BrokenReference(_) => "broken reference",
        }
    }

    /// A target ready for one check.
    ///
    /// # Errors
    ///
    /// When the reference ecosystem does not start.
    pub async fn provision(&self) -> Result<Target, EcosystemError> {
        match self {
            Self::Reference => Target::reference(crate::mocks::Faults::default()).await,
            Self::BrokenReference(faults) => Target::reference(*faults).await,
        }
    }
}

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

/// The admin API, when the target exposes one.
#[derive(Debug, Clone)]
pub struct AdminAccess {
    /// `…/admin`.
    pub url: String,
    /// Its bearer token.
    pub token: Secret,
}

/// Everything steps may use. Built by [`TargetSpec::provision`].
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
    /// Test users and their passwords (password grant).
    pub users: BTreeMap<String, Secret>,
    /// Roles by name.
    pub roles: BTreeMap<String, Role>,
    /// Authorization servers by name.
    pub authorization_servers: BTreeMap<String, AuthorizationServerAccess>,
    /// The admin API, which also serves the audit log's events.
    pub admin: Option<AdminAccess>,
    /// The issuer's private signing keys, when the suite holds them (the reference's are
    /// the committed fixtures; a later issue's `test as` target is jagspec's own IdP): steps
    /// re-sign ID-JAGs with one property changed.
    pub signing_keys: Option<crate::jose::KeySet>,
    /// The clock every party reads, when the suite may move it.
    clock: Option<Arc<FixedClock>>,
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
const REFERENCE_ROLES: [(&str, &str, &str, &str, Option<Provision>); 7] = [
    ("a paused server", "paused", "tools", "tools.read", None),
    ("an unlisted target", "es256", "unlisted", "chat.read", None),
    (
        "an unregistered audience",
        "unregistered",
        "tools",
        "tools.read",
        None,
    ),
    ("an ungranted scope", "es256", "chat", "chat.write", None),
    (
        "a scope that is not enabled",
        "es256",
        "chat",
        "chat.admin",
        None,
    ),
    (
        "a server whose algorithm has no key",
        "rs256",
        "tools",
        "tools.read",
        Some(Provision::RetireKey(Alg::RS256)),
    ),
    (
        "a server whose authorization server verifies another algorithm",
        "legacy",
        "tools",
        "tools.read",
        None,
    ),
];

/// The reference's server per algorithm: its authorization server, MCP server, a granted
/// scope, a scope granted to nobody, and a granted scope that is not enabled.
const REFERENCE_PER_ALG: [(Alg, &str, &str, &str, &str, &str); 3] = [
    (
        Alg::EdDSA,
        "eddsa",
        "tools",
        "tools.read",
        "tools.delete",
        "tools.admin",
    ),
    (
        Alg::RS256,
        "rs256",
        "tools",
        "tools.read",
        "tools.delete",
        "tools.admin",
    ),
    (
        Alg::ES256,
        "es256",
        "chat",
        "chat.read",
        "chat.write",
        "chat.admin",
    ),
];

/// The roles every algorithm has, as `(name, MCP server, scope, provision)`, each name
/// with the algorithm's (the issuer-denial outlines run once per algorithm).
fn per_alg_roles(
    alg: Alg,
    mcp: &str,
    granted: &str,
    ungranted: &str,
    not_enabled: &str,
) -> Vec<(String, String, String, Option<Provision>)> {
    let name = |pattern: &str| pattern.replace("{alg}", alg.as_str());
    vec![
        (
            name("the {alg} server"),
            mcp.to_owned(),
            granted.to_owned(),
            None,
        ),
        (
            name("an ungranted scope of the {alg} server"),
            mcp.to_owned(),
            ungranted.to_owned(),
            None,
        ),
        (
            name("a scope of the {alg} server that is not enabled"),
            mcp.to_owned(),
            not_enabled.to_owned(),
            None,
        ),
        (
            name("an unlisted target of the {alg} server"),
            "unlisted".to_owned(),
            granted.to_owned(),
            None,
        ),
        (
            name("the {alg} server paused"),
            mcp.to_owned(),
            granted.to_owned(),
            Some(Provision::Disable),
        ),
        (
            name("the {alg} server without a signing key"),
            mcp.to_owned(),
            granted.to_owned(),
            Some(Provision::RetireKey(alg)),
        ),
    ]
}

impl Target {
    async fn reference(faults: crate::mocks::Faults) -> Result<Self, EcosystemError> {
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
        Ok(target)
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
        let mut add = |role: String, server: &str, mcp: &str, scope: &str, provision| {
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
                    authorization_server: Some(server.to_owned()),
                    provision,
                },
            );
        };
        for (role, server, mcp, scope, provision) in REFERENCE_ROLES {
            add(role.to_owned(), server, mcp, scope, provision);
        }
        for (alg, server, mcp, granted, ungranted, not_enabled) in REFERENCE_PER_ALG {
            for (role, mcp, scope, provision) in
                per_alg_roles(alg, mcp, granted, ungranted, not_enabled)
            {
                add(role, server, &mcp, &scope, provision);
            }
        }
        let client = |i: usize| {
            m.clients.get(i).map(|c| Credentials {
                client_id: c.client_id.clone(),
                secret: c.client_secret.clone(),
            })
        };
        Self {
            name: name.to_owned(),
            issuer: m.issuer.url.clone(),
            token_endpoint: m.issuer.token_endpoint.clone(),
            client: client(0).unwrap_or(Credentials {
                client_id: String::new(),
                secret: Secret::new(""),
            }),
            other_client: client(1),
            users: m
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
            roles,
            authorization_servers,
            admin: Some(AdminAccess {
                url: m.issuer.admin_url.clone(),
                token: m.issuer.admin_token.clone(),
            }),
            signing_keys: None,
            clock: None,
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
    }
}

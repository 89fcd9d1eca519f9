//! The tenant's state as the issuer decides on it: settings, users, clients, resource
//! servers with their scopes, grants and signing keys. Loaded from the store as one
//! immutable snapshot, so a token request sees a consistent state without locking.

use crate::jose::{Alg, KeySet, TrustedJwks};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The default maximum grant lifetime when the tenant sets none (seed: "which resolves to
/// 300 seconds / 5 minutes if the tenant hasn't set one").
pub const FALLBACK_LIFETIME_SECS: u64 = 300;

/// Tenant-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// The tenant's own URL: the issuer identifier in every token it mints. A resource
    /// server's audience must not be this (seed: "C1 is the token issuer, not the audience").
    pub url: String,
    /// Enterprise-managed authorization enabled for the tenant. While disabled, resource
    /// servers cannot be registered and every token request is denied.
    pub ema_enabled: bool,
    /// The algorithm resource servers that inherit sign with (ES256 unless set).
    pub default_alg: Alg,
    /// The default maximum grant lifetime, seconds; `None` resolves to 300.
    pub default_max_lifetime: Option<u64>,
}

impl TenantSettings {
    /// The tenant default lifetime after resolution.
    pub fn default_lifetime(&self) -> u64 {
        self.default_max_lifetime.unwrap_or(FALLBACK_LIFETIME_SECS)
    }
}

/// A test user of the issuer: the identity tokens are requested for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// The `sub` in the user's ID tokens and ID-JAGs.
    pub sub: String,
    /// Salted SHA-256 of the password (see `issuer/secret.rs`).
    pub password_hash: String,
}

/// A client registered at the issuer (an agent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// Its id at the issuer.
    pub client_id: String,
    /// Salted SHA-256 of its secret.
    pub secret_hash: String,
    /// Its id at each authorization server, by audience: the ID-JAG's `client_id` claim
    /// (ID-JAG §3.1, §5). Where no mapping exists the issuer id is used.
    pub as_client_ids: BTreeMap<String, String>,
}

impl Client {
    /// The client's id at the authorization server `audience`.
    pub fn id_at(&self, audience: &str) -> &str {
        self.as_client_ids
            .get(audience)
            .map_or(self.client_id.as_str(), String::as_str)
    }
}

/// A resource server's maximum grant lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifetime {
    /// "Indefinite means 'inherit the tenant default,' not 'tokens never expire.'"
    Indefinite,
    /// At most this many seconds.
    Seconds(u64),
}

/// A resource server's signing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgChoice {
    /// "Inherit (default)": the tenant's default algorithm.
    Inherit,
    /// This algorithm; if the tenant holds no key for it, every token request is denied.
    Alg(Alg),
}

impl AlgChoice {
    /// `inherit`, `EdDSA`, `RS256` or `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inherit => "inherit",
            Self::Alg(a) => a.as_str(),
        }
    }
}

impl fmt::Display for AlgChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlgChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "inherit" {
            return Ok(Self::Inherit);
        }
        s.parse::<Alg>()
            .map(Self::Alg)
            .map_err(|_| format!("expected one of inherit, EdDSA, RS256, ES256 (found `{s}`)"))
    }
}

impl Serialize for AlgChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AlgChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A scope defined on a resource server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The scope token (RFC 6749 §3.3).
    pub name: String,
    /// Whether it may be granted; a disabled scope is refused with "Scope not enabled".
    pub enabled: bool,
}

/// A registered MCP server: "the system C1 issues tokens for", keyed to its authorization
/// server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceServer {
    /// Stable id for the admin API (the audience is a URL, awkward in a path).
    pub id: String,
    /// A display name.
    pub name: String,
    /// The issuer URL of the MCP server's authorization server; fixed after creation and
    /// unique in the tenant.
    pub audience: String,
    /// The MCP server URLs agents may name as `resource`.
    pub resource_uris: Vec<String>,
    /// The maximum grant lifetime.
    pub max_lifetime: Lifetime,
    /// The signing algorithm.
    pub alg: AlgChoice,
    /// The kill switch: new token requests are denied; everything else is kept.
    pub disabled: bool,
    /// Reserved: "not yet functional"; always `None`.
    pub modify_claims_hook: Option<String>,
    /// The scopes defined on the server.
    pub scopes: Vec<Scope>,
}

/// Everything a token request is decided on, as one consistent snapshot.
#[derive(Clone, Debug)]
pub struct TenantState {
    /// Tenant-wide settings.
    pub settings: TenantSettings,
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// Clients by id at the issuer.
    pub clients: BTreeMap<String, Client>,
    /// Resource servers, in creation order.
    pub servers: Vec<ResourceServer>,
    /// Grants: (user name, server id, scope).
    pub grants: BTreeSet<(String, String, String)>,
    /// Signing keys: at most one active per algorithm, retired ones still published.
    pub keys: KeySet,
    /// The published keys prepared for verification (of subject tokens), built once per
    /// snapshot rather than per request.
    pub trusted_jwks: TrustedJwks,
}

impl TenantState {
    /// The resource server registered for `audience` (exact string comparison).
    pub fn server_by_audience(&self, audience: &str) -> Option<&ResourceServer> {
        self.servers.iter().find(|s| s.audience == audience)
    }

    /// The user whose `sub` this is.
    pub fn user_by_sub(&self, sub: &str) -> Option<&User> {
        self.users.values().find(|u| u.sub == sub)
    }

    /// Whether `user` holds a grant for `scope` on `server_id`.
    pub fn has_grant(&self, user: &str, server_id: &str, scope: &str) -> bool {
        self.grants
            .contains(&(user.to_owned(), server_id.to_owned(), scope.to_owned()))
    }
}

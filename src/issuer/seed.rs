//! Seeding a tenant from TOML (`fixtures/tenant.toml`): the same state the admin API
//! builds, declared as data.

use super::model::TenantSettings;
use super::store::{NewResourceServer, Store, StoreError, TenantPatch};
use crate::jose::{Alg, KeyStatus, SigningKey, fixtures};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A tenant declared as data.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Tenant settings.
    #[serde(default)]
    pub tenant: SeedTenant,
    /// Signing keys.
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// Test users.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Clients.
    #[serde(default)]
    pub clients: Vec<SeedClient>,
    /// Resource servers, registered in order.
    #[serde(default)]
    pub resource_servers: Vec<NewResourceServer>,
    /// Grants.
    #[serde(default)]
    pub grants: Vec<SeedGrant>,
    /// System-log exporters (`[[exporters]]`, the admin API's JSON as TOML), added when
    /// the database is new, each starting at the beginning of the log.
    #[serde(default)]
    pub exporters: Vec<crate::export::ExporterConfig>,
}

/// `[tenant]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTenant {
    /// Enterprise-managed authorization enabled (default true).
    #[serde(default = "yes")]
    pub ema_enabled: bool,
    /// Default algorithm (ES256 unless set).
    #[serde(default = "es256")]
    pub default_alg: Alg,
    /// Default maximum grant lifetime, seconds (absent: 300).
    #[serde(default)]
    pub default_max_lifetime: Option<u64>,
}

impl Default for SeedTenant {
    fn default() -> Self {
        Self {
            ema_enabled: true,
            default_alg: Alg::ES256,
            default_max_lifetime: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn es256() -> Alg {
    Alg::ES256
}

/// `[[keys]]`: a committed fixture key, or a PEM file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// Fixture key 1 of this algorithm (or `fixture_number`).
    #[serde(default)]
    pub fixture: Option<Alg>,
    /// Which fixture key, 1 or 2.
    #[serde(default)]
    pub fixture_number: Option<u8>,
    /// A PEM private key file.
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
    /// Active (default) or retired.
    #[serde(default)]
    pub retired: bool,
}

/// `[[users]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// Login name.
    pub name: String,
    /// `sub` (default: the name).
    #[serde(default)]
    pub sub: Option<String>,
    /// Password.
    pub password: String,
}

/// `[[clients]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// Id at the issuer.
    pub client_id: String,
    /// Secret.
    pub client_secret: String,
    /// Id at each authorization server, by audience.
    #[serde(default)]
    pub as_client_ids: BTreeMap<String, String>,
}

/// `[[grants]]`: scopes of one server granted to one user.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    /// User name.
    pub user: String,
    /// Resource-server id.
    pub server: String,
    /// Scopes.
    pub scopes: Vec<String>,
}

/// Why a seed could not be read or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Not valid TOML for a seed.
    #[error("tenant seed: {0}")]
    Toml(String),
    /// A key entry names neither a fixture nor a PEM file, or its file does not load.
    #[error("tenant seed, key {index}: {reason}")]
    Key {
        /// Position in `keys`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A rule of the registry refused an entry.
    #[error("tenant seed: {0}")]
    Store(#[from] StoreError),
    /// A `${…}` placeholder names nothing known, or is not closed.
    #[error("tenant seed: unknown placeholder `${{{name}}}`; known: {known}")]
    Placeholder {
        /// The text between `${` and `}`.
        name: String,
        /// What could have been meant.
        known: String,
    },
}

impl Seed {
    /// Parses a seed.
    ///
    /// # Errors
    ///
    /// [`SeedError::Toml`] naming the line and field.
    pub fn from_toml(text: &str) -> Result<Self, SeedError> {
        toml::from_str(text).map_err(|e| SeedError::Toml(e.to_string()))
    }

    /// Parses a seed after replacing each `${NAME}` outside comment lines with
    /// `values[NAME]`: how the mock ecosystem points audiences and resource URIs at mocks
    /// whose ports are chosen at start.
    ///
    /// # Errors
    ///
    /// [`SeedError::Placeholder`] for a name `values` does not know; then as
    /// [`Seed::from_toml`].
    pub fn from_toml_with(
        text: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Self, SeedError> {
        let unknown = |name: &str| SeedError::Placeholder {
            name: name.to_owned(),
            known: values
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            // Comment lines may mention placeholders to document them.
            if line.trim_start().starts_with('#') {
                out.push_str(line);
                continue;
            }
            let mut rest = line;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or_else(|| unknown(after.trim_end()))?;
                let name = &after[..end];
                out.push_str(values.get(name).ok_or_else(|| unknown(name))?);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
        }
        Self::from_toml(&out)
    }

    /// The tenant settings for a tenant at `url`.
    pub fn settings(&self, url: &str) -> TenantSettings {
        TenantSettings {
            url: url.to_owned(),
            ema_enabled: self.tenant.ema_enabled,
            default_alg: self.tenant.default_alg,
            default_max_lifetime: self.tenant.default_max_lifetime,
        }
    }

    /// Writes the seed into `store`. Registration needs enterprise-managed authorization
    /// enabled, so servers are registered first and the tenant setting applied last.
    ///
    /// # Errors
    ///
    /// The first entry refused.
    pub fn apply(&self, store: &Store, now_ms: i64) -> Result<(), SeedError> {
        for (index, k) in self.keys.iter().enumerate() {
            let key = match (&k.fixture, &k.pem_file) {
                (Some(alg), None) => fixtures::signing_key(*alg, k.fixture_number.unwrap_or(1)),
                (None, Some(path)) => {
                    SigningKey::from_pem_file(path).map_err(|e| SeedError::Key {
                        index,
                        reason: e.to_string(),
                    })?
                }
                _ => {
                    return Err(SeedError::Key {
                        index,
                        reason: "give exactly one of `fixture` or `pem_file`".into(),
                    });
                }
            };
            let status = if k.retired {
                KeyStatus::Retired
            } else {
                KeyStatus::Active
            };
            store.add_key(&key, status, now_ms)?;
        }
        for u in &self.users {
            store.add_user(&u.name, u.sub.as_deref().unwrap_or(&u.name), &u.password)?;
        }
        for c in &self.clients {
            store.add_client(&c.client_id, &c.client_secret, &c.as_client_ids)?;
        }
        store.update_tenant(&TenantPatch {
            ema_enabled: Some(true),
            ..TenantPatch::default()
        })?;
        for s in &self.resource_servers {
            store.create_server(s)?;
        }
        for g in &self.grants {
            for scope in &g.scopes {
                store.grant(&g.user, &g.server, scope)?;
            }
        }
        store.update_tenant(&TenantPatch {
            ema_enabled: Some(self.tenant.ema_enabled),
            default_alg: Some(self.tenant.default_alg),
            default_max_lifetime: Some(self.tenant.default_max_lifetime),
        })?;
        Ok(())
    }
}

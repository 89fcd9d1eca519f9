//! The issuer's state in SQLite, with the registration rules of the seeds enforced on every
//! write, and an immutable [`TenantState`] snapshot rebuilt after each write so token
//! requests never touch the database.

use super::model::{
    AlgChoice, Client, Lifetime, ResourceServer, Scope, TenantSettings, TenantState, User,
};
use super::secret::{hash_secret, verify_secret};
use crate::db::{self, DbError};
use crate::jose::{Alg, KeySet, KeyStatus, SigningKey, TrustedJwks};
use crate::types::Kid;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Why a write to the issuer's state was refused. The registration rules are the seeds'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// "Set the Audience (required)."
    #[error("the audience is required")]
    AudienceRequired,
    /// "The audience must not be your own C1 tenant URL. C1 is the token issuer, not the
    /// audience."
    #[error(
        "the audience must not be the tenant's own URL `{0}`: the tenant is the issuer, not the audience"
    )]
    AudienceIsTenantUrl(String),
    /// The audience is the registration's key; add the URL to the existing server instead.
    #[error(
        "a resource server with audience `{0}` already exists; add the resource URIs to it instead"
    )]
    AudienceTaken(String),
    /// "It is fixed once the resource server is created."
    #[error(
        "the audience is fixed after creation (it is `{current}`; found `{requested}`): re-register the server to change it"
    )]
    AudienceImmutable {
        /// The registered audience.
        current: String,
        /// The audience the update asked for.
        requested: String,
    },
    /// A resource URI that is no absolute http(s) URL, or one with user info, a fragment
    /// or white space around it.
    #[error("resource URI `{uri}` is refused: {reason}")]
    ResourceUriRefused {
        /// The URI as an error may quote it (control characters escaped, no password).
        uri: String,
        /// Why.
        reason: &'static str,
    },
    /// An audience that is no absolute http(s) URL, or one with user info, a fragment or
    /// white space around it.
    #[error("expected the audience to be an absolute http(s) URL (found `{audience}`): {reason}")]
    AudienceRefused {
        /// The audience as an error may quote it (control characters escaped, no password).
        audience: String,
        /// Why.
        reason: &'static str,
    },
    /// A maximum grant lifetime of zero would mint tokens that are already expired.
    #[error("expected a maximum grant lifetime of at least 1 second (found 0)")]
    LifetimeZero,
    /// "The Cross-App Access tab only appears once enterprise-managed authorization is
    /// enabled for your tenant."
    #[error(
        "enterprise-managed authorization is disabled for the tenant: resource servers cannot be registered"
    )]
    TenantDisabled,
    /// "Modify-claims hook (not yet available)": the field is reserved.
    #[error(
        "the modify-claims hook is not yet available: the field is reserved for a future release"
    )]
    ModifyClaimsHookNotAvailable,
    /// No resource server with this id.
    #[error("no resource server with id `{0}`")]
    UnknownServer(String),
    /// A resource-server id is in use.
    #[error("a resource server with id `{0}` already exists")]
    ServerIdTaken(String),
    /// No scope with this name on the server.
    #[error("no scope `{scope}` on resource server `{server}`")]
    UnknownScope {
        /// The server id.
        server: String,
        /// The scope.
        scope: String,
    },
    /// No user with this name.
    #[error("no user `{0}`")]
    UnknownUser(String),
    /// A user name or `sub` is in use.
    #[error("a user with name or sub `{0}` already exists")]
    UserTaken(String),
    /// No client with this id.
    #[error("no client `{0}`")]
    UnknownClient(String),
    /// A client id is in use.
    #[error("a client `{0}` already exists")]
    ClientTaken(String),
    /// No key with this kid.
    #[error("no signing key `{0}`")]
    UnknownKey(Kid),
    /// A key with this kid exists.
    #[error("a signing key `{0}` already exists")]
    KeyTaken(Kid),
    /// A value is empty or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

/// A resource server to register.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewResourceServer {
    /// Admin-API id; derived from the name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Required: the authorization server's issuer URL.
    #[serde(default)]
    pub audience: String,
    /// The MCP server URLs.
    #[serde(default)]
    pub resource_uris: Vec<String>,
    /// Seconds, or absent for indefinite.
    #[serde(default)]
    pub max_lifetime: Option<u64>,
    /// `inherit` (default), `EdDSA`, `RS256`, `ES256`.
    #[serde(default)]
    pub alg: Option<AlgChoice>,
    /// Start disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Reserved; any value is refused.
    #[serde(default)]
    pub modify_claims_hook: Option<String>,
    /// Scopes, with their enabled flag.
    #[serde(default)]
    pub scopes: Vec<Scope>,
}

/// Changes to a resource server; absent fields are kept.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerPatch {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Refused unless equal to the current audience.
    #[serde(default)]
    pub audience: Option<String>,
    /// Replaces the resource URIs.
    #[serde(default)]
    pub resource_uris: Option<Vec<String>>,
    /// `Some(None)` sets indefinite; `Some(Some(n))` sets n seconds.
    #[serde(default, with = "double_option")]
    pub max_lifetime: Option<Option<u64>>,
    /// New algorithm choice.
    #[serde(default)]
    pub alg: Option<AlgChoice>,
    /// The kill switch.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Reserved; any non-null value is refused.
    #[serde(default, with = "double_option")]
    pub modify_claims_hook: Option<Option<String>>,
}

/// Distinguishes an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub(super) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Changes to the tenant settings; absent fields are kept.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Enable or disable enterprise-managed authorization.
    #[serde(default)]
    pub ema_enabled: Option<bool>,
    /// The default algorithm.
    #[serde(default)]
    pub default_alg: Option<Alg>,
    /// `Some(None)` unsets (300 s); `Some(Some(n))` sets n seconds.
    #[serde(default, with = "double_option")]
    pub default_max_lifetime: Option<Option<u64>>,
}

/// The issuer's state: SQLite for durability, a snapshot for reading.
pub struct Store {
    /// Serialises writes; each write is one transaction.
    conn: Mutex<Connection>,
    /// What token requests read; replaced whole after every write.
    snapshot: RwLock<Arc<TenantState>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `path`; a new database gets `settings` as its tenant.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the file cannot be opened or migrated.
    pub fn open(path: &Path, settings: &TenantSettings) -> Result<Self, StoreError> {
        let conn = db::open(path)?;
        conn.execute(
            "INSERT OR IGNORE INTO tenant (id, url, ema_enabled, default_alg, default_max_lifetime)
             VALUES (1, ?1, ?2, ?3, ?4)",
            params![
                settings.url,
                settings.ema_enabled,
                settings.default_alg.as_str(),
                secs(settings.default_max_lifetime)
            ],
        )?;
        // The URL is where this process serves: an existing database follows it.
        conn.execute(
            "UPDATE tenant SET url = ?1 WHERE id = 1",
            params![settings.url],
        )?;
        let state = load(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            snapshot: RwLock::new(Arc::new(state)),
        })
    }

    /// The current state.
    pub fn snapshot(&self) -> Arc<TenantState> {
        match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Runs `f` in one transaction, then reloads the snapshot.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &TenantState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.snapshot();
        let tx = conn.transaction()?;
        let out = f(&tx, &before)?;
        tx.commit()?;
        let state = load(&conn)?;
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
        Ok(out)
    }

    /// Runs one statement keyed by `key` in its own write; `missing()` when it matched no
    /// row.
    fn change_one(
        &self,
        sql: &str,
        key: &str,
        missing: impl FnOnce() -> StoreError,
    ) -> Result<(), StoreError> {
        self.write(|tx, _| match tx.execute(sql, params![key])? {
            0 => Err(missing()),
            _ => Ok(()),
        })
    }

    /// Changes the tenant settings. The URL is fixed: it is the issuer identifier.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub fn update_tenant(&self, patch: &TenantPatch) -> Result<TenantSettings, StoreError> {
        self.write(|tx, state| {
            let mut s = state.settings.clone();
            if let Some(v) = patch.ema_enabled {
                s.ema_enabled = v;
            }
            if let Some(v) = patch.default_alg {
                s.default_alg = v;
            }
            if let Some(v) = patch.default_max_lifetime {
                if v == Some(0) {
                    return Err(StoreError::LifetimeZero);
                }
                s.default_max_lifetime = v;
            }
            tx.execute(
                "UPDATE tenant SET ema_enabled = ?1, default_alg = ?2, default_max_lifetime = ?3 WHERE id = 1",
                params![s.ema_enabled, s.default_alg.as_str(), secs(s.default_max_lifetime)],
            )?;
            Ok(s)
        })
    }

    /// Registers a resource server, enforcing the seeds' rules.
    ///
    /// # Errors
    ///
    /// The [`StoreError`] naming the rule broken.
    pub fn create_server(&self, new: &NewResourceServer) -> Result<ResourceServer, StoreError> {
        self.write(|tx, state| {
            if !state.settings.ema_enabled {
                return Err(StoreError::TenantDisabled);
            }
            if new.modify_claims_hook.is_some() {
                return Err(StoreError::ModifyClaimsHookNotAvailable);
            }
            let audience = new.audience.as_str();
            if audience.trim().is_empty() {
                return Err(StoreError::AudienceRequired);
            }
            // The rules compare URLs, not spellings: `HTTP://H:80`, `http://h/.` and
            // `http://h` are one audience. The spelling given is what is stored and minted.
            url_identity(audience).map_err(|reason| StoreError::AudienceRefused {
                audience: quotable(audience),
                reason,
            })?;
            if same_url(audience, &state.settings.url) {
                return Err(StoreError::AudienceIsTenantUrl(state.settings.url.clone()));
            }
            if let Some(taken) = state.servers.iter().find(|s| same_url(&s.audience, audience)) {
                return Err(StoreError::AudienceTaken(taken.audience.clone()));
            }
            let resource_uris = checked_resource_uris(&new.resource_uris)?;
            if new.max_lifetime == Some(0) {
                return Err(StoreError::LifetimeZero);
            }
            let name = new.name.clone().unwrap_or_else(|| audience.to_owned());
            let id = match &new.id {
                Some(id) if id.trim().is_empty() => return Err(StoreError::Invalid("the id must not be empty".into())),
                // The id is a path segment of the admin API: RFC 3986 §2.3's unreserved
                // characters only, and not `.` or `..`, which would name another path.
                Some(id)
                    if id == "."
                        || id == ".."
                        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
                {
                    return Err(StoreError::Invalid(format!(
                        "the id `{}` is not a path segment of its own: use letters, digits, `-`, `.`, `_` and `~` (RFC 3986 §2.3), and not `.` or `..`",
                        crate::oauth::echo(id)
                    )));
                }
                Some(id) => id.clone(),
                None => next_id(state),
            };
            if state.servers.iter().any(|s| s.id == id) {
                return Err(StoreError::ServerIdTaken(id));
            }
            let alg = new.alg.unwrap_or(AlgChoice::Inherit);
            tx.execute(
                "INSERT INTO resource_servers (id, audience, name, max_lifetime, alg, disabled, modify_claims_hook)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
                params![id, audience, name, secs(new.max_lifetime), alg.as_str(), new.disabled],
            )?;
            for uri in resource_uris {
                tx.execute("INSERT INTO resource_uris (server_id, uri) VALUES (?1, ?2)", params![id, uri])?;
            }
            for scope in &new.scopes {
                check_scope_name(&scope.name)?;
                tx.execute(
                    "INSERT OR REPLACE INTO scopes (server_id, name, enabled) VALUES (?1, ?2, ?3)",
                    params![id, scope.name, scope.enabled],
                )?;
            }
            Ok(id)
        })
        .and_then(|id| self.server(&id))
    }

    /// A resource server by id.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownServer`].
    pub fn server(&self, id: &str) -> Result<ResourceServer, StoreError> {
        self.snapshot()
            .servers
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| StoreError::UnknownServer(id.to_owned()))
    }

    /// Updates a resource server. The audience is fixed; disabling keeps every setting.
    ///
    /// # Errors
    ///
    /// The [`StoreError`] naming the rule broken.
    pub fn update_server(
        &self,
        id: &str,
        patch: &ResourceServerPatch,
    ) -> Result<ResourceServer, StoreError> {
        self.write(|tx, state| {
            let current = state
                .servers
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| StoreError::UnknownServer(id.to_owned()))?;
            // Naming the current audience in another spelling is no change either.
            if let Some(requested) = &patch.audience
                && !same_url(requested, &current.audience)
            {
                return Err(StoreError::AudienceImmutable {
                    current: current.audience.clone(),
                    requested: requested.clone(),
                });
            }
            if matches!(patch.modify_claims_hook, Some(Some(_))) {
                return Err(StoreError::ModifyClaimsHookNotAvailable);
            }
            if let Some(name) = &patch.name {
                tx.execute(
                    "UPDATE resource_servers SET name = ?2 WHERE id = ?1",
                    params![id, name],
                )?;
            }
            if let Some(uris) = &patch.resource_uris {
                let uris = checked_resource_uris(uris)?;
                tx.execute(
                    "DELETE FROM resource_uris WHERE server_id = ?1",
                    params![id],
                )?;
                for uri in uris {
                    tx.execute(
                        "INSERT INTO resource_uris (server_id, uri) VALUES (?1, ?2)",
                        params![id, uri],
                    )?;
                }
            }
            if let Some(lifetime) = patch.max_lifetime {
                if lifetime == Some(0) {
                    return Err(StoreError::LifetimeZero);
                }
                tx.execute(
                    "UPDATE resource_servers SET max_lifetime = ?2 WHERE id = ?1",
                    params![id, secs(lifetime)],
                )?;
            }
            if let Some(alg) = patch.alg {
                tx.execute(
                    "UPDATE resource_servers SET alg = ?2 WHERE id = ?1",
                    params![id, alg.as_str()],
                )?;
            }
            if let Some(disabled) = patch.disabled {
                tx.execute(
                    "UPDATE resource_servers SET disabled = ?2 WHERE id = ?1",
                    params![id, disabled],
                )?;
            }
            Ok(())
        })
        .and_then(|()| self.server(id))
    }

    /// The kill switch: disable (`true`) or enable a server; nothing else changes.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownServer`].
    pub fn set_disabled(&self, id: &str, disabled: bool) -> Result<ResourceServer, StoreError> {
        self.update_server(
            id,
            &ResourceServerPatch {
                disabled: Some(disabled),
                ..Default::default()
            },
        )
    }

    /// Deletes a resource server with its URIs, scopes and grants.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownServer`].
    pub fn delete_server(&self, id: &str) -> Result<(), StoreError> {
        self.change_one("DELETE FROM resource_servers WHERE id = ?1", id, || {
            StoreError::UnknownServer(id.to_owned())
        })
    }

    /// Defines a scope on a server, or changes whether it is enabled.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownServer`], or [`StoreError::Invalid`] for an invalid scope name.
    pub fn set_scope(
        &self,
        server: &str,
        scope: &str,
        enabled: bool,
    ) -> Result<ResourceServer, StoreError> {
        check_scope_name(scope)?;
        self.write(|tx, state| {
            if !state.servers.iter().any(|s| s.id == server) {
                return Err(StoreError::UnknownServer(server.to_owned()));
            }
            tx.execute(
                "INSERT INTO scopes (server_id, name, enabled) VALUES (?1, ?2, ?3)
                 ON CONFLICT (server_id, name) DO UPDATE SET enabled = excluded.enabled",
                params![server, scope, enabled],
            )?;
            Ok(())
        })
        .and_then(|()| self.server(server))
    }

    /// Removes a scope from a server (and every grant of it).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownScope`].
    pub fn delete_scope(&self, server: &str, scope: &str) -> Result<(), StoreError> {
        self.write(|tx, _| {
            if tx.execute(
                "DELETE FROM scopes WHERE server_id = ?1 AND name = ?2",
                params![server, scope],
            )? == 0
            {
                return Err(StoreError::UnknownScope {
                    server: server.to_owned(),
                    scope: scope.to_owned(),
                });
            }
            tx.execute(
                "DELETE FROM grants WHERE server_id = ?1 AND scope = ?2",
                params![server, scope],
            )?;
            Ok(())
        })
    }

    /// Grants `user` the `scope` on `server`. The scope must be defined on the server.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownUser`], [`StoreError::UnknownServer`], [`StoreError::UnknownScope`].
    pub fn grant(&self, user: &str, server: &str, scope: &str) -> Result<(), StoreError> {
        self.write(|tx, state| {
            if !state.users.contains_key(user) {
                return Err(StoreError::UnknownUser(user.to_owned()));
            }
            let s = state
                .servers
                .iter()
                .find(|s| s.id == server)
                .ok_or_else(|| StoreError::UnknownServer(server.to_owned()))?;
            if !s.scopes.iter().any(|sc| sc.name == scope) {
                return Err(StoreError::UnknownScope {
                    server: server.to_owned(),
                    scope: scope.to_owned(),
                });
            }
            tx.execute(
                "INSERT OR IGNORE INTO grants (user, server_id, scope) VALUES (?1, ?2, ?3)",
                params![user, server, scope],
            )?;
            Ok(())
        })
    }

    /// Revokes a grant; revoking one that does not exist is not an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub fn revoke(&self, user: &str, server: &str, scope: &str) -> Result<(), StoreError> {
        self.write(|tx, _| {
            tx.execute(
                "DELETE FROM grants WHERE user = ?1 AND server_id = ?2 AND scope = ?3",
                params![user, server, scope],
            )?;
            Ok(())
        })
    }

    /// Adds a test user; the password is stored hashed.
    ///
    /// # Errors
    ///
    /// [`StoreError::UserTaken`], [`StoreError::Invalid`].
    pub fn add_user(&self, name: &str, sub: &str, password: &str) -> Result<(), StoreError> {
        if name.is_empty() || sub.is_empty() || password.is_empty() {
            return Err(StoreError::Invalid(
                "a user needs a name, a sub and a password".into(),
            ));
        }
        self.write(|tx, state| {
            if state.users.contains_key(name) || state.user_by_sub(sub).is_some() {
                return Err(StoreError::UserTaken(name.to_owned()));
            }
            tx.execute(
                "INSERT INTO users (name, sub, password_hash) VALUES (?1, ?2, ?3)",
                params![name, sub, hash_secret(password)],
            )?;
            Ok(())
        })
    }

    /// Deletes a user and their grants.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownUser`].
    pub fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        self.change_one("DELETE FROM users WHERE name = ?1", name, || {
            StoreError::UnknownUser(name.to_owned())
        })
    }

    /// Adds a client with its secret (stored hashed) and its ids at authorization servers.
    ///
    /// # Errors
    ///
    /// [`StoreError::ClientTaken`], [`StoreError::Invalid`].
    pub fn add_client(
        &self,
        client_id: &str,
        secret: &str,
        as_client_ids: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        if client_id.is_empty() || secret.is_empty() {
            return Err(StoreError::Invalid(
                "a client needs an id and a secret".into(),
            ));
        }
        self.write(|tx, state| {
            if state.clients.contains_key(client_id) {
                return Err(StoreError::ClientTaken(client_id.to_owned()));
            }
            tx.execute("INSERT INTO clients (client_id, secret_hash) VALUES (?1, ?2)", params![client_id, hash_secret(secret)])?;
            for (audience, as_id) in as_client_ids {
                tx.execute(
                    "INSERT INTO client_as_ids (client_id, audience, as_client_id) VALUES (?1, ?2, ?3)",
                    params![client_id, audience, as_id],
                )?;
            }
            Ok(())
        })
    }

    /// Deletes a client.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownClient`].
    pub fn delete_client(&self, client_id: &str) -> Result<(), StoreError> {
        self.change_one(
            "DELETE FROM clients WHERE client_id = ?1",
            client_id,
            || StoreError::UnknownClient(client_id.to_owned()),
        )
    }

    /// Adds a signing key; an active key retires the algorithm's previous active key
    /// (rotation: the old public key stays in the JWKS).
    ///
    /// # Errors
    ///
    /// [`StoreError::KeyTaken`].
    pub fn add_key(
        &self,
        key: &SigningKey,
        status: KeyStatus,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx, state| {
            if state.keys.get(key.kid()).is_some() {
                return Err(StoreError::KeyTaken(key.kid().clone()));
            }
            if status == KeyStatus::Active {
                tx.execute("UPDATE signing_keys SET status = 'retired' WHERE alg = ?1", params![key.alg().as_str()])?;
            }
            tx.execute(
                "INSERT INTO signing_keys (kid, alg, status, pem, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.kid().as_str(), key.alg().as_str(), status_str(status), key.to_pem().secret(), now_ms],
            )?;
            Ok(())
        })
    }

    /// Retires a key: it stops signing and stays published.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownKey`].
    pub fn retire_key(&self, kid: &Kid) -> Result<(), StoreError> {
        self.change_one(
            "UPDATE signing_keys SET status = 'retired' WHERE kid = ?1",
            kid.as_str(),
            || StoreError::UnknownKey(kid.clone()),
        )
    }

    /// Removes a key from the JWKS: for when every token it signed has expired.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownKey`].
    pub fn delete_key(&self, kid: &Kid) -> Result<(), StoreError> {
        self.change_one(
            "DELETE FROM signing_keys WHERE kid = ?1",
            kid.as_str(),
            || StoreError::UnknownKey(kid.clone()),
        )
    }

    /// Checks a client's secret; the client if it matches.
    pub fn authenticate_client(
        state: &TenantState,
        client_id: &str,
        secret: &str,
    ) -> Option<Client> {
        state
            .clients
            .get(client_id)
            .filter(|c| verify_secret(secret, &c.secret_hash))
            .cloned()
    }

    /// Checks a user's password; the user if it matches.
    pub fn authenticate_user(state: &TenantState, name: &str, password: &str) -> Option<User> {
        state
            .users
            .get(name)
            .filter(|u| verify_secret(password, &u.password_hash))
            .cloned()
    }
}

/// How many verified subject-token signatures a snapshot remembers.
const SIGNATURE_MEMO: usize = 4096;

/// Seconds as SQLite stores them (rusqlite has no u64 by default); beyond i64 clamps.
fn secs(v: Option<u64>) -> Option<i64> {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Seconds read back; a negative value (never written) reads as zero.
fn unsecs(v: Option<i64>) -> Option<u64> {
    v.map(|n| u64::try_from(n).unwrap_or(0))
}

fn status_str(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Retired => "retired",
    }
}

/// What two spellings of one URL share, as a URL parser reads them (WHATWG URL, the `url`
/// crate): scheme and host in lower case, the default port dropped, `127.1` and `0`-padded
/// ports read as the numbers they are, dot segments resolved, an empty query dropped, and
/// a trailing `/` ignored. Refused: white space around it (a trailing newline is refused,
/// not trimmed), anything but an absolute http(s) URL with a host, user info, and a
/// fragment (an issuer identifier has neither, RFC 8414 §2; nor has a resource, RFC 8707
/// §2).
fn url_identity(text: &str) -> Result<String, &'static str> {
    if text.trim() != text {
        return Err("it begins or ends with white space");
    }
    let mut url = url::Url::parse(text).map_err(|_| "it is not an absolute URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("it is not an http(s) URL with a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries user info (`user:password@`)");
    }
    if url.fragment().is_some() {
        return Err("it has a fragment (`#`)");
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A refused URL as an error may quote it: control characters escaped, and a password in
/// its user info left out (the URL as a parser writes it), so the answer never repeats a
/// credential.
fn quotable(text: &str) -> String {
    let shown = match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.to_owned(),
    };
    crate::oauth::shorten(&shown).escape_debug().to_string()
}

/// Resource URIs checked as [`url_identity`] says, each spelling of one URL kept once (the
/// first).
fn checked_resource_uris(uris: &[String]) -> Result<Vec<&String>, StoreError> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for uri in uris {
        let identity = url_identity(uri).map_err(|reason| StoreError::ResourceUriRefused {
            uri: quotable(uri),
            reason,
        })?;
        if seen.insert(identity) {
            kept.push(uri);
        }
    }
    Ok(kept)
}

/// A scope token is printable ASCII without space, `"` or `\` (RFC 6749 §3.3).
fn check_scope_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "`{name}` is not a valid scope token (RFC 6749 §3.3)"
        )))
    }
}

/// Whether two URLs name the same issuer (the tenant-URL and uniqueness rules are about
/// identity, not spelling); one that does not parse is compared as written.
fn same_url(a: &str, b: &str) -> bool {
    match (url_identity(a), url_identity(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

fn next_id(state: &TenantState) -> String {
    (1..)
        .map(|n| format!("rs{n}"))
        .find(|id| !state.servers.iter().any(|s| &s.id == id))
        .unwrap_or_default()
}

/// Reads the whole state.
fn load(conn: &Connection) -> Result<TenantState, StoreError> {
    let settings = conn
        .query_row(
            "SELECT url, ema_enabled, default_alg, default_max_lifetime FROM tenant WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::Database("the tenant row is missing".into()))?;
    let default_alg = settings
        .2
        .parse::<Alg>()
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let settings = TenantSettings {
        url: settings.0,
        ema_enabled: settings.1,
        default_alg,
        default_max_lifetime: unsecs(settings.3),
    };

    let mut users = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT name, sub, password_hash FROM users")?;
    for row in stmt.query_map([], |r| {
        Ok(User {
            name: r.get(0)?,
            sub: r.get(1)?,
            password_hash: r.get(2)?,
        })
    })? {
        let u = row?;
        users.insert(u.name.clone(), u);
    }

    let mut clients = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT client_id, secret_hash FROM clients")?;
    for row in stmt.query_map([], |r| {
        Ok(Client {
            client_id: r.get(0)?,
            secret_hash: r.get(1)?,
            as_client_ids: BTreeMap::new(),
        })
    })? {
        let c = row?;
        clients.insert(c.client_id.clone(), c);
    }
    let mut stmt = conn.prepare("SELECT client_id, audience, as_client_id FROM client_as_ids")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (client, audience, as_id) = row?;
        if let Some(c) = clients.get_mut(&client) {
            c.as_client_ids.insert(audience, as_id);
        }
    }

    let mut servers = Vec::new();
    let mut stmt = conn.prepare("SELECT id, audience, name, max_lifetime, alg, disabled, modify_claims_hook FROM resource_servers ORDER BY rowid")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })? {
        let (id, audience, name, max_lifetime, alg, disabled, hook) = row?;
        servers.push(ResourceServer {
            id,
            name,
            audience,
            resource_uris: Vec::new(),
            max_lifetime: unsecs(max_lifetime).map_or(Lifetime::Indefinite, Lifetime::Seconds),
            alg: alg.parse().map_err(StoreError::Database)?,
            disabled,
            modify_claims_hook: hook,
            scopes: Vec::new(),
        });
    }
    let mut stmt = conn.prepare("SELECT server_id, uri FROM resource_uris ORDER BY rowid")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (server, uri) = row?;
        if let Some(s) = servers.iter_mut().find(|s| s.id == server) {
            s.resource_uris.push(uri);
        }
    }
    let mut stmt = conn.prepare("SELECT server_id, name, enabled FROM scopes ORDER BY rowid")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })? {
        let (server, name, enabled) = row?;
        if let Some(s) = servers.iter_mut().find(|s| s.id == server) {
            s.scopes.push(Scope { name, enabled });
        }
    }

    let mut grants = BTreeSet::new();
    let mut stmt = conn.prepare("SELECT user, server_id, scope FROM grants")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
        grants.insert(row?);
    }

    let mut keys = KeySet::new();
    let mut stmt = conn.prepare("SELECT kid, status, pem FROM signing_keys ORDER BY rowid")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (kid, status, pem) = row?;
        let key = SigningKey::from_pem(&pem)
            .map_err(|e| StoreError::Database(format!("key {kid}: {e}")))?;
        let key = if key.kid().as_str() == kid {
            key
        } else {
            key.with_kid(kid)
        };
        let status = if status == "active" {
            KeyStatus::Active
        } else {
            KeyStatus::Retired
        };
        // Rows are unique by kid, and at most one active per alg is kept by add_key.
        keys.insert(key, status)
            .map_err(|e| StoreError::Database(e.to_string()))?;
    }
    // An agent exchanges one ID token for many ID-JAGs: remember verified subject-token
    // signatures for this snapshot (a key change builds a new one, with an empty memo).
    let trusted_jwks = TrustedJwks::from(keys.jwks()).remember_verified_signatures(SIGNATURE_MEMO);
    Ok(TenantState {
        settings,
        users,
        clients,
        servers,
        grants,
        keys,
        trusted_jwks,
    })
}

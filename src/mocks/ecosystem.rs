//! The whole ecosystem on loopback: the reference issuer seeded from a tenant file, the
//! mock authorization servers and MCP servers of `mocks/*.toml`, and the SIEM sink; and the
//! manifest that tells scripts and other languages' tests where everything is.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jagspec::mocks::EcosystemError> {
//! let ecosystem = jagspec::mocks::Ecosystem::start().await?;
//! let manifest = ecosystem.manifest();
//! println!("issuer at {}", manifest.issuer.url);
//! ecosystem.stop().await;
//! # Ok(()) }
//! ```

use super::auth_server::{AuthorizationServer, AuthorizationServerSpec, ServedResource};
use super::config::{EcosystemConfig, MockConfigError, REFERENCE_ISSUER};
use super::mcp_server::McpServer;
use super::siem::SiemSink;
use crate::issuer::{IssuerConfig, RunningIssuer, Seed, SeedError, StartError};
use crate::jose::{Alg, Clock, SigningKey, SystemClock};
use crate::private_file::PrivateTempDir;
use crate::served::{ServeLimits, Served};
use crate::types::{Secret, secret_serde};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The default tenant of the ecosystem, embedded so an installed binary carries it.
pub const DEFAULT_TENANT: &str = include_str!("../../fixtures/tenant.toml");

/// How to start an ecosystem. [`EcosystemOptions::default`] is the one `jagspec serve`
/// starts: the embedded `mocks/` and `fixtures/tenant.toml`, ephemeral loopback ports, a
/// temporary database, the system clock.
#[derive(Debug, Clone)]
pub struct EcosystemOptions {
    /// The mock parties.
    pub mocks: EcosystemConfig,
    /// The tenant seed (TOML), with `${as:NAME}`, `${mcp:AS/NAME}` and `${issuer}`
    /// placeholders for the URLs chosen at start.
    pub tenant: String,
    /// The issuer's SQLite file; `None` makes a temporary one, removed at stop.
    pub db: Option<PathBuf>,
    /// The clock every party reads: a `FixedClock` makes expiry tests deterministic.
    pub clock: Arc<dyn Clock>,
    /// First port of a consecutive range (issuer, then each authorization server followed
    /// by its MCP servers, then the SIEM sink); `None` takes ephemeral ports. A persistent
    /// `db` needs fixed ports, since the tenant stores the URLs.
    pub port_base: Option<u16>,
    /// The admin API's bearer token; `None` makes a random one.
    pub admin_token: Option<Secret>,
    /// Issuers every authorization server trusts besides the reference issuer: jagspec's
    /// own IdP when `jagspec test as` tests the mocks.
    pub also_trusted_issuers: Vec<String>,
    /// Every listener's limits and timeouts (slow clients, connections, shutdown grace).
    pub limits: ServeLimits,
    /// Deliberate defects, for the conformance suite's self-test only.
    #[doc(hidden)]
    pub faults: Faults,
}

/// Deliberate defects of the reference parties (the suite's self-test).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// The issuer's.
    pub issuer: Option<crate::issuer::IssuerFault>,
    /// Every authorization server's.
    pub authorization_servers: Option<super::auth_server::AsFault>,
}

impl Default for EcosystemOptions {
    fn default() -> Self {
        Self {
            mocks: EcosystemConfig::default_mocks(),
            tenant: DEFAULT_TENANT.to_owned(),
            db: None,
            clock: Arc::new(SystemClock),
            port_base: None,
            admin_token: None,
            also_trusted_issuers: Vec::new(),
            limits: ServeLimits::default(),
            faults: Faults::default(),
        }
    }
}

/// Why the ecosystem did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcosystemError {
    /// A loopback port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The tenant seed is invalid.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The issuer did not start.
    #[error(transparent)]
    Issuer(#[from] StartError),
    /// The mock declarations are invalid.
    #[error(transparent)]
    Mocks(#[from] MockConfigError),
    /// A key for the access tokens could not be made.
    #[error("generating an access-token key failed: {0}")]
    Key(String),
    /// The authorization servers' HTTP client could not be built (its TLS roots).
    #[error("the authorization servers' HTTP client could not be built: {0}")]
    HttpClient(String),
    /// The private folder of the temporary database could not be made.
    #[error("cannot create a private temporary folder for the database: {0}")]
    TempDir(#[source] std::io::Error),
    /// The port range overflows.
    #[error("the port range starting at {base} does not fit below 65536")]
    PortRange {
        /// The first port.
        base: u16,
    },
}

/// Where everything is: written by `jagspec serve --manifest`, returned by
/// [`Ecosystem::manifest`]. It holds the test credentials in clear, since driving the
/// ecosystem is its purpose; its `Debug` redacts them.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The reference issuer.
    pub issuer: ManifestIssuer,
    /// Test users, who log in with the password grant.
    pub users: Vec<ManifestUser>,
    /// Clients registered at the issuer.
    pub clients: Vec<ManifestClient>,
    /// The mock authorization servers, each with its MCP servers.
    pub authorization_servers: Vec<ManifestAuthorizationServer>,
    /// The SIEM sink, if declared.
    pub siem_sink: Option<ManifestSiemSink>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("issuer", &self.issuer.url)
            .field(
                "authorization_servers",
                &self
                    .authorization_servers
                    .iter()
                    .map(|a| a.issuer.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// `issuer` in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestIssuer {
    /// The issuer identifier.
    pub url: String,
    /// RFC 8414 metadata.
    pub metadata_url: String,
    /// The token endpoint (token exchange; password grant for test users).
    pub token_endpoint: String,
    /// The JWKS.
    pub jwks_uri: String,
    /// The admin API's base URL.
    pub admin_url: String,
    /// The admin API's bearer token.
    #[serde(with = "secret_serde")]
    pub admin_token: Secret,
}

/// A test user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestUser {
    /// Login name.
    pub name: String,
    /// Password (password grant at the issuer).
    #[serde(with = "secret_serde")]
    pub password: Secret,
    /// The `sub` of its tokens.
    pub sub: String,
}

/// A client at the issuer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestClient {
    /// A name for people (the client id).
    pub name: String,
    /// The client id at the issuer.
    pub client_id: String,
    /// Its secret.
    #[serde(with = "secret_serde")]
    pub client_secret: Secret,
}

/// A mock authorization server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestAuthorizationServer {
    /// Its name in `mocks/`.
    pub name: String,
    /// What it stands for.
    pub description: Option<String>,
    /// Its issuer identifier (the `audience` of a token exchange).
    pub issuer: String,
    /// The only algorithm it verifies.
    pub alg: Alg,
    /// RFC 8414 metadata.
    pub metadata_url: String,
    /// The jwt-bearer token endpoint.
    pub token_endpoint: String,
    /// The agent's client id here.
    pub client_id: String,
    /// Its secret.
    #[serde(with = "secret_serde")]
    pub client_secret: Secret,
    /// Its MCP servers.
    pub mcp_servers: Vec<ManifestMcpServer>,
}

/// A mock MCP server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestMcpServer {
    /// Its name in `mocks/`.
    pub name: String,
    /// Its URL and RFC 9728 resource identifier.
    pub url: String,
    /// Its RFC 9728 metadata.
    pub resource_metadata: String,
    /// The scopes it defines.
    pub scopes: Vec<String>,
    /// Its tools and the scope each needs.
    pub tools: Vec<ManifestTool>,
}

/// A tool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestTool {
    /// Its name.
    pub name: String,
    /// The scope a call needs.
    pub scope: Option<String>,
}

/// The SIEM sink.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestSiemSink {
    /// Where exporters deliver.
    pub url: String,
    /// The bearer token it requires, if any.
    #[serde(with = "secret_serde_opt")]
    pub bearer_token: Option<Secret>,
}

mod secret_serde_opt {
    use crate::types::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(s: &Option<Secret>, out: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => out.serialize_some(s.secret()),
            None => out.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<Option<Secret>, D::Error> {
        Option::<String>::deserialize(input).map(|s| s.map(Secret::new))
    }
}

/// The running ecosystem. Stop it with [`Ecosystem::stop`]; dropping it also stops every
/// server (without waiting) and removes a temporary database.
pub struct Ecosystem {
    issuer: RunningIssuer,
    authorization_servers: Vec<Arc<AuthorizationServer>>,
    siem_sink: Option<Arc<SiemSink>>,
    served: Vec<Served>,
    manifest: Manifest,
    warnings: Vec<String>,
    /// The private folder of a temporary database; declared last: dropped (and removed)
    /// after the servers.
    temp_db: Option<PrivateTempDir>,
}

impl std::fmt::Debug for Ecosystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ecosystem")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

/// Hands out loopback listeners: consecutive ports from a base, or ephemeral ones.
struct Ports {
    next: Option<u16>,
    base: u16,
}

impl Ports {
    async fn bind(&mut self) -> Result<(TcpListener, String), EcosystemError> {
        let port = match self.next {
            None => 0,
            Some(p) => {
                self.next = Some(
                    p.checked_add(1)
                        .ok_or(EcosystemError::PortRange { base: self.base })?,
                );
                p
            }
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EcosystemError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| EcosystemError::Bind { addr, source })?;
        Ok((listener, format!("http://{bound}")))
    }
}

impl Ecosystem {
    /// The default ecosystem ([`EcosystemOptions::default`]) on ephemeral loopback ports.
    ///
    /// # Errors
    ///
    /// [`EcosystemError`].
    pub async fn start() -> Result<Self, EcosystemError> {
        Self::start_with(EcosystemOptions::default()).await
    }

    /// Binds every socket, seeds the issuer with the URLs now known, and serves.
    ///
    /// # Errors
    ///
    /// [`EcosystemError`].
    pub async fn start_with(options: EcosystemOptions) -> Result<Self, EcosystemError> {
        let base = options.port_base.unwrap_or(0);
        let mut ports = Ports {
            next: options.port_base,
            base,
        };
        // 1. Sockets first: each party's URL must be known before anything is configured.
        let (issuer_listener, issuer_url) = ports.bind().await?;
        let mut placeholders = BTreeMap::from([("issuer".to_owned(), issuer_url.clone())]);
        let mut bound_as = Vec::new();
        for declaration in &options.mocks.authorization_servers {
            let (listener, url) = ports.bind().await?;
            placeholders.insert(format!("as:{}", declaration.server.name), url.clone());
            let mut mcp = Vec::new();
            for m in &declaration.mcp_servers {
                let (listener, origin) = ports.bind().await?;
                let mcp_url = format!("{origin}/mcp");
                placeholders.insert(
                    format!("mcp:{}/{}", declaration.server.name, m.name),
                    mcp_url.clone(),
                );
                mcp.push((listener, mcp_url, m.clone()));
            }
            bound_as.push((declaration.clone(), listener, url, mcp));
        }
        let sink = match &options.mocks.siem_sink {
            Some(config) => Some((config.clone(), ports.bind().await?)),
            None => None,
        };

        // 2. The issuer, seeded with the URLs.
        let seed = Seed::from_toml_with(&options.tenant, &placeholders)?;
        // Without a database file of the caller's, one in a private folder (0700), removed
        // with the folder when the ecosystem is dropped.
        let (db, temp_db) = match &options.db {
            Some(db) => (db.clone(), None),
            None => {
                let dir = PrivateTempDir::new().map_err(EcosystemError::TempDir)?;
                (dir.path().join("state.db"), Some(dir))
            }
        };
        let mut issuer_config = IssuerConfig::new(&db);
        issuer_config.seed = Some(seed.clone());
        issuer_config.clock = Arc::clone(&options.clock);
        issuer_config.fault = options.faults.issuer;
        issuer_config.limits = options.limits;
        if let Some(token) = &options.admin_token {
            issuer_config.admin_token = token.clone();
        }
        let admin_token = issuer_config.admin_token.clone();
        let issuer = RunningIssuer::start_on(issuer_listener, issuer_config).await?;

        // 3. Authorization servers and their MCP servers.
        let mut served = Vec::new();
        let mut authorization_servers = Vec::new();
        let mut manifest_as = Vec::new();
        // One client for every authorization server's JWKS fetches (see the spec's field).
        let as_http = crate::http::builder(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| EcosystemError::HttpClient(e.to_string()))?;
        for (declaration, listener, url, mcp) in bound_as {
            let trusted_issuers = declaration
                .server
                .trusted_issuers
                .iter()
                .map(|t| {
                    if t == REFERENCE_ISSUER {
                        issuer.url.clone()
                    } else {
                        t.clone()
                    }
                })
                .chain(options.also_trusted_issuers.iter().cloned())
                .collect();
            // ES256: fast to generate, so start-up stays quick; the MCP servers trust it.
            let access_token_key =
                SigningKey::generate(Alg::ES256).map_err(|e| EcosystemError::Key(e.to_string()))?;
            let server = Arc::new(AuthorizationServer::new(AuthorizationServerSpec {
                config: declaration.server.clone(),
                issuer: url.clone(),
                trusted_issuers,
                clients: declaration.clients.clone(),
                resources: mcp
                    .iter()
                    .map(|(_, u, m)| ServedResource {
                        url: u.clone(),
                        scopes: m.scopes.clone(),
                    })
                    .collect(),
                clock: Arc::clone(&options.clock),
                access_token_key,
                http: as_http.clone(),
                fault: options.faults.authorization_servers,
            }));
            served.push(Served::start(
                listener,
                Arc::clone(&server).router(),
                "a mock authorization server",
                options.limits,
            ));
            let mut manifest_mcp = Vec::new();
            for (listener, mcp_url, config) in mcp {
                let mcp_server = Arc::new(McpServer::new(
                    config.clone(),
                    mcp_url.clone(),
                    url.clone(),
                    server.access_token_keys(),
                    Arc::clone(&options.clock),
                ));
                manifest_mcp.push(ManifestMcpServer {
                    name: config.name.clone(),
                    url: mcp_url,
                    resource_metadata: mcp_server.metadata_url(),
                    scopes: config.scopes.clone(),
                    tools: config
                        .tools
                        .iter()
                        .map(|t| ManifestTool {
                            name: t.name.clone(),
                            scope: t.scope.clone(),
                        })
                        .collect(),
                });
                served.push(Served::start(
                    listener,
                    mcp_server.router(),
                    "a mock MCP server",
                    options.limits,
                ));
            }
            let client = &declaration.clients[0];
            manifest_as.push(ManifestAuthorizationServer {
                name: declaration.server.name.clone(),
                description: declaration.server.description.clone(),
                issuer: url.clone(),
                alg: declaration.server.alg,
                metadata_url: format!("{url}/.well-known/oauth-authorization-server"),
                token_endpoint: format!("{url}/token"),
                client_id: client.client_id.clone(),
                client_secret: Secret::new(client.client_secret.clone()),
                mcp_servers: manifest_mcp,
            });
            authorization_servers.push(server);
        }

        // 4. The SIEM sink.
        let (siem_sink, manifest_sink) = match sink {
            Some((config, (listener, url))) => {
                // Random per start unless declared: whoever can read the manifest (0600) can
                // read what the exporters sent, and nobody else.
                let token = Some(Secret::new(
                    config.bearer_token.unwrap_or_else(crate::oauth::random_id),
                ));
                let sink = Arc::new(SiemSink::new(token.clone(), Arc::clone(&options.clock)));
                served.push(Served::start(
                    listener,
                    Arc::clone(&sink).router(),
                    "the SIEM sink",
                    options.limits,
                ));
                (
                    Some(sink),
                    Some(ManifestSiemSink {
                        url,
                        bearer_token: token,
                    }),
                )
            }
            None => (None, None),
        };

        let manifest = Manifest {
            issuer: ManifestIssuer {
                url: issuer.url.clone(),
                metadata_url: format!("{}/.well-known/oauth-authorization-server", issuer.url),
                token_endpoint: format!("{}/token", issuer.url),
                jwks_uri: format!("{}/jwks", issuer.url),
                admin_url: format!("{}/admin", issuer.url),
                admin_token,
            },
            users: seed
                .users
                .iter()
                .map(|u| ManifestUser {
                    name: u.name.clone(),
                    password: Secret::new(u.password.clone()),
                    sub: u.sub.clone().unwrap_or_else(|| u.name.clone()),
                })
                .collect(),
            clients: seed
                .clients
                .iter()
                .map(|c| ManifestClient {
                    name: c.client_id.clone(),
                    client_id: c.client_id.clone(),
                    client_secret: Secret::new(c.client_secret.clone()),
                })
                .collect(),
            authorization_servers: manifest_as,
            siem_sink: manifest_sink,
        };
        let warnings = stale_audiences(&issuer, &manifest);
        Ok(Self {
            issuer,
            authorization_servers,
            siem_sink,
            served,
            manifest,
            warnings,
            temp_db,
        })
    }

    /// Where everything is.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The running issuer (its state, including the audit log).
    pub fn issuer(&self) -> &RunningIssuer {
        &self.issuer
    }

    /// A mock authorization server by its name in `mocks/`.
    pub fn authorization_server(&self, name: &str) -> Option<&Arc<AuthorizationServer>> {
        self.authorization_servers
            .iter()
            .find(|a| a.config().name == name)
    }

    /// The SIEM sink, if declared.
    pub fn siem_sink(&self) -> Option<&Arc<SiemSink>> {
        self.siem_sink.as_ref()
    }

    /// Problems found at start that did not stop it: a persistent database whose resource
    /// servers name authorization servers that are not running (ports changed).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Stops every server and waits for in-flight requests.
    pub async fn stop(self) {
        let Self {
            issuer,
            served,
            siem_sink,
            temp_db,
            ..
        } = self;
        // Every server stops accepting at once, so their grace periods run together; all
        // but the SIEM sink (served last), which the issuer's exporters may still be
        // delivering to: it stops once they have.
        let sink_count = usize::from(siem_sink.is_some());
        issuer.begin_stop();
        for s in &served[..served.len().saturating_sub(sink_count)] {
            s.begin_stop();
        }
        issuer.stop().await;
        for s in served {
            s.stop().await;
        }
        drop(temp_db);
    }
}

/// Audiences of the tenant that name no running authorization server: after a restart on a
/// persistent database without fixed ports.
fn stale_audiences(issuer: &RunningIssuer, manifest: &Manifest) -> Vec<String> {
    let live: Vec<&str> = manifest
        .authorization_servers
        .iter()
        .map(|a| a.issuer.as_str())
        .collect();
    issuer
        .state
        .store
        .snapshot()
        .servers
        .iter()
        .filter(|s| !live.contains(&s.audience.as_str()))
        .map(|s| {
            format!(
                "resource server `{}` has audience {}, which no running authorization server \
                 has; start with the --port-base it was created with, or a fresh --db",
                s.id, s.audience
            )
        })
        .collect()
}

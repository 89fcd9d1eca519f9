//! The mock ecosystem declared as data: one TOML file per party in `mocks/`.
//!
//! ```toml
//! [authorization_server]
//! name = "es256"          # the placeholder `${as:es256}` in a tenant seed names its issuer
//! alg = "ES256"           # the one algorithm it verifies (the seeds' "signature algorithm")
//!
//! [[clients]]
//! client_id = "agent-at-es256"
//! client_secret = "agent-at-es256-secret"
//!
//! [[mcp_servers]]         # served at ${mcp:es256/chat}
//! name = "chat"
//! scopes = ["chat.read", "chat.write"]
//! tools = [{ name = "echo", scope = "chat.read" }]
//! ```
//!
//! A file may instead hold `[siem_sink]`.

use super::mcp_server::McpServerConfig;
use crate::jose::{Alg, MAX_SKEW_SECS};
use serde::{Deserialize, Serialize};

/// One file of `mocks/`: an authorization server with its clients and MCP servers, or a
/// SIEM sink.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MockFile {
    /// An authorization server.
    #[serde(default)]
    pub authorization_server: Option<AuthorizationServerConfig>,
    /// Its registered clients.
    #[serde(default)]
    pub clients: Vec<AsClientConfig>,
    /// The MCP servers it issues access tokens for.
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
    /// A SIEM sink.
    #[serde(default)]
    pub siem_sink: Option<SiemSinkConfig>,
}

/// `[authorization_server]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServerConfig {
    /// Unique in the ecosystem; placeholders and the manifest use it.
    pub name: String,
    /// What the mock stands for, shown by `serve` and `demo`.
    #[serde(default)]
    pub description: Option<String>,
    /// The only algorithm whose ID-JAG signatures it accepts.
    pub alg: Alg,
    /// Issuers it trusts: `"reference"` is the ecosystem's issuer; anything else is an issuer
    /// URL whose metadata and JWKS are fetched over HTTP.
    #[serde(default = "reference_only")]
    pub trusted_issuers: Vec<String>,
    /// Access-token lifetime, seconds (short-lived: EMA §5.1).
    #[serde(default = "default_access_token_lifetime")]
    pub access_token_lifetime: u64,
    /// Allowed clock skew on `exp`, `iat`, `nbf`, seconds (at most 300).
    #[serde(default = "default_skew")]
    pub max_skew: u64,
    /// An unknown `kid` refetches the issuer's JWKS at most once per this many seconds, so a
    /// flood of forged kids cannot turn the mock into a JWKS-fetching amplifier.
    #[serde(default = "default_refresh")]
    pub jwks_refresh_interval: u64,
}

fn reference_only() -> Vec<String> {
    vec![REFERENCE_ISSUER.to_owned()]
}

fn default_access_token_lifetime() -> u64 {
    300
}

fn default_skew() -> u64 {
    60
}

fn default_refresh() -> u64 {
    30
}

/// The `trusted_issuers` entry that means the ecosystem's own issuer.
pub const REFERENCE_ISSUER: &str = "reference";

/// `[[clients]]`: a client registered at an authorization server (RFC 6749 §2).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AsClientConfig {
    /// The client identifier; the ID-JAG's `client_id` must equal it (ID-JAG §4.4.1).
    pub client_id: String,
    /// The shared secret (`client_secret_basic` or `client_secret_post`).
    pub client_secret: String,
}

/// `[siem_sink]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SiemSinkConfig {
    /// The bearer token exporters (and readers of `GET /received`) must present; without
    /// one, a random token is made at every start and written to the manifest.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

/// Why a mock declaration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MockConfigError {
    /// Not TOML of the expected shape.
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's words.
        reason: String,
    },
    /// Neither an authorization server nor a SIEM sink, or both.
    #[error(
        "{file}: declare exactly one of [authorization_server] or [siem_sink] (clients and \
         mcp_servers belong to an authorization server)"
    )]
    NotOneParty {
        /// The file.
        file: String,
    },
    /// Two parties with one name.
    #[error("two authorization servers are named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two MCP servers of one authorization server with one name.
    #[error("authorization server `{server}` declares MCP server `{name}` twice")]
    DuplicateMcpServer {
        /// The authorization server.
        server: String,
        /// The MCP server.
        name: String,
    },
    /// An authorization server with no client could never be used.
    #[error("authorization server `{name}` has no [[clients]]")]
    NoClient {
        /// The authorization server.
        name: String,
    },
    /// A skew beyond the verifier's bound.
    #[error(
        "authorization server `{name}`: max_skew {skew} exceeds {MAX_SKEW_SECS} seconds; a \
         wider window keeps expired ID-JAGs alive"
    )]
    SkewTooLarge {
        /// The authorization server.
        name: String,
        /// The configured skew.
        skew: u64,
    },
    /// A tool requiring a scope its server does not declare.
    #[error(
        "MCP server `{server}`: tool `{tool}` needs scope `{scope}`, which is not in its scopes"
    )]
    ToolScopeUndeclared {
        /// The MCP server.
        server: String,
        /// The tool.
        tool: String,
        /// The scope.
        scope: String,
    },
    /// Names become URL paths and placeholders.
    #[error("`{name}` is not a usable name: use letters, digits, `-` and `_`")]
    BadName {
        /// The name.
        name: String,
    },
    /// More than one SIEM sink.
    #[error("more than one [siem_sink] is declared")]
    TwoSinks,
}

/// A whole ecosystem declaration: the authorization servers and the SIEM sink.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EcosystemConfig {
    /// In declaration order.
    pub authorization_servers: Vec<AuthorizationServerDeclaration>,
    /// The SIEM sink, if declared.
    pub siem_sink: Option<SiemSinkConfig>,
}

/// One authorization server with what belongs to it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorizationServerDeclaration {
    /// Its settings.
    pub server: AuthorizationServerConfig,
    /// Its clients; the first is the one the manifest offers.
    pub clients: Vec<AsClientConfig>,
    /// Its MCP servers.
    pub mcp_servers: Vec<McpServerConfig>,
}

/// The default ecosystem, embedded so an installed binary carries it: the files of the
/// repository's `mocks/` directory.
pub const DEFAULT_MOCKS: [(&str, &str); 7] = [
    ("as-eddsa.toml", include_str!("../../mocks/as-eddsa.toml")),
    ("as-rs256.toml", include_str!("../../mocks/as-rs256.toml")),
    ("as-es256.toml", include_str!("../../mocks/as-es256.toml")),
    ("as-paused.toml", include_str!("../../mocks/as-paused.toml")),
    (
        "as-unregistered.toml",
        include_str!("../../mocks/as-unregistered.toml"),
    ),
    ("as-legacy.toml", include_str!("../../mocks/as-legacy.toml")),
    ("siem-sink.toml", include_str!("../../mocks/siem-sink.toml")),
];

impl EcosystemConfig {
    /// The embedded default ecosystem ([`DEFAULT_MOCKS`]).
    ///
    /// # Panics
    ///
    /// Never in a released build: a test parses the embedded files.
    pub fn default_mocks() -> Self {
        Self::from_files(
            DEFAULT_MOCKS
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned())),
        )
        .unwrap_or_else(|e| panic!("the embedded mocks/ are invalid: {e}"))
    }

    /// Every `*.toml` of a directory, in file-name order.
    ///
    /// # Errors
    ///
    /// [`MockConfigError::Parse`] for an unreadable file, and every check of
    /// [`EcosystemConfig::from_files`].
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, MockConfigError> {
        let read_err = |reason: String| MockConfigError::Parse {
            file: dir.display().to_string(),
            reason,
        };
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| read_err(e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        names.sort();
        let mut files = Vec::new();
        for path in names {
            let text = std::fs::read_to_string(&path).map_err(|e| MockConfigError::Parse {
                file: path.display().to_string(),
                reason: e.to_string(),
            })?;
            files.push((path.display().to_string(), text));
        }
        Self::from_files(files)
    }

    /// Parses and checks `(file name, TOML text)` pairs.
    ///
    /// # Errors
    ///
    /// [`MockConfigError`]: the first problem found.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, MockConfigError> {
        let mut config = Self::default();
        for (file, text) in files {
            let parsed: MockFile = toml::from_str(&text).map_err(|e| MockConfigError::Parse {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            match (parsed.authorization_server, parsed.siem_sink) {
                (Some(server), None) => {
                    config
                        .authorization_servers
                        .push(AuthorizationServerDeclaration {
                            server,
                            clients: parsed.clients,
                            mcp_servers: parsed.mcp_servers,
                        });
                }
                (None, Some(sink))
                    if parsed.clients.is_empty() && parsed.mcp_servers.is_empty() =>
                {
                    if config.siem_sink.replace(sink).is_some() {
                        return Err(MockConfigError::TwoSinks);
                    }
                }
                _ => return Err(MockConfigError::NotOneParty { file }),
            }
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), MockConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for d in &self.authorization_servers {
            let name = &d.server.name;
            check_name(name)?;
            if !names.insert(name.clone()) {
                return Err(MockConfigError::DuplicateName { name: name.clone() });
            }
            if d.clients.is_empty() {
                return Err(MockConfigError::NoClient { name: name.clone() });
            }
            if d.server.max_skew > MAX_SKEW_SECS {
                return Err(MockConfigError::SkewTooLarge {
                    name: name.clone(),
                    skew: d.server.max_skew,
                });
            }
            let mut mcp = std::collections::BTreeSet::new();
            for m in &d.mcp_servers {
                check_name(&m.name)?;
                if !mcp.insert(m.name.clone()) {
                    return Err(MockConfigError::DuplicateMcpServer {
                        server: name.clone(),
                        name: m.name.clone(),
                    });
                }
                for tool in &m.tools {
                    if let Some(scope) = &tool.scope
                        && !m.scopes.contains(scope)
                    {
                        return Err(MockConfigError::ToolScopeUndeclared {
                            server: m.name.clone(),
                            tool: tool.name.clone(),
                            scope: scope.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), MockConfigError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(MockConfigError::BadName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(texts: &[&str]) -> Result<EcosystemConfig, MockConfigError> {
        EcosystemConfig::from_files(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("f{i}.toml"), (*t).to_owned())),
        )
    }

    const AS: &str = r#"
        [authorization_server]
        name = "a"
        alg = "ES256"
        [[clients]]
        client_id = "c"
        client_secret = "s"
        [[mcp_servers]]
        name = "m"
        scopes = ["read"]
        tools = [{ name = "echo", scope = "read" }]
    "#;

    #[test]
    fn the_embedded_mocks_are_the_files_of_the_mocks_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mocks");
        let from_dir = EcosystemConfig::from_dir(&dir).unwrap();
        let embedded = EcosystemConfig::default_mocks();
        let names = |c: &EcosystemConfig| {
            let mut n: Vec<String> = c
                .authorization_servers
                .iter()
                .map(|d| d.server.name.clone())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(&from_dir), names(&embedded));
        assert_eq!(from_dir.siem_sink, embedded.siem_sink);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            DEFAULT_MOCKS.len(),
            "every file of mocks/ is embedded in DEFAULT_MOCKS"
        );
    }

    #[test]
    fn an_authorization_server_gets_the_reference_issuer_and_short_lifetimes_by_default() {
        let c = files(&[AS]).unwrap();
        let s = &c.authorization_servers[0].server;
        assert_eq!(s.trusted_issuers, vec![REFERENCE_ISSUER.to_owned()]);
        assert_eq!(
            (s.access_token_lifetime, s.max_skew, s.jwks_refresh_interval),
            (300, 60, 30)
        );
    }

    #[test]
    fn each_inconsistent_declaration_is_refused_with_its_reason() {
        let dup = files(&[AS, AS]).unwrap_err();
        assert_eq!(dup, MockConfigError::DuplicateName { name: "a".into() });

        let no_client = AS.replace(
            "[[clients]]\n        client_id = \"c\"\n        client_secret = \"s\"",
            "",
        );
        assert_eq!(
            files(&[&no_client]).unwrap_err(),
            MockConfigError::NoClient { name: "a".into() }
        );

        let skew = AS.replace("alg = \"ES256\"", "alg = \"ES256\"\n        max_skew = 301");
        assert_eq!(
            files(&[&skew]).unwrap_err(),
            MockConfigError::SkewTooLarge {
                name: "a".into(),
                skew: 301
            }
        );

        let tool = AS.replace("scope = \"read\" }", "scope = \"write\" }");
        assert_eq!(
            files(&[&tool]).unwrap_err(),
            MockConfigError::ToolScopeUndeclared {
                server: "m".into(),
                tool: "echo".into(),
                scope: "write".into()
            }
        );

        let bad_name = AS.replace("name = \"a\"", "name = \"a/b\"");
        assert_eq!(
            files(&[&bad_name]).unwrap_err(),
            MockConfigError::BadName { name: "a/b".into() }
        );

        let both = format!("{AS}\n[siem_sink]\n");
        assert_eq!(
            files(&[&both]).unwrap_err(),
            MockConfigError::NotOneParty {
                file: "f0.toml".into()
            }
        );
        assert_eq!(
            files(&["[siem_sink]", "[siem_sink]"]).unwrap_err(),
            MockConfigError::TwoSinks
        );
        assert!(matches!(
            files(&["[authorization_server]\nname = 1"]).unwrap_err(),
            MockConfigError::Parse { .. }
        ));
    }
}

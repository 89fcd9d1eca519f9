//! The mock ecosystem around the reference issuer: the parties an ID-JAG meets after it is
//! minted. Declared as data in `mocks/*.toml`.
//!
//! * [`Ecosystem`]: everything started on loopback, in-process, with its [`Manifest`] — the
//!   way `jagspec serve`, `jagspec demo` and Rust tests use it.
//! * [`config`]: the `mocks/*.toml` declarations.
//! * [`auth_server`]: an MCP authorization server redeeming ID-JAGs (RFC 7523 jwt-bearer)
//!   with one pinned algorithm, replay protection and RFC 9068 access tokens.
//! * [`mcp_server`]: an MCP server (Streamable HTTP JSON-RPC, RFC 9728 metadata, RFC 6750
//!   challenges) that accepts only access tokens its authorization server issued for it.
//! * [`siem`]: an HTTP receiver that keeps every event exported to it.

pub mod auth_server;
pub mod config;
mod ecosystem;
pub mod mcp_server;
pub mod siem;

pub use ecosystem::{
    DEFAULT_TENANT, Ecosystem, EcosystemError, EcosystemOptions, Faults, Manifest,
    ManifestAuthorizationServer, ManifestClient, ManifestIssuer, ManifestMcpServer,
    ManifestSiemSink, ManifestTool, ManifestUser,
};

/// RFC 9068 §2.1: the `typ` of a JWT access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

//! The mock ecosystem around the reference issuer: the parties an ID-JAG meets after it is
//! minted. Declared as data in `mocks/*.toml`.
//!
//! * [`mcp_server`]: an MCP server (Streamable HTTP JSON-RPC, RFC 9728 metadata, RFC 6750
//!   challenges) that accepts only access tokens its authorization server issued for it.
//! * [`siem`]: an HTTP receiver that keeps every event exported to it.

pub mod mcp_server;
pub mod siem;

/// RFC 9068 §2.1: the `typ` of a JWT access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

//! # jagspec
//!
//! A conformance harness and mock ecosystem for **enterprise-managed authorization** of MCP
//! servers (Cross App Access, XAA): the IETF *Identity Assertion JWT Authorization Grant*
//! (ID-JAG) draft, which chains an RFC 8693 token exchange at the enterprise IdP to an
//! RFC 7523 JWT bearer grant at the MCP server's authorization server.
//!
//! # Layout
//!
//! The crate is organised by protocol role. Everything a user needs is re-exported at the
//! root; the modules below say where it lives. `docs/architecture.md` says where a new
//! step, check, target kind or report format goes.
//!
//! * [`jose`]: keys and tokens, written once and used by every other part. Signing keys for
//!   the three algorithms the seeds name ([`Alg`]: EdDSA, RS256, ES256), key sets with
//!   rotation published as a JWKS, minting, and the one verification pipeline
//!   ([`Verifier`]) whose numbered steps cite the specifications and whose every refusal is
//!   a precise [`Rejection`] variant.
//! * [`issuer`]: the reference issuer, the enterprise IdP of the seeds: tenant, registry,
//!   grants, the pure policy decision, the token endpoint and the admin API by resource.
//! * [`audit`]: one durable SQLite event per token request, written before the response.
//! * [`export`]: the system log on an exporter's wire (NDJSON, Splunk HEC, RFC 5424
//!   syslog with octet counting).
//! * [`db`]: the one SQLite file and its versioned migrations.
//! * [`mocks`]: the parties an ID-JAG meets after it is minted: mock authorization servers
//!   (one pinned algorithm each), MCP servers, a SIEM sink, declared in `mocks/*.toml` and
//!   started together with the issuer as an [`mocks::Ecosystem`] that hands out a
//!   [`mocks::Manifest`] — in the spirit of wiremock's `MockServer::start()`.
//! * [`client`]: the reference MCP client, which runs the whole chain (discovery, token
//!   exchange, jwt-bearer grant, MCP calls) against any MCP server and records every hop.
//! * [`suite`]: the conformance suite: the Gherkin scenarios of `features/` (embedded), the
//!   step library that speaks to a target over HTTP only, targets (the reference, someone
//!   else's issuer or authorization server), one report model rendered three ways.
//! * [`types`]: [`Kid`] and [`Secret`], which redacts itself in `Debug`.
//! * Private, shared by the above: `redact` (the one redaction policy: by name, then by
//!   value), `http` (everything jagspec sends: how its clients are built, the one URL
//!   policy, every answer read capped, MCP's Streamable HTTP transport and the typed
//!   admin-API client),
//!   `oauth` (protocol URNs, form bodies, client authentication, JSON errors of every
//!   token endpoint), `wellknown` (RFC 8414 / RFC 9728 metadata URLs), `served` (the one
//!   serving layer: limits, timeouts, a shutdown that finishes, [`ServeLimits`]) and
//!   `private_file` (files that hold secrets, 0600, replaced atomically).
//! * `cli` (private): the `jagspec` commands, one module each; argument parsing and
//!   rendering, with the work in the library (`logs` also pages and formats the system log,
//!   `demo` narrates a run of the ecosystem).
//!
//! # Starting the ecosystem in a test
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use jagspec::mocks::{Ecosystem, EcosystemOptions};
//! use jagspec::FixedClock;
//! use std::sync::Arc;
//!
//! let clock = Arc::new(FixedClock::at(1_800_000_000)); // expiry tests move it
//! let ecosystem = Ecosystem::start_with(EcosystemOptions { clock, ..Default::default() }).await?;
//! let es256 = &ecosystem.manifest().authorization_servers[2];
//! println!("{} verifies {}; MCP server {}", es256.issuer, es256.alg, es256.mcp_servers[0].url);
//! ecosystem.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Example
//!
//! Mint an ID-JAG with a committed fixture key and run it through the pipeline:
//!
//! ```
//! use jagspec::{fixtures, Alg, FixedClock, KeySet, KeyStatus, Verifier, ID_JAG_TYP};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! let key = fixtures::signing_key(Alg::ES256, 1);
//! let mut keys = KeySet::new();
//! keys.insert(key.clone(), KeyStatus::Active).unwrap();
//!
//! let clock = Arc::new(FixedClock::at(1_800_000_000));
//! let claims = json!({
//!     "iss": "https://idp.example", "sub": "alice", "aud": "https://as.example",
//!     "client_id": "agent", "jti": "j1", "iat": 1_800_000_000, "exp": 1_800_000_300,
//! });
//! let token = jagspec::mint(&key, Some(ID_JAG_TYP), &claims).unwrap();
//!
//! let verifier = Verifier::id_jag(keys.jwks().into(), "https://idp.example", "https://as.example")
//!     .clock(clock);
//! let verified = verifier.verify(token.secret()).unwrap();
//! assert_eq!(verified.claims["sub"], "alice");
//! ```
#![forbid(unsafe_code)]

pub mod audit;
mod cli;
pub mod client;
pub mod db;
pub mod export;
mod http;
pub mod issuer;
pub mod jose;
pub mod mocks;
mod oauth;
mod private_file;
mod redact;
mod served;
pub mod suite;
pub mod types;
mod wellknown;

pub use cli::run as run_cli;
pub use jose::{
    Alg, AlgSet, Clock, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SKEW_SECS, FixedClock,
    ID_JAG_REQUIRED_CLAIMS, ID_JAG_TYP, Inspection, Jwks, JwsHeader, KeyError, KeySet, KeySetError,
    KeyStatus, MAX_SKEW_SECS, MintError, Part, PublicJwk, Rejection, SignedJwt, SigningKey, Step,
    StepReport, SystemClock, TrustedJwks, TrustedJwksError, UnixTime, Verdict, Verified, Verifier,
    dangerous, fixtures, mint, sign,
};
pub use oauth::{
    AuthMethod, ID_JAG_GRANT_PROFILE, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT,
    OAuthError, TOKEN_EXCHANGE_GRANT,
};
pub use served::{BodyTimeout, ServeLimits};
pub use types::{Kid, Secret};

//! The reference issuer: the enterprise IdP of the seeds. A tenant with a resource-server
//! registry, scopes and grants, signing keys per algorithm, and the RFC 8693 token exchange
//! that mints ID-JAGs, every request audited.
//!
//! * [`model`]: the tenant state a decision reads.
//! * [`Store`]: that state in SQLite, the seeds' registration rules enforced on writes.
//! * [`policy::decide`]: the decision on a token exchange, a pure function.
//! * [`Denial`]: every reason for a denial, mapped once to status detail, OAuth error and
//!   HTTP status.

mod admin;
mod denial;
pub mod model;
pub mod policy;
mod routes;
mod running;
mod secret;
mod seed;
mod state;
mod store;
mod token;

pub use crate::oauth::MAX_TOKEN_BODY_BYTES;
pub use denial::Denial;
pub use model::{
    AlgChoice, Client, FALLBACK_LIFETIME_SECS, Lifetime, ResourceServer, Scope, TenantSettings,
    TenantState, User,
};
pub use policy::{Decision, ExchangeRequest, Refusal, decide};
pub use routes::router;
pub use running::{IssuerConfig, RunningIssuer, StartError};
pub use seed::{Seed, SeedClient, SeedError, SeedGrant, SeedKey, SeedTenant, SeedUser};
pub use state::{IssuerFault, IssuerState};
pub use store::{NewResourceServer, ResourceServerPatch, Store, StoreError, TenantPatch};
pub use token::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};

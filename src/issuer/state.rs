//! What the issuer's HTTP handlers share: the tenant's store, the audit log, the
//! exporters, the clock and the admin token.

use super::store::Store;
use crate::audit::AuditLog;
use crate::jose::Clock;
use crate::types::Secret;
use std::sync::Arc;

/// What the HTTP handlers share.
pub struct IssuerState {
    /// The tenant's state.
    pub store: Arc<Store>,
    /// Where every token request is recorded.
    pub audit: AuditLog,
    /// The system-log exporters and their workers.
    pub exporters: crate::export::Exporters,
    /// The injected clock: every `iat`, `exp` and audit time comes from it.
    pub clock: Arc<dyn Clock>,
    /// The bearer token the admin API requires.
    pub admin_token: Secret,
    /// A deliberate defect, for the conformance suite's self-test only.
    #[doc(hidden)]
    pub fault: Option<IssuerFault>,
}

/// Deliberate defects the conformance suite's self-test injects into the reference issuer,
/// to show that exactly the checks that should catch each one fail. Never set otherwise.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerFault {
    /// Issues tokens for disabled resource servers: the kill switch does nothing.
    IgnoreKillSwitch,
    /// Signs every ID-JAG with the tenant default algorithm, whatever the server's.
    SignWithTenantDefault,
}

impl std::fmt::Debug for IssuerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerState")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

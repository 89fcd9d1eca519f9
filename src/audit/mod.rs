//! The audit log: one event for every token request, granted or denied, written durably
//! before the response is sent (seed: "C1 writes one audit event for every token request,
//! whether it's granted or denied").

mod event;
mod log;

pub use event::{AuditEvent, Outcome, ScopeOutcome, ScopeVerdict};
pub use log::{AuditError, AuditLog};

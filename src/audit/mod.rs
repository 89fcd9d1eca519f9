//! The audit log: one event for every token request, granted or denied, written durably
//! before the response is sent (seed: "C1 writes one audit event for every token request,
//! whether it's granted or denied"), and read back filtered and paged (seed: "Read and
//! download system logs").

mod event;
pub(crate) mod export;
mod log;
mod query;
pub(crate) mod rfc3339;

pub use event::{
    AuditEvent, MAX_RECORDED_CHARS, MAX_RECORDED_DENIED_SCOPES, MAX_RECORDED_SCOPE_CHARS, Outcome,
    ScopeOutcome, ScopeVerdict,
};
pub use log::{AuditError, AuditLog};
pub use query::{AuditFilter, AuditPage, Cursor, DEFAULT_PAGE_SIZE, InvalidCursor, MAX_PAGE_SIZE};

//! Exporting the system log to the SIEM or log store an enterprise already uses (the
//! audit page: "stream C1's events into your SIEM").
//!
//! * [`format`]: each event on the wire: NDJSON, Splunk HEC's envelope, RFC 5424 syslog
//!   with RFC 6587 octet counting. Every event carries its stable `event_id`, so a receiver
//!   of an at-least-once delivery can drop duplicates.
//! * [`ExporterConfig`]: an exporter's destination, checked on the way in: `http` (a POST
//!   per batch, NDJSON or Splunk HEC), `file` (JSON lines, fsynced) or `syslog` (RFC 5424
//!   over TCP to a collector, octet counted, a connection per batch; TCP syslog has no
//!   acknowledgement, so a batch counts once it is written, flushed and the socket shut
//!   down cleanly).
//! * [`Exporters`]: the issuer's exporters, each a cursor into the audit log (the outbox)
//!   and a worker task that forwards every event, in order, at least once. The workers run
//!   on a thread of their own (`runtime`), so they keep up while the server is saturated.

mod config;
mod file;
pub mod format;
mod http;
mod runtime;
mod syslog;
mod worker;

pub use config::{
    DEFAULT_BATCH_MAX, DEFAULT_SYSLOG_APP_NAME, Envelope, ExporterConfig, InvalidConfig,
    MAX_BATCH_MAX, Target,
};
pub use worker::{ExportError, ExportTiming, ExporterStatus, Exporters, StartAt};

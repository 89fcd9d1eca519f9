//! Exporting the system log to the SIEM or log store an enterprise already uses (the
//! audit page: "stream C1's events into your SIEM").
//!
//! * [`format`]: each event on the wire: NDJSON, Splunk HEC's envelope, RFC 5424 syslog
//!   with RFC 6587 octet counting. Every event carries its stable `event_id`, so a receiver
//!   of an at-least-once delivery can drop duplicates.

pub mod format;

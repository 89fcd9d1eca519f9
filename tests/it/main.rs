//! The one integration-test binary: a module per area (fewer link steps on 2 cores), laid
//! out as cargo expects (`tests/it/main.rs` and its modules beside it).

mod as_weakened;
mod audit_log;
mod chain_props;
mod cli;
mod client;
mod durability;
mod ecosystem;
mod exporters;
mod exporters_syslog;
mod hardening;
mod hardening_input;
mod hardening_serve;
mod issuer_admin;
mod issuer_token;
mod jose_denials;
mod jose_props;
mod jose_round_trip;
mod jose_vectors;
mod jose_wycheproof;
mod mcp_server;
mod policy_props;
mod redaction;
mod suite;
mod support;
mod system_log;

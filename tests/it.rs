//! The one integration-test binary: a module per area (fewer link steps on 2 cores).

#[path = "it/support.rs"]
mod support;

#[path = "it/jose_round_trip.rs"]
mod jose_round_trip;

#[path = "it/jose_props.rs"]
mod jose_props;

#[path = "it/jose_denials.rs"]
mod jose_denials;

#[path = "it/jose_vectors.rs"]
mod jose_vectors;

#[path = "it/jose_wycheproof.rs"]
mod jose_wycheproof;

#[path = "it/issuer_token.rs"]
mod issuer_token;

#[path = "it/cli.rs"]
mod cli;

#[path = "it/audit_log.rs"]
mod audit_log;

#[path = "it/issuer_admin.rs"]
mod issuer_admin;

#[path = "it/system_log.rs"]
mod system_log;

#[path = "it/mcp_server.rs"]
mod mcp_server;

#[path = "it/ecosystem.rs"]
mod ecosystem;

#[path = "it/client.rs"]
mod client;

#[path = "it/as_weakened.rs"]
mod as_weakened;
#[path = "it/suite.rs"]
mod suite;

#[path = "it/policy_props.rs"]
mod policy_props;

#[path = "it/chain_props.rs"]
mod chain_props;

#[path = "it/exporters.rs"]
mod exporters;

#[path = "it/exporters_syslog.rs"]
mod exporters_syslog;

#[path = "it/durability.rs"]
mod durability;

#[path = "it/hardening.rs"]
mod hardening;

#[path = "it/hardening_input.rs"]
mod hardening_input;

#[path = "it/hardening_serve.rs"]
mod hardening_serve;

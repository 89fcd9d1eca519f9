//! `jagspec doctor`: the seeds' troubleshooting cases, diagnosed on a real chain.

use super::CliError;
use crate::suite::doctor::{DoctorReport, DoctorRequest, diagnose};
use crate::suite::{self, Target};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IssuerArg {
    /// jagspec's reference issuer and mock ecosystem, started in-process.
    Reference,
    /// Someone else's issuer, described by --profile (as for `jagspec test issuer`).
    Issuer,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Which issuer.
    #[arg(value_enum, default_value = "reference")]
    issuer: IssuerArg,
    /// The issuer profile (with `issuer`).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The authorization server: a mock's name for `reference` (eddsa, rs256, es256,
    /// paused, unregistered, legacy), an [[authorization_servers]] name of the profile.
    #[arg(long = "authorization-server", value_name = "NAME")]
    authorization_server: String,
    /// The MCP server URL the agent calls (default: the authorization server's first).
    #[arg(long)]
    resource: Option<String>,
    /// For `reference`: the MCP server by name instead of --resource (e.g. `unlisted`).
    #[arg(long, conflicts_with = "resource")]
    mcp: Option<String>,
    /// The scope asked for (default: the MCP server's first).
    #[arg(long)]
    scope: Option<String>,
    /// The test user.
    #[arg(long, default_value = "alice")]
    user: String,
}

pub(crate) fn run(args: DoctorArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        match args.issuer {
            IssuerArg::Reference => {
                let ecosystem = crate::mocks::Ecosystem::start().await?;
                let m = ecosystem.manifest();
                let mut target = Target::from_manifest("reference", m);
                // The fixture keys sign for the reference: the doctor can try each algorithm.
                target.signing_keys = Some(crate::jose::fixtures::key_set());
                let a = m
                    .authorization_servers
                    .iter()
                    .find(|a| a.name == args.authorization_server)
                    .ok_or_else(|| {
                        CliError(format!(
                            "no mock authorization server is named `{}`; the mocks are {}",
                            args.authorization_server,
                            m.authorization_servers
                                .iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                let mcp = match &args.mcp {
                    Some(name) => {
                        a.mcp_servers
                            .iter()
                            .find(|s| &s.name == name)
                            .ok_or_else(|| {
                                CliError(format!("`{}` has no MCP server `{name}`", a.name))
                            })?
                    }
                    None => a
                        .mcp_servers
                        .first()
                        .ok_or_else(|| CliError(format!("`{}` has no MCP server", a.name)))?,
                };
                let request = DoctorRequest {
                    user: args.user.clone(),
                    authorization_server: target
                        .authorization_servers
                        .get(&a.name)
                        .cloned()
                        .ok_or_else(|| CliError("the manifest lost a server".into()))?,
                    resource: args.resource.clone().unwrap_or_else(|| mcp.url.clone()),
                    scope: args
                        .scope
                        .clone()
                        .or_else(|| mcp.scopes.first().cloned())
                        .unwrap_or_default(),
                };
                let report = diagnose(&target, &request).await;
                ecosystem.stop().await;
                Ok::<_, CliError>((target.issuer.clone(), report))
            }
            IssuerArg::Issuer => {
                let path = args.profile.as_ref().ok_or_else(|| {
                    CliError("`jagspec doctor issuer` needs --profile FILE".into())
                })?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
                let explain = |e: suite::ProfileError| CliError(format!("{}: {e}", path.display()));
                let profile = suite::IssuerProfile::parse(&text, "jagspec").map_err(explain)?;
                let target = profile.resolve("issuer").await.map_err(explain)?;
                let server = target
                    .authorization_servers
                    .get(&args.authorization_server)
                    .cloned()
                    .ok_or_else(|| {
                        CliError(format!(
                            "the profile declares no [[authorization_servers]] named `{}`",
                            args.authorization_server
                        ))
                    })?;
                let resource = args
                    .resource
                    .clone()
                    .or_else(|| server.mcp_servers.first().cloned())
                    .ok_or_else(|| CliError("give --resource".into()))?;
                let scope = args
                    .scope
                    .clone()
                    .ok_or_else(|| CliError("give --scope".into()))?;
                let request = DoctorRequest {
                    user: args.user.clone(),
                    authorization_server: server,
                    resource,
                    scope,
                };
                let report = diagnose(&target, &request).await;
                Ok((target.issuer.clone(), report))
            }
        }
    })?;
    print(&report.0, &args.authorization_server, &report.1);
    Ok(if report.1.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(issuer: &str, server: &str, report: &DoctorReport) {
    outln!("doctor: issuer {issuer}, authorization server `{server}`");
    for (i, step) in report.steps.iter().enumerate() {
        outln!("  {}. {step}", i + 1);
    }
    for p in &report.problems {
        outln!();
        outln!(
            "{}",
            super::style::marked(false, "PROBLEM:", &format!("PROBLEM: {}", p.title))
        );
        if let Some(text) = &p.seed_text {
            outln!("  {text}");
        }
        outln!("  Here: {}", p.detail);
    }
    outln!();
    match report.problems.len() {
        0 => outln!(
            "{}",
            super::style::marked(true, "doctor:", "doctor: the chain works")
        ),
        n => outln!("doctor: {n} problem(s)"),
    }
}

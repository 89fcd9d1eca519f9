//! `jagspec serve`: the whole mock ecosystem on loopback until interrupted.

use super::CliError;
use crate::mocks::config::EcosystemConfig;
use crate::mocks::{Ecosystem, EcosystemOptions, Manifest};
use crate::served::ServeLimits;
use crate::types::Secret;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Write the manifest (every URL, client credential and test user, as JSON) here.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The issuer's SQLite file; kept across runs (use with --port-base, since the tenant
    /// stores the mocks' URLs). Default: a temporary file removed at exit.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Use consecutive ports from this one instead of ephemeral ports.
    #[arg(long)]
    port_base: Option<u16>,
    /// A directory of mock declarations (*.toml) instead of the embedded mocks/.
    #[arg(long)]
    mocks: Option<PathBuf>,
    /// A tenant seed instead of the embedded fixtures/tenant.toml.
    #[arg(long)]
    tenant: Option<PathBuf>,
    /// The admin API's bearer token (default: random, written to the manifest).
    #[arg(long, env = "JAGSPEC_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Another issuer every authorization server trusts (repeatable): the issuer URL of
    /// `jagspec test as`'s IdP, to test the mock authorization servers with it.
    #[arg(long = "trust-issuer", value_name = "URL")]
    trust_issuers: Vec<String>,
    /// Every listener closes a connection whose request head has not arrived within this
    /// many seconds, and a keep-alive connection idle this long.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    header_timeout: Duration,
    /// Every listener answers a request whose body has not arrived whole within this many
    /// seconds of its head with its protocol's error, and closes the connection.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    body_timeout: Duration,
    /// Connections each listener holds at once; newcomers wait until one closes.
    #[arg(long, value_name = "N", default_value = "512",
          value_parser = clap::value_parser!(u16).range(1..))]
    max_connections: u16,
    /// On Ctrl-C or SIGTERM, how many seconds requests in flight may take to finish before
    /// their connections are closed.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = seconds)]
    shutdown_grace: Duration,
}

/// A number of seconds, fractions allowed, from 1 ms to one hour.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds (found `{text}`)"))?;
    if !(0.001..=3600.0).contains(&secs) {
        return Err(format!("expected 0.001 to 3600 seconds (found `{text}`)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let mut options = EcosystemOptions::default();
    if let Some(dir) = &args.mocks {
        options.mocks = EcosystemConfig::from_dir(dir)?;
    }
    if let Some(path) = &args.tenant {
        options.tenant = super::read_input(&path.display().to_string())?;
    }
    options.db = args.db.clone();
    options.port_base = args.port_base;
    options.admin_token = args.admin_token.clone().map(Secret::new);
    options.also_trusted_issuers = args.trust_issuers.clone();
    options.limits = ServeLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        max_connections: usize::from(args.max_connections),
        shutdown_grace: args.shutdown_grace,
        ..ServeLimits::default()
    };

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let started = std::time::Instant::now();
        let ecosystem = Ecosystem::start_with(options).await?;
        let elapsed = started.elapsed();
        out!("{}", describe(ecosystem.manifest()));
        for warning in ecosystem.warnings() {
            eprintln!("warning: {warning}");
        }
        if let Some(path) = &args.manifest {
            write_manifest(path, ecosystem.manifest())?;
            outln!("manifest: {} (holds the test credentials)", path.display());
        }
        outln!("ready in {} ms; Ctrl-C stops", elapsed.as_millis());
        wait_for_interrupt().await;
        ecosystem.stop().await;
        Ok::<_, CliError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The URLs, one party per line.
pub(crate) fn describe(m: &Manifest) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "issuer                {}", m.issuer.url);
    let _ = writeln!(out, "  admin API           {}", m.issuer.admin_url);
    for a in &m.authorization_servers {
        let _ = writeln!(
            out,
            "authorization server  {}  {:<13} verifies {}{}",
            a.issuer,
            a.name,
            a.alg,
            a.description
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
        for s in &a.mcp_servers {
            let _ = writeln!(
                out,
                "  MCP server          {}  {:<13} scopes {}",
                s.url,
                s.name,
                s.scopes.join(" ")
            );
        }
    }
    if let Some(sink) = &m.siem_sink {
        let _ = writeln!(out, "SIEM sink             {}", sink.url);
    }
    out
}

/// Writes the manifest readable by its owner only (it holds credentials), replacing any
/// previous one in one rename so a reader never sees half a file.
fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(manifest)?;
    crate::private_file::write_atomically(path, format!("{text}\n").as_bytes())
        .map_err(|e| CliError(format!("{}: {e}", path.display())))
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! `jagspec test`: the conformance suite against a target.

use super::CliError;
use super::style;
use crate::suite::{self, SuiteOptions, TagExpr, TargetSpec, report};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TargetArg {
    /// jagspec's own issuer and mock ecosystem, started in-process.
    Reference,
    /// Someone else's issuer, described by --profile (see examples/issuer-profile.toml).
    Issuer,
    /// Someone else's authorization server, with jagspec as its trusted IdP, described by
    /// --profile (see examples/as-profile.toml).
    As,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// What to test.
    #[arg(value_enum, default_value = "reference")]
    target: TargetArg,
    /// Only checks whose tags match, e.g. `@denial and not @should`.
    #[arg(long)]
    tags: Option<String>,
    /// Only checks whose id, feature or scenario contains this text.
    #[arg(long)]
    name: Option<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the JSON report (docs/report-schema.json) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print every selected check, with its requirement IDs and level, without running.
    #[arg(long)]
    list: bool,
    /// Checks run at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The profile of the issuer to test (with `issuer`).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Print each skipped check as it ends, with its reason, instead of one line per
    /// reason at the end (the reports list every check either way).
    #[arg(long)]
    show_skips: bool,
}

pub(crate) fn run(args: TestArgs) -> Result<ExitCode, CliError> {
    let tags = args
        .tags
        .as_deref()
        .map(TagExpr::parse)
        .transpose()
        .map_err(CliError)?;
    let mut options = SuiteOptions {
        tags,
        name: args.name.clone(),
        concurrency: args.concurrency,
    };
    if args.list {
        for c in suite::checks(&options)? {
            outln!(
                "{:<46} {:<6} [{}] {} — {}",
                c.id,
                format!("{:?}", c.level).to_lowercase(),
                c.requirements.join(" "),
                c.feature,
                c.scenario
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let spec = match (args.target, &args.profile) {
        (TargetArg::Reference, None) => TargetSpec::Reference,
        (TargetArg::Reference, Some(_)) => {
            return Err(CliError(
                "--profile describes an external target: write `jagspec test issuer --profile FILE`"
                    .into(),
            ));
        }
        (TargetArg::Issuer, None) => {
            return Err(CliError(
                "`jagspec test issuer` needs --profile FILE (see examples/issuer-profile.toml)"
                    .into(),
            ));
        }
        (TargetArg::Issuer, Some(path)) => {
            let profile = load_profile(path, &runtime)?;
            TargetSpec::Issuer(std::sync::Arc::new(profile))
        }
        (TargetArg::As, None) => {
            return Err(CliError(
                "`jagspec test as` needs --profile FILE (see examples/as-profile.toml)".into(),
            ));
        }
        (TargetArg::As, Some(path)) => {
            let spec = runtime.block_on(start_idp(path))?;
            // Only the authorization server's scenarios apply.
            let only_as = TagExpr::parse("@authorization-server").map_err(CliError)?;
            options.tags = Some(match options.tags.take() {
                Some(user) => TagExpr::parse(&format!("@authorization-server and ({user})"))
                    .map_err(CliError)?,
                None => only_as,
            });
            spec
        }
    };
    let show_skips = args.show_skips;
    let report = runtime.block_on(suite::run(&spec, &options, |c| {
        if show_skips || c.outcome != report::Outcome::Skip {
            outln!("{}", style::check_line(c.outcome, &report::console_line(c)));
        }
    }))?;
    if !show_skips && let Some(skips) = report.skip_summary() {
        outln!("{skips}");
    }
    outln!(
        "{}",
        style::summary_line(report.passed(), &report.summary_line())
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.to_junit())
            .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reads, checks and resolves a profile; every problem is printed with its fix.
fn load_profile(
    path: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<suite::IssuerProfile, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "jagspec".into());
    let explain = |e: suite::ProfileError| CliError(format!("{}: {e}", path.display()));
    let profile = suite::IssuerProfile::parse(&text, &exe).map_err(explain)?;
    // Reach every endpoint once before running, so a wrong URL is one clear error rather
    // than a failure in every check.
    runtime
        .block_on(profile.resolve("issuer"))
        .map_err(explain)?;
    Ok(profile)
}

/// Reads an `as` profile, starts jagspec's IdP with its kept keys, prints what the
/// authorization server must trust, and reaches the server's metadata once.
async fn start_idp(path: &std::path::Path) -> Result<TargetSpec, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let explain = |e: suite::ProfileError| CliError(format!("{}: {e}", path.display()));
    let profile = suite::AsProfile::parse(&text, base).map_err(explain)?;
    let keys = suite::idp::load_or_create_keys(&profile.keys_dir)?;
    let idp = suite::LocalIdp::start(&profile.listen, keys).await?;
    outln!(
        "jagspec IdP: issuer {} (JWKS {}/jwks, keys in {}); the authorization server must \
         trust this issuer",
        idp.issuer,
        idp.issuer,
        profile.keys_dir.display()
    );
    let target = std::sync::Arc::new(profile.resolve(&idp).await.map_err(explain)?);
    profile
        .preflight(&idp, target)
        .await
        .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    Ok(TargetSpec::AuthorizationServer {
        profile: std::sync::Arc::new(profile),
        idp: std::sync::Arc::new(idp),
    })
}

//! `jagspec test`: the conformance suite against a target.

use super::CliError;
use crate::suite::{self, SuiteOptions, TagExpr, TargetSpec, report};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TargetArg {
    /// jagspec's own issuer and mock ecosystem, started in-process (fresh for every check).
    Reference,
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
}

pub(crate) fn run(args: TestArgs) -> Result<ExitCode, CliError> {
    let tags = args
        .tags
        .as_deref()
        .map(TagExpr::parse)
        .transpose()
        .map_err(CliError)?;
    let options = SuiteOptions {
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
    let spec = match args.target {
        TargetArg::Reference => TargetSpec::Reference,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(suite::run(&spec, &options, |c| {
        outln!("{}", report::console_line(c));
    }))?;
    outln!("{}", report.summary_line());
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

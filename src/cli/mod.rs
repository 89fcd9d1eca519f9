//! The `jagspec` command line: a thin layer over the library.
//!
//! Exit codes are part of the contract scripts rely on: 0 success (for `inspect`: the
//! token is accepted), 1 `inspect` refused the token, 2 bad usage or input, 3 `inspect`
//! could not decide because no trusted JWKS was given.

/// `println!` that ends the process quietly when standard output is closed, as in
/// `jagspec demo | head`: a closed pipe is the reader's choice, never a panic.
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with [`outln!`]'s handling of a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

mod client;
mod demo;
mod doctor;
mod inspect;
mod keys;
mod logs;
mod mint;
mod serve;
mod sign_in;
mod style;
mod test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Conformance harness and mock ecosystem for enterprise-managed authorization of MCP
/// servers (ID-JAG, Cross App Access).
#[derive(Debug, Parser)]
#[command(name = "jagspec", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// How log lines (warnings and errors of the servers a command runs, on standard
    /// error) are written: `text`, or `json`, one object a line, for log collectors. The
    /// level comes from RUST_LOG (default `warn`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The log lines' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One human-readable line an event.
    Text,
    /// One JSON object a line (timestamp, level, message and fields at the top level).
    Json,
}

/// Starts the one log subscriber: standard error, the level from RUST_LOG (`warn` when it
/// is unset or invalid). Log lines carry what failed, never a token or secret: every
/// message logged is built from the same redacted errors the admin API shows.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let (filter, bad_filter) = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(f) => (f, None),
        Err(e) => (
            tracing_subscriber::EnvFilter::new("warn"),
            std::env::var("RUST_LOG").ok().map(|v| (v, e)),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some((value, e)) = bad_filter.filter(|(v, _)| !v.is_empty()) {
        tracing::warn!(rust_log = %value, error = %e, "RUST_LOG is not a valid filter; logging warnings");
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate signing keys and print JWKS documents.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Mint a signed token (by default an ID-JAG) from flags or a JSON claims file.
    Mint(mint::MintArgs),
    /// Decode a token, run every verification step and explain the verdict.
    ///
    /// Exit code 0 when the token is accepted, 1 when refused, 2 on bad input, 3 when no
    /// --jwks was given so the signature could not be checked.
    Inspect(inspect::InspectArgs),
    /// Run the reference MCP client's whole chain against an MCP server (discovery, token
    /// exchange, jwt-bearer grant, initialize, tools) and print every hop.
    ///
    /// Exit code 0 when the chain completed, 1 when a hop failed, 2 on bad input.
    Client(client::ClientArgs),
    /// Start the reference issuer and the mock ecosystem (authorization servers, MCP
    /// servers, SIEM sink) on loopback, print the URLs, write the manifest, and stay up
    /// until interrupted.
    Serve(serve::ServeArgs),
    /// Run the whole chain on the embedded ecosystem: a granted chain per signing
    /// algorithm, then each documented denial and rejection with its status detail and
    /// audit record. Exit code 0 only when every scene ends as the seeds document.
    Demo(demo::DemoArgs),
    /// Run the conformance suite (the embedded Gherkin features) against a target.
    ///
    /// Exit code 0 when no required check failed (warnings and skips do not fail), 1
    /// otherwise, 2 on bad input.
    Test(test::TestArgs),
    /// Print an ID token for a test user from jagspec's reference issuer (its test-only
    /// password grant): a subject token for `jagspec test issuer` profiles.
    ///
    /// Exit code 0 with the token on standard output, 1 when the issuer refuses, 2 on bad
    /// input.
    SignIn(sign_in::SignInArgs),
    /// Diagnose the seeds' troubleshooting cases on a real chain (audience not registered
    /// or not the authorization server's issuer, target URL not in the resource URLs,
    /// signature-algorithm mismatch) and print the fix in the seeds' words.
    ///
    /// Exit code 0 when the chain works, 1 when a problem is found, 2 on bad input.
    Doctor(doctor::DoctorArgs),
    /// Read the reference issuer's system log through its admin API: events filtered by
    /// time, user, client, system, outcome, status detail or request, as a table, JSON,
    /// NDJSON or CSV.
    ///
    /// Exit code 0 when the events were printed, 1 when the admin API failed or refused the
    /// token, 2 on bad input (including a filter the API rejects).
    Logs(logs::LogsArgs),
}

/// A command's failure: printed as `error: …`, exit code 2.
#[derive(Debug)]
pub(crate) struct CliError(pub(crate) String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

/// Runs the command line with the process arguments; returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let outcome = match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
        Command::Mint(args) => mint::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Client(args) => client::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Test(args) => test::run(args),
        Command::SignIn(args) => sign_in::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Logs(args) => logs::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Writes to standard output; a closed pipe ends the process with exit code 0 (the reader
/// stopped reading on purpose), any other failure with exit code 2.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // Styles are kept only on a terminal that wants them (cli::style).
    let mut stdout = anstream::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(2);
    }
}

/// Reads a file, or standard input for `-`.
pub(crate) fn read_input(path: &str) -> Result<String, CliError> {
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError(format!("standard input: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError(format!("{path}: {e}")))
    }
}

/// Parses `NAME=VALUE`, the value as JSON when it is valid JSON, else as a string.
pub(crate) fn name_value(text: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE (found `{text}`)"))?;
    if name.is_empty() {
        return Err(format!("expected a name before `=` (found `{text}`)"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::from(value));
    Ok((name.to_owned(), value))
}

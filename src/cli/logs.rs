//! `jagspec logs`: the reference issuer's system log, read through its admin API
//! (`GET /admin/audit-events`), filtered and paged, printed as a table, JSON, NDJSON or CSV.
//! The CSV and NDJSON are written by the same code as the API's export, so the two match.
//! `jagspec logs --exporters` shows the system-log exporters instead (`GET
//! /admin/exporters`): how far each has got, and why its last delivery failed.

use super::CliError;
use crate::audit::{AuditEvent, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, export, rfc3339};
use crate::http::ReadError;
use crate::http::admin::{AdminClient, AdminError};
use crate::mocks::Manifest;
use crate::types::Secret;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Read the admin API's URL and token from this manifest of `jagspec serve`.
    #[arg(long, value_name = "PATH", conflicts_with = "admin_url")]
    manifest: Option<PathBuf>,
    /// The admin API's base URL (the manifest's `issuer.admin_url`, ending in `/admin`).
    /// Only loopback or https: the token travels with every request.
    #[arg(long, value_name = "URL", required_unless_present = "manifest")]
    admin_url: Option<String>,
    /// The admin API's bearer token (with --admin-url; --manifest brings its own).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "JAGSPEC_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Events at or after this time: RFC 3339 (`2027-01-15T08:00:00Z`), a date
    /// (`2027-01-15`, midnight UTC) or Unix milliseconds.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events before this time (exclusive), in the forms of --since.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Events of this user (`sub`).
    #[arg(long)]
    user: Option<String>,
    /// Events of this client (its id at the issuer).
    #[arg(long)]
    client: Option<String>,
    /// Events for this system (the requested audience).
    #[arg(long)]
    system: Option<String>,
    /// Granted or denied events only.
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,
    /// Events with exactly this status detail, e.g. "No grant for the scope".
    #[arg(long, value_name = "TEXT")]
    status_detail: Option<String>,
    /// The events of one token request (its response's `x-request-id`).
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// Events per page, 1 to 1000.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE as u16,
          value_parser = clap::value_parser!(u16).range(1..=MAX_PAGE_SIZE as i64))]
    limit: u16,
    /// Start after this cursor (printed when more events follow a page).
    #[arg(long)]
    cursor: Option<String>,
    /// Read every page, not just the first.
    #[arg(long)]
    all: bool,
    /// How to print the events (or, with --exporters, the exporters: `table` or `json`).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Show the system-log exporters' status (lag, last success, last error) instead of
    /// events.
    #[arg(long, conflicts_with_all = [
        "since", "until", "user", "client", "system", "outcome", "status_detail",
        "request_id", "cursor", "all", "limit",
    ])]
    exporters: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutcomeArg {
    Granted,
    Denied,
}

/// How `jagspec logs` prints events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One aligned line per event, for people.
    Table,
    /// One JSON array of events (the admin API's shape).
    Json,
    /// One JSON event per line.
    Ndjson,
    /// CSV with a header row (the export's columns).
    Csv,
}

pub(crate) fn run(args: LogsArgs) -> Result<ExitCode, CliError> {
    let admin = admin(&args)?;
    if args.exporters {
        return exporters(&admin, args.format);
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, time) in [("since", &args.since), ("until", &args.until)] {
        if let Some(text) = time {
            let ms = parse_time(text).map_err(|e| CliError(format!("--{name} `{text}`: {e}")))?;
            query.append_pair(name, &ms.to_string());
        }
    }
    let outcome = args.outcome.map(|o| match o {
        OutcomeArg::Granted => "granted".to_owned(),
        OutcomeArg::Denied => "denied".to_owned(),
    });
    for (name, value) in [
        ("user", &args.user),
        ("client", &args.client),
        ("system", &args.system),
        ("outcome", &outcome),
        ("status_detail", &args.status_detail),
        ("request_id", &args.request_id),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.append_pair("limit", &args.limit.to_string());
    let query = query.finish();

    let runtime = tokio::runtime::Runtime::new()?;
    let mut printer = Printer::new(args.format);
    let mut cursor = args.cursor.clone();
    loop {
        let page_query = match &cursor {
            Some(c) => format!(
                "{query}&{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("cursor", c)
                    .finish()
            ),
            None => query.clone(),
        };
        let page = match runtime.block_on(admin.audit_events(&page_query, MAX_PAGE_BYTES)) {
            Ok(page) => page,
            // The API refused the query: bad input, exit 2.
            Err(e @ AdminError::Refused { status: 400, .. }) => {
                return Err(CliError(e.to_string()));
            }
            Err(
                e @ AdminError::Read {
                    error: ReadError::TooLarge { .. },
                    ..
                },
            ) => {
                eprintln!("error: {e}; a smaller --limit asks for fewer events a page");
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        printer.page(&page.events);
        match page.next_cursor {
            Some(next) if args.all => {
                if cursor.as_deref() == Some(next.as_str()) {
                    eprintln!("error: the admin API returned the same cursor twice ({next})");
                    return Ok(ExitCode::FAILURE);
                }
                cursor = Some(next);
            }
            Some(next) => {
                printer.finish();
                eprintln!(
                    "more events follow: --all reads every page, --cursor {next} the next one"
                );
                return Ok(ExitCode::SUCCESS);
            }
            None => break,
        }
    }
    printer.finish();
    Ok(ExitCode::SUCCESS)
}

/// `--exporters`: `GET /admin/exporters`, as a table or the API's JSON.
fn exporters(admin: &AdminClient, format: Format) -> Result<ExitCode, CliError> {
    if matches!(format, Format::Ndjson | Format::Csv) {
        return Err(CliError(
            "--exporters prints `--format table` or `--format json`".into(),
        ));
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let list = match runtime.block_on(admin.exporters(MAX_EXPORTERS_BYTES)) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&list)?),
        _ if list.is_empty() => eprintln!("no exporters"),
        _ => out!("{}", exporters_table(&list)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The exporters table's columns.
const EXPORTER_COLUMNS: [&str; 7] = [
    "NAME",
    "KIND",
    "TARGET",
    "LAG",
    "LAST SUCCESS (UTC)",
    "FAILURES",
    "LAST ERROR",
];

/// One line per exporter; the last column (the error) is not padded.
fn exporters_table(list: &[serde_json::Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => cell(s),
                serde_json::Value::Null => "-".to_owned(),
                other => cell(&other.to_string()),
            };
            let time = |v: &serde_json::Value| {
                v.as_i64()
                    .map_or_else(|| "never".to_owned(), rfc3339::format_ms_spaced)
            };
            vec![
                text(&e["name"]),
                text(&e["kind"]),
                text(&e["target"]),
                text(&e["lag"]),
                time(&e["last_success_ms"]),
                text(&e["consecutive_failures"]),
                text(&e["last_error"]),
            ]
        })
        .collect();
    aligned(&EXPORTER_COLUMNS, &rows)
}

/// The admin API's base URL and token, from the manifest or the flags.
/// The admin API the arguments name, by manifest or by URL and token. The token travels
/// with every request: only over https or to loopback (the URL policy), and never after
/// a redirect (the one HTTP layer's client).
fn admin(args: &LogsArgs) -> Result<AdminClient, CliError> {
    let (url, token) = admin_access(args)?;
    AdminClient::new(
        crate::http::client(std::time::Duration::from_secs(30)),
        &url,
        Secret::new(token),
    )
    .map_err(|e| CliError(format!("the admin URL {e}")))
}

fn admin_access(args: &LogsArgs) -> Result<(String, String), CliError> {
    if let Some(path) = &args.manifest {
        let text = super::read_input(&path.display().to_string())?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            CliError(format!(
                "{}: not a manifest of `jagspec serve`: {e}",
                path.display()
            ))
        })?;
        return Ok((
            manifest.issuer.admin_url,
            manifest.issuer.admin_token.secret().to_owned(),
        ));
    }
    let url = args
        .admin_url
        .clone()
        .ok_or_else(|| CliError("give --manifest or --admin-url".into()))?;
    let token = args
        .admin_token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            CliError("--admin-url needs --admin-token (or JAGSPEC_ADMIN_TOKEN)".into())
        })?;
    Ok((url, token))
}

/// Unix milliseconds (an optionally signed integer), or RFC 3339 / a full date.
fn parse_time(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| "milliseconds out of range".to_owned());
    }
    rfc3339::parse_ms(text).map_err(|e| {
        format!("{e}; expected RFC 3339 (2027-01-15T08:00:00Z), a date or Unix milliseconds")
    })
}

/// The most `jagspec logs` reads of one page of events: a page holds at most
/// [`MAX_PAGE_SIZE`] (1000) events, a few hundred bytes each as a rule.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// The most `jagspec logs --exporters` reads of the exporters' list.
const MAX_EXPORTERS_BYTES: usize = 1024 * 1024;

/// Prints pages as they come (NDJSON, CSV) or keeps them until the end (a table is
/// aligned over every event; JSON is one array).
struct Printer {
    format: Format,
    kept: Vec<AuditEvent>,
    header_done: bool,
}

impl Printer {
    fn new(format: Format) -> Self {
        Self {
            format,
            kept: Vec::new(),
            header_done: false,
        }
    }

    fn page(&mut self, events: &[AuditEvent]) {
        let mut out = Vec::new();
        match self.format {
            Format::Table | Format::Json => self.kept.extend_from_slice(events),
            Format::Ndjson => {
                for event in events {
                    export::ndjson_line(&mut out, event);
                }
            }
            Format::Csv => {
                if !self.header_done {
                    export::csv_header(&mut out);
                    self.header_done = true;
                }
                for event in events {
                    export::csv_row(&mut out, event);
                }
            }
        }
        if !out.is_empty() {
            out!("{}", String::from_utf8_lossy(&out));
        }
    }

    fn finish(&mut self) {
        match self.format {
            Format::Table => {
                if self.kept.is_empty() {
                    eprintln!("no events");
                } else {
                    out!("{}", table(&self.kept));
                }
            }
            Format::Json => match serde_json::to_string_pretty(&self.kept) {
                Ok(text) => outln!("{text}"),
                Err(e) => eprintln!("error: encoding the events: {e}"),
            },
            Format::Csv if !self.header_done => {
                let mut out = Vec::new();
                export::csv_header(&mut out);
                out!("{}", String::from_utf8_lossy(&out));
            }
            Format::Ndjson | Format::Csv => {}
        }
    }
}

/// The table's columns.
const TABLE_COLUMNS: [&str; 7] = [
    "TIME (UTC)",
    "OUTCOME",
    "USER",
    "CLIENT",
    "SYSTEM",
    "STATUS DETAIL",
    "SCOPES",
];

/// One line per event, columns aligned; the last column (scopes) is not padded.
fn table(events: &[AuditEvent]) -> String {
    let rows: Vec<[String; 7]> = events
        .iter()
        .map(|e| {
            let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), cell);
            let scopes = e
                .scopes
                .iter()
                .map(|s| format!("{}:{}", s.scope, s.outcome.as_str()))
                .collect::<Vec<_>>()
                .join(" ");
            [
                rfc3339::format_ms_spaced(e.time_ms),
                e.outcome.as_str().to_owned(),
                opt(&e.user),
                opt(&e.client),
                opt(&e.system),
                cell(&e.status_detail),
                if scopes.is_empty() {
                    "-".to_owned()
                } else {
                    cell(&scopes)
                },
            ]
        })
        .collect();
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    aligned(&TABLE_COLUMNS, &rows)
}

/// `header` and `rows` with columns aligned by two spaces; the last column is not padded.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, value) in widths.iter_mut().zip(row) {
            *w = (*w).max(value.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |values: &[&str]| {
        let last = values.len() - 1;
        let mut text = String::new();
        for (i, (value, width)) in values.iter().zip(&widths).enumerate() {
            text.push_str(value);
            if i != last {
                let pad = width - value.chars().count();
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// A value as a table cell: control characters (a requester may send any) escaped so that
/// nothing reaches the terminal as a control sequence, at most 80 characters.
fn cell(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| {
            let escape = c
                .is_control()
                .then(|| c.escape_default().collect::<String>());
            escape
                .unwrap_or_else(|| c.to_string())
                .chars()
                .collect::<Vec<_>>()
        })
        .collect();
    if escaped.chars().count() <= 80 {
        escaped
    } else {
        format!("{}…", escaped.chars().take(79).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, ScopeOutcome, ScopeVerdict};

    /// `jagspec logs` with these arguments, as clap parses them.
    fn parse(args: &[&str]) -> Result<clap::ArgMatches, clap::Error> {
        let command = <LogsArgs as Args>::augment_args(clap::Command::new("logs"));
        let base = ["logs", "--admin-url", "http://127.0.0.1:9/admin"];
        command.try_get_matches_from(base.iter().chain(args))
    }

    #[test]
    fn exporters_refuses_the_event_flags_limit_among_them_but_not_its_default() {
        let matches = parse(&["--exporters"]).unwrap();
        assert!(matches.get_flag("exporters"));
        assert_eq!(
            matches.value_source("limit"),
            Some(clap::parser::ValueSource::DefaultValue)
        );
        parse(&["--exporters", "--format", "json"]).unwrap();
        for flag in [&["--limit", "5"][..], &["--all"], &["--user", "alice"]] {
            let args: Vec<&str> = ["--exporters"].iter().chain(flag).copied().collect();
            let error = parse(&args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}: {error}"
            );
        }
        parse(&["--limit", "5"]).unwrap();
    }

    #[test]
    fn times_are_milliseconds_rfc_3339_or_dates() {
        assert_eq!(parse_time("1800000000000"), Ok(1_800_000_000_000));
        assert_eq!(parse_time("-5"), Ok(-5));
        assert_eq!(parse_time("2027-01-15T08:00:00Z"), Ok(1_800_000_000_000));
        assert_eq!(parse_time("2027-01-15"), Ok(1_799_971_200_000));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("99999999999999999999").is_err());
        assert!(parse_time("-").is_err());
    }

    #[test]
    fn the_table_aligns_columns_and_escapes_control_characters() {
        let events = [
            AuditEvent {
                time_ms: 1_800_000_000_000,
                outcome: Outcome::Granted,
                status_detail: "Granted".into(),
                user: Some("alice".into()),
                client: Some("agent".into()),
                system: Some("https://as.chat.example".into()),
                scopes: vec![ScopeOutcome {
                    scope: "chat.read".into(),
                    outcome: ScopeVerdict::Granted,
                    reason: None,
                }],
                ..AuditEvent::default()
            },
            AuditEvent {
                time_ms: 1_800_000_001_500,
                status_detail: "Audience not registered".into(),
                system: Some("https://x\u{1b}[31m".into()),
                ..AuditEvent::default()
            },
        ];
        let text = table(&events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "TIME (UTC)                OUTCOME  USER   CLIENT  SYSTEM                   STATUS DETAIL            SCOPES",
                "2027-01-15 08:00:00.000Z  granted  alice  agent   https://as.chat.example  Granted                  chat.read:granted",
                "2027-01-15 08:00:01.500Z  denied   -      -       https://x\\u{1b}[31m      Audience not registered  -",
            ]
        );
    }

    #[test]
    fn the_exporters_table_shows_lag_last_success_failures_and_the_last_error() {
        let list = serde_json::json!([
            {"name": "siem", "kind": "http", "target": "https://siem.example/in", "lag": 0,
             "last_success_ms": 1_800_000_000_000_i64, "consecutive_failures": 0,
             "last_error": null},
            {"name": "archive", "kind": "file", "target": "/var/log/jag.ndjson", "lag": 12,
             "last_success_ms": null, "consecutive_failures": 3,
             "last_error": "cannot open /var/log/jag.ndjson: Permission denied"},
        ]);
        let text = exporters_table(list.as_array().unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME     KIND  TARGET                   LAG  LAST SUCCESS (UTC)        FAILURES  LAST ERROR",
                "siem     http  https://siem.example/in  0    2027-01-15 08:00:00.000Z  0         -",
                "archive  file  /var/log/jag.ndjson      12   never                     3         cannot open /var/log/jag.ndjson: Permission denied",
            ]
        );
    }
}

//! `jagspec inspect`: decode a token, run every step of the pipeline, explain the verdict.

use super::{CliError, name_value, read_input};
use crate::jose::{
    Alg, AlgSet, FixedClock, ID_JAG_TYP, Inspection, MAX_SKEW_SECS, SystemClock, TrustedJwks,
    Verdict, Verifier,
};
use clap::Args;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;

/// The most a JWKS document may weigh when fetched or read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jagspec inspect --jwks fixtures/keys/jwks.json --issuer https://idp.example \\\n      \
    --audience https://as.example --alg ES256 eyJhbGciOi...\n  \
    jagspec mint --alg EdDSA --sub alice | jagspec inspect --jwks https://idp.example/jwks -\n\n\
    Exit codes: 0 accepted, 1 refused, 2 bad input, 3 not verifiable (no --jwks).")]
pub(crate) struct InspectArgs {
    /// The token, or `-` (the default) to read it from standard input.
    #[arg(default_value = "-")]
    token: String,
    /// The trusted JWKS: an http(s) URL or a JSON file. Without it the signature is not
    /// checked and the verdict is "not verifiable" (exit code 3).
    #[arg(long, value_name = "URL|FILE")]
    jwks: Option<String>,
    /// Allowed algorithm; repeat to allow several (default: EdDSA, RS256, ES256). One value
    /// pins the verifier, as an authorization server that verifies one algorithm.
    #[arg(long)]
    alg: Vec<Alg>,
    /// The trusted issuer: `iss` must equal it exactly.
    #[arg(long)]
    issuer: Option<String>,
    /// This authorization server's issuer: `aud` must be it (a string or one-element array).
    #[arg(long)]
    audience: Option<String>,
    /// The required `typ`, compared per RFC 7515 §4.1.9.
    #[arg(long, default_value = ID_JAG_TYP)]
    typ: String,
    /// Accept any `typ` (or none).
    #[arg(long, conflicts_with = "typ")]
    any_typ: bool,
    /// Only `exp` is required, instead of every ID-JAG claim (iss, sub, aud, client_id, jti,
    /// exp, iat).
    #[arg(long)]
    no_id_jag_claims: bool,
    /// A claim that must have this value, NAME=VALUE (JSON if it parses), e.g.
    /// client_id=agent. Repeatable.
    #[arg(long = "expect-claim", value_name = "NAME=VALUE", value_parser = name_value)]
    expect_claims: Vec<(String, Value)>,
    /// The time to verify at, Unix seconds (default: now).
    #[arg(long, allow_hyphen_values = true)]
    now: Option<i64>,
    /// Allowed clock skew in seconds.
    #[arg(long, default_value_t = crate::jose::DEFAULT_SKEW_SECS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_SKEW_SECS))]
    skew: u64,
    /// Refuse tokens whose exp - iat exceeds this many seconds.
    #[arg(long)]
    max_lifetime: Option<u64>,
    /// Print the inspection as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: InspectArgs) -> Result<ExitCode, CliError> {
    let token = if args.token == "-" {
        read_input("-")?
    } else {
        args.token.clone()
    };
    let token = token.trim();
    let (trusted, source) = match &args.jwks {
        Some(src) => (Some(load_jwks(src)?), src.clone()),
        None => (None, "none".to_owned()),
    };
    let mut verifier = Verifier::new(trusted.clone().unwrap_or_default())
        .allow_algs(if args.alg.is_empty() {
            AlgSet::ALL
        } else {
            args.alg.iter().copied().collect()
        })
        .skew(args.skew);
    if !args.no_id_jag_claims {
        for claim in crate::jose::ID_JAG_REQUIRED_CLAIMS {
            verifier = verifier.require_claim(claim);
        }
    }
    verifier = if args.any_typ {
        verifier.any_typ()
    } else {
        verifier.require_typ(&args.typ)
    };
    if let Some(now) = args.now {
        verifier = verifier.clock(Arc::new(FixedClock::at(now)));
    } else {
        verifier = verifier.clock(Arc::new(SystemClock));
    }
    if let Some(issuer) = &args.issuer {
        verifier = verifier.issuer(issuer);
    }
    if let Some(audience) = &args.audience {
        verifier = verifier.audience(audience);
    }
    if let Some(max) = args.max_lifetime {
        verifier = verifier.max_lifetime(max);
    }
    for (name, value) in args.expect_claims.clone() {
        verifier = verifier.expect_claim(name, value);
    }
    let inspection = if trusted.is_some() {
        verifier.inspect(token)
    } else {
        verifier.inspect_without_signature(token)
    };
    let outcome = Outcome::of(&inspection);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&as_json(&inspection, outcome)).unwrap_or_default()
        );
    } else {
        print_console(
            &inspection,
            outcome,
            &source,
            &verifier_summary(&args, trusted.as_ref()),
        );
    }
    Ok(outcome.exit_code())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
    Unverified,
}

impl Outcome {
    fn of(inspection: &Inspection) -> Self {
        match (&inspection.result, inspection.signature_checked) {
            (Err(_), _) => Self::Refused,
            (Ok(_), true) => Self::Accepted,
            (Ok(_), false) => Self::Unverified,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Unverified => "not verifiable",
        }
    }

    fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Accepted => 0,
            Self::Refused => 1,
            Self::Unverified => 3,
        })
    }
}

fn load_jwks(src: &str) -> Result<TrustedJwks, CliError> {
    let bytes = if src.starts_with("http://") || src.starts_with("https://") {
        fetch(src)?
    } else {
        let bytes = std::fs::read(src).map_err(|e| CliError(format!("{src}: {e}")))?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(CliError(format!(
                "{src}: larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        bytes
    };
    TrustedJwks::from_json(&bytes).map_err(|e| CliError(format!("{src}: {e}")))
}

fn fetch(url: &str) -> Result<Vec<u8>, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError(format!("cannot start the HTTP client: {e}")))?;
    runtime.block_on(async {
        let client = crate::http::client(std::time::Duration::from_secs(10));
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| CliError(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(CliError(format!("GET {url}: HTTP {}", response.status())));
        }
        crate::http::read_capped(&mut response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| CliError(format!("GET {url}: {e}")))
    })
}

fn verifier_summary(args: &InspectArgs, trusted: Option<&TrustedJwks>) -> String {
    let algs: AlgSet = if args.alg.is_empty() {
        AlgSet::ALL
    } else {
        args.alg.iter().copied().collect()
    };
    let mut parts = vec![format!("alg {algs}")];
    parts.push(if args.any_typ {
        "any typ".to_owned()
    } else {
        format!("typ {}", args.typ)
    });
    if let Some(t) = trusted {
        parts.push(format!("{} trusted keys", t.len()));
    }
    if let Some(i) = &args.issuer {
        parts.push(format!("issuer {i}"));
    }
    if let Some(a) = &args.audience {
        parts.push(format!("audience {a}"));
    }
    parts.push(match args.now {
        Some(n) => format!("now {n}"),
        None => "now (system clock)".to_owned(),
    });
    parts.push(format!("skew {}s", args.skew));
    parts.join(", ")
}

fn print_console(inspection: &Inspection, outcome: Outcome, source: &str, summary: &str) {
    let pretty = |v: &Option<Value>| match v {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => "(does not decode)".to_owned(),
    };
    outln!(
        "Header (unverified):\n{}",
        indent(&pretty(&inspection.header))
    );
    outln!(
        "Claims (unverified):\n{}",
        indent(&pretty(&inspection.claims))
    );
    outln!();
    outln!("Verification against JWKS {source}");
    outln!("  ({summary})");
    for report in &inspection.steps {
        let title = format!("{:>2}. {}", report.step.number(), report.step.title());
        match &report.verdict {
            Verdict::Pass(detail) => outln!("  {title:<32} pass  {detail}"),
            Verdict::Skipped(why) => outln!("  {title:<32} skip  {why}"),
            Verdict::NotReached => outln!("  {title:<32} -     not reached"),
            Verdict::Fail(r) => {
                outln!("  {title:<32} FAIL  {r}");
                outln!("  {:<32}       [{}; {}]", "", r.code(), report.step.spec());
            }
        }
    }
    outln!();
    match (&inspection.result, outcome) {
        (Err(r), _) => {
            outln!(
                "REFUSED at step {} ({}): {r}",
                r.step().number(),
                r.step().title()
            );
            outln!(
                "An authorization server answers HTTP 400 {{\"error\":\"{}\"}} (RFC 7523 §3.1).",
                r.oauth_error()
            );
        }
        (Ok(_), Outcome::Unverified) => {
            outln!("NOT VERIFIABLE: every other step passed, but the signature was not checked.");
            outln!("Give --jwks URL|FILE with the issuer's keys to decide.");
        }
        (Ok(v), _) => outln!(
            "ACCEPTED: {} signature by `{}`; every step passed.",
            v.alg,
            v.kid.as_ref().map_or("", |k| k.as_str())
        ),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn as_json(inspection: &Inspection, outcome: Outcome) -> Value {
    let steps: Vec<Value> = inspection
        .steps
        .iter()
        .map(|r| {
            let (verdict, detail) = match &r.verdict {
                Verdict::Pass(d) => ("pass", Value::from(d.as_str())),
                Verdict::Skipped(d) => ("skip", Value::from(d.as_str())),
                Verdict::NotReached => ("not_reached", Value::Null),
                Verdict::Fail(rej) => ("fail", Value::from(rej.to_string())),
            };
            json!({
                "number": r.step.number(),
                "step": r.step.title(),
                "spec": r.step.spec(),
                "verdict": verdict,
                "detail": detail,
            })
        })
        .collect();
    let rejection = inspection.result.as_ref().err().map(|r| {
        json!({
            "code": r.code(),
            "message": r.to_string(),
            "step": r.step().number(),
            "oauth_error": r.oauth_error(),
        })
    });
    json!({
        "verdict": outcome.label(),
        "header": inspection.header,
        "claims": inspection.claims,
        "steps": steps,
        "rejection": rejection,
    })
}

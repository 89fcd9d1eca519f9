//! The conformance suite: the Gherkin scenarios of `features/`, run against a target over
//! HTTP, graded and reported.
//!
//! * [`plan`]: the embedded feature files turned into [`Check`]s (outlines expanded, tags
//!   read as requirement IDs and levels), and tag expressions.
//! * `steps` (private): the step library, every sentence the features may use, one
//!   module per domain, each step a function carrying its sentence (`#[step("…")]`).
//! * [`target`]: what the suite talks to; [`TargetSpec::Reference`] is jagspec's own
//!   ecosystem (read-only checks share one; a check that changes it gets its own), and
//!   [`TargetSpec::Issuer`] someone else's issuer.
//! * [`profile`]: the TOML profile that describes someone else's issuer, checked whole.
//! * [`report`]: one report model; console lines, JSON and JUnit are renderings of it.
//!
//! ```no_run
//! # async fn example() -> Result<(), jagspec::suite::SuiteError> {
//! use jagspec::suite::{SuiteOptions, TargetSpec, run};
//! let report = run(&TargetSpec::Reference, &SuiteOptions::default(), |_| {}).await?;
//! assert!(report.passed());
//! # Ok(()) }
//! ```

pub mod doctor;
mod http;
pub mod idp;
pub mod plan;
pub mod profile;
pub mod report;
pub mod role;
mod spec;
mod steps;
pub mod target;

pub use idp::LocalIdp;
pub use plan::{Check, FEATURES, PlanError, TagExpr};
pub use profile::{AsProfile, IssuerProfile, ProfileError, ProfileProblem};
pub use report::{CheckResult, Exchange, Finding, Level, Outcome, Report, Summary};
pub use role::{RoleName, ServerRole};
pub use spec::{ProvisionError, TargetSpec};
pub use target::Target;

use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The spec clauses each requirement ID cites (docs/requirements.md; docs/positions.md for
/// the D numbers).
pub const CLAUSES: [(&str, &str); 73] = [
    ("IDP-01", "ID-JAG §4.3 (audience)"),
    (
        "IDP-03",
        "ID-JAG §4.3 (subject_token: identity assertions MUST be accepted)",
    ),
    ("IDP-05", "ID-JAG §4.3.3 (subject token validation)"),
    ("IDP-11", "ID-JAG §4.3.3; RFC 8707 §2"),
    (
        "IDP-15",
        "ID-JAG §4.3.3 (granted resource and scope in the ID-JAG)",
    ),
    (
        "IDP-17",
        "ID-JAG §4.3.4; RFC 8693 §2.2.1 (scope when it differs)",
    ),
    ("IDP-18", "ID-JAG §4.3.4 (expires_in RECOMMENDED)"),
    ("IDP-23", "ID-JAG §3.1, §5 (sub)"),
    (
        "IDP-06",
        "ID-JAG §4.3.3; EMA-draft §4.1 (subject audience = client)",
    ),
    ("IDP-28", "EMA §7.4.2 (short-lived)"),
    ("IDP-30", "EMA §7.7; RFC 6749 §2.3.1, §5.2"),
    (
        "CLI-05",
        "ID-JAG §4.3; RFC 8693 §2.1 (requested_token_type)",
    ),
    (
        "D1",
        "jagspec position D1 (docs/positions.md): invalid subject token → invalid_grant",
    ),
    ("IDP-10", "ID-JAG §4.3.3; EMA §4.1, §7.2"),
    ("IDP-12", "EMA §7.6.1; RFC 8693 §2.2.2 (invalid_target)"),
    ("IDP-13", "ID-JAG §4.3.3; RFC 6749 §3.3"),
    ("IDP-16", "ID-JAG §4.3.4; RFC 8693 §2.2.1"),
    ("IDP-19", "ID-JAG §4.3.4"),
    ("IDP-20", "ID-JAG §3.1; RFC 8725 §3.11"),
    ("IDP-21", "ID-JAG §3.1"),
    ("IDP-29", "EMA §7.4.1; RFC 7517 §5"),
    ("AS-05", "ID-JAG §4.4.1; RFC 7521 §5.2"),
    ("AS-06", "ID-JAG §4.4.1; RFC 8725 §3.11–3.12"),
    ("AS-08", "ID-JAG §4.1; RFC 7523 §3 item 1"),
    ("AS-09", "ID-JAG §4.4.1; EMA §7.6.2"),
    ("AS-10", "ID-JAG §4.4.1 (client_id)"),
    ("AS-14", "EMA §7.4.1; RFC 7523 §3 items 5–6"),
    ("AS-18", "EMA §7.6.2"),
    ("AS-21", "EMA §7.6.2 (scope registered for the resource)"),
    (
        "D3",
        "jagspec position D3 (docs/positions.md): foreign resource → invalid_grant",
    ),
    (
        "D10",
        "jagspec position D10 (docs/positions.md): aud exact, string or one-element array",
    ),
    ("AS-07", "EMA §7.4.1; RFC 7523 §3 item 9; RFC 8725 §3.1"),
    ("AS-13", "RFC 7523 §3 item 4; EMA §7.4.2"),
    ("AS-15", "EMA §7.4.2"),
    ("AS-24", "ID-JAG §4.4.4"),
    ("AS-25", "RFC 6749 §5.1; ID-JAG §4.4.2"),
    (
        "D2",
        "jagspec position D2 (docs/positions.md): `resource` omitted",
    ),
    (
        "IDP-26",
        "ID-JAG §9.6; EMA §7.4.3, §7.8 (minimise identifiers)",
    ),
    ("IDP-32", "ID-JAG §9.3 (no access token for its own ID-JAG)"),
    ("AS-11", "ID-JAG §4.4; RFC 7523 §3.1; RFC 6749 §2.3, §5.2"),
    ("AS-17", "ID-JAG §4.4.1; RFC 8707 §2 (resource claim)"),
    ("AS-19", "EMA §5.1 (access token for the ID-JAG's resource)"),
    ("AS-20", "ID-JAG §4.4.1; EMA §7.2.1; RFC 6749 §3.3"),
    ("AS-23", "ID-JAG §4.4.1 (scope, resource in the response)"),
    ("AS-31", "EMA §7.4.1 (select keys by kid)"),
    ("RS-03", "MCP authorization (token handling); EMA §7.5.4"),
    (
        "D5",
        "jagspec position D5 (docs/positions.md): granted = ID-JAG scopes ∩ requested",
    ),
    (
        "D7",
        "jagspec position D7 (docs/positions.md): no PII unless the server needs it",
    ),
    (
        "D17",
        "jagspec position D17 (docs/positions.md): a differing `resource` parameter → invalid_target",
    ),
    (
        "D19",
        "jagspec position D19 (docs/positions.md): a multi-valued `resource` is refused",
    ),
    (
        "D4",
        "jagspec position D4 (docs/positions.md): a re-used ID-JAG is refused (EMA replay rule)",
    ),
    (
        "D6",
        "jagspec position D6 (docs/positions.md): confidential clients only",
    ),
    (
        "D11",
        "jagspec position D11 (docs/positions.md): token_type N_A exactly",
    ),
    (
        "D12",
        "jagspec position D12 (docs/positions.md): the reference's denial table fixes each error",
    ),
    (
        "SEED-denial-no-grant",
        "audit-mcp-token-requests: Read a denial — \"No grant for the scope\"",
    ),
    (
        "SEED-denial-scope-not-enabled",
        "audit-mcp-token-requests: Read a denial — \"Scope not enabled\"",
    ),
    (
        "SEED-denial-server-paused",
        "audit-mcp-token-requests: Read a denial — \"Server paused\"; register: Pause an MCP server",
    ),
    (
        "SEED-denial-target-url",
        "audit-mcp-token-requests: Read a denial — \"Target URL not registered\"; register: Add the Resource URIs",
    ),
    (
        "SEED-denial-no-key",
        "audit-mcp-token-requests: Read a denial — \"No signing key for the algorithm\"; register: Signing algorithm",
    ),
    (
        "SEED-tenant-disabled",
        "register: the Cross-App Access tab appears only once enterprise-managed authorization is enabled; the seeds' tenant rules",
    ),
    (
        "SEED-audience-not-tenant",
        "register: The audience must not be your own C1 tenant URL",
    ),
    (
        "SEED-audience-unique",
        "register: You register one per server, keyed to that server's authorization server",
    ),
    (
        "SEED-audience-fixed",
        "register: It is fixed once the resource server is created",
    ),
    (
        "SEED-modify-claims-hook",
        "register: Modify-claims hook (not yet available) — the field is reserved",
    ),
    (
        "SEED-kill-switch",
        "register: Pause an MCP server — denies new token requests, keeps the configuration; an issued token keeps working until it expires",
    ),
    (
        "SEED-lifetime-indefinite",
        "register: Indefinite means inherit the tenant default (300 seconds)",
    ),
    (
        "SEED-lifetime-maximum",
        "register: Optional. Set a Maximum grant lifetime",
    ),
    (
        "SEED-audience-not-registered",
        "register: Troubleshoot — The audience isn't registered",
    ),
    (
        "SEED-algorithm-mismatch",
        "register: Troubleshoot — signature-algorithm mismatch; audit: Debug a signature rejection",
    ),
    (
        "SEED-audit-fields",
        "audit: What's recorded — user, client, system, scopes with per-scope outcome, token ID, signing key ID, algorithm, lifetime, status detail",
    ),
    (
        "SEED-system-log-read",
        "audit: Read and download system logs",
    ),
    (
        "SEED-system-log-exporter",
        "audit: Audit MCP access in your SIEM — the System log exporter forwards every token request C1 records",
    ),
    (
        "SEED-issuance-only",
        "audit: What C1 sees — the issuance decision, not the agent's later calls to the MCP server",
    ),
];

/// The clause a requirement ID cites, if the table has it.
pub fn clause(requirement: &str) -> Option<&'static str> {
    CLAUSES
        .iter()
        .find(|(id, _)| *id == requirement)
        .map(|(_, c)| *c)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Only checks whose tags match.
    pub tags: Option<TagExpr>,
    /// Only checks whose id, feature or scenario contains this text.
    pub name: Option<String>,
    /// Checks run at once (each reference check has its own ecosystem).
    pub concurrency: usize,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            tags: None,
            name: None,
            concurrency: 8,
        }
    }
}

/// Why the suite could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// The embedded features do not plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// The checks the options select, in feature-file order, without running them.
///
/// # Errors
///
/// [`PlanError`] if the embedded features are broken.
pub fn checks(options: &SuiteOptions) -> Result<Vec<Check>, PlanError> {
    checks_of(&FEATURES, options)
}

/// [`checks`] of other feature texts: `(file name, Gherkin)` pairs.
///
/// # Errors
///
/// [`PlanError`] for a file that does not parse, a scenario without a requirement ID, or
/// a step no definition matches.
pub fn checks_of(
    features: &[(&str, &str)],
    options: &SuiteOptions,
) -> Result<Vec<Check>, PlanError> {
    let all = plan::plan(features)?;
    // A sentence that is not exactly one step whose captures read (none matches, two
    // do, or "within 601 seconds") is a broken feature file, found before anything runs.
    for c in &all {
        for s in &c.steps {
            if let Err(e) = steps::check(&s.text) {
                return Err(PlanError {
                    file: c.id.clone(),
                    reason: format!("{e}: `{}`", s.text),
                });
            }
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| options.tags.as_ref().is_none_or(|t| t.matches(&c.tags)))
        .filter(|c| {
            options.name.as_ref().is_none_or(|n| {
                c.id.contains(n.as_str())
                    || c.scenario.contains(n.as_str())
                    || c.feature.contains(n.as_str())
            })
        })
        .collect())
}

/// Runs the selected checks against the target, calling `progress` as each finishes, and
/// returns the report (checks in feature-file order).
///
/// # Errors
///
/// [`SuiteError`] if the features are broken; a failing target is a report, not an error.
pub async fn run(
    spec: &TargetSpec,
    options: &SuiteOptions,
    progress: impl FnMut(&CheckResult),
) -> Result<Report, SuiteError> {
    run_features(spec, &FEATURES, options, progress).await
}

/// [`run`] with other feature texts: how the harness tests itself, and how a user tries a
/// scenario before adding it to `features/`.
///
/// # Errors
///
/// As [`checks_of`].
pub async fn run_features(
    spec: &TargetSpec,
    features: &[(&str, &str)],
    options: &SuiteOptions,
    mut progress: impl FnMut(&CheckResult),
) -> Result<Report, SuiteError> {
    let started = Instant::now();
    let selected = checks_of(features, options)?;
    // One target for every check that only reads it; a check that changes it (its clock,
    // its configuration) is rerun on a target of its own.
    let shared = match spec.provision().await {
        Ok(t) => Some(Arc::new(t)),
        Err(e) => {
            tracing::error!(error = %e, "the shared target did not start");
            None
        }
    };
    let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
    // One client for the run: each build loads the platform's root certificates.
    let http = http::Http::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, check) in selected.into_iter().enumerate() {
        let spec = spec.clone();
        let limit = Arc::clone(&limit);
        let shared = shared.clone();
        let http = http.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = limit.acquire_owned().await.ok();
            (index, run_check(&spec, shared, &check, http).await)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => {
                progress(&result);
                results.push((index, result));
            }
            Err(e) => tracing::error!(error = %e, "a check's task failed"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    if let Some(target) = shared.and_then(|t| Arc::try_unwrap(t).ok()) {
        target.shut_down().await;
    }
    let duration = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let tags = options.tags.as_ref().map(ToString::to_string);
    Ok(Report::new(
        spec.name(),
        tags.as_deref(),
        results.into_iter().map(|(_, r)| r).collect(),
        duration,
    ))
}

/// One check: its steps in order on the shared target, the first failure decides; rerun
/// on a fresh target of its own if a step needs to change the target.
async fn run_check(
    spec: &TargetSpec,
    shared: Option<Arc<Target>>,
    check: &Check,
    http: http::Http,
) -> CheckResult {
    let started = Instant::now();
    let mut result = CheckResult {
        id: check.id.clone(),
        feature: check.feature.clone(),
        scenario: check.scenario.clone(),
        requirements: check.requirements.clone(),
        clauses: check
            .requirements
            .iter()
            .filter_map(|r| clause(r).map(str::to_owned))
            .collect(),
        level: check.level,
        outcome: Outcome::Pass,
        finding: None,
        duration_ms: 0,
    };
    if let Some(shared) = shared {
        match run_steps(check, steps::World::new(shared, false, http.for_check())).await {
            Ok(()) => return finish(result, started),
            Err(StepOutcome::Graded(outcome, finding)) => {
                result.outcome = outcome;
                result.finding = Some(finding);
                return finish(result, started);
            }
            Err(StepOutcome::NeedsIsolation(reason)) if !spec.can_isolate() => {
                result.outcome = Outcome::Skip;
                result.finding = Some(Finding {
                    step: "(the check needs a target of its own)".into(),
                    expected: String::new(),
                    actual: format!(
                        "{reason}, and jagspec runs such checks only on the targets it starts \
                         itself (`reference`)"
                    ),
                    exchange: None,
                });
                return finish(result, started);
            }
            Err(StepOutcome::NeedsIsolation(_)) => {}
        }
    }
    let target = match spec.provision().await {
        Ok(t) => Arc::new(t),
        Err(e) => {
            result.outcome = Outcome::Fail;
            result.finding = Some(Finding {
                step: "(provisioning the target)".into(),
                expected: "a running target".into(),
                actual: e.to_string(),
                exchange: None,
            });
            return finish(result, started);
        }
    };
    let outcome = run_steps(
        check,
        steps::World::new(Arc::clone(&target), true, http.for_check()),
    )
    .await;
    if let Err(StepOutcome::Graded(outcome, finding)) = outcome {
        result.outcome = outcome;
        result.finding = Some(finding);
    }
    if let Ok(target) = Arc::try_unwrap(target) {
        target.shut_down().await;
    }
    finish(result, started)
}

/// How a run of a check's steps ended, when not every step passed.
enum StepOutcome {
    Graded(Outcome, Finding),
    /// Why the check needs a target of its own.
    NeedsIsolation(&'static str),
}

async fn run_steps(check: &Check, mut world: steps::World) -> Result<(), StepOutcome> {
    for step in &check.steps {
        let (outcome, expected, actual) = match steps::run(&mut world, &step.text).await {
            Ok(()) => continue,
            Err(steps::StepError::NeedsIsolation(reason)) => {
                return Err(StepOutcome::NeedsIsolation(reason));
            }
            Err(steps::StepError::Fail { expected, actual }) => {
                let graded = match check.level {
                    Level::Must => Outcome::Fail,
                    Level::Should | Level::May => Outcome::Warn,
                };
                (graded, expected, actual)
            }
            Err(steps::StepError::Skip(reason)) => (Outcome::Skip, String::new(), reason),
            Err(steps::StepError::Warn { expected, actual }) => (Outcome::Warn, expected, actual),
            Err(steps::StepError::Undefined) => (
                Outcome::Fail,
                "a step definition for this sentence".into(),
                "none matches".into(),
            ),
            Err(steps::StepError::BadArgument(why)) => (
                Outcome::Fail,
                "exactly one step definition for this sentence".into(),
                why,
            ),
        };
        let finding = Finding {
            step: step.text.clone(),
            expected,
            actual,
            exchange: world.last.as_ref().map(|a| a.exchange.clone()),
        };
        // Exchanges are redacted by name as they are recorded; here every credential the
        // check sent or received is scrubbed from whatever a target echoed it into.
        let finding = finding.scrubbed(&world.http.credentials().scrubber());
        return Err(StepOutcome::Graded(outcome, finding));
    }
    Ok(())
}

fn finish(mut result: CheckResult, started: Instant) -> CheckResult {
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_requirement_id_and_position_a_report_cites_is_documented_in_the_repository() {
        let requirements = include_str!("../../docs/requirements.md");
        let positions = include_str!("../../docs/positions.md");
        for (id, _) in CLAUSES {
            let (doc, row) = if id.starts_with('D') && id[1..].bytes().all(|b| b.is_ascii_digit()) {
                (positions, format!("| {id} |"))
            } else {
                (requirements, format!("| {id} |"))
            };
            assert!(doc.contains(&row), "{id} is not in docs/");
        }
    }

    #[test]
    fn every_requirement_a_feature_names_cites_its_clause() {
        for c in plan::plan(&FEATURES).unwrap() {
            for r in &c.requirements {
                assert!(
                    clause(r).is_some(),
                    "{}: no clause for {r} in CLAUSES",
                    c.id
                );
            }
        }
    }
}

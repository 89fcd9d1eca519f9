//! One report model, rendered three ways: the console, JSON (schema:
//! `docs/report-schema.json`) and JUnit XML.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How strongly the specification states what a check checks (its `@must` / `@should` /
/// `@may` tag): a failed `must` fails the run, a failed `should` or `may` is a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// MUST, REQUIRED, or a rule the seeds state.
    Must,
    /// SHOULD, RECOMMENDED, or a point where the documents disagree.
    Should,
    /// MAY, OPTIONAL.
    May,
}

/// A check's graded outcome (docs/positions.md): fail, warn, skip, or pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every step passed.
    Pass,
    /// A `must` check failed: the target broke a requirement.
    Fail,
    /// A `should` or `may` check failed.
    Warn,
    /// The target lacks what the check needs (a role, a clock, the audit log).
    Skip,
}

/// One HTTP request and its response, as a failed check shows it (tokens redacted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// `POST https://…/token`.
    pub request: String,
    /// Form parameters or JSON, credentials and tokens redacted.
    pub request_body: String,
    /// The status code.
    pub status: u16,
    /// The response body, tokens redacted.
    pub response_body: String,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The step that decided, as written in the feature file.
    pub step: String,
    /// What the specification requires.
    pub expected: String,
    /// What the target did.
    pub actual: String,
    /// The HTTP exchange that decided it, if any.
    pub exchange: Option<Exchange>,
}

impl Finding {
    /// The finding with every value `scrubber` knows replaced by its redaction marker.
    pub(crate) fn scrubbed(mut self, scrubber: &crate::redact::Scrubber) -> Self {
        let exchange = self
            .exchange
            .iter_mut()
            .flat_map(|e| [&mut e.request, &mut e.request_body, &mut e.response_body]);
        for text in [&mut self.step, &mut self.expected, &mut self.actual]
            .into_iter()
            .chain(exchange)
        {
            scrubber.scrub_in_place(text);
        }
        self
    }
}

/// One scenario (one row of an outline) run against one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable: `<feature file>:<line>` plus the example row for outlines.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name, with the example's values.
    pub scenario: String,
    /// Requirement IDs (IDP-nn, AS-nn, SEED-…) from its tags.
    pub requirements: Vec<String>,
    /// The spec clauses those requirements cite.
    pub clauses: Vec<String>,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The outcome.
    pub outcome: Outcome,
    /// Why it failed, warned or was skipped.
    pub finding: Option<Finding>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed `must` checks.
    pub failed: usize,
    /// Failed `should` / `may` checks.
    pub warned: usize,
    /// Not applicable to the target.
    pub skipped: usize,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The JSON report's schema version.
    pub schema_version: u32,
    /// The jagspec version.
    pub jagspec_version: String,
    /// What was tested, e.g. `reference`.
    pub target: String,
    /// The tag expression, if any.
    pub tags: Option<String>,
    /// The checks, in feature-file order.
    pub checks: Vec<CheckResult>,
    /// Counts.
    pub summary: Summary,
    /// Wall time of the run.
    pub duration_ms: u64,
}

impl Report {
    /// Builds the report and its summary.
    pub fn new(
        target: &str,
        tags: Option<&str>,
        checks: Vec<CheckResult>,
        duration_ms: u64,
    ) -> Self {
        let mut summary = Summary::default();
        for c in &checks {
            match c.outcome {
                Outcome::Pass => summary.passed += 1,
                Outcome::Fail => summary.failed += 1,
                Outcome::Warn => summary.warned += 1,
                Outcome::Skip => summary.skipped += 1,
            }
        }
        Self {
            schema_version: 1,
            jagspec_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: target.to_owned(),
            tags: tags.map(str::to_owned),
            checks,
            summary,
            duration_ms,
        }
    }

    /// Whether the run passes: no required check failed (warnings and skips do not fail).
    pub fn passed(&self) -> bool {
        self.summary.failed == 0
    }

    /// The JSON report (`docs/report-schema.json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// JUnit XML: one `testsuite` per feature, one `testcase` per check; `fail` is a
    /// `<failure>`, `skip` a `<skipped>`, `warn` passes with the finding in `system-out`.
    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new(format!("jagspec {}", self.target));
        report.set_time(millis(self.duration_ms));
        let mut features: Vec<&str> = Vec::new();
        for c in &self.checks {
            if !features.contains(&c.feature.as_str()) {
                features.push(&c.feature);
            }
        }
        for feature in features {
            let mut suite = TestSuite::new(feature);
            let checks = self.checks.iter().filter(|c| c.feature == feature);
            suite.set_time(millis(checks.clone().map(|c| c.duration_ms).sum()));
            for c in checks {
                let finding = c.finding.as_ref().map(render_finding).unwrap_or_default();
                let status = match c.outcome {
                    Outcome::Pass | Outcome::Warn => TestCaseStatus::success(),
                    Outcome::Fail => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        if let Some(f) = &c.finding {
                            status.set_message(format!(
                                "expected {} (found {})",
                                f.expected, f.actual
                            ));
                        }
                        status
                            .set_type(level_name(c.level))
                            .set_description(finding.clone());
                        status
                    }
                    Outcome::Skip => {
                        let mut status = TestCaseStatus::skipped();
                        if let Some(f) = &c.finding {
                            status.set_message(f.actual.clone());
                        }
                        status
                    }
                };
                let name = format!("{} [{}]", c.scenario, c.requirements.join(" "));
                let mut case = TestCase::new(name, status);
                case.set_classname(c.id.clone())
                    .set_time(millis(c.duration_ms));
                if c.outcome == Outcome::Warn {
                    case.set_system_out(format!(
                        "WARN ({} requirement): {finding}",
                        level_name(c.level)
                    ));
                }
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        // Serialising into a String fails only when memory does.
        report.to_string().unwrap_or_default()
    }

    /// The skipped checks counted by reason, the most common first, for the console: a
    /// target that offers one algorithm skips dozens of checks for the same reason, and a
    /// line per reason says as much as a line per check. `None` when nothing was skipped.
    pub fn skip_summary(&self) -> Option<String> {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for c in self.checks.iter().filter(|c| c.outcome == Outcome::Skip) {
            let reason = c.finding.as_ref().map_or("no reason given", |f| &f.actual);
            *reasons.entry(reason).or_default() += 1;
        }
        if reasons.is_empty() {
            return None;
        }
        let mut by_count: Vec<(&str, usize)> = reasons.into_iter().collect();
        // Most common first; equal counts in the reasons' order, so the output is stable.
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let total: usize = by_count.iter().map(|(_, n)| n).sum();
        let mut out = format!(
            "skipped {total} check{}, by reason (--show-skips lists each):",
            if total == 1 { "" } else { "s" }
        );
        for (reason, n) in by_count {
            let _ = write!(out, "\n  {n:>5}  {reason}");
        }
        Some(out)
    }

    /// The console summary after the progress lines.
    pub fn summary_line(&self) -> String {
        let s = self.summary;
        format!(
            "{} checks: {} passed, {} failed, {} warned, {} skipped ({} ms) — {}",
            self.checks.len(),
            s.passed,
            s.failed,
            s.warned,
            s.skipped,
            self.duration_ms,
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

/// One check's console line (and, unless it passed, its finding).
pub fn console_line(c: &CheckResult) -> String {
    let mark = match c.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Warn => "warn",
        Outcome::Skip => "skip",
    };
    let mut line = format!(
        "{mark}  {} — {} [{}] ({} ms)",
        c.feature,
        c.scenario,
        c.requirements.join(" "),
        c.duration_ms
    );
    match (&c.finding, c.outcome) {
        // A skip needs its reason only: nothing was judged.
        (Some(f), Outcome::Skip) => {
            let _ = write!(line, "\n      skipped: {}", f.actual);
        }
        (Some(f), _) => {
            for l in render_finding(f).lines() {
                let _ = write!(line, "\n      {l}");
            }
        }
        (None, _) => {}
    }
    line
}

fn render_finding(f: &Finding) -> String {
    let mut out = format!(
        "{}\n  expected: {}\n  actual:   {}",
        f.step, f.expected, f.actual
    );
    if let Some(x) = &f.exchange {
        let _ = write!(
            out,
            "\n  exchange: {}\n    {}\n    → {} {}",
            x.request, x.request_body, x.status, x.response_body
        );
    }
    out
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Must => "must",
        Level::Should => "should",
        Level::May => "may",
    }
}

fn millis(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcome: Outcome) -> CheckResult {
        CheckResult {
            id: "features/x.feature:3".into(),
            feature: "F <&>".into(),
            scenario: "S".into(),
            requirements: vec!["IDP-10".into()],
            clauses: vec![],
            level: Level::Must,
            outcome,
            finding: (outcome != Outcome::Pass).then(|| Finding {
                step: "Then x".into(),
                expected: "HTTP 400".into(),
                actual: "HTTP 200 \u{1}".into(),
                exchange: None,
            }),
            duration_ms: 5,
        }
    }

    #[test]
    fn only_a_failed_required_check_fails_the_run() {
        let r = Report::new(
            "reference",
            None,
            vec![
                check(Outcome::Pass),
                check(Outcome::Warn),
                check(Outcome::Skip),
            ],
            9,
        );
        assert!(r.passed());
        let r = Report::new("reference", None, vec![check(Outcome::Fail)], 9);
        assert!(!r.passed());
        assert_eq!(
            r.summary,
            Summary {
                passed: 0,
                failed: 1,
                warned: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn junit_escapes_text_and_marks_failures_and_skips() {
        let r = Report::new(
            "reference",
            None,
            vec![check(Outcome::Fail), check(Outcome::Skip)],
            9,
        );
        let x = r.to_junit();
        // What the JUnit readers of CI systems read back: quick-junit's own parser.
        let parsed = quick_junit::Report::deserialize_from_str(&x).unwrap();
        assert_eq!(
            (parsed.tests, parsed.failures, parsed.errors),
            (2, 1, 0),
            "{x}"
        );
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.name.as_str(), "F <&>");
        assert_eq!((suite.tests, suite.failures), (2, 1));
        assert!(matches!(
            suite.test_cases[1].status,
            quick_junit::TestCaseStatus::Skipped { .. }
        ));
        assert!(x.contains("name=\"F &lt;&amp;&gt;\""), "{x}");
        // A control character is not allowed in XML 1.0 even escaped: it is left out.
        assert!(
            x.contains("<failure message=\"expected HTTP 400 (found HTTP 200 )\" type=\"must\">"),
            "{x}"
        );
        assert!(x.contains("<skipped message=\"HTTP 200 \"/>"), "{x}");
    }

    #[test]
    fn skips_are_counted_by_reason_the_most_common_first() {
        let skip = |reason: &str| {
            let mut c = check(Outcome::Skip);
            c.finding.as_mut().unwrap().actual = reason.into();
            c
        };
        let r = Report::new("as", None, vec![check(Outcome::Pass)], 1);
        assert_eq!(r.skip_summary(), None);
        let r = Report::new(
            "as",
            None,
            vec![
                skip("the target offers no `the RS256 server`"),
                check(Outcome::Pass),
                skip("changes the target"),
                skip("the target offers no `the RS256 server`"),
                skip("the target offers no `the EdDSA server`"),
                skip("the target offers no `the EdDSA server`"),
            ],
            1,
        );
        assert_eq!(
            r.skip_summary().unwrap(),
            "skipped 5 checks, by reason (--show-skips lists each):\n\
             \x20     2  the target offers no `the EdDSA server`\n\
             \x20     2  the target offers no `the RS256 server`\n\
             \x20     1  changes the target"
        );
    }
}

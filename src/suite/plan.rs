//! The feature files, embedded in the binary, turned into checks: one per scenario, one
//! per example row of an outline, background steps first. Tags name requirement IDs
//! (`@IDP-10`, `@AS-06`, `@SEED-…`) and a level (`@must`, `@should`, `@may`).

use super::report::Level;
use gherkin::{Feature, GherkinEnv, StepType};

/// The feature files, embedded so the installed binary runs them (a test checks this list
/// against `features/`).
pub const FEATURES: [(&str, &str); 6] = [
    (
        "features/issuer-denials.feature",
        include_str!("../../features/issuer-denials.feature"),
    ),
    (
        "features/issuance.feature",
        include_str!("../../features/issuance.feature"),
    ),
    (
        "features/registration.feature",
        include_str!("../../features/registration.feature"),
    ),
    (
        "features/authorization-server.feature",
        include_str!("../../features/authorization-server.feature"),
    ),
    (
        "features/hostile-id-jags.feature",
        include_str!("../../features/hostile-id-jags.feature"),
    ),
    (
        "features/system-log.feature",
        include_str!("../../features/system-log.feature"),
    ),
];

/// One step to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// Given, When or Then (And/But take the previous one's).
    pub kind: StepType,
    /// `Then the request is denied …`, as written, with outline values filled in.
    pub text: String,
}

/// One check to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `features/x.feature:12`, plus `#row` for an outline's example.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name, outline values filled in.
    pub scenario: String,
    /// Every tag of the feature, the scenario and the examples, without `@`.
    pub tags: Vec<String>,
    /// Requirement IDs among the tags.
    pub requirements: Vec<String>,
    /// The level tag (`must` unless `should` or `may` is given).
    pub level: Level,
    /// The steps.
    pub steps: Vec<PlannedStep>,
}

/// Why the embedded features could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct PlanError {
    /// The feature file.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

/// Whether a tag is a requirement ID: IDP-nn, AS-nn, CLI-nn, RS-nn, Dnn or SEED-….
pub fn is_requirement(tag: &str) -> bool {
    static ID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?:(?:IDP|AS|CLI|RS)-\d{2}|D\d{1,2}|SEED-[a-z0-9-]+)$")
            .unwrap_or_else(|e| panic!("the requirement-ID pattern: {e}"))
    });
    ID.is_match(tag)
}

/// Every check of the given features.
///
/// # Errors
///
/// [`PlanError`] for a file that does not parse, a scenario without a requirement ID, or
/// an outline placeholder with no column.
pub fn plan(features: &[(&str, &str)]) -> Result<Vec<Check>, PlanError> {
    let mut checks = Vec::new();
    for (file, text) in features {
        let err = |reason: String| PlanError {
            file: (*file).to_owned(),
            reason,
        };
        let feature =
            Feature::parse(text, GherkinEnv::default()).map_err(|e| err(e.to_string()))?;
        let background: Vec<&gherkin::Step> = feature
            .background
            .as_ref()
            .map(|b| b.steps.iter().collect())
            .unwrap_or_default();
        let scenarios = feature
            .scenarios
            .iter()
            .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
        for scenario in scenarios {
            let mut tags: Vec<String> = feature.tags.clone();
            tags.extend(scenario.tags.iter().cloned());
            let line = scenario.position.line;
            let steps: Vec<&gherkin::Step> = background
                .iter()
                .copied()
                .chain(scenario.steps.iter())
                .collect();
            if scenario.examples.is_empty() {
                checks.push(check(
                    format!("{file}:{line}"),
                    &feature.name,
                    scenario.name.clone(),
                    tags,
                    &steps,
                    &[],
                    &err,
                )?);
                continue;
            }
            // Rows are numbered across every Examples block, so ids stay unique.
            let mut row_number = 0;
            for examples in &scenario.examples {
                let Some(table) = &examples.table else {
                    continue;
                };
                let Some((header, rows)) = table.rows.split_first() else {
                    continue;
                };
                let mut tags = tags.clone();
                tags.extend(examples.tags.iter().cloned());
                for row in rows {
                    row_number += 1;
                    let values: Vec<(&str, &str)> = header
                        .iter()
                        .map(String::as_str)
                        .zip(row.iter().map(String::as_str))
                        .collect();
                    let name = fill(&scenario.name, &values);
                    checks.push(check(
                        format!("{file}:{line}#{row_number}"),
                        &feature.name,
                        name,
                        tags.clone(),
                        &steps,
                        &values,
                        &err,
                    )?);
                }
            }
        }
    }
    Ok(checks)
}

fn check(
    id: String,
    feature: &str,
    scenario: String,
    tags: Vec<String>,
    steps: &[&gherkin::Step],
    values: &[(&str, &str)],
    err: &impl Fn(String) -> PlanError,
) -> Result<Check, PlanError> {
    let requirements: Vec<String> = tags.iter().filter(|t| is_requirement(t)).cloned().collect();
    if requirements.is_empty() {
        return Err(err(format!(
            "scenario `{scenario}` names no requirement ID (@IDP-nn, @AS-nn, @SEED-…)"
        )));
    }
    let level = if tags.iter().any(|t| t == "should") {
        Level::Should
    } else if tags.iter().any(|t| t == "may") {
        Level::May
    } else {
        Level::Must
    };
    let mut planned = Vec::new();
    for step in steps {
        let text = fill(&step.value, values);
        if let Some(open) = text.find('<')
            && text[open..].contains('>')
            && !values.is_empty()
        {
            return Err(err(format!(
                "scenario `{scenario}`: step `{text}` has a placeholder no example column fills"
            )));
        }
        planned.push(PlannedStep {
            kind: step.ty,
            text,
        });
    }
    Ok(Check {
        id,
        feature: feature.to_owned(),
        scenario,
        tags,
        requirements,
        level,
        steps: planned,
    })
}

fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("<{name}>"), value);
    }
    out
}

/// A tag expression: `@a and not (@b or @c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagExpr {
    /// A tag, without `@`.
    Tag(String),
    /// Negation.
    Not(Box<Self>),
    /// Both.
    And(Box<Self>, Box<Self>),
    /// Either.
    Or(Box<Self>, Box<Self>),
}

impl TagExpr {
    /// Parses `@a and not (@b or @c)`; `and` binds tighter than `or`.
    ///
    /// # Errors
    ///
    /// A sentence naming what was expected where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let spaced = text.replace('(', " ( ").replace(')', " ) ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let mut pos = 0;
        let expr = Self::or(&tokens, &mut pos)?;
        if pos != tokens.len() {
            return Err(format!(
                "unexpected `{}` in tag expression `{text}`",
                tokens[pos]
            ));
        }
        Ok(expr)
    }

    fn or(t: &[&str], pos: &mut usize) -> Result<Self, String> {
        let mut left = Self::and(t, pos)?;
        while t.get(*pos) == Some(&"or") {
            *pos += 1;
            left = Self::Or(Box::new(left), Box::new(Self::and(t, pos)?));
        }
        Ok(left)
    }

    fn and(t: &[&str], pos: &mut usize) -> Result<Self, String> {
        let mut left = Self::not(t, pos)?;
        while t.get(*pos) == Some(&"and") {
            *pos += 1;
            left = Self::And(Box::new(left), Box::new(Self::not(t, pos)?));
        }
        Ok(left)
    }

    fn not(t: &[&str], pos: &mut usize) -> Result<Self, String> {
        match t.get(*pos) {
            Some(&"not") => {
                *pos += 1;
                Ok(Self::Not(Box::new(Self::not(t, pos)?)))
            }
            Some(&"(") => {
                *pos += 1;
                let inner = Self::or(t, pos)?;
                if t.get(*pos) != Some(&")") {
                    return Err("expected `)` in tag expression".to_owned());
                }
                *pos += 1;
                Ok(inner)
            }
            Some(tag) if tag.starts_with('@') && tag.len() > 1 => {
                *pos += 1;
                Ok(Self::Tag(tag[1..].to_owned()))
            }
            Some(other) => Err(format!("expected a @tag, `not` or `(` (found `{other}`)")),
            None => Err("the tag expression ends early".to_owned()),
        }
    }

    /// Whether a check with these tags matches.
    pub fn matches(&self, tags: &[String]) -> bool {
        match self {
            Self::Tag(t) => tags.iter().any(|x| x == t),
            Self::Not(e) => !e.matches(tags),
            Self::And(a, b) => a.matches(tags) && b.matches(tags),
            Self::Or(a, b) => a.matches(tags) || b.matches(tags),
        }
    }
}

impl std::fmt::Display for TagExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tag(t) => write!(f, "@{t}"),
            Self::Not(e) => write!(f, "not {e}"),
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_features_is_embedded_and_plans() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("features");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".feature"))
            .map(|n| format!("features/{n}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FEATURES.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        let checks = plan(&FEATURES).unwrap();
        assert!(!checks.is_empty());
        let mut ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), checks.len(), "check ids are unique");
    }

    #[test]
    fn outlines_expand_per_row_with_values_filled_in() {
        let text = "Feature: F\n  @AS-06\n  Scenario Outline: typ <typ>\n    Given a <typ>\n\n    Examples:\n      | typ |\n      | JWT |\n      | at+jwt |\n";
        let checks = plan(&[("f.feature", text)]).unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].scenario, "typ at+jwt");
        assert_eq!(checks[1].steps[0].text, "a at+jwt");
        assert_eq!(checks[1].id, "f.feature:3#2");
        assert_eq!(checks[1].level, Level::Must);
    }

    #[test]
    fn a_scenario_without_a_requirement_id_is_refused() {
        let text = "Feature: F\n  @must\n  Scenario: S\n    Given x\n";
        assert!(
            plan(&[("f.feature", text)])
                .unwrap_err()
                .reason
                .contains("names no requirement")
        );
    }

    #[test]
    fn tag_expressions_follow_and_before_or() {
        let e = TagExpr::parse("@a or @b and not @c").unwrap();
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(e.matches(&tags(&["a", "c"])));
        assert!(e.matches(&tags(&["b"])));
        assert!(!e.matches(&tags(&["b", "c"])));
        let p = TagExpr::parse("not (@a or @b)").unwrap();
        assert!(p.matches(&tags(&["c"])) && !p.matches(&tags(&["a"])));
        assert!(TagExpr::parse("@a and").is_err());
        assert!(TagExpr::parse("a").is_err());
    }
}

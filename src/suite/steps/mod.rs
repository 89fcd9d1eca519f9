//! The step library: every sentence the feature files may use, and what it does over
//! HTTP. Steps never call issuer internals, so the same sentences run against any
//! target.
//!
//! Each step is an async function that carries its own sentence, a Cucumber Expression
//! (`#[step("the clock moves {int} seconds forward")]`), in the module of the domain it
//! belongs to:
//!
//! | module | sentences about |
//! |---|---|
//! | [`roles`] | the role a check plays ("the target offers …") |
//! | [`signin`] | the user's sign-in at the IdP (the subject token) |
//! | [`exchange`] | token exchange requests at the issuer, plain and altered |
//! | [`answers`] | the last answer: granted, denied with an error, its members and headers |
//! | [`id_jag`] | the ID-JAG's header and claims; minting one for `test as` |
//! | [`hostile`] | the ID-JAG re-signed with one property changed |
//! | [`redemption`] | the JWT bearer grant at the authorization server and its access token |
//! | [`admin`] | changes through the issuer's admin API, and the target's clock |
//! | [`audit`] | the audit event of a request |
//! | [`system_log`] | the system log: fields, filters, downloads, counts |
//! | [`exporters`] | a system-log exporter pointed at a SIEM sink the suite runs |
//! | [`mcp`] | the access token at the MCP server |
//! | [`wycheproof`] | Wycheproof's signature edge cases |
//!
//! Besides `{int}`, `{string}` and `{}` (anything), a pattern may use the custom
//! parameter types in [`params`] (`{alg}`, `{role_part}`, …) and those of a domain
//! (`{change}` in [`hostile`], …): each is a Rust type that reads its capture, so a
//! sentence whose capture does not read ("within 601 seconds …") is refused when the
//! features load, like a sentence that matches no step or more than one.
//!
//! A new step is a function in its domain's module and one line in that module's
//! `STEPS`; leaving it out of `STEPS` is a compile error (the constant `#[step]` writes
//! would be unused).

mod admin;
mod answers;
mod audit;
mod exchange;
mod exporters;
mod hostile;
mod id_jag;
mod mcp;
mod params;
mod redemption;
mod roles;
mod signin;
mod system_log;
mod wycheproof;

pub(crate) use signin::{SignInError, subject_token};

use super::http::Http;
use super::http::MAX_ANSWER_BYTES;
use super::report::Exchange;
use super::target::{Role, Target};
use crate::http::ReadError;
use crate::http::admin::{AdminClient, AdminError};
use crate::oauth::basic_authorization;
use crate::redact;
use crate::types::Secret;
use regex::{Regex, RegexSet};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Every domain's steps.
const DOMAINS: [&[Def]; 13] = [
    roles::STEPS,
    signin::STEPS,
    exchange::STEPS,
    answers::STEPS,
    id_jag::STEPS,
    hostile::STEPS,
    redemption::STEPS,
    admin::STEPS,
    audit::STEPS,
    system_log::STEPS,
    exporters::STEPS,
    mcp::STEPS,
    wycheproof::STEPS,
];

/// The custom parameter types the patterns may name, as `(name, regex)`.
fn parameter_types() -> HashMap<&'static str, &'static str> {
    use params::Parameter;
    [
        (
            <crate::jose::Alg as Parameter>::NAME,
            <crate::jose::Alg as Parameter>::REGEX,
        ),
        (
            <super::role::RoleName as Parameter>::NAME,
            <super::role::RoleName as Parameter>::REGEX,
        ),
        (params::RolePart::NAME, params::RolePart::REGEX),
        (params::Outcome::NAME, params::Outcome::REGEX),
        (answers::Exchanged::NAME, answers::Exchanged::REGEX),
        (
            answers::ExpectedErrors::NAME,
            answers::ExpectedErrors::REGEX,
        ),
        (hostile::Change::NAME, hostile::Change::REGEX),
        (
            redemption::RedeemedWith::NAME,
            redemption::RedeemedWith::REGEX,
        ),
        (admin::NewAudience::NAME, admin::NewAudience::REGEX),
        (audit::RoleScope::NAME, audit::RoleScope::REGEX),
        (system_log::Filters::NAME, system_log::Filters::REGEX),
        (system_log::Format::NAME, system_log::Format::REGEX),
        (exporters::Envelope::NAME, exporters::Envelope::REGEX),
    ]
    .into_iter()
    .collect()
}

/// One step: what `#[step]` writes beside its function.
pub(crate) struct Def {
    /// The sentence it matches, a Cucumber Expression.
    pub(crate) pattern: &'static str,
    /// Its function's path, for messages about ambiguity.
    pub(crate) function: &'static str,
    /// The line of its `#[step]`.
    pub(crate) line: u32,
    /// Why it needs a target of its own, if it does: it changes the target, or counts
    /// what only it may write.
    pub(crate) isolation: Option<&'static str>,
    /// Reads the captures into the function's parameter types without running it.
    pub(crate) check: fn(&mut Args) -> Result<(), String>,
    /// Reads the captures and runs the function.
    pub(crate) run: for<'a> fn(&'a mut World, Args) -> StepFuture<'a>,
}

/// What a step's adapter returns.
pub(crate) type StepFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// A sentence's captures, one per parameter in order (`None`: an optional part left out).
#[derive(Debug, Clone)]
pub(crate) struct Args(std::vec::IntoIter<Option<String>>);

impl Args {
    /// The next capture, read as the parameter's type.
    pub(crate) fn next<T: params::Param>(&mut self) -> Result<T, String> {
        match self.0.next() {
            Some(capture) => T::parse(capture.as_deref()),
            None => Err("the function takes more parameters than its pattern captures".into()),
        }
    }

    /// Every capture was read.
    pub(crate) fn end(&mut self) -> Result<(), String> {
        match self.0.next() {
            None => Ok(()),
            Some(_) => Err("the pattern captures more than its function takes".into()),
        }
    }
}

/// Why a sentence is no step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unmatched {
    /// No pattern matches it.
    Undefined,
    /// More than one pattern matches it: the functions, with their lines.
    Ambiguous(Vec<String>),
    /// Its pattern matches, but a capture does not read as its parameter's type.
    BadArgument(String),
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Undefined => f.write_str("no step definition matches"),
            Self::Ambiguous(functions) => {
                write!(f, "more than one step matches: {}", functions.join(", "))
            }
            Self::BadArgument(why) => write!(f, "the step cannot read it: {why}"),
        }
    }
}

/// Every step with its compiled pattern.
struct Registry {
    defs: Vec<&'static Def>,
    /// All patterns at once: which match a sentence, in one pass.
    set: RegexSet,
    patterns: Vec<Pattern>,
    /// Each sentence resolved once per process: the plan checks every sentence of every
    /// feature before a run, and the same sentences (backgrounds, outlines, a check
    /// rerun on a target of its own) come back hundreds of times.
    resolved: Mutex<HashMap<String, Result<Resolved, Unmatched>>>,
}

/// A sentence resolved: its step's index and its captures.
#[derive(Clone)]
struct Resolved {
    def: usize,
    captures: Vec<Option<String>>,
}

/// A step's pattern as a regex, and which parameter each capture group fills.
struct Pattern {
    regex: Regex,
    /// For group `g` (1-based), `parameter[g - 1]`: a `{string}` is two groups (double or
    /// single quotes), every other parameter one.
    parameter: Vec<usize>,
    parameters: usize,
}

impl Pattern {
    fn compile(def: &Def, types: &HashMap<&'static str, &'static str>) -> Self {
        // The patterns are literals in the step modules; a unit test compiles every one.
        let regex = cucumber_expressions::Expression::regex_with_parameters(def.pattern, types)
            .unwrap_or_else(|e| panic!("the pattern of {} (line {}): {e}", def.function, def.line));
        let mut parameter = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for name in regex.capture_names().skip(1) {
            // `{string}` names its two groups `__<n>_0` and `__<n>_1`.
            let id = name
                .and_then(|n| n.rsplit_once('_'))
                .map(|(id, _)| id.to_owned());
            match id {
                Some(id) if seen.last() == Some(&id) => {}
                Some(id) => seen.push(id),
                None => seen.push(String::new()),
            }
            parameter.push(seen.len() - 1);
        }
        Self {
            regex,
            parameter,
            parameters: seen.len(),
        }
    }

    fn captures(&self, text: &str) -> Vec<Option<String>> {
        let mut values = vec![None; self.parameters];
        if let Some(caps) = self.regex.captures(text) {
            for (g, p) in self.parameter.iter().enumerate() {
                if let Some(m) = caps.get(g + 1) {
                    values[*p] = Some(m.as_str().to_owned());
                }
            }
        }
        values
    }
}

impl Registry {
    fn new(defs: Vec<&'static Def>) -> Self {
        let types = parameter_types();
        let patterns: Vec<Pattern> = defs.iter().map(|d| Pattern::compile(d, &types)).collect();
        let set = RegexSet::new(patterns.iter().map(|p| p.regex.as_str()))
            .unwrap_or_else(|e| panic!("the step patterns as one set: {e}"));
        Self {
            defs,
            set,
            patterns,
            resolved: Mutex::default(),
        }
    }

    /// The one step a sentence means, with its captures.
    fn resolve(&self, text: &str) -> Result<(&'static Def, Args), Unmatched> {
        let lock = || self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        let known = lock().get(text).cloned();
        let resolved = match known {
            Some(resolved) => resolved,
            None => {
                let resolved = self.match_one(text);
                lock().insert(text.to_owned(), resolved.clone());
                resolved
            }
        };
        resolved.map(|r| (self.defs[r.def], Args(r.captures.into_iter())))
    }

    fn match_one(&self, text: &str) -> Result<Resolved, Unmatched> {
        let hits: Vec<usize> = self.set.matches(text).into_iter().collect();
        match hits.as_slice() {
            [] => Err(Unmatched::Undefined),
            [i] => Ok(Resolved {
                def: *i,
                captures: self.patterns[*i].captures(text),
            }),
            _ => Err(Unmatched::Ambiguous(
                hits.iter()
                    .map(|i| {
                        let d = self.defs[*i];
                        format!("{} (line {})", d.function, d.line)
                    })
                    .collect(),
            )),
        }
    }
}

static REGISTRY: LazyLock<Registry> =
    LazyLock::new(|| Registry::new(DOMAINS.iter().flat_map(|d| d.iter()).collect()));

/// The one step a sentence means, with its captures.
fn resolve(text: &str) -> Result<(&'static Def, Args), Unmatched> {
    REGISTRY.resolve(text)
}

/// Whether a sentence is exactly one step whose captures read (for `--list` and the
/// plan's checks, before anything runs).
pub(crate) fn check(text: &str) -> Result<(), Unmatched> {
    let (def, mut args) = resolve(text)?;
    (def.check)(&mut args).map_err(Unmatched::BadArgument)
}

/// Runs one step.
pub(crate) async fn run(world: &mut World, text: &str) -> Result<(), StepError> {
    let (def, args) = resolve(text).map_err(|e| match e {
        Unmatched::Undefined => StepError::Undefined,
        other => StepError::BadArgument(other.to_string()),
    })?;
    if let Some(reason) = def.isolation
        && !world.isolated
    {
        return Err(StepError::NeedsIsolation(reason));
    }
    (def.run)(world, args).await
}

/// Why a step did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepError {
    /// The target did something other than the specification requires.
    Fail { expected: String, actual: String },
    /// The target lacks what the step needs; the check is skipped with this reason.
    Skip(String),
    /// The target did something the documents tolerate but jagspec's position does not
    /// expect: a warning whatever the check's level.
    Warn { expected: String, actual: String },
    /// No step definition matches the sentence.
    Undefined,
    /// The sentence is no one step (more than one matches, or a capture does not read):
    /// the plan refuses such a sentence before anything runs, so only a caller that
    /// skipped the plan sees this.
    BadArgument(String),
    /// The step needs a target of its own (it changes the target, or counts what only it
    /// may write) and the check runs on a shared one: the runner reruns it on a target of
    /// its own, or skips it with this reason where it cannot start one.
    NeedsIsolation(&'static str),
}

/// Why a check needs a target of its own: the skip reason where jagspec cannot start one.
const CHANGES_TARGET: &str = "this check changes the target's configuration or clock";

const ADDS_EXPORTER: &str = "this check adds a system-log exporter through jagspec's admin API, \
                             and exporter configuration is vendor-specific";

const COUNTS_LOG: &str = "this check counts every event of the target's system log, which is \
                          exact only on a log no other check writes to";

fn fail(expected: impl Into<String>, actual: impl Into<String>) -> StepError {
    StepError::Fail {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The answer's body as text (invalid UTF-8 replaced), at most `cap` bytes: a larger
/// body, announced or sent, fails the step instead of filling memory, and so does a
/// connection that breaks off mid-body. `what` names the request, as `GET https://…`.
async fn read_text(
    http: &Http,
    response: reqwest::Response,
    cap: usize,
    what: &str,
) -> Result<String, StepError> {
    http.read(response, cap).await.map_err(|e| match e {
        ReadError::TooLarge { cap } => fail(
            format!("an answer of at most {cap} bytes from {what}"),
            format!("more than {cap} bytes"),
        ),
        ReadError::Broken(e) => fail(format!("the whole answer from {what}"), e),
    })
}

/// The answer's body as JSON (`Null` when it is not JSON), read as [`read_text`] reads it.
async fn read_json(
    http: &Http,
    response: reqwest::Response,
    what: &str,
) -> Result<Value, StepError> {
    let text = read_text(http, response, MAX_ANSWER_BYTES, what).await?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One HTTP answer the steps may inspect.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// Response headers, names lower-cased, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// As the report shows it: credentials and tokens redacted.
    pub(crate) exchange: Exchange,
}

/// A check's state, from its first step to its last.
pub(crate) struct World {
    pub(crate) target: std::sync::Arc<Target>,
    /// Whether this check has the target to itself, so it may change it.
    isolated: bool,
    /// The run's client, remembering what this check sent and received.
    pub(crate) http: Http,
    id_token: Option<Secret>,
    role: Option<Role>,
    /// The last answer of the issuer or an authorization server.
    pub(crate) last: Option<Answer>,
    /// The last token exchange's answer (audit steps read its request id).
    exchange: Option<Answer>,
    id_jag: Option<Secret>,
    /// The role's resource server as the admin API showed it before an admin change.
    saved_server: Option<Value>,
    /// The answers of redemptions sent at once.
    concurrent: Vec<Answer>,
    /// What the authorization server did with each Wycheproof case.
    wycheproof: Vec<wycheproof::WycheproofOutcome>,
    /// The `scope` the last token exchange asked for.
    requested_scope: Option<String>,
    /// The system log's event ids when a step noted them.
    noted_events: Option<std::collections::BTreeSet<String>>,
    /// The SIEM sink the suite runs for an exporter it added.
    siem: Option<exporters::SuiteSiem>,
}

impl World {
    /// A check's state on `target`, calling it through `http` (one client per run: building
    /// one loads the platform's root certificates, which costs more than most checks).
    pub(crate) fn new(target: std::sync::Arc<Target>, isolated: bool, http: Http) -> Self {
        Self {
            target,
            isolated,
            http,
            id_token: None,
            role: None,
            last: None,
            exchange: None,
            id_jag: None,
            saved_server: None,
            concurrent: Vec::new(),
            wycheproof: Vec::new(),
            requested_scope: None,
            noted_events: None,
            siem: None,
        }
    }
}

/// Mints (or requests) one valid ID-JAG for `role` and redeems it: the preflight of
/// `jagspec test as`, made of the same steps as every check's control.
pub(crate) async fn mint_and_redeem(
    target: std::sync::Arc<Target>,
    role: super::role::RoleName,
) -> Result<Answer, StepError> {
    let mut world = World::new(target, false, Http::new());
    roles::offers(&mut world, role).await?;
    exchange::request_id_jag(&mut world, exchange::Variant::plain()).await?;
    redemption::redeem(&mut world).await?;
    last(&world).cloned()
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fail { expected, actual } | Self::Warn { expected, actual } => {
                write!(f, "expected {expected}, found {actual}")
            }
            Self::Skip(reason) => f.write_str(reason),
            Self::Undefined => f.write_str("no step definition matches"),
            Self::BadArgument(why) => f.write_str(why),
            Self::NeedsIsolation(reason) => write!(f, "needs a target of its own: {reason}"),
        }
    }
}

/// The role's other scope, or a skip when the target names none.
fn other_scope(role: &Role) -> Result<String, StepError> {
    role.other_scope.clone().ok_or_else(|| {
        StepError::Skip("the target names no other scope of this server's MCP server".into())
    })
}

/// The claim names of "a, b and c".
fn claim_list(text: &str) -> Vec<String> {
    text.split(',')
        .flat_map(|c| c.split(" and "))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Turns a refused admin call kept for a `Then` into a failed setup step.
fn must_have_succeeded(world: &World) -> Result<(), StepError> {
    let last = last(world)?;
    if (200..300).contains(&last.status) {
        Ok(())
    } else {
        Err(fail("the admin change to succeed", describe(last)))
    }
}

fn expect_eq(what: &str, want: &str, found: &str) -> Result<(), StepError> {
    if want == found {
        Ok(())
    } else {
        Err(fail(
            format!("{what} `{want}`"),
            format!("{what} `{found}`"),
        ))
    }
}

/// A JSON value as a step compares it: strings bare, anything else as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn last(world: &World) -> Result<&Answer, StepError> {
    world
        .last
        .as_ref()
        .ok_or_else(|| fail("a request made by an earlier step", "none was made"))
}

pub(crate) fn describe(a: &Answer) -> String {
    format!(
        "HTTP {} with error `{}`",
        a.status,
        a.body.get("error").and_then(Value::as_str).unwrap_or("-")
    )
}

fn role(world: &World) -> Result<Role, StepError> {
    world
        .role
        .clone()
        .ok_or_else(|| fail("a role chosen by `Given the target offers …`", "none"))
}

/// The algorithm the role's authorization server verifies, as the target describes it.
fn verified_alg(world: &World) -> Result<crate::jose::Alg, StepError> {
    let role = role(world)?;
    role.authorization_server
        .as_ref()
        .and_then(|a| world.target.authorization_servers.get(a))
        .map(|a| a.alg)
        .ok_or_else(|| StepError::Skip("the role names no authorization server".into()))
}

/// The last ID-JAG's header and claims, decoded (the issuer's signature is checked by the
/// authorization server steps, not here).
fn id_jag_parts(world: &World) -> Result<(Value, Value), StepError> {
    let token = world
        .id_jag
        .as_ref()
        .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
    let mut parts = token.secret().split('.');
    let mut decode = |what: &str| {
        parts
            .next()
            .and_then(|p| crate::jose::b64_decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or_else(|| {
                fail(
                    format!("a compact JWS with a JSON {what}"),
                    "something else",
                )
            })
    };
    let header = decode("header")?;
    let claims = decode("payload")?;
    Ok((header, claims))
}

/// The target's admin API for this check (what it sends is scrubbed from the report);
/// skipped when the target has none.
fn admin(world: &World) -> Result<AdminClient, StepError> {
    let Some(access) = &world.target.admin else {
        return Err(StepError::Skip("the target has no admin API".into()));
    };
    admin_of(world, access)
}

/// The admin API at `access` for this check.
fn admin_of(world: &World, access: &super::target::AdminAccess) -> Result<AdminClient, StepError> {
    world
        .http
        .admin(access)
        .map_err(|e| fail("an admin URL the admin token may be sent to", e.to_string()))
}

impl From<AdminError> for StepError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Refused {
                request,
                status,
                description,
            } => fail(
                format!("{request} → 2xx"),
                format!("HTTP {status}: {}", crate::oauth::shorten(&description)),
            ),
            AdminError::Read { request, error } => fail(
                format!("the whole answer from {request}"),
                error.to_string(),
            ),
            other => fail("an answer from the admin API", other.to_string()),
        }
    }
}

/// POSTs a form with client_secret_basic; records the exchange with secrets redacted.
pub(crate) async fn post_form(
    http: &Http,
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(String, String)],
) -> Result<Answer, StepError> {
    let mut request = http.post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_authorization(id, secret));
    }
    let response = http
        .send(request)
        .await
        .map_err(|e| fail(format!("an answer from POST {url}"), e.to_string()))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = read_text(http, response, MAX_ANSWER_BYTES, &format!("POST {url}")).await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let shown: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", redact::shown(k, v)))
        .collect();
    let shown_body = redact::redact_json(&body);
    Ok(Answer {
        status,
        body,
        headers,
        exchange: Exchange {
            request: format!("POST {url}"),
            request_body: shown.join("&"),
            status,
            response_body: if shown_body.is_null() {
                crate::oauth::shorten(&redact::redact_body(&text))
            } else {
                shown_body.to_string()
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_pattern_compiles_and_reads_its_own_parameters() {
        let registry = &*REGISTRY;
        assert!(registry.defs.len() > 60, "{} steps", registry.defs.len());
        for (def, pattern) in registry.defs.iter().zip(&registry.patterns) {
            assert!(
                def.line > 0 && def.function.contains("::"),
                "{}: no location",
                def.pattern
            );
            // A pattern captures exactly as many values as its function takes: with
            // every capture absent, `check` fails on the first parameter (a missing
            // capture) or at `end` (too many), never by running out.
            let mut args = Args(vec![None; pattern.parameters].into_iter());
            if let Err(e) = (def.check)(&mut args) {
                assert!(!e.contains("more"), "{}: {e}", def.function);
            }
        }
    }

    #[test]
    fn every_sentence_in_the_features_matches_exactly_one_step() {
        let checks = super::super::plan::plan(&super::super::plan::FEATURES).unwrap();
        let mut sentences = 0;
        for c in &checks {
            for s in &c.steps {
                sentences += 1;
                if let Err(e) = check(&s.text) {
                    panic!("{}: `{}`: {e}", c.id, s.text);
                }
            }
        }
        assert!(sentences > 1000, "{sentences} sentences");
    }

    #[test]
    fn a_sentence_two_patterns_match_is_refused_as_ambiguous() {
        // The real patterns do not overlap (the test above), so two that do are made here.
        static A: Def = Def {
            pattern: "the request is granted",
            function: "a",
            line: 1,
            isolation: None,
            check: |_| Ok(()),
            run: |_, _| Box::pin(async { Ok(()) }),
        };
        static B: Def = Def {
            pattern: "the {} is granted",
            function: "b",
            line: 2,
            isolation: None,
            check: |_| Ok(()),
            run: |_, _| Box::pin(async { Ok(()) }),
        };
        let registry = Registry::new(vec![&A, &B]);
        assert_eq!(
            registry.resolve("the request is granted").err(),
            Some(Unmatched::Ambiguous(vec![
                "a (line 1)".into(),
                "b (line 2)".into()
            ]))
        );
        assert!(registry.resolve("the redemption is granted").is_ok());
        assert_eq!(
            check("the redemption is granted and also something"),
            Err(Unmatched::Undefined)
        );
    }

    #[test]
    fn a_capture_that_does_not_read_is_refused_when_the_features_load() {
        let sentence = |n: &str| {
            format!("within {n} seconds the exporter's status shows lag 0 and a last success")
        };
        assert_eq!(check(&sentence("0")), Ok(()));
        assert_eq!(check(&sentence("600")), Ok(()));
        assert!(matches!(
            check(&sentence("601")),
            Err(Unmatched::BadArgument(_))
        ));
        assert!(matches!(
            check(&sentence("99999999999999999999999")),
            Err(Unmatched::BadArgument(_))
        ));
        assert!(matches!(
            check("the ID-JAG is re-signed with a hat"),
            Err(Unmatched::BadArgument(_))
        ));
        assert!(matches!(
            check(
                "filtering the system log by its colour lists the event, and only events that match"
            ),
            Err(Unmatched::BadArgument(_))
        ));
    }

    #[test]
    fn captures_reach_the_function_typed_and_unquoted() {
        let (def, mut args) =
            resolve(r#"the redemption is denied with HTTP 400 and OAuth error "invalid_grant" or "invalid_client", or "invalid_request" as a warning"#)
                .unwrap();
        assert!(
            def.function.ends_with("answers::is_denied"),
            "{}",
            def.function
        );
        let _: answers::Exchanged = args.next().unwrap();
        assert_eq!(args.next::<u16>(), Ok(400));
        let errors: answers::ExpectedErrors = args.next().unwrap();
        assert_eq!(
            format!("{errors:?}"),
            r#"ExpectedErrors { accepted: ["invalid_grant", "invalid_client"], tolerated: Some("invalid_request") }"#
        );
        assert_eq!(args.end(), Ok(()));
    }
}

//! The suite's own behaviour: a scenario whose expectation the target does not meet fails
//! (or warns, at `@should`) with the exact expected and actual values and the HTTP
//! exchange, credentials redacted; a role the target lacks skips; the report renders.

use jagspec::suite::{Outcome, SuiteOptions, TargetSpec, run_features};

const WRONG: &str = r#"
Feature: Deliberately wrong expectations
  Background:
    Given the user "alice" has signed in with the client

  @SEED-denial-server-paused @must
  Scenario: A paused server is expected to say something else
    Given the target offers the ES256 server paused
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_scope"

  @SEED-denial-server-paused @should
  Scenario: The same expectation at SHOULD level only warns
    Given the target offers the ES256 server paused
    When the client requests an ID-JAG for it
    Then the audit event of the request has status detail "Server running"

  @D3 @must
  Scenario: An error the documents tolerate but jagspec does not expect only warns
    Given the target offers the ES256 server paused
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_scope", or "access_denied" as a warning

  @SEED-denial-no-grant @must
  Scenario: A role the target lacks is skipped
    Given the target offers a server with a maximum grant lifetime of 900 seconds
    When the client requests an ID-JAG for it
    Then the request is granted
"#;

#[tokio::test]
async fn a_wrong_expectation_fails_a_should_warns_and_a_missing_role_skips() {
    let report = run_features(
        &TargetSpec::Reference,
        &[("wrong.feature", WRONG)],
        &SuiteOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let outcomes: Vec<Outcome> = report.checks.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Fail, Outcome::Warn, Outcome::Warn, Outcome::Skip]
    );
    assert!(!report.passed());

    let failed = report.checks[0].finding.as_ref().unwrap();
    assert_eq!(
        failed.step,
        "the request is denied with HTTP 400 and OAuth error \"invalid_scope\""
    );
    assert_eq!(failed.expected, "HTTP 400 with error `invalid_scope`");
    assert_eq!(failed.actual, "HTTP 400 with error `access_denied`");
    let exchange = failed.exchange.as_ref().unwrap();
    assert!(
        exchange.request.starts_with("POST http://127.0.0.1:"),
        "{exchange:?}"
    );
    assert!(
        // The one redaction policy: a JWT keeps only its first ten characters.
        exchange
            .request_body
            .contains("subject_token=eyJhbGciOi…(redacted, "),
        "{exchange:?}"
    );
    assert!(
        exchange.response_body.contains("access_denied"),
        "{exchange:?}"
    );

    let warned = report.checks[1].finding.as_ref().unwrap();
    assert_eq!(
        (warned.expected.as_str(), warned.actual.as_str()),
        (
            "status detail `Server running`",
            "status detail `Server paused`"
        )
    );
    let tolerated = report.checks[2].finding.as_ref().unwrap();
    assert_eq!(
        (tolerated.expected.as_str(), tolerated.actual.as_str()),
        (
            "HTTP 400 with error `invalid_scope`",
            "HTTP 400 with error `access_denied`"
        )
    );
    assert_eq!(
        report.checks[3].finding.as_ref().unwrap().actual,
        "the target offers no `a server with a maximum grant lifetime of 900 seconds`"
    );

    let junit = report.to_junit();
    let parsed = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    assert_eq!((parsed.tests, parsed.failures), (4, 1), "{junit}");
    assert!(junit.contains(" skipped=\"1\""), "{junit}");
    let json = report.to_json();
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(json["summary"]["warned"], 2);
    assert!(
        json["checks"][0]["clauses"][0]
            .as_str()
            .unwrap()
            .contains("Server paused")
    );
}

const WRONG_SYSTEM_LOG: &str = r#"
Feature: System-log expectations the reference does not meet
  Background:
    Given the user "alice" has signed in with the client

  @SEED-issuance-only @must
  Scenario: A second token request after the log is noted is one event too many
    Given the target offers the ES256 server
    And the system log's events so far are noted
    When the client requests an ID-JAG for it
    And the client requests an ID-JAG for it
    Then the system log holds one event more than was noted, the request's

  @SEED-algorithm-mismatch @must
  Scenario: A server whose authorization server verifies its algorithm shows no mismatch
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it
    Then the system log's event of the request records an algorithm other than the one its authorization server verifies
"#;

#[tokio::test]
async fn the_system_log_checks_fail_an_extra_event_and_a_mismatch_that_is_not_there() {
    let report = run_features(
        &TargetSpec::Reference,
        &[("wrong.feature", WRONG_SYSTEM_LOG)],
        &SuiteOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let outcomes: Vec<Outcome> = report.checks.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [Outcome::Fail, Outcome::Fail]);
    let extra = report.checks[0].finding.as_ref().unwrap();
    assert!(extra.actual.starts_with("2 new: "), "{extra:?}");
    let mismatch = report.checks[1].finding.as_ref().unwrap();
    assert_eq!(
        mismatch.expected,
        "a recorded algorithm other than ES256, the one the authorization server verifies"
    );
    assert_eq!(mismatch.actual, "`ES256`");
}

#[test]
fn a_sentence_no_step_defines_is_refused_before_anything_runs() {
    let text = "Feature: F\n  @AS-15\n  Scenario: S\n    Given the moon is full\n";
    let err =
        jagspec::suite::checks_of(&[("f.feature", text)], &SuiteOptions::default()).unwrap_err();
    assert_eq!(err.reason, "no step definition matches: `the moon is full`");
}

#[test]
fn a_role_jagspec_does_not_know_is_refused_before_anything_runs() {
    // Before the roles were a type, this was a skip at run time ("the target offers no
    // `a paused server`"), indistinguishable from a target that lacks the role.
    let text =
        "Feature: F\n  @IDP-10\n  Scenario: S\n    Given the target offers a paused server\n";
    let err =
        jagspec::suite::checks_of(&[("f.feature", text)], &SuiteOptions::default()).unwrap_err();
    assert!(
        err.reason.starts_with(
            "the step cannot read it: `a paused server` is no role jagspec knows: the roles are"
        ),
        "{}",
        err.reason
    );
    assert!(
        err.reason
            .ends_with(": `the target offers a paused server`"),
        "{}",
        err.reason
    );
}

/// The subset of JSON Schema the report schema uses: type (one or several), enum,
/// required, properties, additionalProperties: false, items, minimum.
fn validate(schema: &serde_json::Value, value: &serde_json::Value, path: &str) -> Vec<String> {
    use serde_json::Value;
    let mut errors = Vec::new();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.contains(&kind) {
            errors.push(format!("{path}: {kind} is not {allowed:?}"));
            return errors;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        errors.push(format!("{path}: {value} not in {options:?}"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_i64),
        value.as_i64(),
    ) && n < min
    {
        errors.push(format!("{path}: {n} < {min}"));
    }
    if let Value::Object(map) = value {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !map.contains_key(r.as_str().unwrap_or_default()) {
                errors.push(format!("{path}: missing {r}"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => errors.extend(validate(s, v, &format!("{path}.{k}"))),
                None if schema["additionalProperties"] == false => {
                    errors.push(format!("{path}: unexpected {k}"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            errors.extend(validate(s, item, &format!("{path}[{i}]")));
        }
    }
    errors
}

#[tokio::test]
async fn the_json_report_follows_the_published_schema_for_every_outcome() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/report-schema.json")).unwrap();
    let report = run_features(
        &TargetSpec::Reference,
        &[("wrong.feature", WRONG)],
        &SuiteOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let json = report.to_json();
    assert_eq!(validate(&schema, &json, "$"), Vec::<String>::new());
    // The validator is not vacuous: a report with a stray member is refused.
    let mut broken = json;
    broken["checks"][0]["verdict"] = serde_json::json!("x");
    broken["summary"]["failed"] = serde_json::json!(-1);
    assert_eq!(
        validate(&schema, &broken, "$"),
        vec![
            "$.checks[0]: unexpected verdict".to_owned(),
            "$.summary.failed: -1 < 0".to_owned()
        ]
    );
}

// The self-test (issue 5, item 6): a suite that cannot fail proves nothing. Each
// deliberate defect must fail exactly the checks that should catch it, and nothing else.

/// Runs the whole suite against the reference with `faults`; the ids of the checks that
/// did not pass, with their outcome.
async fn not_passed(faults: jagspec::mocks::Faults) -> Vec<(String, Outcome)> {
    let report = jagspec::suite::run(
        &TargetSpec::BrokenReference(faults),
        &SuiteOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .map(|c| (format!("{} {}", c.id, c.scenario), c.outcome))
        .collect()
}

/// The checks `catches` selects, in the suite's order, each graded as a broken check of
/// its level is: a `must` fails, a `should` warns. Selection is by file and scenario name,
/// never by line number, so editing a feature file does not break the self-test.
fn expected(catches: impl Fn(&str, &str) -> bool) -> Vec<(String, Outcome)> {
    jagspec::suite::checks(&SuiteOptions::default())
        .unwrap()
        .into_iter()
        .filter(|c| {
            let file = c.id.split(':').next().unwrap_or_default();
            catches(file, &c.scenario)
        })
        .map(|c| {
            let graded = if c.level == jagspec::suite::Level::Must {
                Outcome::Fail
            } else {
                Outcome::Warn
            };
            (format!("{} {}", c.id, c.scenario), graded)
        })
        .collect()
}

/// The algorithm a check runs under: the first one its name mentions ("An EdDSA ID-JAG
/// re-signed with the issuer's ES256 key" runs under EdDSA).
fn alg_of(scenario: &str) -> Option<&'static str> {
    ["EdDSA", "RS256", "ES256"]
        .into_iter()
        .filter_map(|alg| scenario.find(alg).map(|at| (at, alg)))
        .min()
        .map(|(_, alg)| alg)
}

const AS_FEATURE: &str = "features/authorization-server.feature";
const PAUSED_IN_THE_SYSTEM_LOG: &str =
    "Filtering the system log by the status detail \"Server paused\" finds the denial";
const HOSTILE_FEATURE: &str = "features/hostile-id-jags.feature";

#[tokio::test]
async fn an_issuer_that_ignores_the_kill_switch_fails_exactly_the_kill_switch_checks() {
    let faults = jagspec::mocks::Faults {
        issuer: Some(jagspec::issuer::IssuerFault::IgnoreKillSwitch),
        ..Default::default()
    };
    let want = expected(|_, scenario| {
        scenario.starts_with("A paused server gets no token (")
            || scenario
                == "Disabling a server denies its next token request, and enabling it \
                        restores it unchanged"
            || scenario == PAUSED_IN_THE_SYSTEM_LOG
    });
    // Not vacuous: the three paused-server rows, the kill-switch scenario and the system
    // log's "Server paused" row.
    assert_eq!(want.len(), 5);
    assert_eq!(not_passed(faults).await, want);
}

#[tokio::test]
async fn an_issuer_that_signs_with_the_tenant_default_fails_exactly_the_checks_of_the_other_algorithms()
 {
    let faults = jagspec::mocks::Faults {
        issuer: Some(jagspec::issuer::IssuerFault::SignWithTenantDefault),
        ..Default::default()
    };
    // Every check that reads the algorithm of an EdDSA or RS256 ID-JAG, or redeems one at
    // the server pinned to it; and the seeds' fix for the mismatch, which cannot work.
    let want = expected(|file, scenario| {
        let other = matches!(alg_of(scenario), Some("EdDSA" | "RS256"));
        (other
            && (file == AS_FEATURE
                || file == HOSTILE_FEATURE
                || scenario.contains("server is signed with")))
            || scenario.starts_with("Setting the server's signing algorithm")
            || scenario.starts_with("A token the authorization server rejects is debugged")
    });
    // Not vacuous: every EdDSA and RS256 check that reads or redeems an ID-JAG, and the fix
    // (alone, and at the end of the system log's debugging path).
    assert_eq!(want.len(), 106);
    assert_eq!(not_passed(faults).await, want);
}

#[tokio::test]
async fn an_authorization_server_that_skips_the_typ_check_fails_exactly_the_typ_checks() {
    let faults = jagspec::mocks::Faults {
        authorization_servers: Some(jagspec::mocks::auth_server::AsFault::SkipTypCheck),
        ..Default::default()
    };
    let want = expected(|file, scenario| {
        (file == HOSTILE_FEATURE
            && (scenario.contains("re-signed with typ ")
                || scenario.contains("re-signed with no typ ")))
            || scenario.starts_with("An ID-JAG whose typ is not oauth-id-jag+jwt")
    });
    // Not vacuous: the nine typ rows and the typ scenario.
    assert_eq!(want.len(), 10);
    assert_eq!(not_passed(faults).await, want);
}

#[tokio::test]
async fn an_authorization_server_that_forgets_redeemed_jtis_fails_exactly_the_replay_checks() {
    let faults = jagspec::mocks::Faults {
        authorization_servers: Some(jagspec::mocks::auth_server::AsFault::ForgetJti),
        ..Default::default()
    };
    let want = expected(|_, scenario| {
        scenario.starts_with("A valid ")
            && (scenario.ends_with("is redeemed once and only once")
                || scenario.ends_with("redeemed eight times at once is granted once"))
    });
    // Not vacuous: two replay checks (serial, concurrent) per algorithm.
    assert_eq!(want.len(), 6);
    assert_eq!(not_passed(faults).await, want);
}

/// A profile naming the ES256 server and the paused server of a running ecosystem.
fn es256_profile(m: &jagspec::mocks::Manifest) -> String {
    let a = |name: &str| {
        m.authorization_servers
            .iter()
            .find(|a| a.name == name)
            .unwrap()
    };
    let (es, paused) = (a("es256"), a("paused"));
    format!(
        r#"
[issuer]
metadata_url = "{metadata}"
[client]
client_id = "agent"
client_secret = "agent-secret"
[users.alice]
password = "alice-password"
[audit]
events_url = "{admin}/audit-events?request_id={{request_id}}"
bearer_token = "{token}"
[[servers]]
alg = "ES256"
audience = "{es}"
resource = "{es_mcp}"
scope = "chat.read"
[[servers]]
alg = "ES256"
state = "paused"
audience = "{paused}"
resource = "{paused_mcp}"
scope = "tools.read"
"#,
        metadata = m.issuer.metadata_url,
        admin = m.issuer.admin_url,
        token = m.issuer.admin_token.secret(),
        es = es.issuer,
        es_mcp = es.mcp_servers[0].url,
        paused = paused.issuer,
        paused_mcp = paused.mcp_servers[0].url,
    )
}

#[tokio::test]
async fn through_a_profile_an_issuer_that_ignores_the_kill_switch_fails_the_paused_checks_only() {
    let ecosystem = jagspec::mocks::Ecosystem::start_with(jagspec::mocks::EcosystemOptions {
        faults: jagspec::mocks::Faults {
            issuer: Some(jagspec::issuer::IssuerFault::IgnoreKillSwitch),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let text = es256_profile(ecosystem.manifest());
    let profile = jagspec::suite::IssuerProfile::parse(&text, "jagspec").unwrap();
    let report = jagspec::suite::run(
        &TargetSpec::Issuer(std::sync::Arc::new(profile)),
        &SuiteOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let not_passed: Vec<(&str, Outcome)> = report
        .checks
        .iter()
        .filter(|c| !matches!(c.outcome, Outcome::Pass | Outcome::Skip))
        .map(|c| (c.scenario.as_str(), c.outcome))
        .collect();
    assert_eq!(
        not_passed,
        vec![
            ("A paused server gets no token (ES256)", Outcome::Fail),
            (PAUSED_IN_THE_SYSTEM_LOG, Outcome::Fail)
        ]
    );
    // An issuer's exporters are configured its own way: those checks skip, saying why.
    let exporters: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.scenario.starts_with("An http exporter"))
        .map(|c| {
            assert_eq!(c.outcome, Outcome::Skip);
            c.finding.as_ref().unwrap().actual.as_str()
        })
        .collect();
    assert_eq!(exporters.len(), 2);
    assert!(
        exporters
            .iter()
            .all(|why| why.contains("exporter configuration is vendor-specific")),
        "{exporters:?}"
    );
    // And the same profile against a sound issuer passes that check.
    let sound = jagspec::mocks::Ecosystem::start().await.unwrap();
    let profile =
        jagspec::suite::IssuerProfile::parse(&es256_profile(sound.manifest()), "jagspec").unwrap();
    let report = jagspec::suite::run(
        &TargetSpec::Issuer(std::sync::Arc::new(profile)),
        &SuiteOptions {
            name: Some("A paused server gets no token (ES256)".into()),
            ..SuiteOptions::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.checks.len(), 1);
    assert_eq!(report.checks[0].outcome, Outcome::Pass);
    ecosystem.stop().await;
    sound.stop().await;
}

// `jagspec test as`: jagspec's IdP, trusted by the mock authorization servers.

/// An `as` profile for the mock authorization server `name` of a running ecosystem.
pub(crate) fn as_profile(m: &jagspec::mocks::Manifest, name: &str) -> jagspec::suite::AsProfile {
    let a = m
        .authorization_servers
        .iter()
        .find(|a| a.name == name)
        .unwrap();
    let (scope, other) = if name == "es256" {
        ("chat.read", "chat.write")
    } else {
        ("tools.read", "tools.write")
    };
    let foreign = m
        .authorization_servers
        .iter()
        .find(|o| o.name != name)
        .unwrap()
        .mcp_servers[0]
        .url
        .clone();
    let text = format!(
        r#"
[idp]
listen = "127.0.0.1:0"
keys_dir = "unused"
[authorization_server]
metadata_url = "{metadata}"
alg = "{alg}"
client_id = "{client_id}"
client_secret = "{client_secret}"
resource = "{resource}"
scope = "{scope}"
other_scope = "{other}"
subject = "alice"
foreign_resource = "{foreign}"
call_mcp_server = true
"#,
        metadata = a.metadata_url,
        alg = a.alg,
        client_id = a.client_id,
        client_secret = a.client_secret.secret(),
        resource = a.mcp_servers[0].url,
    );
    jagspec::suite::AsProfile::parse(&text, std::path::Path::new(".")).unwrap()
}

/// jagspec's IdP on an ephemeral port, with the committed fixture keys.
pub(crate) async fn idp() -> std::sync::Arc<jagspec::suite::LocalIdp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    std::sync::Arc::new(
        jagspec::suite::LocalIdp::start_on(listener, jagspec::jose::fixtures::key_set()).unwrap(),
    )
}

/// Runs the authorization-server scenarios of `test as` against the mock `name`.
pub(crate) async fn test_as(
    faults: jagspec::mocks::Faults,
    name: &str,
) -> (Vec<(String, Outcome)>, jagspec::suite::Report) {
    let idp = idp().await;
    let ecosystem = jagspec::mocks::Ecosystem::start_with(jagspec::mocks::EcosystemOptions {
        also_trusted_issuers: vec![idp.issuer.clone()],
        faults,
        ..Default::default()
    })
    .await
    .unwrap();
    let spec = TargetSpec::AuthorizationServer {
        profile: std::sync::Arc::new(as_profile(ecosystem.manifest(), name)),
        idp,
    };
    let report = jagspec::suite::run(
        &spec,
        &SuiteOptions {
            tags: Some(jagspec::suite::TagExpr::parse("@authorization-server").unwrap()),
            ..SuiteOptions::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    ecosystem.stop().await;
    let not_passed = report
        .checks
        .iter()
        .filter(|c| !matches!(c.outcome, Outcome::Pass | Outcome::Skip))
        .map(|c| (c.scenario.clone(), c.outcome))
        .collect();
    (not_passed, report)
}

#[tokio::test]
async fn test_as_passes_against_each_mock_authorization_server_with_every_check_of_its_algorithm() {
    for (name, alg) in [("eddsa", "EdDSA"), ("rs256", "RS256"), ("es256", "ES256")] {
        let (not_passed, report) = test_as(jagspec::mocks::Faults::default(), name).await;
        assert_eq!(not_passed, vec![], "{name}");
        // Every check of the server's algorithm ran, except the two no external target can
        // have: the mismatch server, and moving the clock.
        let skipped: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Skip && alg_of(&c.scenario) == Some(alg))
            .map(|c| c.scenario.as_str())
            .collect();
        assert_eq!(
            skipped,
            vec![format!(
                "An expired {alg} ID-JAG is refused, while a fresh one is accepted"
            )],
            "{name}"
        );
        let passed = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Pass)
            .count();
        assert!(passed >= 40, "{name}: {passed} passed");
    }
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_skips_the_typ_check_exactly() {
    let faults = jagspec::mocks::Faults {
        authorization_servers: Some(jagspec::mocks::auth_server::AsFault::SkipTypCheck),
        ..Default::default()
    };
    let (not_passed, _) = test_as(faults, "es256").await;
    assert_eq!(
        not_passed,
        vec![
            (
                "An ID-JAG whose typ is not oauth-id-jag+jwt is refused, while the same token \
                 correctly typed is accepted"
                    .to_owned(),
                Outcome::Fail
            ),
            (
                "An ES256 ID-JAG re-signed with typ \"JWT\" is refused".to_owned(),
                Outcome::Fail
            ),
            (
                "An ES256 ID-JAG re-signed with typ \"at+jwt\" is refused".to_owned(),
                Outcome::Fail
            ),
            (
                "An ES256 ID-JAG re-signed with no typ is refused".to_owned(),
                Outcome::Fail
            ),
        ]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_forgets_jtis_exactly() {
    let faults = jagspec::mocks::Faults {
        authorization_servers: Some(jagspec::mocks::auth_server::AsFault::ForgetJti),
        ..Default::default()
    };
    let (not_passed, _) = test_as(faults, "eddsa").await;
    assert_eq!(
        not_passed,
        vec![
            (
                "A valid EdDSA ID-JAG is redeemed once and only once".to_owned(),
                Outcome::Fail
            ),
            (
                "A valid EdDSA ID-JAG redeemed eight times at once is granted once".to_owned(),
                Outcome::Fail
            ),
        ]
    );
}

// `jagspec doctor`: the seeds' troubleshooting cases on a real chain.

mod doctor {
    use jagspec::suite::doctor::{
        ALGORITHM_MISMATCH, AUDIENCE_NOT_REGISTERED, DoctorRequest, TARGET_URL_NOT_REGISTERED,
        diagnose,
    };
    use jagspec::suite::{IssuerProfile, Target};

    /// The reference ecosystem and its target, holding the fixture keys.
    async fn reference() -> (jagspec::mocks::Ecosystem, Target) {
        let e = jagspec::mocks::Ecosystem::start().await.unwrap();
        let mut t = Target::from_manifest("reference", e.manifest());
        t.signing_keys = Some(jagspec::jose::fixtures::key_set());
        (e, t)
    }

    fn mcp_url(e: &jagspec::mocks::Ecosystem, server: &str, mcp: &str) -> String {
        let a = e
            .manifest()
            .authorization_servers
            .iter()
            .find(|a| a.name == server)
            .unwrap();
        a.mcp_servers
            .iter()
            .find(|s| s.name == mcp)
            .unwrap()
            .url
            .clone()
    }

    fn request(
        t: &Target,
        e: &jagspec::mocks::Ecosystem,
        server: &str,
        mcp: (&str, &str),
    ) -> DoctorRequest {
        let m = e.manifest();
        let owner = m
            .authorization_servers
            .iter()
            .find(|a| a.name == mcp.0)
            .unwrap();
        let resource = owner.mcp_servers.iter().find(|s| s.name == mcp.1).unwrap();
        DoctorRequest {
            user: "alice".into(),
            authorization_server: t.authorization_servers[server].clone(),
            resource: resource.url.clone(),
            scope: resource.scopes[0].clone(),
        }
    }

    #[tokio::test]
    async fn a_working_chain_is_healthy() {
        let (e, t) = reference().await;
        let report = diagnose(&t, &request(&t, &e, "eddsa", ("eddsa", "tools"))).await;
        assert!(report.healthy(), "{report:?}");
        assert_eq!(report.steps.len(), 4);
        e.stop().await;
    }

    #[tokio::test]
    async fn the_algorithm_mismatch_names_the_algorithm_the_authorization_server_accepts() {
        let (e, t) = reference().await;
        let report = diagnose(&t, &request(&t, &e, "legacy", ("legacy", "tools"))).await;
        assert_eq!(report.problems.len(), 1, "{report:?}");
        let p = &report.problems[0];
        assert_eq!(p.title, ALGORITHM_MISMATCH.0);
        assert_eq!(p.seed_text.as_deref(), Some(ALGORITHM_MISMATCH.1));
        assert!(
            p.detail.starts_with("The ID-JAG is signed with ES256")
                && p.detail.ends_with(
                    "accepts the same ID-JAG signed with RS256. Set this server's signing \
                     algorithm to RS256."
                ),
            "{}",
            p.detail
        );
        e.stop().await;
    }

    #[tokio::test]
    async fn an_unregistered_audience_and_one_that_does_not_match_the_issuer_are_told_apart() {
        let (e, t) = reference().await;
        let report = diagnose(
            &t,
            &request(&t, &e, "unregistered", ("unregistered", "tools")),
        )
        .await;
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert_eq!(report.problems[0].title, AUDIENCE_NOT_REGISTERED.0);
        assert!(!report.problems[0].detail.contains("re-register it"));
        // The eddsa MCP server asked for with another authorization server's issuer: the
        // registry shows the resource server that lists it, under another audience.
        let report = diagnose(&t, &request(&t, &e, "unregistered", ("eddsa", "tools"))).await;
        let p = &report.problems[0];
        assert_eq!(p.title, AUDIENCE_NOT_REGISTERED.0);
        let eddsa = &t.authorization_servers["eddsa"].issuer;
        let unregistered = &t.authorization_servers["unregistered"].issuer;
        assert!(
            p.detail.contains(&format!(
                "The resource server `eddsa` lists {} with the audience {eddsa}, which does not \
                 match: re-register it with the audience {unregistered}.",
                mcp_url(&e, "eddsa", "tools")
            )),
            "{}",
            p.detail
        );
        e.stop().await;
    }

    #[tokio::test]
    async fn a_target_url_outside_the_resource_urls_says_which_server_to_add_it_to() {
        let (e, t) = reference().await;
        let report = diagnose(&t, &request(&t, &e, "es256", ("es256", "unlisted"))).await;
        assert_eq!(report.problems.len(), 1, "{report:?}");
        let p = &report.problems[0];
        assert_eq!(p.title, TARGET_URL_NOT_REGISTERED.0);
        assert_eq!(p.seed_text.as_deref(), Some(TARGET_URL_NOT_REGISTERED.1));
        assert!(
            p.detail.contains("The resource server `chat` lists")
                && p.detail.ends_with(&format!(
                    "add {} to them.",
                    mcp_url(&e, "es256", "unlisted")
                )),
            "{}",
            p.detail
        );
        e.stop().await;
    }

    #[tokio::test]
    async fn without_the_issuers_keys_or_system_log_the_doctor_says_what_it_cannot_tell() {
        let e = jagspec::mocks::Ecosystem::start().await.unwrap();
        let m = e.manifest();
        let a = |n: &str| {
            m.authorization_servers
                .iter()
                .find(|a| a.name == n)
                .unwrap()
        };
        let profile = format!(
            r#"
[issuer]
metadata_url = "{}"
[client]
client_id = "agent"
client_secret = "agent-secret"
[users.alice]
password = "alice-password"
[[servers]]
alg = "ES256"
audience = "{}"
resource = "{}"
scope = "tools.read"
[[authorization_servers]]
name = "legacy"
metadata_url = "{}"
alg = "RS256"
client_id = "agent-at-legacy"
client_secret = "agent-at-legacy-secret"
"#,
            m.issuer.metadata_url,
            a("legacy").issuer,
            a("legacy").mcp_servers[0].url,
            a("legacy").metadata_url
        );
        let t = IssuerProfile::parse(&profile, "jagspec")
            .unwrap()
            .resolve("issuer")
            .await
            .unwrap();
        let mut req = DoctorRequest {
            user: "alice".into(),
            authorization_server: t.authorization_servers["legacy"].clone(),
            resource: a("legacy").mcp_servers[0].url.clone(),
            scope: "tools.read".into(),
        };
        let report = diagnose(&t, &req).await;
        assert_eq!(report.problems[0].title, ALGORITHM_MISMATCH.0);
        assert!(
            report.problems[0].detail.contains(
                "jagspec does not hold this issuer's keys, so it cannot try the other algorithms"
            ),
            "{:?}",
            report.problems[0]
        );
        // invalid_target without the system log or the registry: both cases, both fixes.
        req.resource = "http://127.0.0.1:9/not-listed".into();
        let report = diagnose(&t, &req).await;
        let titles: Vec<&str> = report.problems.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            vec![AUDIENCE_NOT_REGISTERED.0, TARGET_URL_NOT_REGISTERED.0]
        );
        e.stop().await;
    }
}

#[tokio::test]
async fn test_as_stops_before_the_battery_when_the_server_does_not_trust_the_idp() {
    let idp = idp().await;
    // No also_trusted_issuers: the mocks trust the reference issuer only.
    let ecosystem = jagspec::mocks::Ecosystem::start().await.unwrap();
    let profile = as_profile(ecosystem.manifest(), "eddsa");
    let target = std::sync::Arc::new(profile.resolve(&idp).await.unwrap());
    let err = profile.preflight(&idp, target).await.unwrap_err();
    assert!(
        err.starts_with("the authorization server refused a valid EdDSA ID-JAG from jagspec's IdP (HTTP 400, error `invalid_grant`")
            && err.contains(&format!("Check that it trusts the issuer {}", idp.issuer)),
        "{err}"
    );
    ecosystem.stop().await;
    // And with the trust set up, the preflight passes.
    let trusting = jagspec::mocks::Ecosystem::start_with(jagspec::mocks::EcosystemOptions {
        also_trusted_issuers: vec![idp.issuer.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let profile = as_profile(trusting.manifest(), "eddsa");
    let target = std::sync::Arc::new(profile.resolve(&idp).await.unwrap());
    assert_eq!(profile.preflight(&idp, target).await, Ok(()));
    trusting.stop().await;
}

#[tokio::test]
async fn the_idp_serves_its_metadata_jwks_and_the_attackers_keys_and_certificates() {
    let idp = idp().await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{}{path}", idp.issuer);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let metadata: serde_json::Value = get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], idp.issuer.as_str());
    assert_eq!(metadata["jwks_uri"], format!("{}/jwks", idp.issuer));
    // Its token endpoint grants nothing: jagspec mints the ID-JAGs itself.
    let refused = http
        .post(metadata["token_endpoint"].as_str().unwrap())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let jwks: serde_json::Value = get("/jwks").await.json().await.unwrap();
    // The fixture key set: an active and a retired key per algorithm, all published.
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 6);
    let attacker: serde_json::Value = get("/attacker/jwks.json").await.json().await.unwrap();
    let attacker_kids: Vec<&str> = attacker["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        attacker_kids,
        vec!["attacker-EdDSA", "attacker-RS256", "attacker-ES256"]
    );
    // The attacker's keys are never the IdP's own.
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| !k["kid"].as_str().unwrap().starts_with("attacker-"))
    );
    for alg in ["eddsa", "rs256", "es256"] {
        let response = get(&format!("/attacker/{alg}.pem")).await;
        assert_eq!(response.status(), 200, "{alg}");
        let pem = response.text().await.unwrap();
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----")
                && pem.trim_end().ends_with("-----END CERTIFICATE-----"),
            "{alg}: {pem}"
        );
    }
    assert_eq!(get("/attacker/none.pem").await.status(), 404);
}

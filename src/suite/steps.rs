//! The step library: every sentence the feature files may use, and what it does over
//! HTTP. Steps never call issuer internals, so the same sentences run against
//! any target.

use super::http::{Http, MAX_ANSWER_BYTES};
use super::report::Exchange;
use super::target::{Login, Provision, Role, Target};
use crate::http::ReadError;
use crate::oauth::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT, basic_authorization,
};
use crate::redact;
use crate::types::Secret;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

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

/// The most a step reads of one page of the system log (up to 1000 events) or of one
/// download of it.
const MAX_LOG_BYTES: usize = 32 * 1024 * 1024;

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
    wycheproof: Vec<WycheproofOutcome>,
    /// The `scope` the last token exchange asked for.
    requested_scope: Option<String>,
    /// The system log's event ids when a step noted them.
    noted_events: Option<std::collections::BTreeSet<String>>,
    /// The SIEM sink the suite runs for an exporter it added.
    siem: Option<SuiteSiem>,
}

/// A SIEM sink the suite serves on loopback, and the exporter pointed at it.
struct SuiteSiem {
    sink: std::sync::Arc<crate::mocks::siem::SiemSink>,
    /// Stops serving when the check's world is dropped.
    _served: crate::served::Served,
    exporter: String,
    hec: bool,
    /// The events the log held before the exporter was added: the seed promises what is
    /// recorded "from then on"; these may arrive too, but need not.
    before: std::collections::BTreeSet<String>,
}

/// One Wycheproof case's redemption.
#[derive(Debug, Clone)]
struct WycheproofOutcome {
    source: String,
    comment: String,
    flags: Vec<String>,
    expected: crate::jose::wycheproof::Expected,
    status: u16,
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
    role: &str,
) -> Result<Answer, StepError> {
    let mut world = World::new(target, false, Http::new());
    offers(&mut world, role).await?;
    request_id_jag(&mut world, Variant::plain()).await?;
    redeem(&mut world).await?;
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
            Self::NeedsIsolation(reason) => write!(f, "needs a target of its own: {reason}"),
        }
    }
}

/// The step sentences, in the order they are tried.
#[derive(Debug, Clone, Copy)]
enum Def {
    SignedIn,
    Offers,
    ClockMoves,
    RequestIdJag,
    RequestIdJagWithScope,
    RequestIdJagWithoutResource,
    Redeem,
    Granted,
    Denied,
    AuditDetail,
    AuditOutcome,
    AuditScope,
    AuditRecordsToken,
    IdJagAlg,
    IdJagHeader,
    IdJagClaims,
    IdJagClaimIsRole,
    IdJagClaim,
    IdJagLifetime,
    ResponseMember,
    ResponseLacks,
    AnotherClientRequests,
    WrongClientSecret,
    TamperedSubjectToken,
    RequestedTokenType,
    AdminDisables,
    AdminEnables,
    AdminDisablesTenant,
    AdminRegistersWith,
    AdminChangesAudience,
    AdminSetsHook,
    ConfigurationKept,
    ReSignTyp,
    AuditNamesWho,
    AdminAddsTargetUrl,
    AdminSetsAsAlg,
    PresentToIssuer,
    IdJagLacksClaims,
    RedeemWith,
    ResponseHeader,
    ResponseMemberIsRole,
    AccessTokenClaimIsRole,
    RefusedOrNarrowedAudience,
    RefusedOrNarrowedScope,
    RequestWithUngranted,
    AuditRoleScope,
    IdJagSubIsSubject,
    RequestWithOtherScope,
    RedeemAtOnce,
    ExactlyOneGranted,
    RefusedAny,
    McpAccepts,
    RedeemWycheproof,
    WycheproofGraded,
    AuditEveryField,
    FilterFinds,
    Download,
    AuditAlgVsAs,
    AuditKeyInJwks,
    NoteLog,
    McpSession,
    OneMoreEvent,
    AddExporter,
    SinkHoldsAll,
    ExporterCaughtUp,
}

static DEFS: LazyLock<Vec<(Regex, Def)>> = LazyLock::new(|| {
    let defs: [(&str, Def); 65] = [
        (
            r#"^the user "([^"]+)" has signed in with the client$"#,
            Def::SignedIn,
        ),
        (r"^the target offers (.+)$", Def::Offers),
        (r"^the clock moves (\d+) seconds forward$", Def::ClockMoves),
        (r"^the client requests an ID-JAG for it$", Def::RequestIdJag),
        (
            r#"^the client requests an ID-JAG for it with scope "([^"]*)"$"#,
            Def::RequestIdJagWithScope,
        ),
        (
            r"^the client requests an ID-JAG for it without a resource$",
            Def::RequestIdJagWithoutResource,
        ),
        (
            r"^the ID-JAG is redeemed at its authorization server(?: again)?$",
            Def::Redeem,
        ),
        (r"^the (?:request|redemption) is granted$", Def::Granted),
        (
            r#"^the (?:request|redemption|administration request) is (?:denied|refused) with HTTP (\d+) and (?:OAuth )?error "([^"]+)"(?: or "([^"]+)")?(?:, or "([^"]+)" as a warning)?$"#,
            Def::Denied,
        ),
        (
            r#"^the audit event of the request has status detail "([^"]+)"$"#,
            Def::AuditDetail,
        ),
        (
            r#"^the audit event of the request records the outcome "(granted|denied)"$"#,
            Def::AuditOutcome,
        ),
        (
            r#"^the audit event records scope "([^"]+)" as (granted|denied)$"#,
            Def::AuditScope,
        ),
        (
            r"^the audit event records the ID-JAG's token id, key id, algorithm and lifetime$",
            Def::AuditRecordsToken,
        ),
        (
            r"^the ID-JAG is signed with (EdDSA|RS256|ES256)$",
            Def::IdJagAlg,
        ),
        (
            r#"^the ID-JAG has the header "([^"]+)" equal to "([^"]*)"$"#,
            Def::IdJagHeader,
        ),
        (r"^the ID-JAG carries the claims (.+)$", Def::IdJagClaims),
        (
            r#"^the ID-JAG's "([^"]+)" claim is the role's (audience|resource|scope)$"#,
            Def::IdJagClaimIsRole,
        ),
        (
            r#"^the ID-JAG's "([^"]+)" claim is "([^"]*)"$"#,
            Def::IdJagClaim,
        ),
        (r"^the ID-JAG lives (\d+) seconds$", Def::IdJagLifetime),
        (
            r#"^the response's "([^"]+)" is "([^"]*)"$"#,
            Def::ResponseMember,
        ),
        (r#"^the response has no "([^"]+)"$"#, Def::ResponseLacks),
        (
            r"^another client requests an ID-JAG for it with the same subject token$",
            Def::AnotherClientRequests,
        ),
        (
            r"^the client requests an ID-JAG for it with a wrong client secret$",
            Def::WrongClientSecret,
        ),
        (
            r"^the client requests an ID-JAG for it with a tampered subject token$",
            Def::TamperedSubjectToken,
        ),
        (
            r#"^the client requests an ID-JAG for it with requested token type "([^"]+)"$"#,
            Def::RequestedTokenType,
        ),
        (r"^the administrator disables it$", Def::AdminDisables),
        (r"^the administrator enables it again$", Def::AdminEnables),
        (
            r"^the administrator disables enterprise-managed authorization$",
            Def::AdminDisablesTenant,
        ),
        (
            r"^the administrator registers another resource server with (the tenant's own URL|its audience|a new audience) as audience$",
            Def::AdminRegistersWith,
        ),
        (
            r"^the administrator changes its audience$",
            Def::AdminChangesAudience,
        ),
        (
            r"^the administrator sets its modify-claims hook$",
            Def::AdminSetsHook,
        ),
        (
            r"^its configuration is what it was before it was disabled$",
            Def::ConfigurationKept,
        ),
        (r"^the ID-JAG is re-signed with (.+)$", Def::ReSignTyp),
        (
            r"^the audit event of the request names the user, the client and the system$",
            Def::AuditNamesWho,
        ),
        (
            r"^the administrator adds the target URL to its resource URLs$",
            Def::AdminAddsTargetUrl,
        ),
        (
            r"^the administrator sets its signing algorithm to the one its authorization server verifies$",
            Def::AdminSetsAsAlg,
        ),
        (
            r"^the ID-JAG is presented to the issuer as a JWT bearer grant$",
            Def::PresentToIssuer,
        ),
        (
            r"^the ID-JAG carries none of the claims (.+)$",
            Def::IdJagLacksClaims,
        ),
        (
            r#"^the ID-JAG is redeemed at its authorization server (with a wrong client secret|without client authentication|with the resource of another authorization server|with its own resource|with its scope|with its scope and its other scope|with scope "([^"]*)")$"#,
            Def::RedeemWith,
        ),
        (
            r#"^the response's "([^"]+)" header (is|starts with) "([^"]*)"$"#,
            Def::ResponseHeader,
        ),
        (
            r#"^the response's "([^"]+)" is the role's (resource|scope)$"#,
            Def::ResponseMemberIsRole,
        ),
        (
            r#"^the access token's "([^"]+)" claim is the role's (audience|resource|scope)$"#,
            Def::AccessTokenClaimIsRole,
        ),
        (
            r#"^the redemption is refused, or its access token's "aud" claim is the role's resource$"#,
            Def::RefusedOrNarrowedAudience,
        ),
        (
            r#"^the redemption is refused with HTTP 400 and OAuth error "invalid_scope", or grants no scope beyond (?:"([^"]*)"|(its other scope))$"#,
            Def::RefusedOrNarrowedScope,
        ),
        (
            r"^the client requests an ID-JAG for it with its scope and the scope granted to nobody$",
            Def::RequestWithUngranted,
        ),
        (
            r"^the audit event records (the role's scope|the scope granted to nobody) as (granted|denied)$",
            Def::AuditRoleScope,
        ),
        (
            r#"^the ID-JAG's "sub" claim is the subject token's$"#,
            Def::IdJagSubIsSubject,
        ),
        (
            r"^the client requests an ID-JAG for it with its scope and its other scope$",
            Def::RequestWithOtherScope,
        ),
        (
            r"^the ID-JAG is redeemed at its authorization server (\d+) times at once$",
            Def::RedeemAtOnce,
        ),
        (
            r#"^exactly one of the redemptions is granted and every other is refused with OAuth error "([^"]+)"$"#,
            Def::ExactlyOneGranted,
        ),
        (r"^the redemption is refused$", Def::RefusedAny),
        (
            r"^the access token is accepted by the role's MCP server$",
            Def::McpAccepts,
        ),
        (
            r"^each Wycheproof signature case of the ID-JAG is redeemed at its authorization server$",
            Def::RedeemWycheproof,
        ),
        (
            r"^every invalid case is refused, and an acceptable one that is accepted is a warning$",
            Def::WycheproofGraded,
        ),
        (
            r"^the system log's event of the request records every field of the audit page$",
            Def::AuditEveryField,
        ),
        (
            r"^filtering the system log by its (.+) lists the event, and only events that match$",
            Def::FilterFinds,
        ),
        (
            r"^the system log's (NDJSON|CSV) download holds the event with every field unchanged$",
            Def::Download,
        ),
        (
            r"^the system log's event of the request records (the algorithm|an algorithm other than the one) its authorization server verifies$",
            Def::AuditAlgVsAs,
        ),
        (
            r"^the system log's event of the request records the key the issuer's JWKS publishes for that algorithm$",
            Def::AuditKeyInJwks,
        ),
        (r"^the system log's events so far are noted$", Def::NoteLog),
        (
            r"^the access token calls initialize, tools/list and tools/call at the role's MCP server$",
            Def::McpSession,
        ),
        (
            r"^the system log holds one event more than was noted, the request's$",
            Def::OneMoreEvent,
        ),
        (
            r"^the administrator adds an http exporter with the (ndjson|splunk_hec) envelope, pointed at a SIEM sink the suite runs$",
            Def::AddExporter,
        ),
        (
            r"^within (\d+) seconds the SIEM sink holds every event recorded since the exporter was added, every field as the system log lists it$",
            Def::SinkHoldsAll,
        ),
        (
            r"^within (\d+) seconds the exporter's status shows lag 0 and a last success$",
            Def::ExporterCaughtUp,
        ),
    ];
    defs.into_iter()
        .map(|(pattern, def)| {
            // The patterns are literals above; a test compiles every one.
            (
                Regex::new(pattern).unwrap_or_else(|e| panic!("step pattern {pattern}: {e}")),
                def,
            )
        })
        .collect()
});

/// Whether a sentence matches a step definition (for `--list` and plan checks).
pub(crate) fn is_defined(text: &str) -> bool {
    DEFS.iter().any(|(re, def)| match re.captures(text) {
        None => false,
        // The re-sign sentence has forms of its own.
        Some(c) if matches!(def, Def::ReSignTyp) => {
            parse_change(c.get(1).map_or("", |m| m.as_str())).is_ok()
        }
        // So is the list of filters.
        Some(c) if matches!(def, Def::FilterFinds) => {
            filter_fields(c.get(1).map_or("", |m| m.as_str())).is_ok()
        }
        // And the waits' bound.
        Some(c) if matches!(def, Def::SinkHoldsAll | Def::ExporterCaughtUp) => {
            wait_of(c.get(1).map_or("", |m| m.as_str())).is_ok()
        }
        Some(_) => true,
    })
}

/// Runs one step.
pub(crate) async fn run(world: &mut World, text: &str) -> Result<(), StepError> {
    let Some((def, args)) = DEFS.iter().find_map(|(re, def)| {
        re.captures(text).map(|c| {
            let args: Vec<String> = c
                .iter()
                .skip(1)
                .map(|m| m.map_or_else(String::new, |m| m.as_str().to_owned()))
                .collect();
            (*def, args)
        })
    }) else {
        return Err(StepError::Undefined);
    };
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let isolation = match def {
        Def::ClockMoves
        | Def::AdminDisables
        | Def::AdminEnables
        | Def::AdminDisablesTenant
        | Def::AdminRegistersWith
        | Def::AdminChangesAudience
        | Def::AdminSetsHook
        | Def::AdminAddsTargetUrl
        | Def::AdminSetsAsAlg => Some(CHANGES_TARGET),
        Def::AddExporter => Some(ADDS_EXPORTER),
        Def::NoteLog => Some(COUNTS_LOG),
        _ => None,
    };
    if let Some(reason) = isolation
        && !world.isolated
    {
        return Err(StepError::NeedsIsolation(reason));
    }
    match def {
        Def::SignedIn => sign_in(world, &arg(0)).await,
        Def::Offers => offers(world, &arg(0)).await,
        Def::ClockMoves => {
            let secs = arg(0).parse::<i64>().unwrap_or(0);
            if world.target.advance_clock(secs) {
                Ok(())
            } else {
                Err(StepError::Skip(
                    "the target's clock cannot be moved by the suite".into(),
                ))
            }
        }
        Def::RequestIdJag => request_id_jag(world, Variant::plain()).await,
        Def::RequestIdJagWithScope => {
            request_id_jag(
                world,
                Variant {
                    scope: Some(arg(0)),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::RequestIdJagWithoutResource => {
            request_id_jag(
                world,
                Variant {
                    resource: false,
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::AnotherClientRequests => {
            let other = world
                .target
                .other_client
                .clone()
                .ok_or_else(|| StepError::Skip("the target names no second client".into()))?;
            request_id_jag(
                world,
                Variant {
                    client: Some(other),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::WrongClientSecret => {
            let mut client = world.target.client.clone();
            client.secret = Secret::new(format!("{}-wrong", client.secret.secret()));
            request_id_jag(
                world,
                Variant {
                    client: Some(client),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::TamperedSubjectToken => {
            request_id_jag(
                world,
                Variant {
                    tamper: true,
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::RequestedTokenType => {
            request_id_jag(
                world,
                Variant {
                    requested_token_type: Some(arg(0)),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::AdminDisables => {
            let (id, server) = role_server(world).await?;
            world.saved_server = Some(server);
            admin_call(
                world,
                reqwest::Method::POST,
                &format!("/resource-servers/{id}/disable"),
                None,
                true,
            )
            .await
        }
        Def::AdminEnables => {
            let (id, _) = role_server(world).await?;
            admin_call(
                world,
                reqwest::Method::POST,
                &format!("/resource-servers/{id}/enable"),
                None,
                true,
            )
            .await
        }
        Def::AdminDisablesTenant => {
            let body = serde_json::json!({"ema_enabled": false});
            admin_call(world, reqwest::Method::PATCH, "/tenant", Some(body), true).await
        }
        Def::AdminRegistersWith => {
            let role = role(world)?;
            let audience = match arg(0).as_str() {
                "its audience" => role.audience.clone(),
                "a new audience" => format!("https://as-{}.example", crate::oauth::random_id()),
                _ => world.target.issuer.clone(),
            };
            let body = serde_json::json!({
                "id": format!("suite-{}", crate::oauth::random_id()),
                "name": "registered by the conformance suite",
                "audience": audience,
                "resource_uris": [role.resource],
            });
            admin_call(
                world,
                reqwest::Method::POST,
                "/resource-servers",
                Some(body),
                false,
            )
            .await
        }
        Def::AdminChangesAudience => {
            patch_role_server(
                world,
                serde_json::json!({"audience": "https://elsewhere.example"}),
            )
            .await
        }
        Def::AdminSetsHook => {
            patch_role_server(
                world,
                serde_json::json!({"modify_claims_hook": "function-1"}),
            )
            .await
        }
        Def::ReSignTyp => {
            let change = parse_change(&arg(0))?;
            re_sign(world, &change)
        }
        Def::ConfigurationKept => {
            let before = world
                .saved_server
                .clone()
                .ok_or_else(|| fail("a configuration saved when it was disabled", "none"))?;
            let (_, now) = role_server(world).await?;
            if before == now {
                Ok(())
            } else {
                Err(fail(before.to_string(), now.to_string()))
            }
        }
        Def::Redeem => redeem(world).await,
        Def::Granted => {
            let last = last(world)?;
            if last.status == 200 {
                Ok(())
            } else {
                Err(fail("HTTP 200", describe(last)))
            }
        }
        Def::Denied => {
            let last = last(world)?;
            // A second error is accepted where the documents disagree (D1).
            let alternative = arg(2);
            let want = if alternative.is_empty() {
                format!("HTTP {} with error `{}`", arg(0), arg(1))
            } else {
                format!("HTTP {} with error `{}` or `{alternative}`", arg(0), arg(1))
            };
            let found_error = last.body.get("error").and_then(Value::as_str).unwrap_or("");
            let error_ok =
                found_error == arg(1) || (!alternative.is_empty() && found_error == alternative);
            // An error the documents allow but jagspec's position does not expect (D3).
            let tolerated = arg(3);
            let status_ok = last.status.to_string() == arg(0);
            if status_ok && error_ok {
                Ok(())
            } else if status_ok && !tolerated.is_empty() && found_error == tolerated {
                Err(StepError::Warn {
                    expected: want,
                    actual: describe(last),
                })
            } else {
                Err(fail(want, describe(last)))
            }
        }
        Def::AuditDetail => {
            let event = audit_event(world).await?;
            let found = event["status_detail"].as_str().unwrap_or_default();
            expect_eq("status detail", &arg(0), found)
        }
        Def::AuditOutcome => {
            let event = audit_event(world).await?;
            let found = event["outcome"].as_str().unwrap_or_default();
            expect_eq("outcome", &arg(0), found)
        }
        Def::AuditScope => {
            let event = audit_event(world).await?;
            let found = event["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["scope"] == arg(0).as_str())
                .and_then(|s| s["outcome"].as_str())
                .unwrap_or("not recorded")
                .to_owned();
            expect_eq(&format!("scope `{}`", arg(0)), &arg(1), &found)
        }
        Def::AuditRecordsToken => audit_records_token(world).await,
        Def::IdJagAlg => {
            let (header, _) = id_jag_parts(world)?;
            expect_eq("alg", &arg(0), header["alg"].as_str().unwrap_or_default())
        }
        Def::IdJagHeader => {
            let (header, _) = id_jag_parts(world)?;
            let found = header.get(arg(0)).map_or_else(|| "absent".to_owned(), show);
            expect_eq(&format!("header `{}`", arg(0)), &arg(1), &found)
        }
        Def::IdJagClaims => {
            let missing = claims_where(world, &arg(0), false)?;
            if missing.is_empty() {
                Ok(())
            } else {
                Err(fail(
                    format!("claims {}", arg(0)),
                    format!("no {}", missing.join(", ")),
                ))
            }
        }
        Def::IdJagClaimIsRole => {
            let role = role(world)?;
            let want = match arg(1).as_str() {
                "audience" => role.audience,
                "resource" => role.resource,
                _ => role.scope,
            };
            let (_, claims) = id_jag_parts(world)?;
            let found = claims.get(arg(0)).map_or_else(|| "absent".to_owned(), show);
            expect_eq(&format!("claim `{}`", arg(0)), &want, &found)
        }
        Def::IdJagClaim => {
            let (_, claims) = id_jag_parts(world)?;
            let found = claims.get(arg(0)).map_or_else(|| "absent".to_owned(), show);
            expect_eq(&format!("claim `{}`", arg(0)), &arg(1), &found)
        }
        Def::IdJagLifetime => {
            let (_, claims) = id_jag_parts(world)?;
            let lifetime = claims["exp"]
                .as_i64()
                .zip(claims["iat"].as_i64())
                .map(|(e, i)| e - i);
            let found = lifetime.map_or_else(|| "no exp or iat".to_owned(), |l| l.to_string());
            expect_eq("exp - iat", &arg(0), &found)
        }
        Def::ResponseMember => {
            let last = last(world)?;
            let found = last
                .body
                .get(arg(0))
                .map_or_else(|| "absent".to_owned(), show);
            expect_eq(&format!("member `{}`", arg(0)), &arg(1), &found)
        }
        Def::ResponseLacks => {
            let last = last(world)?;
            match last.body.get(arg(0)) {
                None => Ok(()),
                Some(v) => Err(fail(format!("no member `{}`", arg(0)), show(v))),
            }
        }
        Def::AuditNamesWho => audit_names_who(world).await,
        Def::RequestWithUngranted => {
            let role = role(world)?;
            let ungranted = role.ungranted_scope.clone().ok_or_else(|| {
                StepError::Skip("the target names no scope of this server granted to nobody".into())
            })?;
            request_id_jag(
                world,
                Variant {
                    scope: Some(format!("{} {ungranted}", role.scope)),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::AuditRoleScope => {
            let role = role(world)?;
            let scope = if arg(0) == "the role's scope" {
                role.scope
            } else {
                role.ungranted_scope.unwrap_or_default()
            };
            let event = audit_event(world).await?;
            let found = event["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["scope"] == scope.as_str())
                .and_then(|s| s["outcome"].as_str())
                .unwrap_or("not recorded")
                .to_owned();
            expect_eq(&format!("scope `{scope}`"), &arg(1), &found)
        }
        Def::RequestWithOtherScope => {
            let role = role(world)?;
            let scope = format!("{} {}", role.scope, other_scope(&role)?);
            request_id_jag(
                world,
                Variant {
                    scope: Some(scope),
                    ..Variant::plain()
                },
            )
            .await
        }
        Def::RedeemAtOnce => {
            let n: usize = arg(0).parse().unwrap_or(2);
            redeem_at_once(world, n).await
        }
        Def::ExactlyOneGranted => {
            let granted = world.concurrent.iter().filter(|a| a.status == 200).count();
            let wrong: Vec<String> = world
                .concurrent
                .iter()
                .filter(|a| a.status != 200)
                .filter(|a| a.body["error"].as_str() != Some(arg(0).as_str()))
                .map(describe)
                .collect();
            if granted == 1 && wrong.is_empty() {
                Ok(())
            } else {
                Err(fail(
                    format!(
                        "1 of {} redemptions granted, the others `{}`",
                        world.concurrent.len(),
                        arg(0)
                    ),
                    format!(
                        "{granted} granted{}",
                        wrong
                            .first()
                            .map_or_else(String::new, |w| format!("; also {w}"))
                    ),
                ))
            }
        }
        Def::RefusedAny => {
            let last = last(world)?;
            if (400..500).contains(&last.status) {
                Ok(())
            } else {
                Err(fail("a refusal (HTTP 4xx)", describe(last)))
            }
        }
        Def::McpAccepts => mcp_accepts(world).await,
        Def::RedeemWycheproof => redeem_wycheproof(world).await,
        Def::AuditEveryField => audit_records_every_field(world).await,
        Def::FilterFinds => filter_finds(world, &arg(0)).await,
        Def::Download => download_holds(world, &arg(0)).await,
        Def::AuditAlgVsAs => audit_alg_against_as(world, arg(0) == "the algorithm").await,
        Def::AuditKeyInJwks => audit_key_in_jwks(world).await,
        Def::NoteLog => {
            let events = list_events(world, &[]).await?;
            world.noted_events = Some(events.iter().map(|e| show(&e["event_id"])).collect());
            Ok(())
        }
        Def::McpSession => mcp_session(world).await,
        Def::OneMoreEvent => one_more_event(world).await,
        Def::AddExporter => add_exporter(world, &arg(0)).await,
        Def::SinkHoldsAll => sink_holds_every_event(world, wait_of(&arg(0))?).await,
        Def::ExporterCaughtUp => exporter_caught_up(world, wait_of(&arg(0))?).await,
        Def::WycheproofGraded => {
            let accepted_invalid: Vec<&WycheproofOutcome> = world
                .wycheproof
                .iter()
                .filter(|o| {
                    o.expected == crate::jose::wycheproof::Expected::Invalid && o.status == 200
                })
                .collect();
            let accepted_acceptable: Vec<&WycheproofOutcome> = world
                .wycheproof
                .iter()
                .filter(|o| {
                    o.expected == crate::jose::wycheproof::Expected::Acceptable && o.status == 200
                })
                .collect();
            let tried = world.wycheproof.len();
            if tried == 0 {
                return Err(fail("Wycheproof cases redeemed by an earlier step", "none"));
            }
            if let Some(first) = accepted_invalid.first() {
                Err(fail(
                    format!("each of {tried} cases Wycheproof grades invalid to be refused"),
                    format!(
                        "{} accepted, first {} ({}; flags {})",
                        accepted_invalid.len(),
                        first.source,
                        first.comment,
                        first.flags.join(", ")
                    ),
                ))
            } else if let Some(first) = accepted_acceptable.first() {
                Err(StepError::Warn {
                    expected: "the cases Wycheproof grades acceptable refused too".into(),
                    actual: format!(
                        "{} accepted, first {} ({}; flags {})",
                        accepted_acceptable.len(),
                        first.source,
                        first.comment,
                        first.flags.join(", ")
                    ),
                })
            } else {
                Ok(())
            }
        }
        Def::IdJagSubIsSubject => {
            let want = subject_sub(world)?;
            let (_, claims) = id_jag_parts(world)?;
            let found = claims.get("sub").map_or_else(|| "absent".to_owned(), show);
            expect_eq("claim `sub`", &want, &found)
        }
        Def::AdminAddsTargetUrl => {
            let role = role(world)?;
            let (_, server) = role_server(world).await?;
            let mut uris: Vec<Value> = server["resource_uris"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            uris.push(Value::from(role.resource));
            patch_role_server(world, serde_json::json!({ "resource_uris": uris })).await?;
            must_have_succeeded(world)
        }
        Def::AdminSetsAsAlg => {
            let alg = verified_alg(world)?;
            patch_role_server(world, serde_json::json!({ "alg": alg.as_str() })).await?;
            must_have_succeeded(world)
        }
        Def::PresentToIssuer => {
            let id_jag = world
                .id_jag
                .clone()
                .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
            let form = vec![
                ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
                ("assertion".to_owned(), id_jag.secret().to_owned()),
            ];
            let client = world.target.client.clone();
            let endpoint = world.target.token_endpoint.clone();
            let answer = post_form(
                &world.http,
                &endpoint,
                Some((&client.client_id, client.secret.secret())),
                &form,
            )
            .await?;
            world.exchange = Some(answer.clone());
            world.last = Some(answer);
            Ok(())
        }
        Def::IdJagLacksClaims => {
            let present = claims_where(world, &arg(0), true)?;
            if present.is_empty() {
                Ok(())
            } else {
                Err(fail(
                    format!("none of the claims {}", arg(0)),
                    format!("{} present", present.join(", ")),
                ))
            }
        }
        Def::RedeemWith => {
            let how = match arg(0).as_str() {
                "with a wrong client secret" => Redemption::WrongSecret,
                "without client authentication" => Redemption::Anonymous,
                "with the resource of another authorization server" => {
                    Redemption::Resource(foreign_resource(world)?)
                }
                "with its own resource" => Redemption::Resource(role(world)?.resource),
                "with its scope" => Redemption::Scope(role(world)?.scope),
                "with its scope and its other scope" => {
                    let role = role(world)?;
                    Redemption::Scope(format!("{} {}", role.scope, other_scope(&role)?))
                }
                _ => Redemption::Scope(arg(1)),
            };
            redeem_as(world, how).await
        }
        Def::ResponseHeader => {
            let last = last(world)?;
            let name = arg(0).to_ascii_lowercase();
            let found = last
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone());
            let ok = found.as_deref().is_some_and(|v| {
                if arg(1) == "is" {
                    v == arg(2)
                } else {
                    v.starts_with(&arg(2))
                }
            });
            if ok {
                Ok(())
            } else {
                Err(fail(
                    format!("header `{}` that {} `{}`", arg(0), arg(1), arg(2)),
                    found.map_or_else(|| "no such header".to_owned(), |v| format!("`{v}`")),
                ))
            }
        }
        Def::ResponseMemberIsRole => {
            let role = role(world)?;
            let want = if arg(1) == "resource" {
                role.resource
            } else {
                role.scope
            };
            let last = last(world)?;
            let found = last
                .body
                .get(arg(0))
                .map_or_else(|| "absent".to_owned(), show);
            expect_eq(&format!("member `{}`", arg(0)), &want, &found)
        }
        Def::AccessTokenClaimIsRole => {
            let role = role(world)?;
            let want = match arg(1).as_str() {
                "audience" => role.audience,
                "resource" => role.resource,
                _ => role.scope,
            };
            access_token_claim_is(world, &arg(0), &want)
        }
        Def::RefusedOrNarrowedAudience => {
            let last = last(world)?;
            match last.status {
                400..=499 => Ok(()),
                200 => {
                    let resource = role(world)?.resource;
                    access_token_claim_is(world, "aud", &resource)
                }
                _ => Err(fail(
                    "a refusal, or an access token for the ID-JAG's own resource only",
                    describe(last),
                )),
            }
        }
        Def::RefusedOrNarrowedScope => {
            let last = last(world)?;
            let error = last.body["error"].as_str().unwrap_or_default();
            if last.status == 400 && error == "invalid_scope" {
                return Ok(());
            }
            if last.status != 200 {
                return Err(fail(
                    "HTTP 400 `invalid_scope`, or a grant of no more than the ID-JAG carries",
                    describe(last),
                ));
            }
            // RFC 6749 §5.1: an absent `scope` means "as requested", which is too much.
            let granted = last.body["scope"]
                .as_str()
                .unwrap_or("(absent: as requested)");
            let beyond_text = if arg(1).is_empty() {
                arg(0)
            } else {
                other_scope(&role(world)?)?
            };
            let beyond: Vec<&str> = beyond_text.split(' ').filter(|s| !s.is_empty()).collect();
            if last.body["scope"].is_string() && !granted.split(' ').any(|s| beyond.contains(&s)) {
                Ok(())
            } else {
                Err(fail(
                    format!("a granted scope without {beyond_text}"),
                    format!("scope `{granted}`"),
                ))
            }
        }
    }
}

/// A claim of the last answer's access token, when it is a JWT the suite can read.
fn access_token_claim_is(world: &World, claim: &str, want: &str) -> Result<(), StepError> {
    let last = last(world)?;
    let token = last.body["access_token"].as_str().unwrap_or_default();
    let Some(claims) = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .and_then(|p| crate::jose::b64_decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return Err(StepError::Skip(
            "the access token is not a JWT the suite can read (an opaque token is allowed)".into(),
        ));
    };
    let found = claims.get(claim).map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("access token claim `{claim}`"), want, &found)
}

/// The role's other scope, or a skip when the target names none.
fn other_scope(role: &Role) -> Result<String, StepError> {
    role.other_scope.clone().ok_or_else(|| {
        StepError::Skip("the target names no other scope of this server's MCP server".into())
    })
}

/// Redeems the last ID-JAG `n` times at once (the replay check under concurrency).
async fn redeem_at_once(world: &mut World, n: usize) -> Result<(), StepError> {
    let (server, form) = redemption_form(world)?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = world.http.clone();
        let (server, form) = (server.clone(), form.clone());
        tasks.spawn(async move {
            post_form(
                &http,
                &server.token_endpoint,
                Some((&server.client.client_id, server.client.secret.secret())),
                &form,
            )
            .await
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(answer) => answers.push(answer?),
            Err(e) => return Err(fail("every redemption answered", e.to_string())),
        }
    }
    world.last = answers
        .iter()
        .find(|a| a.status == 200)
        .or(answers.first())
        .cloned();
    world.concurrent = answers;
    Ok(())
}

/// The role's authorization server and the plain jwt-bearer form for the last ID-JAG.
fn redemption_form(
    world: &World,
) -> Result<
    (
        super::target::AuthorizationServerAccess,
        Vec<(String, String)>,
    ),
    StepError,
> {
    let role = role(world)?;
    let server = role
        .authorization_server
        .as_ref()
        .and_then(|name| world.target.authorization_servers.get(name))
        .cloned()
        .ok_or_else(|| {
            StepError::Skip("the target names no authorization server for this role".into())
        })?;
    let id_jag = world
        .id_jag
        .clone()
        .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
    let form = vec![
        ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
        ("assertion".to_owned(), id_jag.secret().to_owned()),
    ];
    Ok((server, form))
}

/// The claims of `list` (as the step wrote them) that the last ID-JAG has (`present`) or
/// lacks.
fn claims_where(world: &World, list: &str, present: bool) -> Result<Vec<String>, StepError> {
    let (_, claims) = id_jag_parts(world)?;
    Ok(claim_list(list)
        .into_iter()
        .filter(|c| claims.get(c).is_some() == present)
        .collect())
}

/// The role and the last answer's access token, for a call to the role's MCP server;
/// skipped when the target does not let the suite call it.
fn mcp_caller(world: &World) -> Result<(Role, String), StepError> {
    if !world.target.mcp_calls {
        return Err(StepError::Skip(
            "the target does not let the suite call its MCP server".into(),
        ));
    }
    let role = role(world)?;
    let token = last(world)?.body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("an access token from an earlier step", "none"))?;
    Ok((role, token))
}

/// Calls the role's resource as an MCP server (`initialize`) with the last answer's
/// access token: the token the authorization server issued must open it.
async fn mcp_accepts(world: &mut World) -> Result<(), StepError> {
    let (role, token) = mcp_caller(world)?;
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let request = world
        .http
        .post(&role.resource)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    let response = world.http.send(request).await.map_err(|e| {
        fail(
            format!("an answer from POST {}", role.resource),
            e.to_string(),
        )
    })?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status == 200 {
        Ok(())
    } else {
        Err(fail(
            format!(
                "HTTP 200 from the MCP server {} with the access token",
                role.resource
            ),
            format!("HTTP {status} {challenge}"),
        ))
    }
}

/// Redeems every Wycheproof edge case of the last ID-JAG's signature, invalid cases first
/// (an accepted one consumes the `jti`, so it must be seen before anything else is).
async fn redeem_wycheproof(world: &mut World) -> Result<(), StepError> {
    use crate::jose::wycheproof::{Expected, edge_cases};
    let Some(keys) = world.target.signing_keys.clone() else {
        return Err(StepError::Skip(
            "the suite does not hold the target issuer's signing keys".into(),
        ));
    };
    let token = world
        .id_jag
        .clone()
        .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
    let mut parts = token.secret().split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err(fail("a compact JWS", "something else"));
    };
    let decode = |part: &str| crate::jose::b64_decode(part).ok();
    let (Some(header), Some(payload)) = (decode(h), decode(p)) else {
        return Err(fail("a compact JWS", "something else"));
    };
    let kid: Value = serde_json::from_slice(&header).unwrap_or(Value::Null);
    let kid = crate::types::Kid::new(kid["kid"].as_str().unwrap_or_default());
    let Some((key, _)) = keys.get(&kid) else {
        return Err(StepError::Skip(format!(
            "the suite holds no key with the ID-JAG's kid `{}`",
            kid.as_str()
        )));
    };
    let mut cases = edge_cases(key, &header, &payload).map_err(|e| fail("Wycheproof cases", e))?;
    cases.sort_by_key(|c| match c.expected {
        Expected::Invalid => 0,
        Expected::Acceptable => 1,
        Expected::Valid => 2,
    });
    let (server, _) = redemption_form(world)?;
    world.wycheproof.clear();
    for case in cases {
        let form = vec![
            ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
            ("assertion".to_owned(), case.token.clone()),
        ];
        let answer = post_form(
            &world.http,
            &server.token_endpoint,
            Some((&server.client.client_id, server.client.secret.secret())),
            &form,
        )
        .await?;
        world.wycheproof.push(WycheproofOutcome {
            source: case.source,
            comment: case.comment,
            flags: case.flags,
            expected: case.expected,
            status: answer.status,
        });
        let accepted_invalid = answer.status == 200 && case.expected == Expected::Invalid;
        world.last = Some(answer);
        if accepted_invalid {
            // The jti is spent: later cases would be refused for replay, not signature.
            break;
        }
    }
    Ok(())
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

/// The `sub` of the signed-in user's subject token: who the token is requested for.
fn subject_sub(world: &World) -> Result<String, StepError> {
    if let Some(mint) = &world.target.mint {
        return Ok(mint.subject.clone());
    }
    world
        .id_token
        .as_ref()
        .and_then(|t| t.secret().split('.').nth(1).map(str::to_owned))
        .and_then(|p| crate::jose::b64_decode(&p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .ok_or_else(|| fail("the subject token's `sub`", "an unreadable ID token"))
}

/// `user`, `client` and `system` of the request's audit event: the subject token's `sub`,
/// the authenticated client, and the requested audience (the audit page's fields).
async fn audit_names_who(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let role = role(world)?;
    let sub = subject_sub(world)?;
    let pairs = [
        ("user", sub),
        ("client", world.target.client.client_id.clone()),
        ("system", role.audience),
    ];
    for (field, want) in pairs {
        let found = event[field].as_str().unwrap_or("absent");
        expect_eq(&format!("the audit event's `{field}`"), &want, found)?;
    }
    Ok(())
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

async fn sign_in(world: &mut World, user: &str) -> Result<(), StepError> {
    if world.target.mint.is_some() {
        // jagspec is the issuer: the ID-JAG is minted for the profile's subject.
        return Ok(());
    }
    match subject_token(&world.http, &world.target, user).await {
        Ok(token) => {
            world.id_token = Some(token);
            Ok(())
        }
        Err(SignInError::Step(e)) => Err(e),
        Err(SignInError::Refused(answer)) => {
            let actual = describe(&answer);
            world.last = Some(answer);
            Err(fail(format!("an ID token for test user `{user}`"), actual))
        }
    }
}

/// Why no subject token was obtained.
pub(crate) enum SignInError {
    /// The step's verdict (a skip for an unknown user, a failed command).
    Step(StepError),
    /// The issuer's password grant answered without an ID token.
    Refused(Answer),
}

/// A subject token (ID token) for `user`, as the target says to get one.
pub(crate) async fn subject_token(
    http: &Http,
    target: &Target,
    user: &str,
) -> Result<Secret, SignInError> {
    let Some(login) = target.users.get(user).cloned() else {
        return Err(SignInError::Step(StepError::Skip(format!(
            "the target has no test user `{user}`"
        ))));
    };
    let password = match login {
        Login::SubjectToken(token) => return Ok(token),
        Login::Command(command) => {
            return run_token_command(user, &command)
                .await
                .map_err(SignInError::Step);
        }
        Login::Password(password) => password,
    };
    let form = vec![
        ("grant_type".to_owned(), "password".to_owned()),
        ("username".to_owned(), user.to_owned()),
        ("password".to_owned(), password.secret().to_owned()),
    ];
    let client = &target.client;
    let answer = post_form(
        http,
        &target.token_endpoint,
        Some((&client.client_id, client.secret.secret())),
        &form,
    )
    .await
    .map_err(SignInError::Step)?;
    match answer.body.get("id_token").and_then(Value::as_str) {
        Some(t) if answer.status == 200 => Ok(Secret::new(t)),
        _ => Err(SignInError::Refused(answer)),
    }
}

/// Runs a profile's subject-token command: its standard output, trimmed, is the token.
/// Its arguments are not shown in a report (they may hold a password).
async fn run_token_command(user: &str, command: &[String]) -> Result<Secret, StepError> {
    let program = command.first().cloned().unwrap_or_default();
    let failed = |why: String| {
        fail(
            format!("the subject-token command for `{user}` (`{program} …`) to print a token"),
            why,
        )
    };
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(&program)
            .args(command.iter().skip(1))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| failed("it ran for more than 30 s".into()))?
    .map_err(|e| failed(format!("it did not start: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!(
            "it exited with {}: {}",
            output.status,
            crate::oauth::shorten(stderr.trim())
        )));
    }
    if stdout.is_empty() || stdout.contains(char::is_whitespace) {
        return Err(failed(
            "its output is not one token (empty, or more than one word)".into(),
        ));
    }
    Ok(Secret::new(stdout))
}

async fn offers(world: &mut World, name: &str) -> Result<(), StepError> {
    let Some(role) = world.target.roles.get(name).cloned() else {
        return Err(StepError::Skip(format!("the target offers no `{name}`")));
    };
    world.role = Some(role.clone());
    let Some(provision) = role.provision else {
        return Ok(());
    };
    if !world.isolated {
        return Err(StepError::NeedsIsolation(CHANGES_TARGET));
    }
    let Some(admin) = world.target.admin.clone() else {
        return Err(StepError::Skip(format!(
            "`{name}` needs an admin change and the target has no admin API"
        )));
    };
    match provision {
        Provision::RetireKey(alg) => {
            let keys: Value =
                admin_get(&world.http, &admin.url, "/keys", admin.token.secret()).await?;
            for key in keys.as_array().into_iter().flatten() {
                if key["alg"] == alg.as_str() && key["status"] == "active" {
                    let kid = key["kid"].as_str().unwrap_or_default();
                    let path = format!("/keys/{kid}/retire");
                    admin_call(world, reqwest::Method::POST, &path, None, true).await?;
                }
            }
        }
        Provision::Disable => {
            let (id, _) = role_server(world).await?;
            let path = format!("/resource-servers/{id}/disable");
            admin_call(world, reqwest::Method::POST, &path, None, true).await?;
        }
    }
    // The provisioning answer is not the one a `Then` should read.
    world.last = None;
    Ok(())
}

/// How a token exchange departs from the plain one.
struct Variant {
    scope: Option<String>,
    resource: bool,
    client: Option<super::target::Credentials>,
    tamper: bool,
    requested_token_type: Option<String>,
}

impl Variant {
    fn plain() -> Self {
        Self {
            scope: None,
            resource: true,
            client: None,
            tamper: false,
            requested_token_type: None,
        }
    }
}

fn role(world: &World) -> Result<Role, StepError> {
    world
        .role
        .clone()
        .ok_or_else(|| fail("a role chosen by `Given the target offers …`", "none"))
}

async fn request_id_jag(world: &mut World, variant: Variant) -> Result<(), StepError> {
    let role = role(world)?;
    if world.target.mint.is_some() {
        return mint_id_jag(world, &role, variant);
    }
    let id_token = world
        .id_token
        .clone()
        .ok_or_else(|| fail("a user signed in by an earlier step", "none"))?;
    let mut subject = id_token.secret().to_owned();
    if variant.tamper {
        // One character inside the signature changes (not the last, whose low bits may be
        // padding a lenient decoder ignores): the issuer must notice (IDP-05).
        let at = subject.len().saturating_sub(6);
        let changed = if subject[at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        subject.replace_range(at..=at, changed);
    }
    let scope = variant.scope.unwrap_or(role.scope.clone());
    world.requested_scope = Some(scope.clone());
    let mut form = vec![
        ("grant_type".to_owned(), TOKEN_EXCHANGE_GRANT.to_owned()),
        (
            "requested_token_type".to_owned(),
            variant
                .requested_token_type
                .unwrap_or_else(|| ID_JAG_TOKEN_TYPE.to_owned()),
        ),
        ("audience".to_owned(), role.audience.clone()),
        ("scope".to_owned(), scope),
        ("subject_token".to_owned(), subject),
        ("subject_token_type".to_owned(), ID_TOKEN_TYPE.to_owned()),
    ];
    if variant.resource {
        form.push(("resource".to_owned(), role.resource.clone()));
    }
    let client = variant
        .client
        .unwrap_or_else(|| world.target.client.clone());
    let endpoint = world.target.token_endpoint.clone();
    let answer = post_form(
        &world.http,
        &endpoint,
        Some((&client.client_id, client.secret.secret())),
        &form,
    )
    .await?;
    world.id_jag = answer
        .body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|_| answer.status == 200)
        .map(Secret::new);
    world.exchange = Some(answer.clone());
    world.last = Some(answer);
    Ok(())
}

/// jagspec as the issuer: an ID-JAG for the role, signed with the IdP's key of the role's
/// authorization server's algorithm, as a conforming issuer would mint it (ID-JAG §3.1).
fn mint_id_jag(world: &mut World, role: &Role, variant: Variant) -> Result<(), StepError> {
    let (Some(mint), Some(keys)) = (&world.target.mint, &world.target.signing_keys) else {
        return Err(fail("jagspec's IdP", "none"));
    };
    if variant.client.is_some() || variant.tamper || variant.requested_token_type.is_some() {
        return Err(StepError::Skip(
            "jagspec mints the ID-JAG itself: there is no issuer to send this request to".into(),
        ));
    }
    let server = role
        .authorization_server
        .as_ref()
        .and_then(|n| world.target.authorization_servers.get(n))
        .ok_or_else(|| StepError::Skip("the role names no authorization server".into()))?;
    let key = keys
        .active(server.alg)
        .ok_or_else(|| fail(format!("an {} key at jagspec's IdP", server.alg), "none"))?;
    let now = crate::jose::Clock::now(&crate::jose::SystemClock);
    let mut claims = serde_json::json!({
        "iss": world.target.issuer,
        "sub": mint.subject,
        "aud": role.audience,
        "client_id": server.client.client_id,
        "jti": crate::oauth::random_id(),
        "iat": now,
        "exp": now + mint.lifetime_secs,
        "scope": variant.scope.unwrap_or_else(|| role.scope.clone()),
    });
    if variant.resource {
        claims["resource"] = Value::from(role.resource.clone());
    }
    let token = crate::jose::mint(key, Some("oauth-id-jag+jwt"), &claims)
        .map_err(|e| fail("a minted ID-JAG", e.to_string()))?;
    world.id_jag = Some(Secret::new(token.into_secret()));
    let answer = Answer {
        status: 200,
        body: serde_json::json!({
            "issued_token_type": ID_JAG_TOKEN_TYPE,
            "token_type": "N_A",
            "access_token": "(minted by jagspec's IdP)",
        }),
        headers: Vec::new(),
        exchange: Exchange {
            request: format!("(minted by jagspec's IdP {})", world.target.issuer),
            request_body: String::new(),
            status: 200,
            response_body: claims.to_string(),
        },
    };
    world.exchange = None;
    world.last = Some(answer);
    Ok(())
}

/// The role's resource server as the admin API shows it: its id and its JSON.
async fn role_server(world: &World) -> Result<(String, Value), StepError> {
    let role = role(world)?;
    let Some(admin) = world.target.admin.clone() else {
        return Err(StepError::Skip("the target has no admin API".into()));
    };
    let servers = admin_get(
        &world.http,
        &admin.url,
        "/resource-servers",
        admin.token.secret(),
    )
    .await?;
    let server = servers
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["audience"] == role.audience.as_str())
        .cloned()
        .ok_or_else(|| {
            fail(
                format!("a resource server with audience `{}`", role.audience),
                "none is registered",
            )
        })?;
    let id = server["id"].as_str().unwrap_or_default().to_owned();
    Ok((id, server))
}

/// `PATCH` the role's resource server; the answer is kept for a `Then`.
async fn patch_role_server(world: &mut World, body: Value) -> Result<(), StepError> {
    let (id, _) = role_server(world).await?;
    let path = format!("/resource-servers/{id}");
    admin_call(world, reqwest::Method::PATCH, &path, Some(body), false).await
}

/// An admin API call as an administrator makes it; `must_succeed` turns a refusal into a
/// failed step (for setup), otherwise the answer is kept for a `Then`.
async fn admin_call(
    world: &mut World,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    must_succeed: bool,
) -> Result<(), StepError> {
    let Some(admin) = world.target.admin.clone() else {
        return Err(StepError::Skip("the target has no admin API".into()));
    };
    let url = format!("{}{path}", admin.url);
    let mut request = world
        .http
        .request(method.clone(), &url)
        .bearer_auth(admin.token.secret());
    if let Some(body) = &body {
        request = request.json(body);
    }
    let response = world
        .http
        .send(request)
        .await
        .map_err(|e| fail(format!("an answer from {method} {url}"), e.to_string()))?;
    let status = response.status().as_u16();
    let text = read_text(
        &world.http,
        response,
        MAX_ANSWER_BYTES,
        &format!("{method} {url}"),
    )
    .await?;
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let answer = Answer {
        status,
        body: parsed,
        headers: Vec::new(),
        exchange: Exchange {
            request: format!("{method} {url}"),
            // An exporter's bearer token is a credential too.
            request_body: body
                .map(|b| redact::redact_json(&b).to_string())
                .unwrap_or_default(),
            status,
            response_body: crate::oauth::shorten(&redact::redact_body(&text)),
        },
    };
    let ok = (200..300).contains(&status);
    world.last = Some(answer);
    if must_succeed && !ok {
        return Err(fail(
            format!("{method} {path} to succeed"),
            format!("HTTP {status}: {text}"),
        ));
    }
    Ok(())
}

/// How a redemption departs from the plain one.
enum Redemption {
    Plain,
    WrongSecret,
    Anonymous,
    Resource(String),
    Scope(String),
}

async fn redeem(world: &mut World) -> Result<(), StepError> {
    redeem_as(world, Redemption::Plain).await
}

async fn redeem_as(world: &mut World, how: Redemption) -> Result<(), StepError> {
    let role = role(world)?;
    let Some(server) = role
        .authorization_server
        .as_ref()
        .and_then(|name| world.target.authorization_servers.get(name))
        .cloned()
    else {
        return Err(StepError::Skip(
            "the target names no authorization server for this role".into(),
        ));
    };
    let id_jag = world
        .id_jag
        .clone()
        .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
    let mut form = vec![
        ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
        ("assertion".to_owned(), id_jag.secret().to_owned()),
    ];
    let wrong_secret = format!("{}-wrong", server.client.secret.secret());
    let basic = match &how {
        Redemption::Anonymous => None,
        Redemption::WrongSecret => Some((server.client.client_id.as_str(), wrong_secret.as_str())),
        _ => Some((
            server.client.client_id.as_str(),
            server.client.secret.secret(),
        )),
    };
    match how {
        Redemption::Resource(r) => form.push(("resource".to_owned(), r)),
        Redemption::Scope(s) => form.push(("scope".to_owned(), s)),
        _ => {}
    }
    let answer = post_form(&world.http, &server.token_endpoint, basic, &form).await?;
    world.last = Some(answer);
    Ok(())
}

/// The audit event of the last token exchange, read through the admin API.
async fn audit_event(world: &World) -> Result<Value, StepError> {
    let Some(audit) = world.target.audit.clone() else {
        return Err(StepError::Skip(
            "the target does not say how to read its audit log".into(),
        ));
    };
    let exchange = world
        .exchange
        .as_ref()
        .ok_or_else(|| fail("a token exchange made by an earlier step", "none"))?;
    let header = audit.request_id_header.as_str();
    let Some((_, request_id)) = exchange.headers.iter().find(|(k, _)| k == header) else {
        return Err(fail(
            format!("a `{header}` header naming the request's audit event"),
            "no such header",
        ));
    };
    let url = audit.events_url.replace(
        "{request_id}",
        &form_urlencoded::byte_serialize(request_id.as_bytes()).collect::<String>(),
    );
    let mut request = world.http.get(&url);
    if let Some(token) = &audit.bearer_token {
        request = request.bearer_auth(token.secret());
    }
    let response = world
        .http
        .send(request)
        .await
        .map_err(|e| fail(format!("GET {url}"), e.to_string()))?;
    let status = response.status();
    let text = read_text(
        &world.http,
        response,
        MAX_ANSWER_BYTES,
        &format!("GET {url}"),
    )
    .await?;
    let events: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(fail(
            format!("GET {url} → 200"),
            format!("HTTP {status}: {events}"),
        ));
    }
    match events.as_array().map(Vec::as_slice) {
        Some([one]) => Ok(one.clone()),
        Some(list) => Err(fail(
            "exactly one audit event for the request",
            format!("{} events", list.len()),
        )),
        None => Err(fail("a JSON array of audit events", events.to_string())),
    }
}

async fn audit_records_token(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    token_fields_match(world, &event)
}

/// The event's token ID, signing key ID, algorithm and lifetime are the last ID-JAG's.
fn token_fields_match(world: &World, event: &Value) -> Result<(), StepError> {
    let (header, claims) = id_jag_parts(world)?;
    let lifetime = claims["exp"]
        .as_i64()
        .zip(claims["iat"].as_i64())
        .map(|(e, i)| e - i);
    let pairs = [
        ("token id", show(&event["token_id"]), show(&claims["jti"])),
        (
            "signing key id",
            show(&event["signing_key_id"]),
            show(&header["kid"]),
        ),
        ("algorithm", show(&event["algorithm"]), show(&header["alg"])),
        (
            "lifetime",
            show(&event["lifetime_secs"]),
            lifetime.map_or_else(|| "-".to_owned(), |l| l.to_string()),
        ),
    ];
    for (what, recorded, token) in pairs {
        if recorded != token {
            return Err(fail(
                format!("the audit event's {what} to be the ID-JAG's `{token}`"),
                format!("`{recorded}`"),
            ));
        }
    }
    Ok(())
}

/// The system log as jagspec's admin API serves it (docs/admin-api.md): filters, pages,
/// downloads and exporters. A profile's `[audit] events_url` reads one request's events
/// only, so these steps skip there.
fn system_log(world: &World) -> Result<super::target::AdminAccess, StepError> {
    world.target.admin.clone().ok_or_else(|| {
        StepError::Skip(
            "the target's system log is read by request id only (a profile's `[audit] \
             events_url`): filtering, downloading and counting it need jagspec's admin API"
                .into(),
        )
    })
}

/// Every event the system log lists under `filters`, oldest first, following each next
/// page to the last.
async fn list_events(world: &World, filters: &[(&str, &str)]) -> Result<Vec<Value>, StepError> {
    let admin = system_log(world)?;
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    // A bound, so a target whose every page names a next one fails instead of looping.
    for _ in 0..1000 {
        // Built before any await: the serializer is not `Send`.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in filters {
                query.append_pair(name, value);
            }
            query.append_pair("limit", "1000");
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
            query.finish()
        };
        let url = format!("{}/audit-events?{query}", admin.url);
        let (text, next) =
            admin_read(&world.http, &url, admin.token.secret(), MAX_LOG_BYTES).await?;
        let page: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let Some(page) = page.as_array() else {
            return Err(fail(
                format!("a JSON array of audit events from GET {url}"),
                crate::oauth::shorten(&text),
            ));
        };
        events.extend(page.iter().cloned());
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(events),
        }
    }
    Err(fail(
        "the system log's last page within 1000 pages",
        "a next page named on every one",
    ))
}

/// The event fields (also the filters' names) of "user, client, system and outcome".
fn filter_fields(list: &str) -> Result<Vec<&'static str>, StepError> {
    claim_list(list)
        .iter()
        .map(|name| match name.as_str() {
            "user" => Ok("user"),
            "client" => Ok("client"),
            "system" => Ok("system"),
            "outcome" => Ok("outcome"),
            "status detail" => Ok("status_detail"),
            _ => Err(StepError::Undefined),
        })
        .collect()
}

/// Each filter alone, with the request's own value, lists the request's event as the
/// request id showed it, and lists nothing the filter should have left out.
async fn filter_finds(world: &World, list: &str) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let id = show(&event["event_id"]);
    for field in filter_fields(list)? {
        let Some(value) = event[field].as_str() else {
            return Err(fail(
                format!("the request's event to record a `{field}` to filter by"),
                show(&event[field]),
            ));
        };
        let listed = list_events(world, &[(field, value)]).await?;
        if let Some(other) = listed.iter().find(|e| e[field].as_str() != Some(value)) {
            return Err(fail(
                format!("only events whose `{field}` is `{value}` under `?{field}=`"),
                format!(
                    "event `{}` with `{field}` `{}`",
                    show(&other["event_id"]),
                    show(&other[field])
                ),
            ));
        }
        match listed.iter().find(|e| e["event_id"] == event["event_id"]) {
            Some(found) if *found == event => {}
            Some(found) => {
                return Err(fail(
                    format!("event `{id}` under `?{field}=` as the request id shows it"),
                    difference(&event, found),
                ));
            }
            None => {
                return Err(fail(
                    format!("the request's event `{id}` under `?{field}={value}`"),
                    format!("{} events, not that one", listed.len()),
                ));
            }
        }
    }
    Ok(())
}

/// The first field where `found` differs from `want`, for a finding.
fn difference(want: &Value, found: &Value) -> String {
    let (Some(w), Some(f)) = (want.as_object(), found.as_object()) else {
        return format!("`{found}`");
    };
    w.keys()
        .chain(f.keys().filter(|k| !w.contains_key(*k)))
        .find(|k| w.get(*k) != f.get(*k))
        .map_or_else(
            || "the same event".to_owned(),
            |k| {
                format!(
                    "`{k}` is `{}` where the system log has `{}`",
                    f.get(k).map_or_else(|| "absent".to_owned(), show),
                    w.get(k).map_or_else(|| "absent".to_owned(), show)
                )
            },
        )
}

/// The download of the request's event (`?request_id=`), in `format`, holds exactly that
/// event with every field as the listing shows it.
async fn download_holds(world: &World, format: &str) -> Result<(), StepError> {
    let admin = system_log(world)?;
    let event = audit_event(world).await?;
    let format = format.to_ascii_lowercase();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("format", &format)
        .append_pair("request_id", &show(&event["request_id"]))
        .finish();
    let url = format!("{}/audit-events/export?{query}", admin.url);
    let (text, _) = admin_read(&world.http, &url, admin.token.secret(), MAX_LOG_BYTES).await?;
    if format == "ndjson" {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let [line] = lines.as_slice() else {
            return Err(fail(
                "one NDJSON line for the request",
                format!("{} lines", lines.len()),
            ));
        };
        let found: Value = serde_json::from_str(line)
            .map_err(|e| fail("a JSON event on the NDJSON line", e.to_string()))?;
        return if found == event {
            Ok(())
        } else {
            Err(fail(
                "the NDJSON line to be the listed event",
                difference(&event, &found),
            ))
        };
    }
    let rows = parse_csv(&text);
    let (Some(header), [row]) = (rows.first(), rows.get(1..).unwrap_or_default()) else {
        return Err(fail(
            "a CSV header and one row for the request",
            format!("{} rows", rows.len()),
        ));
    };
    let Some(fields) = event.as_object() else {
        return Err(fail("a JSON object for the event", event.to_string()));
    };
    for (name, value) in fields {
        let want = csv_field(name, value);
        let Some(at) = header.iter().position(|h| h == name) else {
            return Err(fail(
                format!("a `{name}` column in the CSV header"),
                header.join(","),
            ));
        };
        let found = row.get(at).map_or("(no such field)", String::as_str);
        expect_eq(&format!("CSV column `{name}`"), &want, found)?;
    }
    Ok(())
}

/// An event field as the CSV download writes it (docs/admin-api.md): `scopes` as
/// `scope:outcome` items, an absent value empty, text that a spreadsheet would run as a
/// formula behind a `'`.
fn csv_field(name: &str, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(items) if name == "scopes" => items
            .iter()
            .map(|s| format!("{}:{}", show(&s["scope"]), show(&s["outcome"])))
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        other => show(other),
    }
}

/// RFC 4180 records, read by the `csv` crate: every row, the header included, and a row
/// that is not RFC 4180 ends the list (the step then finds too few rows).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map_while(Result::ok)
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect()
}

/// The audit page's table for the request's event, each field against what was asked and
/// what was issued: user, client, system, every requested scope with its outcome, the
/// outcome; on a grant the ID-JAG's token ID, key ID, algorithm and lifetime; on a denial
/// a status detail and no token fields (no token was issued).
async fn audit_records_every_field(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let role = role(world)?;
    let exchange = world
        .exchange
        .as_ref()
        .ok_or_else(|| fail("a token exchange made by an earlier step", "none"))?;
    let pairs = [
        ("user", subject_sub(world)?),
        ("client", world.target.client.client_id.clone()),
        ("system", role.audience.clone()),
    ];
    for (field, want) in pairs {
        let found = event[field].as_str().unwrap_or("absent");
        expect_eq(&format!("the event's `{field}`"), &want, found)?;
    }
    let granted = exchange.status == 200;
    let requested = world.requested_scope.clone().unwrap_or(role.scope);
    let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    // RFC 6749 §5.1: an absent `scope` is the scope requested.
    let granted_scopes: Vec<&str> = match exchange.body["scope"].as_str() {
        _ if !granted => Vec::new(),
        Some(s) => s.split(' ').collect(),
        None => requested.clone(),
    };
    let mut want: Vec<String> = requested
        .iter()
        .map(|s| {
            let outcome = if granted_scopes.contains(s) {
                "granted"
            } else {
                "denied"
            };
            format!("{s}:{outcome}")
        })
        .collect();
    let mut found: Vec<String> = event["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{}:{}", show(&s["scope"]), show(&s["outcome"])))
        .collect();
    want.sort();
    found.sort();
    expect_eq(
        "the event's scopes with their outcomes",
        &want.join(" "),
        &found.join(" "),
    )?;
    let outcome = if granted { "granted" } else { "denied" };
    expect_eq(
        "the event's outcome",
        outcome,
        event["outcome"].as_str().unwrap_or("absent"),
    )?;
    if granted {
        return token_fields_match(world, &event);
    }
    for field in ["token_id", "signing_key_id", "algorithm", "lifetime_secs"] {
        if !event[field].is_null() {
            return Err(fail(
                format!("no `{field}` on a denial, which issues no token"),
                show(&event[field]),
            ));
        }
    }
    if event["status_detail"].as_str().is_none_or(str::is_empty) {
        return Err(fail(
            "a status detail naming the denial's cause",
            show(&event["status_detail"]),
        ));
    }
    Ok(())
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

/// The issuance record's algorithm against the one the authorization server verifies:
/// equal (`same`), or different (the cause of a signature rejection).
async fn audit_alg_against_as(world: &World, same: bool) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let verifies = verified_alg(world)?;
    let Some(recorded) = event["algorithm"].as_str() else {
        return Err(fail(
            "an algorithm in the issuance record",
            show(&event["algorithm"]),
        ));
    };
    if same {
        return expect_eq("the recorded algorithm", verifies.as_str(), recorded);
    }
    if recorded == verifies.as_str() {
        return Err(fail(
            format!(
                "a recorded algorithm other than {verifies}, the one the authorization server verifies"
            ),
            format!("`{recorded}`"),
        ));
    }
    Ok(())
}

/// The issuance record's key ID is a key the issuer's JWKS publishes, for the recorded
/// algorithm (found by discovery, as an authorization server finds it).
async fn audit_key_in_jwks(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let (Some(kid), Some(alg)) = (
        event["signing_key_id"].as_str(),
        event["algorithm"].as_str(),
    ) else {
        return Err(fail(
            "a signing key ID and an algorithm in the issuance record",
            format!(
                "`{}` and `{}`",
                show(&event["signing_key_id"]),
                show(&event["algorithm"])
            ),
        ));
    };
    let jwks = issuer_jwks(world).await?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let Some(key) = keys.iter().find(|k| k["kid"] == kid) else {
        let kids: Vec<String> = keys.iter().map(|k| show(&k["kid"])).collect();
        return Err(fail(
            format!("the issuer's JWKS to publish the recorded key `{kid}`"),
            format!("the kids {}", kids.join(", ")),
        ));
    };
    // A JWK's `alg` is optional (RFC 7517 §4.4); its key type must fit either way.
    if let Some(published) = key["alg"].as_str() {
        expect_eq(&format!("the `alg` of JWK `{kid}`"), alg, published)?;
    }
    let fits = match alg {
        "ES256" => key["kty"] == "EC" && key["crv"] == "P-256",
        "RS256" => key["kty"] == "RSA",
        "EdDSA" => key["kty"] == "OKP" && key["crv"] == "Ed25519",
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(fail(
            format!("JWK `{kid}` to be a key for {alg}"),
            format!("kty `{}`, crv `{}`", show(&key["kty"]), show(&key["crv"])),
        ))
    }
}

/// The issuer's JWKS, through its metadata's `jwks_uri` (RFC 8414).
async fn issuer_jwks(world: &World) -> Result<Value, StepError> {
    let candidates = crate::wellknown::authorization_server_candidates(&world.target.issuer)
        .map_err(|e| fail("the issuer's metadata URL", e.to_string()))?;
    let mut tried = Vec::new();
    for url in candidates {
        let Ok(response) = world.http.send(world.http.get(&url)).await else {
            tried.push(format!("{url}: no answer"));
            continue;
        };
        let status = response.status();
        let text = read_text(
            &world.http,
            response,
            MAX_ANSWER_BYTES,
            &format!("GET {url}"),
        )
        .await?;
        let metadata: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let Some(jwks_uri) = metadata["jwks_uri"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            tried.push(format!("{url}: HTTP {status} without `jwks_uri`"));
            continue;
        };
        let response = world
            .http
            .send(world.http.get(jwks_uri))
            .await
            .map_err(|e| fail(format!("GET {jwks_uri}"), e.to_string()))?;
        let status = response.status();
        let text = read_text(
            &world.http,
            response,
            MAX_ANSWER_BYTES,
            &format!("GET {jwks_uri}"),
        )
        .await?;
        let jwks: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        return if status.is_success() && jwks["keys"].is_array() {
            Ok(jwks)
        } else {
            Err(fail(
                format!("a JWKS from {jwks_uri}"),
                format!(
                    "HTTP {status}: {}",
                    crate::oauth::shorten(&jwks.to_string())
                ),
            ))
        };
    }
    Err(fail(
        "the issuer's metadata with a `jwks_uri`",
        tried.join("; "),
    ))
}

/// `initialize` (and the `initialized` notification), `tools/list` and `tools/call` of the
/// first tool listed, at the role's MCP server with the last answer's access token: each
/// must be answered, so that the calls really happened.
async fn mcp_session(world: &World) -> Result<(), StepError> {
    let (role, token) = mcp_caller(world)?;
    let mut mcp = McpCaller {
        http: &world.http,
        url: &role.resource,
        token: &token,
        session: None,
        version: None,
    };
    let init = mcp
        .call(
            1,
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")},
            }),
        )
        .await?;
    mcp.version = init["protocolVersion"].as_str().map(str::to_owned);
    mcp.notify("notifications/initialized").await?;
    let list = mcp.call(2, "tools/list", serde_json::json!({})).await?;
    let Some(tool) = list["tools"][0]["name"].as_str() else {
        return Err(fail("a tool in the tools/list result", list.to_string()));
    };
    let result = mcp
        .call(
            3,
            "tools/call",
            serde_json::json!({"name": tool, "arguments": {"text": "jagspec"}}),
        )
        .await?;
    if result["isError"] == true {
        return Err(fail(
            format!("tools/call of `{tool}` to succeed"),
            crate::oauth::shorten(&result.to_string()),
        ));
    }
    Ok(())
}

/// JSON-RPC over MCP's streamable HTTP transport, one POST per message.
struct McpCaller<'a> {
    http: &'a Http,
    url: &'a str,
    token: &'a str,
    /// `Mcp-Session-Id`, when the server gave one.
    session: Option<String>,
    /// The protocol version `initialize` agreed.
    version: Option<String>,
}

impl McpCaller<'_> {
    async fn post(&mut self, body: &Value) -> Result<(u16, String, String), StepError> {
        let mut request = self
            .http
            .post(self.url)
            .bearer_auth(self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            request = request.header("mcp-session-id", s);
        }
        if let Some(v) = &self.version {
            request = request.header("mcp-protocol-version", v);
        }
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| fail(format!("an answer from POST {}", self.url), e.to_string()))?;
        if let Some(s) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(s.to_owned());
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let what = format!("POST {}", self.url);
        let text = read_text(self.http, response, MAX_ANSWER_BYTES, &what).await?;
        Ok((status, content_type, text))
    }

    /// A request's `result`; anything else fails the step.
    async fn call(&mut self, id: u64, method: &str, params: Value) -> Result<Value, StepError> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, content_type, text) = self.post(&body).await?;
        // A server may answer as a one-event SSE stream: its last `data:` line.
        let json = if content_type.starts_with("text/event-stream") {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .next_back()
                .unwrap_or_default()
                .trim()
                .to_owned()
        } else {
            text.clone()
        };
        let answer: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        if status == 200 && answer.get("result").is_some() {
            Ok(answer["result"].clone())
        } else {
            Err(fail(
                format!(
                    "HTTP 200 with a JSON-RPC result for `{method}` at {}",
                    self.url
                ),
                format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
            ))
        }
    }

    /// A notification: accepted with a 2xx and no result.
    async fn notify(&mut self, method: &str) -> Result<(), StepError> {
        let body = serde_json::json!({"jsonrpc": "2.0", "method": method});
        let (status, _, text) = self.post(&body).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(fail(
                format!("a 2xx for the `{method}` notification at {}", self.url),
                format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
            ))
        }
    }
}

/// Exactly one event was written since the log was noted: the last token exchange's.
async fn one_more_event(world: &World) -> Result<(), StepError> {
    let noted = world
        .noted_events
        .as_ref()
        .ok_or_else(|| fail("the system log noted by an earlier step", "none"))?;
    let event = audit_event(world).await?;
    let all = list_events(world, &[]).await?;
    let new: Vec<&Value> = all
        .iter()
        .filter(|e| !noted.contains(&show(&e["event_id"])))
        .collect();
    if let [one] = new.as_slice()
        && **one == event
    {
        return Ok(());
    }
    let shown: Vec<String> = new
        .iter()
        .map(|e| {
            format!(
                "{} {} (request {})",
                show(&e["grant_type"]),
                show(&e["outcome"]),
                show(&e["request_id"])
            )
        })
        .collect();
    Err(fail(
        format!(
            "one new event, the token exchange's (request {})",
            show(&event["request_id"])
        ),
        format!("{} new: {}", new.len(), shown.join("; ")),
    ))
}

/// Serves a SIEM sink on loopback and adds an `http` exporter pointed at it.
async fn add_exporter(world: &mut World, envelope: &str) -> Result<(), StepError> {
    let before = list_events(world, &[])
        .await?
        .iter()
        .map(|e| show(&e["event_id"]))
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| fail("a loopback port for the SIEM sink", e.to_string()))?;
    let address = listener
        .local_addr()
        .map_err(|e| fail("the SIEM sink's address", e.to_string()))?;
    let token = Secret::new(format!("siem-{}", crate::oauth::random_id()));
    let sink = std::sync::Arc::new(crate::mocks::siem::SiemSink::new(
        Some(token.clone()),
        std::sync::Arc::new(crate::jose::SystemClock),
    ));
    let served = crate::served::Served::start(
        listener,
        std::sync::Arc::clone(&sink).router(),
        "the suite's SIEM sink",
        crate::served::ServeLimits::default(),
    );
    let hec = envelope == "splunk_hec";
    // Splunk's own collector path for its envelope; the NDJSON sink takes any path.
    let path = if hec {
        "/services/collector/event"
    } else {
        "/ingest"
    };
    let name = format!("suite-siem-{}", crate::oauth::random_id());
    let body = serde_json::json!({
        "name": name,
        "kind": "http",
        "url": format!("http://{address}{path}"),
        "bearer_token": token.secret(),
        "envelope": envelope,
        // Several deliveries, so batching is exercised as well.
        "batch_max": 2,
    });
    world.siem = Some(SuiteSiem {
        sink,
        _served: served,
        exporter: name,
        hec,
        before,
    });
    admin_call(world, reqwest::Method::POST, "/exporters", Some(body), true).await
}

/// How far the sink is from holding the system log.
enum Delivered {
    All,
    Missing(String),
}

/// The events the sink received, by `event_id`, unwrapped from HEC envelopes; a malformed
/// one, or a duplicate that differs, fails at once.
fn received_events(siem: &SuiteSiem) -> Result<BTreeMap<String, Value>, StepError> {
    let mut by_id = BTreeMap::new();
    for value in siem.sink.events() {
        let event = if siem.hec {
            let event = value["event"].clone();
            // HEC's `time` is epoch seconds; the envelope's must be the event's.
            if let Some(time) = value
                .get("time")
                .and_then(|t| t.as_str().map_or_else(|| t.as_f64(), |s| s.parse().ok()))
            {
                #[allow(clippy::cast_possible_truncation)]
                let ms = (time * 1000.0).round() as i64;
                if Some(ms) != event["time_ms"].as_i64() {
                    return Err(fail(
                        "a HEC envelope whose `time` is its event's `time_ms`",
                        crate::oauth::shorten(&value.to_string()),
                    ));
                }
            }
            event
        } else {
            value.clone()
        };
        let Some(id) = event["event_id"].as_str().map(str::to_owned) else {
            return Err(fail(
                if siem.hec {
                    "a HEC envelope with an `event` carrying an `event_id`"
                } else {
                    "an NDJSON line that is an event with an `event_id`"
                },
                crate::oauth::shorten(&value.to_string()),
            ));
        };
        match by_id.get(&id) {
            // At least once: a duplicate is allowed, but only of the same event.
            Some(first) if *first != event => {
                return Err(fail(
                    format!("every delivery of event `{id}` to be the same"),
                    difference(first, &event),
                ));
            }
            Some(_) => {}
            None => {
                by_id.insert(id, event);
            }
        }
    }
    Ok(by_id)
}

/// Compares the sink with the system log once: the sink is read first, so an event it
/// holds is already listed.
async fn compare_sink(world: &World, siem: &SuiteSiem) -> Result<Delivered, StepError> {
    let received = received_events(siem)?;
    let listed = list_events(world, &[]).await?;
    if let Some(extra) = received
        .keys()
        .find(|id| !listed.iter().any(|e| e["event_id"] == id.as_str()))
    {
        return Err(fail(
            "only events the system log lists at the SIEM",
            format!("event `{extra}`, which the system log does not list"),
        ));
    }
    let mut missing = 0;
    let mut required = 0;
    for event in &listed {
        let id = show(&event["event_id"]);
        let since_added = !siem.before.contains(&id);
        required += usize::from(since_added);
        match received.get(&id) {
            None if since_added => missing += 1,
            None => {}
            Some(got) if got == event => {}
            Some(got) => {
                return Err(fail(
                    format!("event `{id}` at the SIEM as the system log lists it"),
                    difference(event, got),
                ));
            }
        }
    }
    Ok(if missing == 0 {
        Delivered::All
    } else {
        Delivered::Missing(format!(
            "{missing} of the {required} events recorded since the exporter was added not \
             delivered"
        ))
    })
}

/// The longest wait a step sentence may ask for ("within N seconds").
const MAX_WAIT_SECS: u64 = 600;

/// The `N` of "within N seconds", at most [`MAX_WAIT_SECS`]: a longer wait (or a number
/// too large to read) is a sentence no step defines, refused when the features load, so
/// a deadline never overflows.
fn wait_of(secs: &str) -> Result<u64, StepError> {
    secs.parse()
        .ok()
        .filter(|s| *s <= MAX_WAIT_SECS)
        .ok_or(StepError::Undefined)
}

/// Waits, up to `secs`, until the sink holds every event recorded since the exporter was
/// added, each as the system log lists it.
async fn sink_holds_every_event(world: &World, secs: u64) -> Result<(), StepError> {
    let siem = world
        .siem
        .as_ref()
        .ok_or_else(|| fail("a SIEM sink started by an earlier step", "none"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let why = match compare_sink(world, siem).await? {
            Delivered::All => return Ok(()),
            Delivered::Missing(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            let status = exporter_status(world, siem).await?;
            return Err(fail(
                format!(
                    "every event recorded since the exporter was added at the SIEM within {secs} s"
                ),
                format!(
                    "{why}; the exporter's last error: {}",
                    show(&status["last_error"])
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn exporter_status(world: &World, siem: &SuiteSiem) -> Result<Value, StepError> {
    let admin = system_log(world)?;
    let path = format!("/exporters/{}", siem.exporter);
    admin_get(&world.http, &admin.url, &path, admin.token.secret()).await
}

/// Waits, up to `secs`, until the exporter's status shows nothing left to deliver, a
/// success and no error.
async fn exporter_caught_up(world: &World, secs: u64) -> Result<(), StepError> {
    let siem = world
        .siem
        .as_ref()
        .ok_or_else(|| fail("an exporter added by an earlier step", "none"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let status = exporter_status(world, siem).await?;
        if status["lag"] == 0
            && status["last_success_ms"].is_i64()
            && status["last_error"].is_null()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(fail(
                format!("within {secs} s: lag 0, a last success and no error"),
                format!(
                    "lag {}, last_success_ms {}, last_error {}",
                    show(&status["lag"]),
                    show(&status["last_success_ms"]),
                    show(&status["last_error"])
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// One property of an ID-JAG changed before it is re-signed.
enum Change {
    /// `typ "X"`.
    Typ(String),
    /// `its "C" claim removed`.
    Remove(String),
    /// `its "C" claim set to "V"`.
    Set(String, Value),
    /// `its "C" claim N seconds after its "iat" claim` (negative: before).
    AfterIat(String, i64),
    /// `a second audience "V"`.
    SecondAudience(String),
    /// `its audience followed by a slash`.
    AudienceSlash,
    /// `a resource of another authorization server`.
    ForeignResource,
    /// `two resources, its own and another authorization server's` (RFC 8707 §2: a
    /// server may grant a subset, never the foreign one).
    TwoResources,
    /// `its "H" header set to "V"`: signed by the issuer's key all the same.
    Header(String, String),
    /// `no signature and alg "X"`: an unsecured JWS (RFC 7519 §6), in any spelling of
    /// `none`.
    Unsecured(String),
    /// `HS256 keyed with the issuer's public key as JWK|PEM`: the key-confusion attack
    /// (RFC 8725 §2.1, §3.1).
    Hs256PublicKey { pem: bool },
    /// `an unknown kid`: the issuer's key, under a `kid` its JWKS does not publish.
    UnknownKid,
    /// `a key the issuer never published`: under the issuer's `kid`.
    UnpublishedKey,
    /// `a key of its own embedded as "jwk"`: the attacker's key, offered in the header
    /// (RFC 8725 §3.10: never trust a key the token carries).
    EmbeddedJwk,
    /// `the issuer's <alg> key`: a published key of an algorithm the server is not
    /// pinned to.
    OtherAlgKey(crate::jose::Alg),
    /// `an unknown critical header`: `crit` naming an extension nobody understands
    /// (RFC 7515 §4.1.11).
    UnknownCrit,
    /// `its payload changed after signing`: a fresh `jti`, the signature kept.
    PayloadAfterSigning,
    /// `a key of its own published at "jku"`: the attacker's key, with a `jku` naming the
    /// attacker's JWKS (RFC 8725 §3.10).
    Jku,
    /// `the shape of an ID token`: `typ` `JWT`, `aud` the client, no `resource`: the
    /// subject token presented as the assertion.
    IdTokenShape,
    /// `a claim padding it to N bytes`: an oversized assertion.
    Padded(usize),
    /// `no typ`: the header has no `typ` at all.
    NoTyp,
    /// `a certificate of its own embedded as "x5c"`: the attacker's key, its self-signed
    /// certificate in the header (RFC 8725 §3.10).
    X5c,
    /// `a certificate of its own published at "x5u"`: the attacker's key, the header
    /// pointing at its certificate.
    X5u,
}

fn parse_change(text: &str) -> Result<Change, StepError> {
    static FORMS: LazyLock<[Regex; 21]> = LazyLock::new(|| {
        [
            r#"^typ "([^"]*)"$"#,
            r#"^its "([^"]+)" claim removed$"#,
            r#"^its "([^"]+)" claim set to "([^"]*)"$"#,
            r#"^its "([^"]+)" claim (\d+) seconds (after|before) its "iat" claim$"#,
            r#"^a second audience "([^"]+)"$"#,
            r"^its audience followed by a slash$",
            r"^a resource of another authorization server$",
            r#"^its "([^"]+)" header set to "([^"]*)"$"#,
            r#"^no signature and alg "([^"]*)"$"#,
            r"^HS256 keyed with the issuer's public key as (JWK|PEM)$",
            r"^an unknown kid$",
            r"^a key the issuer never published$",
            r#"^a key of its own embedded as "jwk"$"#,
            r"^the issuer's (EdDSA|RS256|ES256) key$",
            r"^(an unknown critical header|its payload changed after signing)$",
            r"^two resources, its own and another authorization server's$",
            r#"^a key of its own published at "jku"$"#,
            r"^the shape of an ID token$",
            r"^a claim padding it to (\d+) bytes$",
            r"^no typ$",
            r#"^a certificate of its own (embedded as "x5c"|published at "x5u")$"#,
        ]
        .map(|p| Regex::new(p).unwrap_or_else(|e| panic!("change pattern {p}: {e}")))
    });
    let (i, c) = FORMS
        .iter()
        .enumerate()
        .find_map(|(i, re)| re.captures(text).map(|c| (i, c)))
        .ok_or(StepError::Undefined)?;
    let get = |n: usize| c.get(n).map_or("", |m| m.as_str()).to_owned();
    Ok(match i {
        0 => Change::Typ(get(1)),
        1 => Change::Remove(get(1)),
        2 => Change::Set(get(1), Value::String(get(2))),
        3 => {
            let n: i64 = get(2).parse().unwrap_or(0);
            Change::AfterIat(get(1), if get(3) == "before" { -n } else { n })
        }
        4 => Change::SecondAudience(get(1)),
        5 => Change::AudienceSlash,
        6 => Change::ForeignResource,
        7 => Change::Header(get(1), get(2)),
        8 => Change::Unsecured(get(1)),
        9 => Change::Hs256PublicKey {
            pem: get(1) == "PEM",
        },
        10 => Change::UnknownKid,
        11 => Change::UnpublishedKey,
        12 => Change::EmbeddedJwk,
        13 => Change::OtherAlgKey(get(1).parse().map_err(|_| StepError::Undefined)?),
        14 if get(1) == "an unknown critical header" => Change::UnknownCrit,
        14 => Change::PayloadAfterSigning,
        15 => Change::TwoResources,
        16 => Change::Jku,
        17 => Change::IdTokenShape,
        18 => Change::Padded(get(1).parse().map_err(|_| StepError::Undefined)?),
        19 => Change::NoTyp,
        _ if get(1).contains("x5c") => Change::X5c,
        _ => Change::X5u,
    })
}

/// The attacker's key of `alg` (see [`super::idp::attacker_keys`]).
fn attacker_key(alg: crate::jose::Alg) -> Result<crate::jose::SigningKey, StepError> {
    super::idp::attacker_keys()
        .iter()
        .find(|k| k.alg() == alg)
        .cloned()
        .ok_or_else(|| fail(format!("an {alg} key of the suite's own"), "none generated"))
}

/// Re-signs the last ID-JAG with the issuer's own key (same `kid`) with one property
/// changed: a token whose only defect is that change.
fn re_sign(world: &mut World, change: &Change) -> Result<(), StepError> {
    use crate::jose::dangerous;
    let Some(keys) = &world.target.signing_keys else {
        return Err(StepError::Skip(
            "the suite does not hold the target issuer's signing keys".into(),
        ));
    };
    let (old_header, mut claims) = id_jag_parts(world)?;
    let kid = crate::types::Kid::new(old_header["kid"].as_str().unwrap_or_default());
    let Some((issuer_key, _)) = keys.get(&kid) else {
        return Err(StepError::Skip(format!(
            "the suite holds no key with the ID-JAG's kid `{}`",
            kid.as_str()
        )));
    };
    let mut key = issuer_key.clone();
    // The header as the issuer wrote it, in its order: typ, alg, kid.
    let mut header = serde_json::json!({
        "typ": old_header["typ"].clone(),
        "alg": key.alg().as_str(),
        "kid": kid.as_str(),
    });
    if old_header["typ"].is_null()
        && let Value::Object(map) = &mut header
    {
        map.remove("typ");
    }
    let iat = claims["iat"].as_i64().unwrap_or(0);
    let failed = |e: String| fail("a re-signed ID-JAG", e);
    let token = match change {
        Change::Unsecured(alg) => {
            header["alg"] = Value::from(alg.as_str());
            dangerous::assemble(&header, &claims, b"")
        }
        Change::Hs256PublicKey { pem } => {
            header["alg"] = Value::from("HS256");
            let secret = if *pem {
                key.public_pem().map_err(|e| failed(e.to_string()))?
            } else {
                key.public_jwk().to_json().to_string()
            };
            dangerous::hs256(secret.as_bytes(), &header, &claims).map_err(failed)?
        }
        Change::PayloadAfterSigning => {
            let signed = dangerous::sign_raw(
                &key,
                header.to_string().as_bytes(),
                claims.to_string().as_bytes(),
            )
            .map_err(failed)?;
            // A fresh `jti`: the one change that leaves the claims otherwise valid, so only
            // the signature can refuse it.
            claims["jti"] = Value::from(crate::oauth::random_id());
            dangerous::replace_payload(&signed, &claims)
        }
        _ => {
            match change {
                Change::Typ(t) => header["typ"] = Value::from(t.as_str()),
                Change::Remove(c) => {
                    if let Value::Object(map) = &mut claims {
                        map.remove(c);
                    }
                }
                Change::Set(c, v) => claims[c.as_str()] = v.clone(),
                Change::AfterIat(c, secs) => {
                    claims[c.as_str()] = Value::from(iat.saturating_add(*secs));
                }
                Change::SecondAudience(other) => {
                    let aud = claims["aud"].clone();
                    claims["aud"] = Value::Array(vec![aud, Value::String(other.clone())]);
                }
                Change::AudienceSlash => {
                    let aud = claims["aud"].as_str().unwrap_or_default().to_owned();
                    claims["aud"] = Value::String(format!("{aud}/"));
                }
                Change::ForeignResource => {
                    claims["resource"] = Value::String(foreign_resource(world)?);
                }
                Change::TwoResources => {
                    let own = claims["resource"].clone();
                    claims["resource"] = serde_json::json!([own, foreign_resource(world)?]);
                }
                Change::Header(name, value) => header[name.as_str()] = Value::from(value.as_str()),
                Change::UnknownKid => {
                    header["kid"] = Value::from(format!("unknown-{}", crate::oauth::random_id()));
                }
                Change::UnpublishedKey => key = attacker_key(key.alg())?,
                Change::EmbeddedJwk => {
                    key = attacker_key(key.alg())?;
                    header["jwk"] = key.public_jwk().to_json();
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::OtherAlgKey(alg) => {
                    key = keys
                        .active(*alg)
                        .cloned()
                        .ok_or_else(|| StepError::Skip(format!("the suite holds no {alg} key")))?;
                    header["alg"] = Value::from(alg.as_str());
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::Jku => {
                    let url = world.target.attacker_jwks_url.clone().ok_or_else(|| {
                        StepError::Skip("the suite serves no attacker JWKS for this target".into())
                    })?;
                    key = attacker_key(key.alg())?;
                    header["jku"] = Value::from(url);
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::IdTokenShape => {
                    header["typ"] = Value::from("JWT");
                    let client = claims["client_id"].clone();
                    claims["aud"] = client;
                    if let Value::Object(map) = &mut claims {
                        map.remove("resource");
                        map.remove("client_id");
                        map.remove("scope");
                    }
                }
                Change::X5c | Change::X5u => {
                    let alg = key.alg();
                    key = attacker_key(alg)?;
                    let (_, der, _) = super::idp::attacker_certificates()
                        .iter()
                        .find(|(a, _, _)| *a == alg)
                        .ok_or_else(|| {
                            fail(
                                format!("a certificate for the {alg} attacker key"),
                                "none made",
                            )
                        })?;
                    if matches!(change, Change::X5c) {
                        // RFC 7515 §4.1.6: standard base64 of the DER, not base64url.
                        header["x5c"] = serde_json::json!([base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            der
                        )]);
                    } else {
                        let jwks = world.target.attacker_jwks_url.clone().ok_or_else(|| {
                            StepError::Skip(
                                "the suite serves no attacker certificate for this target".into(),
                            )
                        })?;
                        header["x5u"] = Value::from(jwks.replace(
                            "jwks.json",
                            &format!("{}.pem", alg.as_str().to_ascii_lowercase()),
                        ));
                    }
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::NoTyp => {
                    if let Value::Object(map) = &mut header {
                        map.remove("typ");
                    }
                }
                Change::Padded(bytes) => {
                    claims["x-jagspec-padding"] = Value::from("A".repeat(*bytes));
                }
                Change::UnknownCrit => {
                    header["crit"] = serde_json::json!(["urn:jagspec:unknown"]);
                    header["urn:jagspec:unknown"] = Value::Bool(true);
                }
                Change::Unsecured(_)
                | Change::Hs256PublicKey { .. }
                | Change::PayloadAfterSigning => {}
            }
            dangerous::sign_raw(
                &key,
                header.to_string().as_bytes(),
                claims.to_string().as_bytes(),
            )
            .map_err(failed)?
        }
    };
    world.id_jag = Some(Secret::new(token));
    Ok(())
}

/// An MCP server of another authorization server: never one the role's serves.
fn foreign_resource(world: &World) -> Result<String, StepError> {
    if let Some(foreign) = &world.target.foreign_resource {
        return Ok(foreign.clone());
    }
    let own = world
        .role
        .as_ref()
        .and_then(|r| r.authorization_server.clone());
    world
        .target
        .authorization_servers
        .iter()
        .filter(|(name, _)| Some(*name) != own.as_ref())
        .find_map(|(_, a)| a.mcp_servers.first().cloned())
        .ok_or_else(|| StepError::Skip("the target has one authorization server only".into()))
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

async fn admin_get(
    http: &Http,
    admin_url: &str,
    path: &str,
    token: &str,
) -> Result<Value, StepError> {
    let url = format!("{admin_url}{path}");
    let (text, _) = admin_read(http, &url, token, MAX_ANSWER_BYTES).await?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// GETs `url` of the admin API with its token, requires a 2xx, and reads at most `cap`
/// bytes of the answer: its text and the `x-next-cursor` of a page of the system log.
async fn admin_read(
    http: &Http,
    url: &str,
    token: &str,
    cap: usize,
) -> Result<(String, Option<String>), StepError> {
    let response = http
        .send(http.get(url).bearer_auth(token))
        .await
        .map_err(|e| fail(format!("GET {url}"), e.to_string()))?;
    let status = response.status();
    let next = response
        .headers()
        .get("x-next-cursor")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = read_text(http, response, cap, &format!("GET {url}")).await?;
    if !status.is_success() {
        return Err(fail(
            format!("GET {url} → 200"),
            format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
        ));
    }
    Ok((text, next))
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
    fn every_step_pattern_compiles_and_every_feature_step_is_defined() {
        assert!(!DEFS.is_empty());
        let checks = super::super::plan::plan(&super::super::plan::FEATURES).unwrap();
        for c in &checks {
            for s in &c.steps {
                assert!(is_defined(&s.text), "{}: undefined step `{}`", c.id, s.text);
            }
        }
    }

    #[test]
    fn a_wait_longer_than_ten_minutes_is_no_step() {
        let sentence = |n: &str| {
            format!("within {n} seconds the exporter's status shows lag 0 and a last success")
        };
        assert!(is_defined(&sentence("0")));
        assert!(is_defined(&sentence("600")));
        assert!(!is_defined(&sentence("601")));
        assert!(!is_defined(&sentence("99999999999999999999999")));
        assert!(!is_defined(&format!(
            "within {} seconds the SIEM sink holds every event recorded since the exporter \
             was added, every field as the system log lists it",
            u64::MAX
        )));
        assert_eq!(wait_of("10").ok(), Some(10));
    }
}

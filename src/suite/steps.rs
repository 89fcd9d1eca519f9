//! The step library: every sentence the feature files may use, and what it does over
//! HTTP. Steps never call issuer internals (DESIGN.md), so the same sentences run against
//! any target.

use super::report::Exchange;
use super::target::{Provision, Role, Target};
use crate::oauth::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT, basic_authorization,
};
use crate::types::Secret;
use regex::Regex;
use serde_json::Value;
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
    /// The step changes the target (its clock, its configuration) and the check runs on a
    /// target shared with others: the runner reruns it on a target of its own.
    NeedsIsolation,
}

fn fail(expected: impl Into<String>, actual: impl Into<String>) -> StepError {
    StepError::Fail {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// One HTTP answer the steps may inspect.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) request_id: Option<String>,
    /// As the report shows it: credentials and tokens redacted.
    pub(crate) exchange: Exchange,
}

/// A check's state, from its first step to its last.
pub(crate) struct World {
    pub(crate) target: std::sync::Arc<Target>,
    /// Whether this check has the target to itself, so it may change it.
    isolated: bool,
    http: reqwest::Client,
    id_token: Option<Secret>,
    role: Option<Role>,
    /// The last answer of the issuer or an authorization server.
    pub(crate) last: Option<Answer>,
    /// The last token exchange's answer (audit steps read its request id).
    exchange: Option<Answer>,
    id_jag: Option<Secret>,
    /// The role's resource server as the admin API showed it before an admin change.
    saved_server: Option<Value>,
}

impl World {
    pub(crate) fn new(target: std::sync::Arc<Target>, isolated: bool) -> Self {
        Self {
            target,
            isolated,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            id_token: None,
            role: None,
            last: None,
            exchange: None,
            id_jag: None,
            saved_server: None,
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
}

static DEFS: LazyLock<Vec<(Regex, Def)>> = LazyLock::new(|| {
    let defs: [(&str, Def); 33] = [
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
    let mutating = matches!(
        def,
        Def::ClockMoves
            | Def::AdminDisables
            | Def::AdminEnables
            | Def::AdminDisablesTenant
            | Def::AdminRegistersWith
            | Def::AdminChangesAudience
            | Def::AdminSetsHook
    );
    if mutating && !world.isolated {
        return Err(StepError::NeedsIsolation);
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
            let (_, claims) = id_jag_parts(world)?;
            let missing: Vec<String> = arg(0)
                .split(',')
                .map(|c| c.trim().trim_start_matches("and ").trim().to_owned())
                .filter(|c| claims.get(c).is_none())
                .collect();
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

fn describe(a: &Answer) -> String {
    format!(
        "HTTP {} with error `{}`",
        a.status,
        a.body.get("error").and_then(Value::as_str).unwrap_or("-")
    )
}

async fn sign_in(world: &mut World, user: &str) -> Result<(), StepError> {
    let Some(password) = world.target.users.get(user).cloned() else {
        return Err(StepError::Skip(format!(
            "the target has no test user `{user}`"
        )));
    };
    let client = world.target.client.clone();
    let form = vec![
        ("grant_type".to_owned(), "password".to_owned()),
        ("username".to_owned(), user.to_owned()),
        ("password".to_owned(), password.secret().to_owned()),
    ];
    let endpoint = world.target.token_endpoint.clone();
    let answer = post_form(
        &world.http,
        &endpoint,
        Some((&client.client_id, client.secret.secret())),
        &form,
    )
    .await?;
    let token = answer
        .body
        .get("id_token")
        .and_then(Value::as_str)
        .map(Secret::new);
    match token {
        Some(t) if answer.status == 200 => {
            world.id_token = Some(t);
            Ok(())
        }
        _ => {
            let actual = describe(&answer);
            world.last = Some(answer);
            Err(fail(format!("an ID token for test user `{user}`"), actual))
        }
    }
}

async fn offers(world: &mut World, name: &str) -> Result<(), StepError> {
    let Some(role) = world.target.roles.get(name).cloned() else {
        return Err(StepError::Skip(format!("the target offers no `{name}`")));
    };
    if let Some(Provision::RetireKey(alg)) = role.provision {
        if !world.isolated {
            return Err(StepError::NeedsIsolation);
        }
        let Some(admin) = world.target.admin.clone() else {
            return Err(StepError::Skip(format!(
                "`{name}` needs an admin change and the target has no admin API"
            )));
        };
        let keys: Value = admin_get(&world.http, &admin.url, "/keys", admin.token.secret()).await?;
        for key in keys.as_array().into_iter().flatten() {
            if key["alg"] == alg.as_str() && key["status"] == "active" {
                let kid = key["kid"].as_str().unwrap_or_default();
                let url = format!("{}/keys/{kid}/retire", admin.url);
                let response = world
                    .http
                    .post(&url)
                    .bearer_auth(admin.token.secret())
                    .send()
                    .await
                    .map_err(|e| fail(format!("POST {url}"), e.to_string()))?;
                if !response.status().is_success() {
                    return Err(fail(
                        format!("POST {url} → 200"),
                        response.status().to_string(),
                    ));
                }
            }
        }
    }
    world.role = Some(role);
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
    let mut form = vec![
        ("grant_type".to_owned(), TOKEN_EXCHANGE_GRANT.to_owned()),
        (
            "requested_token_type".to_owned(),
            variant
                .requested_token_type
                .unwrap_or_else(|| ID_JAG_TOKEN_TYPE.to_owned()),
        ),
        ("audience".to_owned(), role.audience.clone()),
        (
            "scope".to_owned(),
            variant.scope.unwrap_or(role.scope.clone()),
        ),
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
    let response = request
        .send()
        .await
        .map_err(|e| fail(format!("an answer from {method} {url}"), e.to_string()))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let answer = Answer {
        status,
        body: parsed,
        request_id: None,
        exchange: Exchange {
            request: format!("{method} {url}"),
            request_body: body.map(|b| b.to_string()).unwrap_or_default(),
            status,
            response_body: crate::oauth::shorten(&text),
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

async fn redeem(world: &mut World) -> Result<(), StepError> {
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
    let form = vec![
        ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
        ("assertion".to_owned(), id_jag.secret().to_owned()),
    ];
    let answer = post_form(
        &world.http,
        &server.token_endpoint,
        Some((&server.client.client_id, server.client.secret.secret())),
        &form,
    )
    .await?;
    world.last = Some(answer);
    Ok(())
}

/// The audit event of the last token exchange, read through the admin API.
async fn audit_event(world: &World) -> Result<Value, StepError> {
    let Some(admin) = world.target.admin.clone() else {
        return Err(StepError::Skip(
            "the target does not expose its audit log".into(),
        ));
    };
    let exchange = world
        .exchange
        .as_ref()
        .ok_or_else(|| fail("a token exchange made by an earlier step", "none"))?;
    let Some(request_id) = &exchange.request_id else {
        return Err(fail(
            "an x-request-id naming the request's audit event",
            "no x-request-id header",
        ));
    };
    let path = format!(
        "/audit-events?request_id={}",
        form_urlencoded::byte_serialize(request_id.as_bytes()).collect::<String>()
    );
    let events = admin_get(&world.http, &admin.url, &path, admin.token.secret()).await?;
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
}

fn parse_change(text: &str) -> Result<Change, StepError> {
    static FORMS: LazyLock<[Regex; 7]> = LazyLock::new(|| {
        [
            r#"^typ "([^"]*)"$"#,
            r#"^its "([^"]+)" claim removed$"#,
            r#"^its "([^"]+)" claim set to "([^"]*)"$"#,
            r#"^its "([^"]+)" claim (\d+) seconds (after|before) its "iat" claim$"#,
            r#"^a second audience "([^"]+)"$"#,
            r"^its audience followed by a slash$",
            r"^a resource of another authorization server$",
        ]
        .map(|p| Regex::new(p).unwrap_or_else(|e| panic!("change pattern {p}: {e}")))
    });
    let cap = |i: usize| FORMS[i].captures(text);
    let get = |c: &regex::Captures<'_>, n: usize| c.get(n).map_or("", |m| m.as_str()).to_owned();
    if let Some(c) = cap(0) {
        return Ok(Change::Typ(get(&c, 1)));
    }
    if let Some(c) = cap(1) {
        return Ok(Change::Remove(get(&c, 1)));
    }
    if let Some(c) = cap(2) {
        return Ok(Change::Set(get(&c, 1), Value::String(get(&c, 2))));
    }
    if let Some(c) = cap(3) {
        let n: i64 = get(&c, 2).parse().unwrap_or(0);
        let signed = if get(&c, 3) == "before" { -n } else { n };
        return Ok(Change::AfterIat(get(&c, 1), signed));
    }
    if let Some(c) = cap(4) {
        return Ok(Change::SecondAudience(get(&c, 1)));
    }
    if cap(5).is_some() {
        return Ok(Change::AudienceSlash);
    }
    if cap(6).is_some() {
        return Ok(Change::ForeignResource);
    }
    Err(StepError::Undefined)
}

/// Re-signs the last ID-JAG with the issuer's own key (same `kid`) with one property
/// changed: a token whose only defect is that change.
fn re_sign(world: &mut World, change: &Change) -> Result<(), StepError> {
    let Some(keys) = &world.target.signing_keys else {
        return Err(StepError::Skip(
            "the suite does not hold the target issuer's signing keys".into(),
        ));
    };
    let (header, mut claims) = id_jag_parts(world)?;
    let kid = crate::types::Kid::new(header["kid"].as_str().unwrap_or_default());
    let Some((key, _)) = keys.get(&kid) else {
        return Err(StepError::Skip(format!(
            "the suite holds no key with the ID-JAG's kid `{}`",
            kid.as_str()
        )));
    };
    let mut typ = header["typ"].as_str().unwrap_or_default().to_owned();
    let iat = claims["iat"].as_i64().unwrap_or(0);
    match change {
        Change::Typ(t) => typ.clone_from(t),
        Change::Remove(c) => {
            if let Value::Object(map) = &mut claims {
                map.remove(c);
            }
        }
        Change::Set(c, v) => claims[c.as_str()] = v.clone(),
        Change::AfterIat(c, secs) => claims[c.as_str()] = Value::from(iat.saturating_add(*secs)),
        Change::SecondAudience(other) => {
            let aud = claims["aud"].clone();
            claims["aud"] = Value::Array(vec![aud, Value::String(other.clone())]);
        }
        Change::AudienceSlash => {
            let aud = claims["aud"].as_str().unwrap_or_default().to_owned();
            claims["aud"] = Value::String(format!("{aud}/"));
        }
        Change::ForeignResource => {
            // An MCP server of another authorization server: never one this one serves.
            let own = world
                .role
                .as_ref()
                .and_then(|r| r.authorization_server.clone());
            let foreign = world
                .target
                .authorization_servers
                .iter()
                .filter(|(name, _)| Some(*name) != own.as_ref())
                .find_map(|(_, a)| a.mcp_servers.first().cloned())
                .ok_or_else(|| {
                    StepError::Skip("the target has one authorization server only".into())
                })?;
            claims["resource"] = Value::String(foreign);
        }
    }
    let token = crate::jose::sign(key, &crate::jose::JwsHeader::new().typ(typ), &claims)
        .map_err(|e| fail("a re-signed ID-JAG", e.to_string()))?;
    world.id_jag = Some(Secret::new(token.into_secret()));
    Ok(())
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
    http: &reqwest::Client,
    admin_url: &str,
    path: &str,
    token: &str,
) -> Result<Value, StepError> {
    let url = format!("{admin_url}{path}");
    let response = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| fail(format!("GET {url}"), e.to_string()))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(fail(
            format!("GET {url} → 200"),
            format!("HTTP {status}: {body}"),
        ))
    }
}

/// POSTs a form with client_secret_basic; records the exchange with secrets redacted.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(String, String)],
) -> Result<Answer, StepError> {
    let mut request = http.post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_authorization(id, secret));
    }
    let response = request
        .send()
        .await
        .map_err(|e| fail(format!("an answer from POST {url}"), e.to_string()))?;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let shown: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", redact_param(k, v)))
        .collect();
    let mut shown_body = body.clone();
    redact_json(&mut shown_body);
    Ok(Answer {
        status,
        body,
        request_id,
        exchange: Exchange {
            request: format!("POST {url}"),
            request_body: shown.join("&"),
            status,
            response_body: if shown_body.is_null() {
                crate::oauth::shorten(&text)
            } else {
                shown_body.to_string()
            },
        },
    })
}

const SECRET_NAMES: [&str; 6] = [
    "password",
    "client_secret",
    "subject_token",
    "assertion",
    "access_token",
    "id_token",
];

fn redact_param(name: &str, value: &str) -> String {
    if SECRET_NAMES.contains(&name) {
        format!("(redacted, {} bytes)", value.len())
    } else {
        value.to_owned()
    }
}

fn redact_json(v: &mut Value) {
    if let Value::Object(map) = v {
        for (k, val) in map.iter_mut() {
            if SECRET_NAMES.contains(&k.as_str())
                && let Value::String(s) = val
            {
                *val = Value::String(format!("(redacted, {} bytes)", s.len()));
            }
        }
    }
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
    fn reports_never_show_credentials_or_tokens() {
        assert_eq!(redact_param("client_secret", "abc"), "(redacted, 3 bytes)");
        assert_eq!(redact_param("scope", "chat.read"), "chat.read");
        let mut v = serde_json::json!({"access_token": "eyJ", "token_type": "N_A"});
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"access_token": "(redacted, 3 bytes)", "token_type": "N_A"})
        );
    }
}

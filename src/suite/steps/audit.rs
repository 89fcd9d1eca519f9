//! The audit event of a request, as the issuer's admin API shows it: outcome, status
//! detail, scopes, who asked, and the ID-JAG it issued.

use super::params::{Outcome, Param, Parameter, present};
use super::signin::subject_sub;
use super::{StepError, World, expect_eq, fail, role};
use super::{id_jag_parts, read_json, show};
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    AUDIT_STATUS_DETAIL_IS,
    AUDIT_OUTCOME_IS,
    AUDIT_RECORDS_SCOPE,
    AUDIT_RECORDS_THE_ROLES_SCOPE,
    AUDIT_RECORDS_THE_TOKEN,
    AUDIT_NAMES_WHO,
];

/// Which of the role's scopes an audit sentence means.
pub(super) enum RoleScope {
    /// The scope the role requests.
    Granted,
    /// Its scope granted to nobody.
    Ungranted,
}

impl Parameter for RoleScope {
    const NAME: &'static str = "role_scope";
    const REGEX: &'static str = "the role's scope|the scope granted to nobody";
}

impl Param for RoleScope {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "the role's scope" => Ok(Self::Granted),
            "the scope granted to nobody" => Ok(Self::Ungranted),
            other => Err(format!("`{other}` is no scope of the role")),
        }
    }
}

#[step("the audit event of the request has status detail {string}")]
async fn audit_status_detail_is(world: &mut World, detail: String) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let found = event["status_detail"].as_str().unwrap_or_default();
    expect_eq("status detail", &detail, found)
}

#[step(r#"the audit event of the request records the outcome "{outcome}""#)]
async fn audit_outcome_is(world: &mut World, outcome: Outcome) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let found = event["outcome"].as_str().unwrap_or_default();
    expect_eq("outcome", outcome.as_str(), found)
}

#[step("the audit event records scope {string} as {outcome}")]
async fn audit_records_scope(
    world: &mut World,
    scope: String,
    outcome: Outcome,
) -> Result<(), StepError> {
    scope_outcome_is(world, &scope, outcome).await
}

#[step("the audit event records {role_scope} as {outcome}")]
async fn audit_records_the_roles_scope(
    world: &mut World,
    which: RoleScope,
    outcome: Outcome,
) -> Result<(), StepError> {
    let role = role(world)?;
    let scope = match which {
        RoleScope::Granted => role.scope,
        RoleScope::Ungranted => role.ungranted_scope.unwrap_or_default(),
    };
    scope_outcome_is(world, &scope, outcome).await
}

#[step("the audit event records the ID-JAG's token id, key id, algorithm and lifetime")]
async fn audit_records_the_token(world: &mut World) -> Result<(), StepError> {
    audit_records_token(world).await
}

#[step("the audit event of the request names the user, the client and the system")]
async fn audit_names_who(world: &mut World) -> Result<(), StepError> {
    names_who(world).await
}

/// The request's audit event records `scope` with `outcome`.
async fn scope_outcome_is(world: &World, scope: &str, outcome: Outcome) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let found = event["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["scope"] == scope)
        .and_then(|s| s["outcome"].as_str())
        .unwrap_or("not recorded")
        .to_owned();
    expect_eq(&format!("scope `{scope}`"), outcome.as_str(), &found)
}

/// `user`, `client` and `system` of the request's audit event: the subject token's `sub`,
/// the authenticated client, and the requested audience (the audit page's fields).
async fn names_who(world: &World) -> Result<(), StepError> {
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

/// The audit event of the last token exchange, read through the admin API.
pub(super) async fn audit_event(world: &World) -> Result<Value, StepError> {
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
    let events = read_json(&world.http, response, &format!("GET {url}")).await?;
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

pub(super) async fn audit_records_token(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    token_fields_match(world, &event)
}

/// The event's token ID, signing key ID, algorithm and lifetime are the last ID-JAG's.
pub(super) fn token_fields_match(world: &World, event: &Value) -> Result<(), StepError> {
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

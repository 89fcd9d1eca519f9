//! Changes an administrator makes through the issuer's admin API (and the target's
//! clock): each needs a target of its own, so a check that makes one runs isolated.

use super::super::http::MAX_ANSWER_BYTES;
use super::super::report::Exchange;
use super::Answer;
use super::params::{Param, Parameter, present};
use super::{
    CHANGES_TARGET, StepError, World, admin, fail, must_have_succeeded, role, verified_alg,
};
use crate::redact;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    CLOCK_MOVES,
    ADMINISTRATOR_DISABLES_IT,
    ADMINISTRATOR_ENABLES_IT,
    ADMINISTRATOR_DISABLES_THE_TENANT,
    ADMINISTRATOR_REGISTERS_ANOTHER,
    ADMINISTRATOR_CHANGES_ITS_AUDIENCE,
    ADMINISTRATOR_SETS_ITS_HOOK,
    ADMINISTRATOR_ADDS_THE_TARGET_URL,
    ADMINISTRATOR_SETS_THE_VERIFIED_ALG,
    CONFIGURATION_IS_KEPT,
];

/// The audience of a resource server the administrator registers beside the role's.
pub(super) enum NewAudience {
    /// The tenant's own URL (the issuer).
    Issuer,
    /// The role's audience again.
    Same,
    /// One nobody uses.
    Fresh,
}

impl Parameter for NewAudience {
    const NAME: &'static str = "new_audience";
    const REGEX: &'static str = "the tenant's own URL|its audience|a new audience";
}

impl Param for NewAudience {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "the tenant's own URL" => Ok(Self::Issuer),
            "its audience" => Ok(Self::Same),
            "a new audience" => Ok(Self::Fresh),
            other => Err(format!("`{other}` is no audience")),
        }
    }
}

#[step("the clock moves {int} seconds forward", isolated = CHANGES_TARGET)]
async fn clock_moves(world: &mut World, secs: i64) -> Result<(), StepError> {
    if world.target.advance_clock(secs) {
        Ok(())
    } else {
        Err(StepError::Skip(
            "the target's clock cannot be moved by the suite".into(),
        ))
    }
}

#[step("the administrator disables it", isolated = CHANGES_TARGET)]
async fn administrator_disables_it(world: &mut World) -> Result<(), StepError> {
    let (id, server) = role_server(world).await?;
    world.saved_server = Some(server);
    let path = format!("/resource-servers/{id}/disable");
    admin_call(world, reqwest::Method::POST, &path, None, true).await
}

#[step("the administrator enables it again", isolated = CHANGES_TARGET)]
async fn administrator_enables_it(world: &mut World) -> Result<(), StepError> {
    let (id, _) = role_server(world).await?;
    let path = format!("/resource-servers/{id}/enable");
    admin_call(world, reqwest::Method::POST, &path, None, true).await
}

#[step(
    "the administrator disables enterprise-managed authorization",
    isolated = CHANGES_TARGET
)]
async fn administrator_disables_the_tenant(world: &mut World) -> Result<(), StepError> {
    let body = serde_json::json!({"ema_enabled": false});
    admin_call(world, reqwest::Method::PATCH, "/tenant", Some(body), true).await
}

#[step(
    "the administrator registers another resource server with {new_audience} as audience",
    isolated = CHANGES_TARGET
)]
async fn administrator_registers_another(
    world: &mut World,
    audience: NewAudience,
) -> Result<(), StepError> {
    let role = role(world)?;
    let audience = match audience {
        NewAudience::Same => role.audience.clone(),
        NewAudience::Fresh => format!("https://as-{}.example", crate::oauth::random_id()),
        NewAudience::Issuer => world.target.issuer.clone(),
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

#[step("the administrator changes its audience", isolated = CHANGES_TARGET)]
async fn administrator_changes_its_audience(world: &mut World) -> Result<(), StepError> {
    let body = serde_json::json!({"audience": "https://elsewhere.example"});
    patch_role_server(world, body).await
}

#[step("the administrator sets its modify-claims hook", isolated = CHANGES_TARGET)]
async fn administrator_sets_its_hook(world: &mut World) -> Result<(), StepError> {
    let body = serde_json::json!({"modify_claims_hook": "function-1"});
    patch_role_server(world, body).await
}

#[step(
    "the administrator adds the target URL to its resource URLs",
    isolated = CHANGES_TARGET
)]
async fn administrator_adds_the_target_url(world: &mut World) -> Result<(), StepError> {
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

#[step(
    "the administrator sets its signing algorithm to the one its authorization server verifies",
    isolated = CHANGES_TARGET
)]
async fn administrator_sets_the_verified_alg(world: &mut World) -> Result<(), StepError> {
    let alg = verified_alg(world)?;
    patch_role_server(world, serde_json::json!({ "alg": alg.as_str() })).await?;
    must_have_succeeded(world)
}

#[step("its configuration is what it was before it was disabled")]
async fn configuration_is_kept(world: &mut World) -> Result<(), StepError> {
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

/// The role's resource server as the admin API shows it: its id and its JSON.
pub(super) async fn role_server(world: &World) -> Result<(String, Value), StepError> {
    let role = role(world)?;
    let servers = admin(world)?.resource_servers().await?;
    let server = servers
        .into_iter()
        .find(|s| s["audience"] == role.audience.as_str())
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
pub(super) async fn patch_role_server(world: &mut World, body: Value) -> Result<(), StepError> {
    let (id, _) = role_server(world).await?;
    let path = format!("/resource-servers/{id}");
    admin_call(world, reqwest::Method::PATCH, &path, Some(body), false).await
}

/// An admin API call as an administrator makes it; `must_succeed` turns a refusal into a
/// failed step (for setup), otherwise the answer is kept for a `Then`.
pub(super) async fn admin_call(
    world: &mut World,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    must_succeed: bool,
) -> Result<(), StepError> {
    let answer = admin(world)?
        .send(method.clone(), path, body.as_ref(), MAX_ANSWER_BYTES)
        .await?;
    let status = answer.status;
    let text = answer.text.clone();
    world.last = Some(Answer {
        status,
        body: answer.json(),
        headers: Vec::new(),
        exchange: Exchange {
            request: answer.request,
            // An exporter's bearer token is a credential too.
            request_body: body
                .map(|b| redact::redact_json(&b).to_string())
                .unwrap_or_default(),
            status,
            response_body: crate::oauth::shorten(&redact::redact_body(&text)),
        },
    });
    let ok = (200..300).contains(&status);
    if must_succeed && !ok {
        return Err(fail(
            format!("{method} {path} to succeed"),
            format!("HTTP {status}: {text}"),
        ));
    }
    Ok(())
}

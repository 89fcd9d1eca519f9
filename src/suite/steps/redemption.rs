//! The JWT bearer grant (RFC 7523) at the role's authorization server: the ID-JAG
//! redeemed plainly, with departures (client authentication, resource, scope), many
//! times at once, and the access token it yields.

use super::params::{Param, Parameter, RolePart, present};
use super::{StepError, World, describe, fail, last, other_scope, role};
use super::{expect_eq, post_form, show};
use crate::oauth::JWT_BEARER_GRANT;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    ID_JAG_IS_REDEEMED,
    ID_JAG_IS_REDEEMED_WITH,
    ID_JAG_IS_REDEEMED_AT_ONCE,
    EXACTLY_ONE_IS_GRANTED,
    ACCESS_TOKEN_CLAIM_IS_THE_ROLES,
    REFUSED_OR_NARROWED_TO_ITS_RESOURCE,
    REFUSED_OR_NO_SCOPE_BEYOND,
    REFUSED_OR_NOT_ITS_OTHER_SCOPE,
];

/// How a redemption sentence departs from the plain one.
pub(super) enum RedeemedWith {
    WrongSecret,
    Anonymous,
    ForeignResource,
    OwnResource,
    ItsScope,
    ItsScopeAndOtherScope,
    Scope(String),
}

impl Parameter for RedeemedWith {
    const NAME: &'static str = "redeemed_with";
    const REGEX: &'static str = "with a wrong client secret|without client authentication\
        |with the resource of another authorization server|with its own resource\
        |with its scope|with its scope and its other scope|with scope \"[^\"]*\"";
}

impl Param for RedeemedWith {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        Ok(match present(capture)? {
            "with a wrong client secret" => Self::WrongSecret,
            "without client authentication" => Self::Anonymous,
            "with the resource of another authorization server" => Self::ForeignResource,
            "with its own resource" => Self::OwnResource,
            "with its scope" => Self::ItsScope,
            "with its scope and its other scope" => Self::ItsScopeAndOtherScope,
            other => match other
                .strip_prefix("with scope \"")
                .and_then(|s| s.strip_suffix('"'))
            {
                Some(scope) => Self::Scope(scope.to_owned()),
                None => return Err(format!("`{other}` is no way to redeem")),
            },
        })
    }
}

#[step("the ID-JAG is redeemed at its authorization server( again)")]
async fn id_jag_is_redeemed(world: &mut World) -> Result<(), StepError> {
    redeem(world).await
}

#[step("the ID-JAG is redeemed at its authorization server {redeemed_with}")]
async fn id_jag_is_redeemed_with(world: &mut World, with: RedeemedWith) -> Result<(), StepError> {
    let how = match with {
        RedeemedWith::WrongSecret => Redemption::WrongSecret,
        RedeemedWith::Anonymous => Redemption::Anonymous,
        RedeemedWith::ForeignResource => Redemption::Resource(foreign_resource(world)?),
        RedeemedWith::OwnResource => Redemption::Resource(role(world)?.resource),
        RedeemedWith::ItsScope => Redemption::Scope(role(world)?.scope),
        RedeemedWith::ItsScopeAndOtherScope => {
            let role = role(world)?;
            Redemption::Scope(format!("{} {}", role.scope, other_scope(&role)?))
        }
        RedeemedWith::Scope(scope) => Redemption::Scope(scope),
    };
    redeem_as(world, how).await
}

#[step("the ID-JAG is redeemed at its authorization server {int} times at once")]
async fn id_jag_is_redeemed_at_once(world: &mut World, times: usize) -> Result<(), StepError> {
    redeem_at_once(world, times).await
}

#[step(
    "exactly one of the redemptions is granted and every other is refused with OAuth error {string}"
)]
async fn exactly_one_is_granted(world: &mut World, error: String) -> Result<(), StepError> {
    let granted = world.concurrent.iter().filter(|a| a.status == 200).count();
    let wrong: Vec<String> = world
        .concurrent
        .iter()
        .filter(|a| a.status != 200)
        .filter(|a| a.body["error"].as_str() != Some(error.as_str()))
        .map(describe)
        .collect();
    if granted == 1 && wrong.is_empty() {
        Ok(())
    } else {
        Err(fail(
            format!(
                "1 of {} redemptions granted, the others `{error}`",
                world.concurrent.len()
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

#[step("the access token's {string} claim is the role's {role_part}")]
async fn access_token_claim_is_the_roles(
    world: &mut World,
    claim: String,
    part: RolePart,
) -> Result<(), StepError> {
    let want = part.of(&role(world)?);
    access_token_claim_is(world, &claim, &want)
}

#[step(r#"the redemption is refused, or its access token's "aud" claim is the role's resource"#)]
async fn refused_or_narrowed_to_its_resource(world: &mut World) -> Result<(), StepError> {
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

#[step(r#"the redemption is refused with HTTP 400 and OAuth error "invalid_scope", or grants no scope beyond {string}"#)]
async fn refused_or_no_scope_beyond(world: &mut World, beyond: String) -> Result<(), StepError> {
    refused_or_no_scope_in(world, || Ok(beyond))
}

#[step(r#"the redemption is refused with HTTP 400 and OAuth error "invalid_scope", or grants no scope beyond its other scope"#)]
async fn refused_or_not_its_other_scope(world: &mut World) -> Result<(), StepError> {
    refused_or_no_scope_in(world, || other_scope(&role(world)?))
}

/// The last redemption is refused with `invalid_scope`, or grants none of `beyond` (only
/// read for a grant: a refusal passes even where the role names no other scope).
fn refused_or_no_scope_in(
    world: &World,
    beyond: impl FnOnce() -> Result<String, StepError>,
) -> Result<(), StepError> {
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
    let beyond_text = beyond()?;
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

/// A claim of the last answer's access token, when it is a JWT the suite can read.
pub(super) fn access_token_claim_is(
    world: &World,
    claim: &str,
    want: &str,
) -> Result<(), StepError> {
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

/// Redeems the last ID-JAG `n` times at once (the replay check under concurrency).
pub(super) async fn redeem_at_once(world: &mut World, n: usize) -> Result<(), StepError> {
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
pub(super) fn redemption_form(
    world: &World,
) -> Result<
    (
        super::super::target::AuthorizationServerAccess,
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

/// How a redemption departs from the plain one.
pub(super) enum Redemption {
    Plain,
    WrongSecret,
    Anonymous,
    Resource(String),
    Scope(String),
}

pub(super) async fn redeem(world: &mut World) -> Result<(), StepError> {
    redeem_as(world, Redemption::Plain).await
}

pub(super) async fn redeem_as(world: &mut World, how: Redemption) -> Result<(), StepError> {
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

/// An MCP server of another authorization server: never one the role's serves.
pub(super) fn foreign_resource(world: &World) -> Result<String, StepError> {
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

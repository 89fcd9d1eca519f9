//! Token exchange requests at the issuer (RFC 8693): the plain one, and each departure
//! a denial scenario needs (another client, a wrong secret, a tampered subject token,
//! other scopes, no resource), and an ID-JAG presented to the issuer itself.

use super::super::report::Exchange;
use super::super::target::Role;
use super::Answer;
use super::{StepError, World, fail, other_scope, post_form, role};
use crate::oauth::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT};
use crate::types::Secret;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    CLIENT_REQUESTS_AN_ID_JAG,
    CLIENT_REQUESTS_WITH_SCOPE,
    CLIENT_REQUESTS_WITHOUT_A_RESOURCE,
    ANOTHER_CLIENT_REQUESTS,
    CLIENT_REQUESTS_WITH_A_WRONG_SECRET,
    CLIENT_REQUESTS_WITH_A_TAMPERED_SUBJECT_TOKEN,
    CLIENT_REQUESTS_TOKEN_TYPE,
    CLIENT_REQUESTS_AN_UNGRANTED_SCOPE_TOO,
    CLIENT_REQUESTS_ITS_OTHER_SCOPE_TOO,
    ID_JAG_PRESENTED_TO_THE_ISSUER,
];

#[step("the client requests an ID-JAG for it")]
async fn client_requests_an_id_jag(world: &mut World) -> Result<(), StepError> {
    request_id_jag(world, Variant::plain()).await
}

#[step("the client requests an ID-JAG for it with scope {string}")]
async fn client_requests_with_scope(world: &mut World, scope: String) -> Result<(), StepError> {
    request_id_jag(world, Variant::plain().scope(scope)).await
}

#[step("the client requests an ID-JAG for it without a resource")]
async fn client_requests_without_a_resource(world: &mut World) -> Result<(), StepError> {
    request_id_jag(world, Variant::plain().without_resource()).await
}

#[step("another client requests an ID-JAG for it with the same subject token")]
async fn another_client_requests(world: &mut World) -> Result<(), StepError> {
    let other = world
        .target
        .other_client
        .clone()
        .ok_or_else(|| StepError::Skip("the target names no second client".into()))?;
    request_id_jag(world, Variant::plain().client(other)).await
}

#[step("the client requests an ID-JAG for it with a wrong client secret")]
async fn client_requests_with_a_wrong_secret(world: &mut World) -> Result<(), StepError> {
    let mut client = world.target.client.clone();
    client.secret = Secret::new(format!("{}-wrong", client.secret.secret()));
    request_id_jag(world, Variant::plain().client(client)).await
}

#[step("the client requests an ID-JAG for it with a tampered subject token")]
async fn client_requests_with_a_tampered_subject_token(world: &mut World) -> Result<(), StepError> {
    request_id_jag(world, Variant::plain().tampered()).await
}

#[step("the client requests an ID-JAG for it with requested token type {string}")]
async fn client_requests_token_type(
    world: &mut World,
    token_type: String,
) -> Result<(), StepError> {
    request_id_jag(world, Variant::plain().requested_token_type(token_type)).await
}

#[step("the client requests an ID-JAG for it with its scope and the scope granted to nobody")]
async fn client_requests_an_ungranted_scope_too(world: &mut World) -> Result<(), StepError> {
    let role = role(world)?;
    let ungranted = role.ungranted_scope.clone().ok_or_else(|| {
        StepError::Skip("the target names no scope of this server granted to nobody".into())
    })?;
    let scope = format!("{} {ungranted}", role.scope);
    request_id_jag(world, Variant::plain().scope(scope)).await
}

#[step("the client requests an ID-JAG for it with its scope and its other scope")]
async fn client_requests_its_other_scope_too(world: &mut World) -> Result<(), StepError> {
    let role = role(world)?;
    let scope = format!("{} {}", role.scope, other_scope(&role)?);
    request_id_jag(world, Variant::plain().scope(scope)).await
}

/// An ID-JAG is for an authorization server, never a grant at the issuer that issued it.
#[step("the ID-JAG is presented to the issuer as a JWT bearer grant")]
async fn id_jag_presented_to_the_issuer(world: &mut World) -> Result<(), StepError> {
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

/// How a token exchange departs from the plain one.
pub(super) struct Variant {
    scope: Option<String>,
    resource: bool,
    client: Option<super::super::target::Credentials>,
    tamper: bool,
    requested_token_type: Option<String>,
}

impl Variant {
    pub(super) fn plain() -> Self {
        Self {
            scope: None,
            resource: true,
            client: None,
            tamper: false,
            requested_token_type: None,
        }
    }

    fn scope(mut self, scope: String) -> Self {
        self.scope = Some(scope);
        self
    }

    fn without_resource(mut self) -> Self {
        self.resource = false;
        self
    }

    fn client(mut self, client: super::super::target::Credentials) -> Self {
        self.client = Some(client);
        self
    }

    fn tampered(mut self) -> Self {
        self.tamper = true;
        self
    }

    fn requested_token_type(mut self, token_type: String) -> Self {
        self.requested_token_type = Some(token_type);
        self
    }
}

pub(super) async fn request_id_jag(world: &mut World, variant: Variant) -> Result<(), StepError> {
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
pub(super) fn mint_id_jag(
    world: &mut World,
    role: &Role,
    variant: Variant,
) -> Result<(), StepError> {
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

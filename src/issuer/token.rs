//! The issuer over HTTP: RFC 8414 metadata, the JWKS, and the token endpoint (RFC 8693
//! token exchange minting ID-JAGs; the password grant for test-user login). Every token
//! request writes exactly one audit event, durably, before its response is sent.

use super::denial::Denial;
use super::model::TenantState;
use super::policy::{ExchangeRequest, decide};
use super::store::Store;
use crate::audit::{AuditEvent, Outcome, ScopeOutcome};
use crate::jose::{ID_JAG_TYP, JwsHeader, Rejection, SigningKey, Verifier, sign};
use crate::oauth::{Form, FormError, echo, json_response, presented_credentials, random_id};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

use super::state::{IssuerFault, IssuerState};

pub use crate::oauth::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};

/// Lifetime of a test user's ID token, seconds.
const ID_TOKEN_LIFETIME_SECS: u64 = 600;

/// The token endpoint: parse, authenticate, decide, mint, audit, respond.
pub(super) async fn token(State(state): State<Arc<IssuerState>>, request: Request) -> Response {
    let snapshot = state.store.snapshot();
    let now = state.clock.now();
    let time_ms = state.clock.now_millis();
    let mut event = AuditEvent {
        event_id: time_ordered_id(time_ms),
        // Time-ordered too: a random id lands on a random page of the system log's
        // request_id index with every write, which cost a third of issuance throughput.
        request_id: time_ordered_id(time_ms),
        time_ms,
        ..AuditEvent::default()
    };
    let result = handle(&snapshot, state.fault, now, request, &mut event).await;
    let response = match result {
        Ok(body) => {
            event.outcome = Outcome::Granted;
            json_response(StatusCode::OK, &body)
        }
        Err(denial) => {
            event.outcome = Outcome::Denied;
            // Scopes the policy never reached share the request's reason.
            for scope in &mut event.scopes {
                scope
                    .reason
                    .get_or_insert_with(|| denial.status_detail().to_owned());
            }
            event.status_detail = denial.status_detail().to_owned();
            event.oauth_error = Some(denial.oauth_error().as_str().to_owned());
            error_response(&denial)
        }
    };
    // The audit record comes first: a token is never issued, nor a denial sent, without it.
    let request_id = HeaderValue::from_str(&event.request_id).ok();
    match state.audit.record(event).await {
        Ok(()) => {
            let mut response = response;
            if let Some(id) = request_id {
                // Lets a client or a test find the audit event of its request.
                response.headers_mut().insert("x-request-id", id);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "audit log write failed; refusing the request");
            let body = json!({
                "error": "server_error",
                "error_description": "the audit log is unavailable, so no token is issued",
            });
            json_response(StatusCode::INTERNAL_SERVER_ERROR, &body)
        }
    }
}

/// The request's outcome: the success body, or the denial. Fills `event` as it learns.
async fn handle(
    state: &TenantState,
    fault: Option<IssuerFault>,
    now: i64,
    request: Request,
    event: &mut AuditEvent,
) -> Result<Value, Denial> {
    let (parts, body) = request.into_parts();
    let form = read_form(&parts.headers, body).await?;
    event.grant_type = form.get("grant_type").cloned();
    let client = authenticate(state, &parts.headers, &form)?;
    event.client = Some(client.client_id.clone());
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?;
    match grant_type.as_str() {
        TOKEN_EXCHANGE_GRANT => exchange(state, fault, now, &form, &client, event),
        "password" => password(state, now, &form, &client, event),
        other => Err(Denial::UnsupportedGrantType {
            grant_type: echo(other),
        }),
    }
}

/// The RFC 8693 token exchange.
fn exchange(
    state: &TenantState,
    fault: Option<IssuerFault>,
    now: i64,
    form: &Form,
    client: &super::Client,
    event: &mut AuditEvent,
) -> Result<Value, Denial> {
    event.system = form.get("audience").cloned();
    event.resource = form.get("resource").cloned();
    let scopes: Vec<String> = form
        .get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    event.scopes = scopes
        .iter()
        .map(|s| ScopeOutcome {
            scope: s.clone(),
            outcome: crate::audit::ScopeVerdict::Denied,
            reason: None,
        })
        .collect();

    let requested = form
        .get("requested_token_type")
        .ok_or_else(|| missing("requested_token_type"))?;
    if requested != ID_JAG_TOKEN_TYPE {
        return Err(Denial::RequestedTokenTypeUnsupported {
            found: echo(requested),
        });
    }
    let subject_token = form
        .get("subject_token")
        .ok_or_else(|| missing("subject_token"))?;
    let subject_type = form
        .get("subject_token_type")
        .ok_or_else(|| missing("subject_token_type"))?;
    if subject_type != ID_TOKEN_TYPE {
        return Err(Denial::SubjectTokenTypeUnsupported {
            found: echo(subject_type),
        });
    }
    let audience = form.get("audience").ok_or_else(|| missing("audience"))?;

    // IDP-05 / IDP-06: the subject token is this tenant's ID token, for this client.
    let verifier = Verifier::new(state.trusted_jwks.clone())
        .require_typ("JWT")
        .issuer(&state.settings.url)
        .audience(&client.client_id)
        .require_claim("sub")
        .require_claim("iat")
        .clock(Arc::new(crate::jose::FixedClock::at(now)));
    let verified = verifier.verify(subject_token).map_err(|r| match r {
        Rejection::AudienceMismatch { found, .. } | Rejection::AudienceMultiple { found, .. } => {
            Denial::SubjectTokenForAnotherClient {
                audience: found,
                client: client.client_id.clone(),
            }
        }
        other => Denial::SubjectTokenInvalid(other),
    })?;
    let sub = verified
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = state
        .user_by_sub(sub)
        .ok_or_else(|| Denial::UnknownUser { sub: echo(sub) })?;
    event.user = Some(user.sub.clone());

    let request = ExchangeRequest {
        user,
        client,
        audience,
        resource: form.get("resource").map(String::as_str),
        scopes: &scopes,
    };
    let unpaused;
    let decided_on = if fault == Some(IssuerFault::IgnoreKillSwitch) {
        let mut s = state.clone();
        for server in &mut s.servers {
            server.disabled = false;
        }
        unpaused = s;
        &unpaused
    } else {
        state
    };
    let mut decision = decide(decided_on, &request).map_err(|refusal| {
        event.scopes = refusal.scope_outcomes.clone();
        refusal.denial
    })?;
    if fault == Some(IssuerFault::SignWithTenantDefault)
        && let Some(key) = state.keys.active(state.settings.default_alg)
    {
        decision.key = key.clone();
    }
    event.scopes = decision.scope_outcomes.clone();
    event.resource = Some(decision.resource.clone());

    let jti = random_id();
    let scope = decision.scopes.join(" ");
    let lifetime = i64::try_from(decision.lifetime).unwrap_or(i64::MAX);
    let claims = json!({
        "iss": state.settings.url,
        "sub": user.sub,
        "aud": decision.audience,
        "client_id": decision.as_client_id,
        "jti": jti,
        "iat": now,
        "exp": now.saturating_add(lifetime),
        "resource": decision.resource,
        "scope": scope,
    });
    let token = mint_with(&decision.key, ID_JAG_TYP, &claims)?;
    let detail = if decision.narrowed {
        "Granted (narrowed)"
    } else {
        "Granted"
    };
    issued(event, jti, &decision.key, decision.lifetime, detail);
    Ok(json!({
        "issued_token_type": ID_JAG_TOKEN_TYPE,
        "access_token": token,
        "token_type": "N_A",
        "expires_in": decision.lifetime,
        "scope": scope,
    }))
}

/// The resource-owner password grant, for test users only: returns an ID token whose `aud`
/// is the authenticating client, to use as the exchange's subject token.
fn password(
    state: &TenantState,
    now: i64,
    form: &Form,
    client: &super::Client,
    event: &mut AuditEvent,
) -> Result<Value, Denial> {
    let name = form.get("username").ok_or_else(|| missing("username"))?;
    let password = form.get("password").ok_or_else(|| missing("password"))?;
    let user =
        Store::authenticate_user(state, name, password).ok_or(Denial::InvalidUserCredentials)?;
    event.user = Some(user.sub.clone());
    let alg = state.settings.default_alg;
    let key = state.keys.active(alg).ok_or(Denial::NoSigningKey { alg })?;
    let jti = random_id();
    let lifetime = i64::try_from(ID_TOKEN_LIFETIME_SECS).unwrap_or(i64::MAX);
    let claims = json!({
        "iss": state.settings.url,
        "sub": user.sub,
        "aud": client.client_id,
        "iat": now,
        "exp": now.saturating_add(lifetime),
        "auth_time": now,
        "jti": jti,
    });
    let id_token = mint_with(key, "JWT", &claims)?;
    issued(event, jti, key, ID_TOKEN_LIFETIME_SECS, "Granted");
    Ok(json!({
        "access_token": random_id(),
        "token_type": "Bearer",
        "expires_in": ID_TOKEN_LIFETIME_SECS,
        "id_token": id_token,
        "scope": "openid",
    }))
}

/// Records the issued token in the event: its id, key, algorithm, lifetime.
fn issued(event: &mut AuditEvent, jti: String, key: &SigningKey, lifetime: u64, detail: &str) {
    event.token_id = Some(jti);
    event.signing_key_id = Some(key.kid().to_string());
    event.algorithm = Some(key.alg());
    event.lifetime_secs = Some(lifetime);
    event.status_detail = detail.to_owned();
}

fn mint_with(key: &SigningKey, typ: &str, claims: &Value) -> Result<String, Denial> {
    sign(key, &JwsHeader::new().typ(typ), claims)
        .map(crate::jose::SignedJwt::into_secret)
        .map_err(|e| Denial::SigningFailed {
            reason: e.to_string(),
        })
}

async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, Denial> {
    crate::oauth::read_form(headers, body)
        .await
        .map_err(|e| match e {
            FormError::TooLarge { limit } => Denial::BodyTooLarge { limit },
            other => Denial::MalformedRequest {
                reason: other.to_string(),
            },
        })
}

/// client_secret_basic or client_secret_post, exactly one (RFC 6749 §2.3.1).
fn authenticate(
    state: &TenantState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<super::Client, Denial> {
    let fail = |reason: String| Denial::ClientAuthenticationFailed { reason };
    let presented = presented_credentials(headers, form).map_err(|e| fail(e.to_string()))?;
    Store::authenticate_client(state, &presented.client_id, &presented.secret)
        .ok_or_else(|| fail("unknown client or wrong secret".to_owned()))
}

fn missing(name: &str) -> Denial {
    Denial::MalformedRequest {
        reason: format!("parameter `{name}` is required"),
    }
}

/// An event id that sorts by time, like a UUIDv7: 48 bits of Unix milliseconds, then 80
/// random bits, hex. Inserting into the audit log's unique index then appends to its last
/// pages instead of dirtying a random page per event: measured, this doubled issuance
/// (BENCHMARKS.md), because each commit's WAL write shrinks.
pub(crate) fn time_ordered_id(time_ms: i64) -> String {
    let random: [u8; 10] = rand::random();
    let tail: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{:012x}{tail}", time_ms & 0xffff_ffff_ffff)
}

/// An RFC 6749 §5.2 error response for a denial.
fn error_response(denial: &Denial) -> Response {
    crate::oauth::error_response(
        denial.http_status(),
        denial.oauth_error(),
        &denial.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_sort_by_time_and_are_unique() {
        let a = time_ordered_id(1_800_000_000_000);
        let b = time_ordered_id(1_800_000_000_001);
        let c = time_ordered_id(1_800_000_000_001);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|x| x.is_ascii_hexdigit()));
        assert!(a < b && a < c, "{a} {b} {c}");
        assert_ne!(b, c);
    }
}

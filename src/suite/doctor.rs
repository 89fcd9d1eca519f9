//! `jagspec doctor`: the seeds' troubleshooting page, run against a real chain. Given an
//! issuer (the reference or a profile's) and an authorization server, it makes the agent's
//! two requests and, when one fails, names which of the seeds' cases it is, with the fix in
//! the seeds' words and the particulars found:
//!
//! 1. "The audience isn't registered" (or does not match the authorization server's issuer);
//! 2. "A call's target URL isn't in the resource URLs";
//! 3. "The server rejects a token because of a signature-algorithm mismatch", naming the
//!    algorithm the authorization server accepts when jagspec holds the issuer's keys.

use super::http::{Http, MAX_ANSWER_BYTES};
use super::steps::{self, SignInError};
use super::target::{AuthorizationServerAccess, Target};
use crate::jose::{Alg, dangerous};
use crate::oauth::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT};
use crate::types::Kid;
use serde_json::Value;

/// The seeds' words for each case (register-mcp-resource-server, "Troubleshoot resource
/// server errors").
pub const AUDIENCE_NOT_REGISTERED: (&str, &str) = (
    "The audience isn't registered",
    "The token's audience does not match a registered resource server. Confirm the resource \
     server's audience is the issuer URL of the MCP server's authorization server, and that \
     it matches what the agent's client is asking for. The audience is fixed after creation, \
     so a mismatch means re-registering the server with the correct audience.",
);
/// See [`AUDIENCE_NOT_REGISTERED`].
pub const TARGET_URL_NOT_REGISTERED: (&str, &str) = (
    "A call's target URL isn't in the resource URLs",
    "The token request names a target that isn't in the resource server's configured \
     resource URLs, so C1 denies it. Add the URL the agent is calling to the resource URLs \
     for this server.",
);
/// See [`AUDIENCE_NOT_REGISTERED`].
pub const ALGORITHM_MISMATCH: (&str, &str) = (
    "The server rejects a token because of a signature-algorithm mismatch",
    "C1 minted the token, but the server's authorization server rejected its signature. The \
     server verifies a different algorithm than the one this resource server is signing \
     with. Set this server's signing algorithm to one its authorization server verifies. \
     ES256 is the broadest choice.",
);

/// What the agent asks for.
#[derive(Debug, Clone)]
pub struct DoctorRequest {
    /// The test user whose subject token is exchanged.
    pub user: String,
    /// The authorization server (its issuer is the audience asked for).
    pub authorization_server: AuthorizationServerAccess,
    /// The MCP server URL the agent calls (the `resource`).
    pub resource: String,
    /// The scope asked for.
    pub scope: String,
}

/// One thing the doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The seeds' heading, or what failed when no seed case applies.
    pub title: String,
    /// The seeds' explanation and fix, when a seed case applies.
    pub seed_text: Option<String>,
    /// What was found here: the request, the answer, the particulars.
    pub detail: String,
}

/// The doctor's report: each step it took, and the problems found.
#[derive(Debug, Clone, Default)]
pub struct DoctorReport {
    /// What was done, one line per step, in order.
    pub steps: Vec<String>,
    /// The problems; empty when the chain works.
    pub problems: Vec<Diagnosis>,
}

impl DoctorReport {
    /// Whether the chain works.
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs the agent's requests and diagnoses the first failure. Every credential sent and
/// token received is scrubbed from the report, wherever a server echoed it.
pub async fn diagnose(target: &Target, request: &DoctorRequest) -> DoctorReport {
    let http = Http::new();
    let mut report = diagnose_with(&http, target, request).await;
    let scrubber = http.credentials().scrubber();
    for text in report.steps.iter_mut().chain(
        report
            .problems
            .iter_mut()
            .flat_map(|p| [&mut p.title, &mut p.detail]),
    ) {
        scrubber.scrub_in_place(text);
    }
    report
}

async fn diagnose_with(http: &Http, target: &Target, request: &DoctorRequest) -> DoctorReport {
    let mut report = DoctorReport::default();
    let server = &request.authorization_server;
    report.steps.push(format!(
        "authorization server {} (token endpoint {}), verifying {}",
        server.issuer, server.token_endpoint, server.alg
    ));

    // 1. A subject token for the user.
    let subject = match steps::subject_token(http, target, &request.user).await {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(Diagnosis {
                title: format!("No subject token for `{}`", request.user),
                seed_text: None,
                detail: match e {
                    SignInError::Step(e) => e.to_string(),
                    SignInError::Refused(a) => steps::describe(&a),
                },
            });
            return report;
        }
    };
    report
        .steps
        .push(format!("signed in as `{}`", request.user));

    // 2. The token exchange, for the authorization server's issuer as audience.
    let form = vec![
        ("grant_type".to_owned(), TOKEN_EXCHANGE_GRANT.to_owned()),
        (
            "requested_token_type".to_owned(),
            ID_JAG_TOKEN_TYPE.to_owned(),
        ),
        ("audience".to_owned(), server.issuer.clone()),
        ("resource".to_owned(), request.resource.clone()),
        ("scope".to_owned(), request.scope.clone()),
        ("subject_token".to_owned(), subject.secret().to_owned()),
        ("subject_token_type".to_owned(), ID_TOKEN_TYPE.to_owned()),
    ];
    let client = &target.client;
    let Ok(exchange) = steps::post_form(
        http,
        &target.token_endpoint,
        Some((&client.client_id, client.secret.secret())),
        &form,
    )
    .await
    else {
        report.problems.push(Diagnosis {
            title: "The issuer did not answer".into(),
            seed_text: None,
            detail: format!("POST {} failed", target.token_endpoint),
        });
        return report;
    };
    let asked = format!(
        "token exchange for audience {}, resource {}, scope `{}`",
        server.issuer, request.resource, request.scope
    );
    if exchange.status != 200 {
        let status_detail = status_detail(http, target, &exchange).await;
        report.steps.push(format!(
            "{asked}: denied, {}{}",
            steps::describe(&exchange),
            status_detail
                .as_deref()
                .map_or_else(String::new, |d| format!(", status detail \"{d}\""))
        ));
        report
            .problems
            .extend(denial(target, http, request, &exchange, status_detail.as_deref()).await);
        return report;
    }
    let Some(id_jag) = exchange.body["access_token"].as_str().map(str::to_owned) else {
        report.problems.push(Diagnosis {
            title: "The issuer granted no ID-JAG".into(),
            seed_text: None,
            detail: "HTTP 200 without an access_token".into(),
        });
        return report;
    };
    let header = decode_part(&id_jag, 0);
    let alg = header["alg"].as_str().unwrap_or("?").to_owned();
    let kid = header["kid"].as_str().unwrap_or("?").to_owned();
    report.steps.push(format!(
        "{asked}: granted, an ID-JAG signed with {alg} (key `{kid}`)"
    ));

    // 3. The redemption at the authorization server.
    let redeemed = redeem(http, server, &id_jag).await;
    if redeemed.as_ref().is_some_and(|a| a.status == 200) {
        report
            .steps
            .push("jwt-bearer grant at the authorization server: granted".into());
        return report;
    }
    let refused = redeemed
        .as_ref()
        .map_or_else(|| "no answer".to_owned(), steps::describe);
    report.steps.push(format!(
        "jwt-bearer grant at the authorization server: refused, {refused}"
    ));
    let accepted = accepted_algorithm(http, target, server, &id_jag).await;
    let detail = match (&accepted, alg.parse::<Alg>()) {
        (Some(ok), Ok(signed)) if *ok != signed => format!(
            "The ID-JAG is signed with {signed} (key `{kid}`); the authorization server \
             refused it ({refused}) and accepts the same ID-JAG signed with {ok}. Set this \
             server's signing algorithm to {ok}."
        ),
        (Some(ok), _) => format!(
            "The authorization server refused the ID-JAG ({refused}) but accepts it re-signed \
             with {ok}: not an algorithm mismatch; compare the claims it checks."
        ),
        (None, _) if target.signing_keys.is_some() => format!(
            "The ID-JAG is signed with {alg} (key `{kid}`); the authorization server refused \
             it ({refused}) and refuses it signed with every algorithm, so the signature \
             algorithm is not the cause: check that it trusts the issuer {} and the ID-JAG's \
             claims.",
            target.issuer
        ),
        (None, _) => format!(
            "The ID-JAG is signed with {alg} (key `{kid}`); the authorization server refused \
             it ({refused}). jagspec does not hold this issuer's keys, so it cannot try the \
             other algorithms: check which one the authorization server verifies."
        ),
    };
    let is_mismatch =
        accepted.as_ref().is_some_and(|ok| ok.as_str() != alg) || target.signing_keys.is_none();
    report.problems.push(Diagnosis {
        title: if is_mismatch {
            ALGORITHM_MISMATCH.0.into()
        } else {
            "The authorization server rejects the ID-JAG".into()
        },
        seed_text: is_mismatch.then(|| ALGORITHM_MISMATCH.1.to_owned()),
        detail,
    });
    report
}

/// The seeds' case for a denied token exchange, with what the registry shows (when the
/// target exposes its admin API).
async fn denial(
    target: &Target,
    http: &Http,
    request: &DoctorRequest,
    exchange: &steps::Answer,
    status_detail: Option<&str>,
) -> Vec<Diagnosis> {
    let error = exchange.body["error"].as_str().unwrap_or_default();
    let registry = registry(http, target).await;
    let audience = &request.authorization_server.issuer;
    let audience_case = || {
        let mut detail = format!(
            "No resource server has the audience {audience} (the authorization server's issuer)."
        );
        let listing = registry.iter().flatten().find(|s| {
            s["resource_uris"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u == request.resource.as_str()))
        });
        if let Some(s) = listing {
            detail.push_str(&format!(
                " The resource server `{}` lists {} with the audience {}, which does not \
                 match: re-register it with the audience {audience}.",
                s["id"].as_str().unwrap_or("?"),
                request.resource,
                s["audience"].as_str().unwrap_or("?"),
            ));
        }
        Diagnosis {
            title: AUDIENCE_NOT_REGISTERED.0.into(),
            seed_text: Some(AUDIENCE_NOT_REGISTERED.1.into()),
            detail,
        }
    };
    let target_case = || {
        let mut detail = format!(
            "{} is not among the resource URLs of the resource server for {audience}.",
            request.resource
        );
        if let Some(s) = registry
            .as_ref()
            .and_then(|r| r.iter().find(|s| s["audience"] == audience.as_str()))
        {
            detail.push_str(&format!(
                " The resource server `{}` lists {}: add {} to them.",
                s["id"].as_str().unwrap_or("?"),
                s["resource_uris"],
                request.resource
            ));
        }
        Diagnosis {
            title: TARGET_URL_NOT_REGISTERED.0.into(),
            seed_text: Some(TARGET_URL_NOT_REGISTERED.1.into()),
            detail,
        }
    };
    match (status_detail, error) {
        (Some("Audience not registered"), _) => vec![audience_case()],
        (Some("Target URL not registered"), _) => vec![target_case()],
        (Some(other), _) => vec![Diagnosis {
            title: format!("The token request is denied: {other}"),
            seed_text: None,
            detail: format!(
                "{} (not one of the troubleshooting cases)",
                steps::describe(exchange)
            ),
        }],
        // Without the system log, `invalid_target` is one of the two; the registry, when
        // readable, tells which.
        (None, "invalid_target") => match &registry {
            Some(servers) if servers.iter().any(|s| s["audience"] == audience.as_str()) => {
                vec![target_case()]
            }
            Some(_) => vec![audience_case()],
            None => vec![audience_case(), target_case()],
        },
        (None, _) => vec![Diagnosis {
            title: format!("The token request is denied: {}", steps::describe(exchange)),
            seed_text: None,
            detail: "not one of the troubleshooting cases; jagspec cannot read this issuer's \
                     system log for the status detail"
                .into(),
        }],
    }
}

/// The denied request's status detail, from the system log when the target exposes it.
async fn status_detail(http: &Http, target: &Target, exchange: &steps::Answer) -> Option<String> {
    let audit = target.audit.as_ref()?;
    let (_, id) = exchange
        .headers
        .iter()
        .find(|(k, _)| *k == audit.request_id_header)?;
    let url = audit.events_url.replace(
        "{request_id}",
        &form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
    );
    let mut get = http.get(&url);
    if let Some(t) = &audit.bearer_token {
        get = get.bearer_auth(t.secret());
    }
    let response = http.send(get).await.ok()?;
    let events: Value =
        serde_json::from_str(&http.read(response, MAX_ANSWER_BYTES).await.ok()?).ok()?;
    events[0]["status_detail"].as_str().map(str::to_owned)
}

/// The issuer's resource servers, when the target exposes its admin API.
async fn registry(http: &Http, target: &Target) -> Option<Vec<Value>> {
    let admin = http.admin(target.admin.as_ref()?).ok()?;
    admin.resource_servers().await.ok()
}

async fn redeem(
    http: &Http,
    server: &AuthorizationServerAccess,
    assertion: &str,
) -> Option<steps::Answer> {
    let form = vec![
        ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
        ("assertion".to_owned(), assertion.to_owned()),
    ];
    steps::post_form(
        http,
        &server.token_endpoint,
        Some((&server.client.client_id, server.client.secret.secret())),
        &form,
    )
    .await
    .ok()
}

/// The algorithm the authorization server accepts the ID-JAG with: the same header and
/// claims (a fresh `jti` each time) signed with the issuer's active key of each algorithm.
/// Needs the issuer's keys; `None` when none is accepted or the keys are not held.
async fn accepted_algorithm(
    http: &Http,
    target: &Target,
    server: &AuthorizationServerAccess,
    id_jag: &str,
) -> Option<Alg> {
    let keys = target.signing_keys.as_ref()?;
    let header = decode_part(id_jag, 0);
    let mut claims = decode_part(id_jag, 1);
    // ES256 first: the seeds' broadest choice.
    for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256] {
        let Some(key) = keys.active(alg) else {
            continue;
        };
        claims["jti"] = Value::from(crate::oauth::random_id());
        let mut h = header.clone();
        h["alg"] = Value::from(alg.as_str());
        h["kid"] = Value::from(Kid::as_str(key.kid()));
        let Ok(token) =
            dangerous::sign_raw(key, h.to_string().as_bytes(), claims.to_string().as_bytes())
        else {
            continue;
        };
        if redeem(http, server, &token)
            .await
            .is_some_and(|a| a.status == 200)
        {
            return Some(alg);
        }
    }
    None
}

fn decode_part(token: &str, index: usize) -> Value {
    token
        .split('.')
        .nth(index)
        .and_then(|p| crate::jose::b64_decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

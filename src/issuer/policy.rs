//! The issuer's decision on a token exchange, as a pure function of the tenant snapshot and
//! the (authenticated, validated) request. No I/O: the same inputs always give the same
//! decision, which is what the model-based property tests compare against.

use super::denial::Denial;
use super::model::{AlgChoice, Client, Lifetime, ResourceServer, TenantState, User};
use crate::audit::{ScopeOutcome, ScopeVerdict};
use crate::jose::{Alg, SigningKey};

/// A token exchange after client authentication and subject-token validation.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeRequest<'a> {
    /// The user the subject token names.
    pub user: &'a User,
    /// The authenticated client.
    pub client: &'a Client,
    /// The `audience` parameter.
    pub audience: &'a str,
    /// The `resource` parameter, if sent.
    pub resource: Option<&'a str>,
    /// The `scope` parameter, split on spaces, in request order.
    pub scopes: &'a [String],
}

/// What to mint.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The resource server's id.
    pub server_id: String,
    /// `aud`: the resource server's audience.
    pub audience: String,
    /// `resource`: the requested (or only) resource URI.
    pub resource: String,
    /// `scope`: the granted scopes, in request order.
    pub scopes: Vec<String>,
    /// Every requested scope's outcome, for the audit event.
    pub scope_outcomes: Vec<ScopeOutcome>,
    /// Whether some requested scopes were left out (the response then carries `scope`).
    pub narrowed: bool,
    /// The key that signs: the active key of the resolved algorithm.
    pub key: SigningKey,
    /// Lifetime in seconds.
    pub lifetime: u64,
    /// `client_id`: the client's id at the authorization server.
    pub as_client_id: String,
}

/// A denial, with every requested scope's outcome for the audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub denial: Denial,
    /// Each requested scope, denied.
    pub scope_outcomes: Vec<ScopeOutcome>,
}

/// Decides a token exchange. The checks run in this order, each a rule of the seeds:
///
/// 1. the tenant has enterprise-managed authorization enabled;
/// 2. a resource server has the requested audience ("Audience not registered");
/// 3. it is not paused ("Server paused": the kill switch);
/// 4. the `resource` is among its resource URIs ("Target URL not registered"); without
///    one, its only URI (docs/positions.md D2);
/// 5. each requested scope is defined, enabled and granted to the user; the token carries
///    the granted subset, and the request is denied only when none is granted ("Scope not
///    enabled", "No grant for the scope"). No `scope` requested means every enabled scope
///    the user holds on the server;
/// 6. the server's algorithm (inherit → the tenant default) has an active key ("No signing
///    key for the algorithm");
/// 7. the lifetime is the server's maximum, or (indefinite) the tenant default, else 300 s.
///
/// # Errors
///
/// The first failing check's [`Refusal`].
pub fn decide(state: &TenantState, req: &ExchangeRequest<'_>) -> Result<Decision, Refusal> {
    let refuse = |denial: Denial, outcomes: Option<Vec<ScopeOutcome>>| {
        let detail = denial.status_detail();
        let scope_outcomes = outcomes.unwrap_or_else(|| {
            unique(req.scopes)
                .into_iter()
                .map(|s| denied(s, detail))
                .collect()
        });
        Refusal {
            denial,
            scope_outcomes,
        }
    };
    if !state.settings.ema_enabled {
        return Err(refuse(Denial::TenantDisabled, None));
    }
    let Some(server) = state.server_by_audience(req.audience) else {
        return Err(refuse(
            Denial::AudienceNotRegistered {
                audience: req.audience.to_owned(),
            },
            None,
        ));
    };
    if server.disabled {
        return Err(refuse(
            Denial::ServerPaused {
                audience: server.audience.clone(),
            },
            None,
        ));
    }
    let resource = match (req.resource, server.resource_uris.as_slice()) {
        (Some(r), uris) if uris.iter().any(|u| u == r) => r.to_owned(),
        (Some(r), _) => {
            return Err(refuse(
                Denial::TargetUrlNotRegistered {
                    resource: r.to_owned(),
                },
                None,
            ));
        }
        (None, [only]) => only.clone(),
        (None, uris) => {
            return Err(refuse(
                Denial::TargetUrlNotSpecified { count: uris.len() },
                None,
            ));
        }
    };

    let (granted, mut outcomes, first_denial) = evaluate_scopes(state, server, req);
    if granted.is_empty() {
        let denial = first_denial.unwrap_or(Denial::NoGrantOnServer {
            audience: server.audience.clone(),
        });
        return Err(refuse(denial, Some(outcomes)));
    }

    let alg = match server.alg {
        AlgChoice::Inherit => state.settings.default_alg,
        AlgChoice::Alg(a) => a,
    };
    let Some(key) = state.keys.active(alg) else {
        // No token is issued, so no scope is granted either.
        let denial = Denial::NoSigningKey { alg };
        for o in &mut outcomes {
            if o.outcome == ScopeVerdict::Granted {
                *o = denied(&o.scope, denial.status_detail());
            }
        }
        return Err(refuse(denial, Some(outcomes)));
    };
    let lifetime = match server.max_lifetime {
        Lifetime::Seconds(s) => s,
        Lifetime::Indefinite => state.settings.default_lifetime(),
    };
    let narrowed = outcomes.iter().any(|o| o.outcome == ScopeVerdict::Denied);
    Ok(Decision {
        server_id: server.id.clone(),
        audience: server.audience.clone(),
        resource,
        scopes: granted,
        scope_outcomes: outcomes,
        narrowed,
        key: key.clone(),
        lifetime,
        as_client_id: req.client.id_at(&server.audience).to_owned(),
    })
}

/// The algorithm a server signs with after inheritance.
pub fn resolved_alg(state: &TenantState, server: &ResourceServer) -> Alg {
    match server.alg {
        AlgChoice::Inherit => state.settings.default_alg,
        AlgChoice::Alg(a) => a,
    }
}

/// Granted scopes (request order), every outcome, and the first requested scope's denial.
fn evaluate_scopes(
    state: &TenantState,
    server: &ResourceServer,
    req: &ExchangeRequest<'_>,
) -> (Vec<String>, Vec<ScopeOutcome>, Option<Denial>) {
    let user = &req.user.name;
    if req.scopes.is_empty() {
        let held: Vec<String> = server
            .scopes
            .iter()
            .filter(|s| s.enabled && state.has_grant(user, &server.id, &s.name))
            .map(|s| s.name.clone())
            .collect();
        let outcomes = held.iter().map(|s| granted(s)).collect();
        let denial = Denial::NoGrantOnServer {
            audience: server.audience.clone(),
        };
        return (held, outcomes, Some(denial));
    }
    let mut granted_scopes = Vec::new();
    let mut outcomes = Vec::new();
    let mut first_denial = None;
    for scope in unique(req.scopes) {
        let denial = match server.scopes.iter().find(|s| s.name == scope) {
            None => Some(Denial::ScopeNotRegistered {
                scope: scope.to_owned(),
            }),
            Some(s) if !s.enabled => Some(Denial::ScopeNotEnabled {
                scope: scope.to_owned(),
            }),
            Some(_) if !state.has_grant(user, &server.id, scope) => Some(Denial::NoGrantForScope {
                scope: scope.to_owned(),
            }),
            Some(_) => None,
        };
        match denial {
            None => {
                granted_scopes.push(scope.to_owned());
                outcomes.push(granted(scope));
            }
            Some(d) => {
                outcomes.push(denied(scope, d.status_detail()));
                first_denial.get_or_insert(d);
            }
        }
    }
    (granted_scopes, outcomes, first_denial)
}

/// The requested scopes without repeats, in order.
fn unique(scopes: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for s in scopes {
        if !seen.contains(&s.as_str()) {
            seen.push(s);
        }
    }
    seen
}

fn granted(scope: &str) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.to_owned(),
        outcome: ScopeVerdict::Granted,
        reason: None,
    }
}

fn denied(scope: &str, reason: &str) -> ScopeOutcome {
    ScopeOutcome {
        scope: scope.to_owned(),
        outcome: ScopeVerdict::Denied,
        reason: Some(reason.to_owned()),
    }
}

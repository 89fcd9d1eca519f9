//! A mock MCP authorization server: redeems ID-JAGs for access tokens with the RFC 7523
//! jwt-bearer grant (ID-JAG §4.4), verifying exactly one signature algorithm.
//!
//! The token endpoint is written as numbered steps, each citing the requirement of
//! docs/requirements.md it enforces; every refusal is a
//! [`GrantRefusal`] variant, mapped once to its OAuth error and HTTP status.

use super::ACCESS_TOKEN_TYP;
use super::config::{AsClientConfig, AuthorizationServerConfig};
use crate::jose::{
    Alg, AlgSet, Clock, ID_JAG_REQUIRED_CLAIMS, JwsHeader, KeySet, KeyStatus, Rejection,
    SigningKey, TrustedJwks, Verifier, sign,
};
use crate::oauth::{
    AuthMethod, Form, FormError, echo, error_response, json_response, presented_credentials,
    random_id, read_form, shorten,
};
use crate::types::Secret;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use crate::oauth::{ID_JAG_GRANT_PROFILE, JWT_BEARER_GRANT};

/// How many decisions [`AuthorizationServer::redemptions`] keeps: a `serve` under load must
/// not grow without bound.
pub const MAX_REDEMPTIONS_KEPT: usize = 4096;

/// Why the token endpoint refused a request. Each variant has one OAuth error and status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantRefusal {
    /// Not a well-formed token request (RFC 6749 §5.2 `invalid_request`).
    #[error("malformed request: {reason}")]
    MalformedRequest {
        /// What is wrong.
        reason: String,
    },
    /// The body exceeds the limit.
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// AS-11: no, several, or wrong client credentials.
    #[error("client authentication failed: {reason}")]
    ClientAuthenticationFailed {
        /// What failed.
        reason: String,
    },
    /// AS-35: only the jwt-bearer grant is offered.
    #[error("grant type `{grant_type}` is not supported; use {JWT_BEARER_GRANT}")]
    UnsupportedGrantType {
        /// The grant type sent.
        grant_type: String,
    },
    /// AS-35, RFC 7521 §4.1: `assertion` is required.
    #[error("parameter `assertion` is required (RFC 7521 §4.1)")]
    AssertionMissing,
    /// AS-08: `iss` names an issuer this server does not trust.
    #[error("the ID-JAG's issuer `{issuer}` is not trusted here (ID-JAG §4.1)")]
    UntrustedIssuer {
        /// The `iss` claim.
        issuer: String,
    },
    /// AS-05…AS-14: the ID-JAG failed the verification pipeline.
    #[error("the ID-JAG was refused at step {step}: {0}", step = .0.step().number())]
    Assertion(Rejection),
    /// The trusted issuer's metadata or JWKS could not be fetched.
    #[error("the JWKS of `{issuer}` could not be fetched: {reason}")]
    JwksUnavailable {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// EMA §5.1: the access token's audience is the `resource` claim; this server has more
    /// than one MCP server, so it cannot pick one.
    #[error("the ID-JAG has no `resource` claim and this server has {count} MCP servers")]
    ResourceMissing {
        /// How many MCP servers this authorization server has.
        count: usize,
    },
    /// D19: one MCP server per ID-JAG.
    #[error("the ID-JAG's `resource` names {count} resources; exactly one is accepted")]
    ResourceMultiple {
        /// How many.
        count: usize,
    },
    /// AS-18, D3: the `resource` claim is not one of this server's MCP servers.
    #[error("the ID-JAG's resource `{resource}` is not an MCP server of this authorization server")]
    ForeignResource {
        /// The claim.
        resource: String,
    },
    /// AS-19, D17: a `resource` parameter may not name another resource than the claim.
    #[error("parameter resource `{parameter}` differs from the ID-JAG's resource `{claim}`")]
    ResourceParameterMismatch {
        /// The request parameter.
        parameter: String,
        /// The claim.
        claim: String,
    },
    /// AS-21: a scope of the ID-JAG the MCP server does not define.
    #[error("scope `{scope}` of the ID-JAG is not registered for `{resource}`")]
    ScopeNotRegistered {
        /// The scope.
        scope: String,
        /// The MCP server.
        resource: String,
    },
    /// AS-20, D5: none of the requested scopes is in the ID-JAG.
    #[error("none of the requested scopes `{requested}` is granted by the ID-JAG (`{granted}`)")]
    ScopeBeyondAssertion {
        /// The `scope` parameter.
        requested: String,
        /// The ID-JAG's `scope`.
        granted: String,
    },
    /// AS-15, EMA §7.4.2: this `jti` was redeemed before.
    #[error("the ID-JAG `{jti}` was already redeemed (EMA §7.4.2: replay)")]
    Replayed {
        /// The `jti`.
        jti: String,
    },
    /// The access token could not be signed.
    #[error("signing the access token failed: {reason}")]
    SigningFailed {
        /// The backend's words.
        reason: String,
    },
}

impl GrantRefusal {
    /// The RFC 6749 §5.2 `error` (docs/positions.md D3 for the foreign resource).
    pub fn oauth_error(&self) -> crate::oauth::OAuthError {
        use crate::oauth::OAuthError;
        match self {
            Self::MalformedRequest { .. } | Self::BodyTooLarge { .. } | Self::AssertionMissing => {
                OAuthError::InvalidRequest
            }
            Self::ClientAuthenticationFailed { .. } => OAuthError::InvalidClient,
            Self::UnsupportedGrantType { .. } => OAuthError::UnsupportedGrantType,
            Self::UntrustedIssuer { .. }
            | Self::Assertion(_)
            | Self::ResourceMissing { .. }
            | Self::ResourceMultiple { .. }
            | Self::ForeignResource { .. }
            | Self::ScopeNotRegistered { .. }
            | Self::Replayed { .. } => OAuthError::InvalidGrant,
            Self::ResourceParameterMismatch { .. } => OAuthError::InvalidTarget,
            Self::ScopeBeyondAssertion { .. } => OAuthError::InvalidScope,
            Self::JwksUnavailable { .. } | Self::SigningFailed { .. } => OAuthError::ServerError,
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ClientAuthenticationFailed { .. } => 401,
            Self::BodyTooLarge { .. } => 413,
            Self::JwksUnavailable { .. } | Self::SigningFailed { .. } => 500,
            _ => 400,
        }
    }

    /// A stable identifier for reports and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedRequest { .. } => "malformed_request",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::ClientAuthenticationFailed { .. } => "client_authentication_failed",
            Self::UnsupportedGrantType { .. } => "unsupported_grant_type",
            Self::AssertionMissing => "assertion_missing",
            Self::UntrustedIssuer { .. } => "untrusted_issuer",
            Self::Assertion(r) => r.code(),
            Self::JwksUnavailable { .. } => "jwks_unavailable",
            Self::ResourceMissing { .. } => "resource_missing",
            Self::ResourceMultiple { .. } => "resource_multiple",
            Self::ForeignResource { .. } => "foreign_resource",
            Self::ResourceParameterMismatch { .. } => "resource_parameter_mismatch",
            Self::ScopeNotRegistered { .. } => "scope_not_registered",
            Self::ScopeBeyondAssertion { .. } => "scope_beyond_assertion",
            Self::Replayed { .. } => "replayed",
            Self::SigningFailed { .. } => "signing_failed",
        }
    }
}

/// What the server decided on one token request: tests and the demo read these.
#[derive(Debug, Clone, PartialEq)]
pub struct Redemption {
    /// The authenticated client, once known.
    pub client_id: Option<String>,
    /// How it authenticated.
    pub auth_method: Option<AuthMethod>,
    /// The ID-JAG's `jti`, once verified.
    pub jti: Option<String>,
    /// The access token issued, or the refusal.
    pub outcome: Result<IssuedAccessToken, GrantRefusal>,
}

/// An access token this server issued (the token itself is not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedAccessToken {
    /// The user.
    pub sub: String,
    /// Its audience: the MCP server.
    pub resource: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Its `jti`.
    pub jti: String,
}

/// An MCP server this authorization server issues tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    /// Its RFC 9728 resource identifier (URL).
    pub url: String,
    /// The scopes it defines.
    pub scopes: Vec<String>,
}

/// Everything an [`AuthorizationServer`] is built from.
#[derive(Debug, Clone)]
pub struct AuthorizationServerSpec {
    /// Settings from `mocks/*.toml`.
    pub config: AuthorizationServerConfig,
    /// Its issuer identifier: `http://127.0.0.1:PORT`, no path.
    pub issuer: String,
    /// Issuer URLs it trusts (resolved; `"reference"` already replaced).
    pub trusted_issuers: Vec<String>,
    /// Registered clients.
    pub clients: Vec<AsClientConfig>,
    /// Its MCP servers.
    pub resources: Vec<ServedResource>,
    /// The clock every time check uses.
    pub clock: Arc<dyn Clock>,
    /// The key it signs access tokens with; its JWKS is what the MCP servers trust.
    pub access_token_key: SigningKey,
    /// The client it fetches trusted issuers' metadata and JWKS with, shared by an
    /// ecosystem's servers: building one loads the platform's root certificates, which
    /// costs more than starting the server. Give it a timeout; redirects are not needed.
    pub http: reqwest::Client,
    /// A deliberate defect, for the conformance suite's self-test only.
    #[doc(hidden)]
    pub fault: Option<AsFault>,
}

/// Deliberate defects the conformance suite's self-test injects into the mock
/// authorization servers. Never set otherwise.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsFault {
    /// Accepts any `typ` (or none): an ID token or a re-typed token passes step 3.
    SkipTypCheck,
    /// Never records a redeemed `jti`: replays succeed.
    ForgetJti,
    /// Never compares `aud` with its own issuer identifier (the claim must still be
    /// present): an ID-JAG addressed to another authorization server passes step 5 (AS-09).
    AcceptAnyAudience,
    /// Not pinned to its algorithm: an ID-JAG signed with any published key of the issuer,
    /// of any algorithm jagspec knows, passes step 5 (AS-07, RFC 8725 §3.2).
    AcceptAnyAlgorithm,
    /// Never compares the `client_id` claim with the authenticated client (the claim must
    /// still be present): an ID-JAG minted for another client passes step 5 (AS-10).
    IgnoreClientIdClaim,
    /// Never checks `exp` (the claim must still be present): an expired ID-JAG passes
    /// step 5 (AS-13).
    NoExpiryCheck,
    /// A `resource` parameter that differs from the ID-JAG's is neither refused nor obeyed:
    /// the access token is for the ID-JAG's resource all the same (AS-19's SHOULD).
    IgnoreResourceParameter,
    /// A `resource` parameter that differs from the ID-JAG's is not refused, and the access
    /// token is issued for the parameter's resource (AS-19, D17).
    WidenToRequestedResource,
    /// A `scope` parameter is granted as requested, as far as the MCP server defines the
    /// scopes, even beyond the ID-JAG's `scope` (AS-20, D5).
    GrantRequestedScopes,
}

/// One trusted issuer and the verifier built from its last fetched JWKS.
struct TrustedIssuer {
    issuer: String,
    /// Serialises fetches, so a burst of unknown kids costs one fetch.
    cache: tokio::sync::Mutex<Option<CachedVerifier>>,
}

#[derive(Clone)]
struct CachedVerifier {
    verifier: Verifier,
    fetched_at: i64,
}

/// A mock MCP authorization server. Build with [`AuthorizationServer::new`], serve
/// [`AuthorizationServer::router`].
pub struct AuthorizationServer {
    config: AuthorizationServerConfig,
    issuer: String,
    clients: Vec<(String, Secret)>,
    resources: Vec<ServedResource>,
    trusted: Vec<TrustedIssuer>,
    /// AS-15: `(iss, jti)` → `exp` of every redeemed ID-JAG until it expires. One lock
    /// makes check-and-insert atomic, so of concurrent redemptions exactly one wins.
    redeemed: Mutex<BTreeMap<(String, String), i64>>,
    access_token_key: SigningKey,
    access_token_keys: KeySet,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The last [`MAX_REDEMPTIONS_KEPT`] decisions, oldest first.
    redemptions: Mutex<std::collections::VecDeque<Redemption>>,
    fault: Option<AsFault>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("name", &self.config.name)
            .field("issuer", &self.issuer)
            .field("alg", &self.config.alg)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// Builds the server. Nothing is fetched until the first token request.
    pub fn new(spec: AuthorizationServerSpec) -> Self {
        let mut access_token_keys = KeySet::new();
        // A fresh key set holds no key yet, so inserting cannot conflict.
        let _ = access_token_keys.insert(spec.access_token_key.clone(), KeyStatus::Active);
        Self {
            issuer: spec.issuer,
            clients: spec
                .clients
                .into_iter()
                .map(|c| (c.client_id, Secret::new(c.client_secret)))
                .collect(),
            resources: spec.resources,
            trusted: spec
                .trusted_issuers
                .into_iter()
                .map(|issuer| TrustedIssuer {
                    issuer,
                    cache: tokio::sync::Mutex::new(None),
                })
                .collect(),
            redeemed: Mutex::new(BTreeMap::new()),
            access_token_key: spec.access_token_key,
            access_token_keys,
            http: spec.http,
            clock: spec.clock,
            config: spec.config,
            redemptions: Mutex::new(std::collections::VecDeque::new()),
            fault: spec.fault,
        }
    }

    /// Its issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The algorithm it verifies.
    pub fn alg(&self) -> Alg {
        self.config.alg
    }

    /// Its settings.
    pub fn config(&self) -> &AuthorizationServerConfig {
        &self.config
    }

    /// The public keys of its access tokens, for its MCP servers.
    pub fn access_token_keys(&self) -> TrustedJwks {
        self.access_token_keys.jwks().into()
    }

    /// The last [`MAX_REDEMPTIONS_KEPT`] decisions, in order.
    pub fn redemptions(&self) -> Vec<Redemption> {
        self.redemptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Its routes: RFC 8414 metadata, the access-token JWKS, the token endpoint.
    pub fn router(self: Arc<Self>) -> Router {
        let router = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/authorize", get(authorize));
        crate::oauth::with_json_errors(router).with_state(self)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// The token endpoint's pipeline. Steps are numbered; each cites what it enforces.
    async fn redeem(
        &self,
        request: Request,
        record: &mut Redemption,
    ) -> Result<Value, GrantRefusal> {
        // 1. A form body of bounded size, each parameter once (RFC 6749 §3.2).
        let (parts, body) = request.into_parts();
        let form = read_form(&parts.headers, body).await.map_err(|e| match e {
            FormError::TooLarge { limit } => GrantRefusal::BodyTooLarge { limit },
            other => GrantRefusal::MalformedRequest {
                reason: other.to_string(),
            },
        })?;

        // 2. Client authentication, basic or post (AS-11, RFC 7523 §3.1, RFC 6749 §2.3.1).
        let (client_id, method) = self.authenticate(&parts.headers, &form)?;
        record.client_id = Some(client_id.clone());
        record.auth_method = Some(method);

        // 3. The jwt-bearer grant with one assertion (AS-35, RFC 7521 §4.1).
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| GrantRefusal::MalformedRequest {
                reason: "parameter `grant_type` is required".into(),
            })?;
        if grant_type != JWT_BEARER_GRANT {
            return Err(GrantRefusal::UnsupportedGrantType {
                grant_type: echo(grant_type),
            });
        }
        let assertion = form
            .get("assertion")
            .ok_or(GrantRefusal::AssertionMissing)?;

        // 4. A trusted issuer (AS-08, RFC 7523 §3 item 1); its JWKS from its `jwks_uri`.
        let trusted = self.trusted_issuer_for(assertion)?;

        // 5. The verification pipeline (AS-05…AS-10, AS-13, AS-14): typ, the pinned algorithm,
        //    the signature, iss, aud = this issuer, client_id = the authenticated client,
        //    exp / iat / nbf within the skew.
        let verified = self.verify(trusted, assertion, &client_id).await?;
        let claims = verified.claims;
        let string = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
        let jti = string("jti").to_owned();
        record.jti = Some(jti.clone());

        // 6. The resource: the claim names one of this server's MCP servers (AS-17, AS-18,
        //    D3, D19); a `resource` parameter may not widen it (AS-19, D17).
        let resource = self.resource(claims.get("resource"))?;
        // The access token's audience: the claim's MCP server.
        let mut audience = resource.url.clone();
        if let Some(parameter) = form.get("resource")
            && *parameter != resource.url
        {
            match self.fault {
                Some(AsFault::IgnoreResourceParameter) => {}
                Some(AsFault::WidenToRequestedResource) => audience.clone_from(parameter),
                _ => {
                    return Err(GrantRefusal::ResourceParameterMismatch {
                        parameter: echo(parameter),
                        claim: resource.url.clone(),
                    });
                }
            }
        }

        // 7. Scopes: the ID-JAG's, each defined by the MCP server (AS-21); narrowed to the
        //    requested ones when a `scope` parameter is sent (AS-20, D5).
        let assertion_scopes: Vec<&str> = string("scope")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(scope) = assertion_scopes
            .iter()
            .find(|s| !resource.scopes.iter().any(|r| r == *s))
        {
            return Err(GrantRefusal::ScopeNotRegistered {
                scope: (*scope).to_owned(),
                resource: resource.url.clone(),
            });
        }
        let granted: Vec<String> = match form.get("scope") {
            None => assertion_scopes.iter().map(|s| (*s).to_owned()).collect(),
            Some(requested) if self.fault == Some(AsFault::GrantRequestedScopes) => requested
                .split(' ')
                .filter(|s| resource.scopes.iter().any(|r| r == s))
                .map(str::to_owned)
                .collect(),
            Some(requested) => {
                let narrowed: Vec<String> = requested
                    .split(' ')
                    .filter(|s| assertion_scopes.contains(s))
                    .map(str::to_owned)
                    .collect();
                if narrowed.is_empty() {
                    return Err(GrantRefusal::ScopeBeyondAssertion {
                        requested: echo(requested),
                        granted: assertion_scopes.join(" "),
                    });
                }
                narrowed
            }
        };

        // 8. Authorization details (AS-22, RFC 9396 §2): an array of objects, granted as the
        //    ID-JAG carries them (the mock has no policy to narrow them by).
        let details = match claims.get("authorization_details") {
            None => None,
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
                Some(Value::Array(items.clone()))
            }
            Some(other) => {
                return Err(GrantRefusal::Assertion(Rejection::ClaimType {
                    claim: "authorization_details".into(),
                    expected: "an array of objects (RFC 9396 §2)",
                    found: crate::jose::json_kind_of(other),
                }));
            }
        };

        // 9. Replay (AS-15, EMA §7.4.2): the jti is recorded last, so a request refused for
        //    another reason does not use the ID-JAG up; check and insert under one lock.
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX);
        if self.fault != Some(AsFault::ForgetJti) {
            self.record_jti(string("iss"), &jti, exp)?;
        }

        // 10. The access token: an RFC 9068 JWT for the MCP server, short-lived (EMA §5.1);
        //    no refresh token (AS-24).
        let now = self.clock.now();
        let lifetime = i64::try_from(self.config.access_token_lifetime).unwrap_or(300);
        let at_jti = random_id();
        let scope = granted.join(" ");
        let mut at_claims = json!({
            "iss": self.issuer,
            "sub": string("sub"),
            "aud": audience,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": now.saturating_add(lifetime),
            "jti": at_jti,
        });
        if let Some(details) = &details {
            at_claims["authorization_details"] = details.clone();
        }
        let access_token = sign(
            &self.access_token_key,
            &JwsHeader::new().typ(ACCESS_TOKEN_TYP),
            &at_claims,
        )
        .map_err(|e| GrantRefusal::SigningFailed {
            reason: e.to_string(),
        })?;
        record.outcome = Ok(IssuedAccessToken {
            sub: string("sub").to_owned(),
            resource: audience.clone(),
            scopes: granted,
            jti: at_jti,
        });
        // AS-23, AS-25: granted scope, resource and authorization details; Bearer.
        let mut body = json!({
            "access_token": access_token.into_secret(),
            "token_type": "Bearer",
            "expires_in": self.config.access_token_lifetime,
            "scope": scope,
            "resource": audience,
        });
        if let Some(details) = details {
            body["authorization_details"] = details;
        }
        Ok(body)
    }

    fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
        form: &Form,
    ) -> Result<(String, AuthMethod), GrantRefusal> {
        let fail = |reason: String| GrantRefusal::ClientAuthenticationFailed { reason };
        let presented = presented_credentials(headers, form).map_err(|e| fail(e.to_string()))?;
        let known = self
            .clients
            .iter()
            .find(|(id, secret)| *id == presented.client_id && secret.matches(&presented.secret));
        match known {
            Some((id, _)) => Ok((id.clone(), presented.method)),
            None => Err(fail("unknown client or wrong secret".into())),
        }
    }

    /// The trusted issuer the assertion claims to come from. The `iss` is read before the
    /// signature is checked only to choose whose keys check it (RFC 7523 §3 item 1). An
    /// assertion whose payload does not decode goes to the first trusted issuer, whose
    /// pipeline then names the defect precisely.
    fn trusted_issuer_for(&self, assertion: &str) -> Result<&TrustedIssuer, GrantRefusal> {
        let first = self
            .trusted
            .first()
            .ok_or_else(|| GrantRefusal::UntrustedIssuer {
                issuer: echo(&unverified_issuer(assertion).unwrap_or_default()),
            })?;
        match unverified_issuer(assertion) {
            None => Ok(first),
            Some(iss) => self
                .trusted
                .iter()
                .find(|t| t.issuer == iss)
                .ok_or(GrantRefusal::UntrustedIssuer { issuer: echo(&iss) }),
        }
    }

    async fn verify(
        &self,
        trusted: &TrustedIssuer,
        assertion: &str,
        client_id: &str,
    ) -> Result<crate::jose::Verified, GrantRefusal> {
        let now = self.clock.now();
        let interval = i64::try_from(self.config.jwks_refresh_interval).unwrap_or(i64::MAX);
        // The lock covers fetching only: verifications run side by side.
        let cached = {
            let mut cache = trusted.cache.lock().await;
            match cache.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let fresh = self.fetch_verifier(&trusted.issuer).await?;
                    *cache = Some(fresh.clone());
                    fresh
                }
            }
        };
        let check = |v: &Verifier| {
            if self.fault == Some(AsFault::IgnoreClientIdClaim) {
                return v.verify(assertion);
            }
            v.clone()
                .expect_claim("client_id", client_id)
                .verify(assertion)
        };
        match check(&cached.verifier) {
            // AS-31: a kid the cached set lacks may be a rotated-in key: refetch, at most
            // once per interval.
            Err(Rejection::KidUnknown { .. })
                if now.saturating_sub(cached.fetched_at) >= interval =>
            {
                let fresh = {
                    let mut cache = trusted.cache.lock().await;
                    match cache.as_ref() {
                        // Another request refetched while this one verified: use its set.
                        Some(c) if c.fetched_at > cached.fetched_at => c.clone(),
                        _ => {
                            let fresh = self.fetch_verifier(&trusted.issuer).await?;
                            *cache = Some(fresh.clone());
                            fresh
                        }
                    }
                };
                check(&fresh.verifier).map_err(GrantRefusal::Assertion)
            }
            other => other.map_err(GrantRefusal::Assertion),
        }
    }

    /// RFC 8414 metadata of the issuer (its `issuer` must match, §3.3), then its `jwks_uri`.
    async fn fetch_verifier(&self, issuer: &str) -> Result<CachedVerifier, GrantRefusal> {
        let fail = |reason: String| GrantRefusal::JwksUnavailable {
            issuer: issuer.to_owned(),
            reason,
        };
        let metadata_url =
            crate::wellknown::inserted(issuer, crate::wellknown::AUTHORIZATION_SERVER)
                .map_err(|e| fail(e.to_string()))?;
        let metadata = fetch_json(&self.http, &metadata_url).await.map_err(fail)?;
        if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(fail(format!(
                "the metadata at {metadata_url} names issuer {} (RFC 8414 §3.3)",
                metadata.get("issuer").unwrap_or(&Value::Null)
            )));
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("the metadata at {metadata_url} has no jwks_uri")))?;
        let jwks = fetch_json(&self.http, jwks_uri).await.map_err(fail)?;
        let jwks = TrustedJwks::from_value(&jwks)
            .map_err(|e| fail(e.to_string()))?
            .remember_verified_signatures(1024);
        let verifier = match self.fault {
            // The ID-JAG verifier without its audience: iss and every required claim still.
            Some(AsFault::AcceptAnyAudience) => ID_JAG_REQUIRED_CLAIMS
                .iter()
                .fold(Verifier::new(jwks).issuer(issuer), |v, claim| {
                    v.require_claim(*claim)
                }),
            _ => Verifier::id_jag(jwks, issuer, &self.issuer),
        }
        .pin(self.config.alg)
        .skew(self.config.max_skew)
        .clock(Arc::clone(&self.clock));
        let verifier = match self.fault {
            Some(AsFault::SkipTypCheck) => verifier.any_typ(),
            Some(AsFault::AcceptAnyAlgorithm) => verifier.allow_algs(AlgSet::ALL),
            Some(AsFault::NoExpiryCheck) => verifier.ignore_exp_for_fault_injection(),
            _ => verifier,
        };
        Ok(CachedVerifier {
            verifier,
            fetched_at: self.clock.now(),
        })
    }

    fn resource(&self, claim: Option<&Value>) -> Result<&ServedResource, GrantRefusal> {
        let named = match claim {
            None => {
                // Without the claim the only MCP server is the only candidate (EMA §5.1 is
                // silent; D2 takes the same position at the issuer).
                return match self.resources.as_slice() {
                    [only] => Ok(only),
                    all => Err(GrantRefusal::ResourceMissing { count: all.len() }),
                };
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => match items.as_slice() {
                [Value::String(s)] => s.clone(),
                _ => return Err(GrantRefusal::ResourceMultiple { count: items.len() }),
            },
            Some(other) => {
                return Err(GrantRefusal::Assertion(Rejection::ClaimType {
                    claim: "resource".into(),
                    expected: "a string or an array of one string",
                    found: crate::jose::json_kind_of(other),
                }));
            }
        };
        self.resources
            .iter()
            .find(|r| r.url == named)
            .ok_or(GrantRefusal::ForeignResource {
                resource: echo(&named),
            })
    }

    fn record_jti(&self, iss: &str, jti: &str, exp: i64) -> Result<(), GrantRefusal> {
        let now = self.clock.now();
        let skew = i64::try_from(self.config.max_skew).unwrap_or(0);
        let mut redeemed = self.redeemed.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries past exp + skew can no longer verify, so forgetting them is safe.
        redeemed.retain(|_, e| e.saturating_add(skew) >= now);
        match redeemed.entry((iss.to_owned(), jti.to_owned())) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(GrantRefusal::Replayed { jti: shorten(jti) })
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(exp);
                Ok(())
            }
        }
    }
}

/// The `iss` of a compact JWS, unverified; `None` when the payload does not decode.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::jose::b64_decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

/// GETs a JSON document of at most 1 MiB.
async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    const LIMIT: usize = 1024 * 1024;
    let mut response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let body = crate::http::read_capped(&mut response, LIMIT)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

type Shared = Arc<AuthorizationServer>;

/// RFC 8414 §2 metadata; AS-01, AS-02 (the grant profile and jwt-bearer). AS-03: no issuer
/// allow-list is exposed.
async fn metadata(State(server): State<Shared>) -> Response {
    let scopes: std::collections::BTreeSet<&str> = server
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().map(String::as_str))
        .collect();
    let body = json!({
        "issuer": server.issuer,
        // RFC 8414 makes it required when a grant uses it; none here does, but SDK models
        // require the member, so it exists and explains itself.
        "authorization_endpoint": server.endpoint("/authorize"),
        "token_endpoint": server.endpoint("/token"),
        "jwks_uri": server.endpoint("/jwks"),
        "response_types_supported": [],
        "grant_types_supported": [JWT_BEARER_GRANT],
        "authorization_grant_profiles_supported": [ID_JAG_GRANT_PROFILE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
    });
    json_response(StatusCode::OK, &body)
}

async fn jwks(State(server): State<Shared>) -> Response {
    let body = serde_json::to_value(server.access_token_keys.jwks()).unwrap_or_default();
    json_response(StatusCode::OK, &body)
}

async fn authorize() -> Response {
    error_response(
        400,
        crate::oauth::OAuthError::UnsupportedResponseType,
        "this mock authorization server issues access tokens only through the jwt-bearer \
         grant with an ID-JAG",
    )
}

async fn token(State(server): State<Shared>, request: Request) -> Response {
    let mut record = Redemption {
        client_id: None,
        auth_method: None,
        jti: None,
        outcome: Err(GrantRefusal::AssertionMissing),
    };
    let result = server.redeem(request, &mut record).await;
    let response = match &result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(refusal) => {
            record.outcome = Err(refusal.clone());
            error_response(
                refusal.http_status(),
                refusal.oauth_error(),
                &refusal.to_string(),
            )
        }
    };
    let mut kept = server
        .redemptions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if kept.len() == MAX_REDEMPTIONS_KEPT {
        kept.pop_front();
    }
    kept.push_back(record);
    drop(kept);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_from_the_payload_without_verification() {
        let token = format!(
            "e30.{}.sig",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                r#"{"iss":"https://idp.example"}"#
            )
        );
        assert_eq!(
            unverified_issuer(&token).as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(unverified_issuer("nonsense"), None);
        assert_eq!(unverified_issuer("a.!!!.c"), None);
    }

    #[test]
    fn every_refusal_of_an_id_jag_is_invalid_grant() {
        let grant = [
            GrantRefusal::UntrustedIssuer { issuer: "x".into() },
            GrantRefusal::ForeignResource {
                resource: "x".into(),
            },
            GrantRefusal::ResourceMultiple { count: 2 },
            GrantRefusal::Replayed { jti: "j".into() },
            GrantRefusal::ScopeNotRegistered {
                scope: "s".into(),
                resource: "r".into(),
            },
            GrantRefusal::Assertion(Rejection::AlgMissing),
        ];
        for r in grant {
            assert_eq!(
                (r.oauth_error(), r.http_status()),
                (crate::oauth::OAuthError::InvalidGrant, 400),
                "{r}"
            );
        }
        let client = GrantRefusal::ClientAuthenticationFailed { reason: "x".into() };
        assert_eq!(
            (client.oauth_error(), client.http_status()),
            (crate::oauth::OAuthError::InvalidClient, 401)
        );
    }
}

//! What every admin resource shares: the error type and its one mapping from
//! [`StoreError`], the extractors (authentication first, then JSON, path and query, each
//! refusal a JSON error), the replies, and the fallbacks.

use super::super::state::IssuerState;
use super::super::store::{Store, StoreError};
use crate::oauth::{json_response, shorten};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;

/// The largest admin request body accepted; larger bodies get 413.
pub(super) const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;

/// The challenge sent with every 401 (RFC 6750 §3).
pub(super) const CHALLENGE: &str = "Bearer realm=\"jagspec-admin\"";
/// The challenge when a token was presented and is wrong (RFC 6750 §3.1).
pub(super) const CHALLENGE_INVALID: &str =
    "Bearer realm=\"jagspec-admin\", error=\"invalid_token\"";

pub(super) type Shared = Arc<IssuerState>;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An admin-API error: `{"error": code, "error_description": …}` with `no-store`.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    pub(super) description: String,
    challenge: Option<&'static str>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenge: None,
        }
    }

    pub(super) fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(super) fn server_error(description: impl Into<String>) -> Self {
        let description = description.into();
        tracing::error!(error = %description, "admin API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }

    pub(super) fn unauthorized(description: &str, challenge: &'static str) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut response = json_response(self.status, &body);
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The one mapping of a store refusal to an HTTP status and a stable error code.
pub(super) fn classify(e: &StoreError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        StoreError::AudienceRequired => (S::BAD_REQUEST, "audience_required"),
        StoreError::AudienceIsTenantUrl(_) => (S::BAD_REQUEST, "audience_is_tenant_url"),
        StoreError::AudienceImmutable { .. } => (S::BAD_REQUEST, "audience_immutable"),
        StoreError::ResourceUriRefused { .. } => (S::BAD_REQUEST, "invalid_resource_uri"),
        StoreError::AudienceRefused { .. } => (S::BAD_REQUEST, "audience_not_url"),
        StoreError::LifetimeZero => (S::BAD_REQUEST, "invalid_lifetime"),
        StoreError::ModifyClaimsHookNotAvailable => {
            (S::BAD_REQUEST, "modify_claims_hook_not_available")
        }
        StoreError::Invalid(_) => (S::BAD_REQUEST, "invalid_request"),
        StoreError::TenantDisabled => (S::CONFLICT, "tenant_disabled"),
        StoreError::AudienceTaken(_)
        | StoreError::ServerIdTaken(_)
        | StoreError::UserTaken(_)
        | StoreError::ClientTaken(_)
        | StoreError::KeyTaken(_) => (S::CONFLICT, "conflict"),
        StoreError::UnknownServer(_)
        | StoreError::UnknownScope { .. }
        | StoreError::UnknownUser(_)
        | StoreError::UnknownClient(_)
        | StoreError::UnknownKey(_) => (S::NOT_FOUND, "not_found"),
        StoreError::Database(_) => (S::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = classify(&e);
        if status.is_server_error() {
            tracing::error!(error = %e, "admin API store failure");
        }
        Self::new(status, code, e.to_string())
    }
}

/// A JSON parse rejection (syntax, or not the expected shape): 400 with axum's message.
pub(super) fn json_rejection(r: &JsonRejection) -> ApiError {
    ApiError::bad_request(r.body_text())
}

/// A body over [`MAX_ADMIN_BODY_BYTES`]: 413.
pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        format!("the request body exceeds the admin API's limit of {MAX_ADMIN_BODY_BYTES} bytes"),
    )
}

// ---------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------

/// Proof that the request carries the admin bearer token. Every handler takes it first, so
/// no route can be added without it; it runs before any body is read.
pub(super) struct AdminAuth;

impl FromRequestParts<Shared> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "the admin API requires `Authorization: Bearer <admin token>`",
                CHALLENGE,
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token) if !token.is_empty() && state.admin_token.matches(token) => Ok(Self),
            Some(_) => Err(ApiError::unauthorized(
                "the admin token is not valid",
                CHALLENGE_INVALID,
            )),
            None => Err(ApiError::unauthorized(
                "the admin API requires `Authorization: Bearer <admin token>`",
                CHALLENGE,
            )),
        }
    }
}

/// A JSON object body (`Content-Type: application/json` or `application/*+json`) whose
/// rejections are admin-API errors. Serde would also read a struct from a JSON array
/// (positionally); that is refused here, so every body is an object with named fields.
pub(super) struct AdminJson<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !content_type.as_deref().is_some_and(is_json_media_type) {
            return Err(ApiError::bad_request(format!(
                "expected `Content-Type: application/json` (found {})",
                content_type.map_or_else(|| "none".to_owned(), |c| format!("`{}`", shorten(&c)))
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(r.body_text())
            }
        })?;
        let Json(value) = Json::<T>::from_bytes(&bytes).map_err(|r| json_rejection(&r))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "expected the body to be a JSON object",
            ));
        }
        Ok(Self(value))
    }
}

/// `application/json` or `application/<anything>+json`, parameters ignored.
pub(super) fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// `Path<T>` whose rejections are admin-API errors.
pub(super) struct AdminPath<T>(pub(super) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AdminPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|r: PathRejection| ApiError::bad_request(r.body_text()))
    }
}

/// `Query<T>` whose rejections are admin-API errors.
pub(super) struct AdminQuery<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|r: QueryRejection| ApiError::bad_request(r.body_text()))
    }
}

/// Runs a store write on the blocking pool.
pub(super) async fn write<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::server_error(format!("the store write did not finish: {e}")))?
        .map_err(ApiError::from)
}

pub(super) fn ok(body: &impl Serialize) -> Response {
    respond(StatusCode::OK, body)
}

pub(super) fn created(body: &impl Serialize) -> Response {
    respond(StatusCode::CREATED, body)
}

pub(super) fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_value(body) {
        Ok(v) => json_response(status, &v),
        Err(e) => {
            ApiError::server_error(format!("cannot encode the response: {e}")).into_response()
        }
    }
}

pub(super) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub(super) type Reply = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------
// Fallbacks: JSON errors, and only after authentication (no probing for endpoints)
// ---------------------------------------------------------------------------------------

/// `/admin/`, which the nest at `/admin` does not reach: the same 401-before-404 answer as
/// every other unknown admin path.
pub(in crate::issuer) fn trailing_slash_route() -> axum::routing::MethodRouter<Arc<IssuerState>> {
    axum::routing::any(unknown_endpoint)
}

pub(super) async fn unknown_endpoint(
    _: AdminAuth,
    method: Method,
    OriginalUri(uri): OriginalUri,
) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no admin endpoint `{method} {}`", uri.path()),
    )
}

pub(super) async fn method_not_allowed(
    _: AdminAuth,
    method: Method,
    OriginalUri(uri): OriginalUri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{}` does not accept {method}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Secret;

    #[tokio::test]
    async fn a_database_failure_is_a_json_500_server_error_never_a_bare_500() {
        let response =
            ApiError::from(StoreError::Database("disk I/O error".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "server_error", "error_description": "database: disk I/O error"})
        );
    }

    #[test]
    pub(super) fn the_same_secret_is_recognised_and_any_other_is_not() {
        let s = Secret::new("s3cret");
        assert!(s.matches("s3cret"));
        assert!(!s.matches("s3cre"));
        assert!(!s.matches("s3creT"));
        assert!(!s.matches(""));
    }

    #[test]
    pub(super) fn json_media_types_are_recognised_with_parameters_and_suffixes() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(yes), "{yes}");
        }
        for no in ["text/json", "application/jsonx", "text/plain", ""] {
            assert!(!is_json_media_type(no), "{no}");
        }
    }
}

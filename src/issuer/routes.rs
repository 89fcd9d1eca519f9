//! The issuer's routes: RFC 8414 metadata (also at the OpenID Connect discovery path),
//! the JWKS, the token endpoint ([`super::token`]) and the admin API ([`super::admin`]).

use crate::jose::Alg;
use crate::oauth::json_response;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

use super::state::IssuerState;
use crate::oauth::{ID_JAG_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};

/// The issuer's routes: discovery, JWKS, token endpoint, and the admin API under `/admin`.
pub fn router(state: Arc<IssuerState>) -> Router {
    let router = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks", get(jwks))
        .route("/token", post(super::token::token))
        .nest("/admin", super::admin::router())
        // `/admin/` is not inside the nest: the admin API's own answer, 401 before 404.
        .route("/admin/", super::admin::trailing_slash_route());
    crate::oauth::with_json_errors(router).with_state(state)
}

async fn metadata(State(state): State<Arc<IssuerState>>) -> Response {
    let url = state.store.snapshot().settings.url.clone();
    let body = json!({
        "issuer": url,
        "token_endpoint": format!("{url}/token"),
        "jwks_uri": format!("{url}/jwks"),
        "grant_types_supported": [TOKEN_EXCHANGE_GRANT, "password"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "identity_chaining_requested_token_types_supported": [ID_JAG_TOKEN_TYPE],
        "id_token_signing_alg_values_supported": Alg::ALL.map(Alg::as_str),
        "subject_types_supported": ["public"],
    });
    json_response(StatusCode::OK, &body)
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Response {
    let jwks = state.store.snapshot().keys.jwks();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(jwks).unwrap_or_default(),
    )
}

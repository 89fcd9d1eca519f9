//! The admin API (JSON), refused with 401 without the admin bearer token.

use super::server::IssuerState;
use axum::Router;
use std::sync::Arc;

/// The admin routes, nested under `/admin`.
pub(crate) fn router() -> Router<Arc<IssuerState>> {
    Router::new()
}

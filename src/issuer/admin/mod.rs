//! The admin API (JSON), refused with 401 without the admin bearer token.
//!
//! Every rule of the seeds is enforced by the [`Store`](super::Store); this module
//! authenticates, parses, calls the store and maps its [`StoreError`](super::StoreError) to
//! an HTTP status and a stable error code in one place (`api::classify`). `docs/admin-api.md` documents every endpoint and code.
//!
//! Reads come from the store's in-memory snapshot, except the system log's (`/audit-events`),
//! which are SQLite reads on the blocking pool. Writes run on the blocking pool
//! (`spawn_blocking`): each is one SQLite transaction with `synchronous=FULL`, and it may
//! wait up to the database's `busy_timeout` while the audit log holds the write lock, which
//! must not stall a runtime worker. RSA key generation (~0.2 s) runs there too.
//!
//! One module per resource: [`servers`] (the tenant, resource servers, grants),
//! [`principals`] (users and clients), [`keys`], [`log`] (the system log) and
//! [`exporters`]; [`api`] holds what they share.

mod api;
mod exporters;
mod keys;
mod log;
mod principals;
mod servers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

pub(super) use api::trailing_slash_route;

/// The admin routes, nested under `/admin`.
pub(super) fn router() -> Router<api::Shared> {
    Router::new()
        .route(
            "/tenant",
            get(servers::get_tenant).patch(servers::patch_tenant),
        )
        .route(
            "/resource-servers",
            get(servers::list_servers).post(servers::create_server),
        )
        .route(
            "/resource-servers/{id}",
            get(servers::get_server)
                .patch(servers::patch_server)
                .delete(servers::delete_server),
        )
        .route(
            "/resource-servers/{id}/disable",
            post(servers::disable_server),
        )
        .route(
            "/resource-servers/{id}/enable",
            post(servers::enable_server),
        )
        .route(
            "/resource-servers/{id}/scopes/{scope}",
            put(servers::put_scope).delete(servers::delete_scope),
        )
        .route(
            "/grants",
            get(servers::list_grants)
                .post(servers::add_grant)
                .delete(servers::remove_grant),
        )
        .route(
            "/users",
            get(principals::list_users).post(principals::add_user),
        )
        .route("/users/{name}", delete(principals::delete_user))
        .route(
            "/clients",
            get(principals::list_clients).post(principals::add_client),
        )
        .route("/clients/{client_id}", delete(principals::delete_client))
        .route("/keys", get(keys::list_keys).post(keys::generate_key))
        .route("/keys/{kid}", delete(keys::delete_key))
        .route("/keys/{kid}/retire", post(keys::retire_key))
        .route("/audit-events", get(log::audit_events))
        .route("/audit-events/export", get(log::export_audit_events))
        .route(
            "/exporters",
            get(exporters::list_exporters).post(exporters::add_exporter),
        )
        .route(
            "/exporters/{name}",
            get(exporters::get_exporter)
                .patch(exporters::patch_exporter)
                .delete(exporters::delete_exporter),
        )
        .fallback(api::unknown_endpoint)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(api::MAX_ADMIN_BODY_BYTES))
}

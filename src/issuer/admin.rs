//! The admin API (JSON), refused with 401 without the admin bearer token.
//!
//! Every rule of the seeds is enforced by the [`Store`]; this module authenticates, parses,
//! calls the store and maps its [`StoreError`] to an HTTP status and a stable error code in
//! one place ([`classify`]). `docs/admin-api.md` documents every endpoint and code.
//!
//! Reads come from the store's in-memory snapshot, except the system log's (`/audit-events`),
//! which are SQLite reads on the blocking pool. Writes run on the blocking pool
//! (`spawn_blocking`): each is one SQLite transaction with `synchronous=FULL`, and it may
//! wait up to the database's `busy_timeout` while the audit log holds the write lock, which
//! must not stall a runtime worker. RSA key generation (~0.2 s) runs there too.

use super::model::{AlgChoice, Lifetime, ResourceServer, Scope};
use super::server::IssuerState;
use super::store::{NewResourceServer, ResourceServerPatch, Store, StoreError, TenantPatch};
use crate::audit::{
    AuditEvent, AuditFilter, AuditPage, Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Outcome, export,
};
use crate::export::{ExportError, ExporterConfig, StartAt};
use crate::jose::{Alg, KeyStatus, SigningKey};
use crate::oauth::{json_response, shorten};
use crate::types::Kid;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, OriginalUri, Path, Query, RawQuery, Request,
    State,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest admin request body accepted; larger bodies get 413.
const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;

/// The challenge sent with every 401 (RFC 6750 §3).
const CHALLENGE: &str = "Bearer realm=\"jagspec-admin\"";
/// The challenge when a token was presented and is wrong (RFC 6750 §3.1).
const CHALLENGE_INVALID: &str = "Bearer realm=\"jagspec-admin\", error=\"invalid_token\"";

type Shared = Arc<IssuerState>;

/// The admin routes, nested under `/admin`.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/tenant", get(get_tenant).patch(patch_tenant))
        .route("/resource-servers", get(list_servers).post(create_server))
        .route(
            "/resource-servers/{id}",
            get(get_server).patch(patch_server).delete(delete_server),
        )
        .route("/resource-servers/{id}/disable", post(disable_server))
        .route("/resource-servers/{id}/enable", post(enable_server))
        .route(
            "/resource-servers/{id}/scopes/{scope}",
            put(put_scope).delete(delete_scope),
        )
        .route(
            "/grants",
            get(list_grants).post(add_grant).delete(remove_grant),
        )
        .route("/users", get(list_users).post(add_user))
        .route("/users/{name}", delete(delete_user))
        .route("/clients", get(list_clients).post(add_client))
        .route("/clients/{client_id}", delete(delete_client))
        .route("/keys", get(list_keys).post(generate_key))
        .route("/keys/{kid}", delete(delete_key))
        .route("/keys/{kid}/retire", post(retire_key))
        .route("/audit-events", get(audit_events))
        .route("/audit-events/export", get(export_audit_events))
        .route("/exporters", get(list_exporters).post(add_exporter))
        .route(
            "/exporters/{name}",
            get(get_exporter)
                .patch(patch_exporter)
                .delete(delete_exporter),
        )
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An admin-API error: `{"error": code, "error_description": …}` with `no-store`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    challenge: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenge: None,
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn server_error(description: impl Into<String>) -> Self {
        let description = description.into();
        tracing::error!(error = %description, "admin API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }

    fn unauthorized(description: &str, challenge: &'static str) -> Self {
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
fn classify(e: &StoreError) -> (StatusCode, &'static str) {
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
fn json_rejection(r: &JsonRejection) -> ApiError {
    ApiError::bad_request(r.body_text())
}

/// A body over [`MAX_ADMIN_BODY_BYTES`]: 413.
fn too_large() -> ApiError {
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
struct AdminAuth;

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
struct AdminJson<T>(T);

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
fn is_json_media_type(content_type: &str) -> bool {
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
struct AdminPath<T>(T);

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
struct AdminQuery<T>(T);

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
async fn write<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::server_error(format!("the store write did not finish: {e}")))?
        .map_err(ApiError::from)
}

fn ok(body: &impl Serialize) -> Response {
    respond(StatusCode::OK, body)
}

fn created(body: &impl Serialize) -> Response {
    respond(StatusCode::CREATED, body)
}

fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_value(body) {
        Ok(v) => json_response(status, &v),
        Err(e) => {
            ApiError::server_error(format!("cannot encode the response: {e}")).into_response()
        }
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

type Reply = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------
// Views: what the API shows (never a hash or private key)
// ---------------------------------------------------------------------------------------

/// A resource server as the API shows it. Its fields are exactly those of
/// [`NewResourceServer`], so a listed server can be posted back as it is.
#[derive(Serialize)]
struct ServerView<'a> {
    id: &'a str,
    name: &'a str,
    audience: &'a str,
    resource_uris: &'a [String],
    /// Seconds, or `null` for indefinite (inherit the tenant default).
    max_lifetime: Option<u64>,
    alg: AlgChoice,
    disabled: bool,
    modify_claims_hook: Option<&'a str>,
    scopes: &'a [Scope],
}

impl<'a> From<&'a ResourceServer> for ServerView<'a> {
    fn from(s: &'a ResourceServer) -> Self {
        Self {
            id: &s.id,
            name: &s.name,
            audience: &s.audience,
            resource_uris: &s.resource_uris,
            max_lifetime: match s.max_lifetime {
                Lifetime::Indefinite => None,
                Lifetime::Seconds(n) => Some(n),
            },
            alg: s.alg,
            disabled: s.disabled,
            modify_claims_hook: s.modify_claims_hook.as_deref(),
            scopes: &s.scopes,
        }
    }
}

/// A grant, as listed and as posted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    user: String,
    server: String,
    scope: String,
}

/// Filters of `GET /admin/grants`, and the query form of `DELETE /admin/grants`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantQuery {
    user: Option<String>,
    server: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize)]
struct UserView<'a> {
    name: &'a str,
    sub: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    sub: Option<String>,
    password: String,
}

#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    as_client_ids: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    as_client_ids: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct KeyView<'a> {
    kid: &'a str,
    alg: Alg,
    status: KeyStatus,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    alg: Alg,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    enabled: bool,
}

// ---------------------------------------------------------------------------------------
// Tenant
// ---------------------------------------------------------------------------------------

async fn get_tenant(_: AdminAuth, State(state): State<Shared>) -> Response {
    ok(&state.store.snapshot().settings)
}

async fn patch_tenant(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(patch): AdminJson<TenantPatch>,
) -> Reply {
    let settings = write(&state, move |s| s.update_tenant(&patch)).await?;
    Ok(ok(&settings))
}

// ---------------------------------------------------------------------------------------
// Resource servers
// ---------------------------------------------------------------------------------------

async fn list_servers(_: AdminAuth, State(state): State<Shared>) -> Response {
    let snapshot = state.store.snapshot();
    let views: Vec<ServerView<'_>> = snapshot.servers.iter().map(ServerView::from).collect();
    ok(&views)
}

async fn create_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(new): AdminJson<NewResourceServer>,
) -> Reply {
    let server = write(&state, move |s| s.create_server(&new)).await?;
    Ok(created(&ServerView::from(&server)))
}

async fn get_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = state.store.server(&id)?;
    Ok(ok(&ServerView::from(&server)))
}

async fn patch_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
    AdminJson(patch): AdminJson<ResourceServerPatch>,
) -> Reply {
    let server = write(&state, move |s| s.update_server(&id, &patch)).await?;
    Ok(ok(&ServerView::from(&server)))
}

async fn delete_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_server(&id)).await?;
    Ok(no_content())
}

async fn disable_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = write(&state, move |s| s.set_disabled(&id, true)).await?;
    Ok(ok(&ServerView::from(&server)))
}

async fn enable_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = write(&state, move |s| s.set_disabled(&id, false)).await?;
    Ok(ok(&ServerView::from(&server)))
}

async fn put_scope(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath((id, scope)): AdminPath<(String, String)>,
    AdminJson(body): AdminJson<ScopeBody>,
) -> Reply {
    let server = write(&state, move |s| s.set_scope(&id, &scope, body.enabled)).await?;
    Ok(ok(&ServerView::from(&server)))
}

async fn delete_scope(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath((id, scope)): AdminPath<(String, String)>,
) -> Reply {
    write(&state, move |s| s.delete_scope(&id, &scope)).await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------

async fn list_grants(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminQuery(filter): AdminQuery<GrantQuery>,
) -> Response {
    let snapshot = state.store.snapshot();
    let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let grants: Vec<GrantBody> = snapshot
        .grants
        .iter()
        .filter(|(user, server, scope)| {
            matches(&filter.user, user)
                && matches(&filter.server, server)
                && matches(&filter.scope, scope)
        })
        .map(|(user, server, scope)| GrantBody {
            user: user.clone(),
            server: server.clone(),
            scope: scope.clone(),
        })
        .collect();
    ok(&grants)
}

/// 201 when the grant is new, 200 when the user already held it.
async fn add_grant(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(grant): AdminJson<GrantBody>,
) -> Reply {
    let existed = state
        .store
        .snapshot()
        .has_grant(&grant.user, &grant.server, &grant.scope);
    let grant = write(&state, move |s| {
        s.grant(&grant.user, &grant.server, &grant.scope)
            .map(|()| grant)
    })
    .await?;
    Ok(if existed { ok(&grant) } else { created(&grant) })
}

/// The grant is named by the query (`?user=&server=&scope=`) or, without a query, by a
/// JSON body. Revoking a grant that does not exist succeeds (the store's rule).
async fn remove_grant(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminQuery(query): AdminQuery<GrantQuery>,
    request: Request,
) -> Reply {
    let grant = match query {
        GrantQuery {
            user: Some(user),
            server: Some(server),
            scope: Some(scope),
        } => GrantBody {
            user,
            server,
            scope,
        },
        GrantQuery {
            user: None,
            server: None,
            scope: None,
        } => {
            AdminJson::<GrantBody>::from_request(request, &state)
                .await?
                .0
        }
        GrantQuery { .. } => {
            return Err(ApiError::bad_request(
                "name the grant with all of `user`, `server` and `scope` in the query, or with a JSON body",
            ));
        }
    };
    write(&state, move |s| {
        s.revoke(&grant.user, &grant.server, &grant.scope)
    })
    .await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Users and clients
// ---------------------------------------------------------------------------------------

async fn list_users(_: AdminAuth, State(state): State<Shared>) -> Response {
    let snapshot = state.store.snapshot();
    let users: Vec<UserView<'_>> = snapshot
        .users
        .values()
        .map(|u| UserView {
            name: &u.name,
            sub: &u.sub,
        })
        .collect();
    ok(&users)
}

/// `sub` defaults to the name, as in the seed.
async fn add_user(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(new): AdminJson<NewUser>,
) -> Reply {
    let sub = new.sub.unwrap_or_else(|| new.name.clone());
    let name = new.name;
    let (name, sub) = write(&state, move |s| {
        s.add_user(&name, &sub, &new.password).map(|()| (name, sub))
    })
    .await?;
    Ok(created(&UserView {
        name: &name,
        sub: &sub,
    }))
}

async fn delete_user(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(name): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_user(&name)).await?;
    Ok(no_content())
}

async fn list_clients(_: AdminAuth, State(state): State<Shared>) -> Response {
    let snapshot = state.store.snapshot();
    let clients: Vec<ClientView<'_>> = snapshot
        .clients
        .values()
        .map(|c| ClientView {
            client_id: &c.client_id,
            as_client_ids: &c.as_client_ids,
        })
        .collect();
    ok(&clients)
}

async fn add_client(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(new): AdminJson<NewClient>,
) -> Reply {
    let new = write(&state, move |s| {
        s.add_client(&new.client_id, &new.client_secret, &new.as_client_ids)
            .map(|()| new)
    })
    .await?;
    Ok(created(&ClientView {
        client_id: &new.client_id,
        as_client_ids: &new.as_client_ids,
    }))
}

async fn delete_client(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(client_id): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_client(&client_id)).await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------

async fn list_keys(_: AdminAuth, State(state): State<Shared>) -> Response {
    let snapshot = state.store.snapshot();
    let keys: Vec<KeyView<'_>> = snapshot
        .keys
        .iter()
        .map(|(k, status)| KeyView {
            kid: k.kid().as_str(),
            alg: k.alg(),
            status,
        })
        .collect();
    ok(&keys)
}

/// Generates a key for `alg` and makes it the algorithm's active key; the previous active
/// key is retired and stays published.
async fn generate_key(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(new): AdminJson<NewKey>,
) -> Reply {
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(new.alg))
        .await
        .map_err(|e| ApiError::server_error(format!("key generation did not finish: {e}")))?
        .map_err(|e| ApiError::server_error(format!("key generation failed: {e}")))?;
    let now_ms = state.clock.now().saturating_mul(1000);
    let key = write(&state, move |s| {
        s.add_key(&key, KeyStatus::Active, now_ms).map(|()| key)
    })
    .await?;
    Ok(created(&KeyView {
        kid: key.kid().as_str(),
        alg: key.alg(),
        status: KeyStatus::Active,
    }))
}

/// Retires a key: it stops signing and stays in the JWKS.
async fn retire_key(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(kid): AdminPath<String>,
) -> Reply {
    let kid = Kid::new(kid);
    let retired = kid.clone();
    write(&state, move |s| s.retire_key(&retired)).await?;
    let snapshot = state.store.snapshot();
    let (key, status) = snapshot
        .keys
        .get(&kid)
        .ok_or_else(|| StoreError::UnknownKey(kid.clone()))?;
    Ok(ok(&KeyView {
        kid: key.kid().as_str(),
        alg: key.alg(),
        status,
    }))
}

/// Removes a key from the JWKS: tokens it signed no longer verify.
async fn delete_key(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(kid): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_key(&Kid::new(kid))).await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// The system log: read it filtered and paged, download it
// ---------------------------------------------------------------------------------------

/// The filters both audit-event endpoints take, in the order the `link` header repeats them.
const FILTER_PARAMETERS: [&str; 8] = [
    "since",
    "until",
    "user",
    "client",
    "system",
    "outcome",
    "status_detail",
    "request_id",
];

/// Which audit-event endpoint a query is for: each takes the filters plus its own
/// parameters (`limit` and `cursor` for pages, `format` and `cursor` for the export).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogEndpoint {
    Page,
    Export,
}

/// A download format of `GET /audit-events/export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    Ndjson,
    Csv,
}

impl ExportFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8; header=present",
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Self::Ndjson => "attachment; filename=\"audit-events.ndjson\"",
            Self::Csv => "attachment; filename=\"audit-events.csv\"",
        }
    }
}

/// The parsed query of an audit-event endpoint.
#[derive(Debug)]
struct LogQuery {
    filter: AuditFilter,
    cursor: Option<Cursor>,
    limit: usize,
    /// `limit` as given, for the next page's link.
    limit_given: bool,
    format: ExportFormat,
    /// The filter parameters as given (name, value), for the next page's link.
    filters_given: Vec<(&'static str, String)>,
}

impl LogQuery {
    /// Parses the raw query string by hand, so that every refusal names its parameter: an
    /// unknown or repeated parameter, or a value that does not parse, is `invalid_request`.
    fn parse(raw: Option<&str>, endpoint: LogEndpoint) -> Result<Self, ApiError> {
        let mut query = Self {
            filter: AuditFilter::default(),
            cursor: None,
            limit: DEFAULT_PAGE_SIZE,
            limit_given: false,
            format: ExportFormat::Ndjson,
            filters_given: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if seen.iter().any(|s| *s == name) {
                return Err(ApiError::bad_request(format!(
                    "`{}` is given more than once",
                    shorten(&name)
                )));
            }
            seen.push(name.clone().into_owned());
            let value = value.into_owned();
            let bad = |expected: &str| {
                ApiError::bad_request(format!(
                    "`{name}`: expected {expected} (found `{}`)",
                    shorten(&value)
                ))
            };
            let millis = || -> Result<i64, ApiError> {
                parse_millis(&value).ok_or_else(|| {
                    bad("an integer: milliseconds since the Unix epoch, as in `time_ms`")
                })
            };
            match (name.as_ref(), endpoint) {
                ("since", _) => query.filter.since_ms = Some(millis()?),
                ("until", _) => query.filter.until_ms = Some(millis()?),
                ("user", _) => query.filter.user = Some(value.clone()),
                ("client", _) => query.filter.client = Some(value.clone()),
                ("system", _) => query.filter.system = Some(value.clone()),
                ("status_detail", _) => query.filter.status_detail = Some(value.clone()),
                ("request_id", _) => query.filter.request_id = Some(value.clone()),
                ("outcome", _) => {
                    query.filter.outcome = Some(match value.as_str() {
                        "granted" => Outcome::Granted,
                        "denied" => Outcome::Denied,
                        _ => return Err(bad("`granted` or `denied`")),
                    });
                }
                ("cursor", _) => {
                    query.cursor = Some(
                        value
                            .parse()
                            .map_err(|_| bad("a cursor from a previous page (`x-next-cursor`)"))?,
                    );
                }
                ("limit", LogEndpoint::Page) => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                        .ok_or_else(|| bad(&format!("an integer from 1 to {MAX_PAGE_SIZE}")))?;
                    query.limit_given = true;
                }
                ("format", LogEndpoint::Export) => {
                    query.format = match value.as_str() {
                        "ndjson" => ExportFormat::Ndjson,
                        "csv" => ExportFormat::Csv,
                        _ => return Err(bad("`ndjson` or `csv`")),
                    };
                }
                ("limit", LogEndpoint::Export) => {
                    return Err(ApiError::bad_request(
                        "`limit` does not apply to the export, which returns every matching \
                         event; read pages from `GET /admin/audit-events` instead",
                    ));
                }
                ("format", LogEndpoint::Page) => {
                    return Err(ApiError::bad_request(
                        "`format` applies to `GET /admin/audit-events/export` only; this \
                         endpoint answers JSON",
                    ));
                }
                (other, _) => {
                    let own = match endpoint {
                        LogEndpoint::Page => "limit, cursor",
                        LogEndpoint::Export => "format, cursor",
                    };
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter `{}`; expected {}, {own}",
                        shorten(other),
                        FILTER_PARAMETERS.join(", ")
                    )));
                }
            }
            if let Some(filter) = FILTER_PARAMETERS.iter().find(|f| **f == name) {
                query.filters_given.push((filter, value));
            }
        }
        if let (Some(since), Some(until)) = (query.filter.since_ms, query.filter.until_ms)
            && until <= since
        {
            return Err(ApiError::bad_request(format!(
                "`until`: expected a time after `since` ({since}), since the range is \
                 [since, until) (found `{until}`)"
            )));
        }
        Ok(query)
    }

    /// The query of the page after `next`: the same filters and limit, and the cursor.
    fn next_query(&self, next: Cursor) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.filters_given {
            q.append_pair(name, value);
        }
        if self.limit_given {
            q.append_pair("limit", &self.limit.to_string());
        }
        q.append_pair("cursor", &next.to_string());
        q.finish()
    }
}

/// An integer of milliseconds: optional `-`, then at most 18 ASCII digits.
fn parse_millis(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Reads one page of the log on the blocking pool (SQLite is synchronous).
async fn read_page(
    state: &Shared,
    filter: AuditFilter,
    after: Option<Cursor>,
    up_to: Option<Cursor>,
    limit: usize,
) -> Result<AuditPage, ApiError> {
    let audit = state.audit.clone();
    tokio::task::spawn_blocking(move || audit.query_up_to(&filter, after, up_to, limit))
        .await
        .map_err(|e| ApiError::server_error(format!("reading the audit log did not finish: {e}")))?
        .map_err(|e| ApiError::server_error(format!("reading the audit log failed: {e}")))
}

/// `GET /audit-events`: a page of the system log, oldest first, as a bare JSON array of
/// events (the shape tools and `jagspec test issuer` profiles read with `?request_id=`).
/// When more events match, the response says where the next page is: `x-next-cursor` and
/// an RFC 8288 `link: <…>; rel="next"`.
async fn audit_events(
    _: AdminAuth,
    State(state): State<Shared>,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Reply {
    let query = LogQuery::parse(raw.as_deref(), LogEndpoint::Page)?;
    let page = read_page(
        &state,
        query.filter.clone(),
        query.cursor,
        None,
        query.limit,
    )
    .await?;
    let mut response = ok(&page.events);
    if let Some(next) = page.next {
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.next_query(next));
        // The path is the request's own and the query is percent-encoded: both are
        // visible ASCII, so these values always build.
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&next.to_string()) {
            headers.insert(NEXT_CURSOR, value);
        }
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The response header naming the next page's cursor.
const NEXT_CURSOR: &str = "x-next-cursor";

/// `GET /audit-events/export?format=ndjson|csv`: every matching event, oldest first, as a
/// download streamed page by page: each page of [`MAX_PAGE_SIZE`] is read on the blocking
/// pool (no read holds the log's read connection for long) and sent before the next is
/// read, so a download of the whole log costs one page of memory, and a client that reads
/// slowly holds back the reads (the channel between them holds [`EXPORT_PAGES_AHEAD`]).
///
/// The first page is read before the answer starts, so a log that cannot be read is an
/// honest 500. A read that fails later ends the body without its last chunk: the client
/// sees a broken transfer, never a download that looks complete.
async fn export_audit_events(
    _: AdminAuth,
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let query = LogQuery::parse(raw.as_deref(), LogEndpoint::Export)?;
    let format = query.format;
    // The log as it is now: events written while the download runs are left for the next
    // one (from the last event's cursor), so the download always ends.
    let audit = state.audit.clone();
    let up_to = tokio::task::spawn_blocking(move || audit.last_cursor())
        .await
        .map_err(|e| ApiError::server_error(format!("reading the audit log did not finish: {e}")))?
        .map_err(|e| ApiError::server_error(format!("reading the audit log failed: {e}")))?;
    let encode = move |events: &[AuditEvent], first: bool| {
        let mut chunk = Vec::new();
        if first && format == ExportFormat::Csv {
            export::csv_header(&mut chunk);
        }
        for event in events {
            match format {
                ExportFormat::Ndjson => export::ndjson_line(&mut chunk, event),
                ExportFormat::Csv => export::csv_row(&mut chunk, event),
            }
        }
        Bytes::from(chunk)
    };
    let first = match up_to {
        Some(_) => {
            read_page(
                &state,
                query.filter.clone(),
                query.cursor,
                up_to,
                MAX_PAGE_SIZE,
            )
            .await?
        }
        None => AuditPage::default(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(EXPORT_PAGES_AHEAD);
    // The first chunk always fits: the channel is empty and holds at least one.
    let _ = tx.try_send(Ok(encode(&first.events, true)));
    if let Some(mut after) = first.next {
        let filter = query.filter;
        tokio::spawn(async move {
            loop {
                let page = match read_page(
                    &state,
                    filter.clone(),
                    Some(after),
                    up_to,
                    MAX_PAGE_SIZE,
                )
                .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e.description, "the system-log download stopped");
                        let _ = tx.send(Err(std::io::Error::other(e.description))).await;
                        return;
                    }
                };
                // A send fails only when the client has gone: stop reading.
                if tx.send(Ok(encode(&page.events, false))).await.is_err() {
                    return;
                }
                match page.next {
                    Some(next) => after = next,
                    None => return,
                }
            }
        });
    }
    let mut response = axum::body::Body::from_stream(ChannelStream(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(format.disposition()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Pages read ahead of a download's client.
const EXPORT_PAGES_AHEAD: usize = 2;

/// An mpsc receiver as a `Stream` (what `Body::from_stream` takes), without a stream
/// utility crate for ten lines.
struct ChannelStream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for ChannelStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

// ---------------------------------------------------------------------------------------
// System-log exporters
// ---------------------------------------------------------------------------------------

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Invalid(_) => Self::bad_request(e.to_string()),
            ExportError::NameTaken(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ExportError::Unknown(_) => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            other => Self::server_error(other.to_string()),
        }
    }
}

/// Every exporter with its progress: name, kind, target, lag, last success, last error.
/// Never the bearer token.
async fn list_exporters(_: AdminAuth, State(state): State<Shared>) -> Reply {
    Ok(ok(&state.exporters.list().await?))
}

async fn get_exporter(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(name): AdminPath<String>,
) -> Reply {
    match state.exporters.status(&name).await? {
        Some(status) => Ok(ok(&status)),
        None => Err(ExportError::Unknown(shorten(&name)).into()),
    }
}

/// Adds an exporter (checked by [`ExporterConfig`]'s parse) and starts it at the
/// beginning of the log, or with `"start_at": "end"` after the last event written.
async fn add_exporter(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(mut body): AdminJson<serde_json::Map<String, serde_json::Value>>,
) -> Reply {
    // `start_at` is where the cursor starts, not part of the destination's config.
    let start = match body.remove("start_at") {
        None => StartAt::Beginning,
        Some(value) => serde_json::from_value(value).map_err(|_| {
            ApiError::bad_request("`start_at` is \"beginning\" (the default) or \"end\"")
        })?,
    };
    let config: ExporterConfig = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let added =
        finish_even_if_dropped(async move { state.exporters.add_starting_at(config, start).await })
            .await?;
    Ok(created(&added))
}

/// Runs an exporter change to its end even when the client hangs up mid-request (which
/// drops the handler): a change abandoned between stopping the old worker and starting the
/// new one would leave an exporter with no worker, or a stored one never started.
async fn finish_even_if_dropped<T: Send + 'static>(
    change: impl Future<Output = Result<T, ExportError>> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::spawn(change)
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
}

/// `PATCH /exporters/{name}`: replaces the fields given (`null` removes one), keeps the
/// cursor, restarts delivery to the new destination. `name` and `kind` cannot change.
async fn patch_exporter(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(name): AdminPath<String>,
    AdminJson(patch): AdminJson<serde_json::Map<String, serde_json::Value>>,
) -> Reply {
    let updated = finish_even_if_dropped(async move { state.exporters.update(&name, patch).await })
        .await
        .map_err(|e| match e {
            ExportError::Unknown(n) => ExportError::Unknown(shorten(&n)),
            other => other,
        })?;
    Ok(ok(&updated))
}

async fn delete_exporter(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(name): AdminPath<String>,
) -> Reply {
    finish_even_if_dropped(async move { state.exporters.remove(&name).await })
        .await
        .map_err(|e| match e {
            ExportError::Unknown(n) => ExportError::Unknown(shorten(&n)),
            other => other,
        })?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Fallbacks: JSON errors, and only after authentication (no probing for endpoints)
// ---------------------------------------------------------------------------------------

/// `/admin/`, which the nest at `/admin` does not reach: the same 401-before-404 answer as
/// every other unknown admin path.
pub(super) fn trailing_slash_route() -> axum::routing::MethodRouter<Arc<IssuerState>> {
    axum::routing::any(unknown_endpoint)
}

async fn unknown_endpoint(_: AdminAuth, method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no admin endpoint `{method} {}`", uri.path()),
    )
}

async fn method_not_allowed(
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
    fn the_same_secret_is_recognised_and_any_other_is_not() {
        let s = Secret::new("s3cret");
        assert!(s.matches("s3cret"));
        assert!(!s.matches("s3cre"));
        assert!(!s.matches("s3creT"));
        assert!(!s.matches(""));
    }

    #[test]
    fn json_media_types_are_recognised_with_parameters_and_suffixes() {
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

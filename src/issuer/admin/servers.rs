//! The tenant, its resource servers (with their scopes and kill switch), and the
//! grants of users to them.

use super::super::model::{AlgChoice, Lifetime, ResourceServer, Scope};
use super::super::store::{NewResourceServer, ResourceServerPatch, TenantPatch};
use super::api::*;
use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

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
pub(super) struct GrantBody {
    user: String,
    server: String,
    scope: String,
}

/// Filters of `GET /admin/grants`, and the query form of `DELETE /admin/grants`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantQuery {
    user: Option<String>,
    server: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeBody {
    enabled: bool,
}

// ---------------------------------------------------------------------------------------
// Tenant
// ---------------------------------------------------------------------------------------

pub(super) async fn get_tenant(_: AdminAuth, State(state): State<Shared>) -> Response {
    ok(&state.store.snapshot().settings)
}

pub(super) async fn patch_tenant(
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

pub(super) async fn list_servers(_: AdminAuth, State(state): State<Shared>) -> Response {
    let snapshot = state.store.snapshot();
    let views: Vec<ServerView<'_>> = snapshot.servers.iter().map(ServerView::from).collect();
    ok(&views)
}

pub(super) async fn create_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminJson(new): AdminJson<NewResourceServer>,
) -> Reply {
    let server = write(&state, move |s| s.create_server(&new)).await?;
    Ok(created(&ServerView::from(&server)))
}

pub(super) async fn get_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = state.store.server(&id)?;
    Ok(ok(&ServerView::from(&server)))
}

pub(super) async fn patch_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
    AdminJson(patch): AdminJson<ResourceServerPatch>,
) -> Reply {
    let server = write(&state, move |s| s.update_server(&id, &patch)).await?;
    Ok(ok(&ServerView::from(&server)))
}

pub(super) async fn delete_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_server(&id)).await?;
    Ok(no_content())
}

pub(super) async fn disable_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = write(&state, move |s| s.set_disabled(&id, true)).await?;
    Ok(ok(&ServerView::from(&server)))
}

pub(super) async fn enable_server(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(id): AdminPath<String>,
) -> Reply {
    let server = write(&state, move |s| s.set_disabled(&id, false)).await?;
    Ok(ok(&ServerView::from(&server)))
}

pub(super) async fn put_scope(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath((id, scope)): AdminPath<(String, String)>,
    AdminJson(body): AdminJson<ScopeBody>,
) -> Reply {
    let server = write(&state, move |s| s.set_scope(&id, &scope, body.enabled)).await?;
    Ok(ok(&ServerView::from(&server)))
}

pub(super) async fn delete_scope(
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

pub(super) async fn list_grants(
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
pub(super) async fn add_grant(
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
pub(super) async fn remove_grant(
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

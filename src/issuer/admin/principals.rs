//! Test users and registered clients.

use super::api::*;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize)]
struct UserView<'a> {
    name: &'a str,
    sub: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
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
pub(super) struct NewClient {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    as_client_ids: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Users and clients
// ---------------------------------------------------------------------------------------

pub(super) async fn list_users(_: AdminAuth, State(state): State<Shared>) -> Response {
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
pub(super) async fn add_user(
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

pub(super) async fn delete_user(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(name): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_user(&name)).await?;
    Ok(no_content())
}

pub(super) async fn list_clients(_: AdminAuth, State(state): State<Shared>) -> Response {
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

pub(super) async fn add_client(
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

pub(super) async fn delete_client(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(client_id): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_client(&client_id)).await?;
    Ok(no_content())
}

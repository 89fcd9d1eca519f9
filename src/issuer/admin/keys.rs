//! Signing keys: listed without private parts, generated, retired, deleted.

use super::super::store::StoreError;
use super::api::*;
use crate::jose::{Alg, KeyStatus, SigningKey};
use crate::types::Kid;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct KeyView<'a> {
    kid: &'a str,
    alg: Alg,
    status: KeyStatus,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    alg: Alg,
}

// ---------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------

pub(super) async fn list_keys(_: AdminAuth, State(state): State<Shared>) -> Response {
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
pub(super) async fn generate_key(
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
pub(super) async fn retire_key(
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
pub(super) async fn delete_key(
    _: AdminAuth,
    State(state): State<Shared>,
    AdminPath(kid): AdminPath<String>,
) -> Reply {
    write(&state, move |s| s.delete_key(&Kid::new(kid))).await?;
    Ok(no_content())
}

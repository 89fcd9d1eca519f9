//! System-log exporters: listed with their status, added, changed, removed.

use super::api::*;
use crate::export::{ExportError, ExporterConfig, StartAt};
use crate::oauth::shorten;
use axum::extract::State;
use axum::http::StatusCode;

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
pub(super) async fn list_exporters(_: AdminAuth, State(state): State<Shared>) -> Reply {
    Ok(ok(&state.exporters.list().await?))
}

pub(super) async fn get_exporter(
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
pub(super) async fn add_exporter(
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
pub(super) async fn finish_even_if_dropped<T: Send + 'static>(
    change: impl Future<Output = Result<T, ExportError>> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::spawn(change)
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
}

/// `PATCH /exporters/{name}`: replaces the fields given (`null` removes one), keeps the
/// cursor, restarts delivery to the new destination. `name` and `kind` cannot change.
pub(super) async fn patch_exporter(
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

pub(super) async fn delete_exporter(
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

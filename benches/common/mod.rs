//! What the issuance benchmarks share: the load levels, the token-exchange request, the
//! login that gets its subject token, and the driver that keeps `n` requests in flight.
//! (A folder module, so Cargo does not take it for a benchmark of its own.)

use jagspec::Alg;
use jagspec::issuer::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Requests in flight, the load levels measured: a moderate one, and a busy IdP's.
pub(crate) const IN_FLIGHT: [usize; 2] = [32, 128];

/// `Basic base64("agent:agent-secret")`.
pub(crate) const AGENT_BASIC: &str = "Basic YWdlbnQ6YWdlbnQtc2VjcmV0";

/// The audience of the fixture tenant's server signing with `alg`.
pub(crate) fn audience(alg: Alg) -> &'static str {
    match alg {
        Alg::ES256 => "https://as.chat.example",
        Alg::EdDSA => "https://as.eddsa.example",
        Alg::RS256 => "https://as.rsa.example",
    }
}

/// A token-exchange form body for the server signing with `alg`.
pub(crate) fn exchange_body(id_token: &str, alg: Alg) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", TOKEN_EXCHANGE_GRANT)
        .append_pair("requested_token_type", ID_JAG_TOKEN_TYPE)
        .append_pair("subject_token", id_token)
        .append_pair("subject_token_type", ID_TOKEN_TYPE)
        .append_pair("audience", audience(alg))
        .finish()
}

/// alice's ID token from the issuer at `issuer_url` (password grant, the agent client).
pub(crate) async fn alice_id_token(issuer_url: &str) -> String {
    let login: Value = reqwest::Client::new()
        .post(format!("{issuer_url}/token"))
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("login")
        .json()
        .await
        .expect("a JSON login response");
    login["id_token"].as_str().expect("an id_token").to_owned()
}

/// One token exchange through `router` in-process (`tower::ServiceExt::oneshot`), so the
/// load client's socket costs are left out; its status.
pub(crate) async fn exchange_in_process(router: axum::Router, body: String) -> u16 {
    let request = axum::http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", AGENT_BASIC)
        .body(axum::body::Body::from(body))
        .expect("a request");
    let response = tower::ServiceExt::oneshot(router, request)
        .await
        .expect("the router answers");
    let status = response.status().as_u16();
    drop(axum::body::to_bytes(response.into_body(), 64 * 1024).await);
    status
}

/// Runs `iters` requests made by `request`, `in_flight` at a time; the wall time taken.
/// Every request must succeed, or the figure would not mean anything.
pub(crate) async fn concurrently<F, Fut>(iters: u64, in_flight: usize, request: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = u16> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
    for _ in 0..iters {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is open");
        let fut = request();
        tasks.push(tokio::spawn(async move {
            let status = fut.await;
            drop(permit);
            status
        }));
    }
    for t in tasks {
        assert_eq!(
            t.await.expect("a request task"),
            200,
            "issuance must succeed"
        );
    }
    start.elapsed()
}

//! ID-JAG issuance by the reference issuer, per algorithm, with the durable audit log,
//! beside the raw signing rate measured in the same run.
//!
//! `issue/<alg>/<n>` posts RFC 8693 token exchanges over a loopback socket to a running
//! issuer (seeded from `fixtures/tenant-examples.toml`, its audit log a real SQLite file in WAL
//! mode with `synchronous=FULL`), `n` requests in flight (32, then 128);
//! `issue_in_process/<alg>/<n>` sends the same requests to the router in-process
//! (`tower::ServiceExt::oneshot`), so the load client's cost is left out. Each request
//! does everything a real one does: form parsing, client authentication, the subject ID
//! token's checks (ES256, the tenant default; its signature remembered after the first
//! verification), the policy, signing, and the audit event committed before the response.
//! Over the socket the load client runs on the same two cores, so its cost is included.
//!
//! `sign/<alg>` is the raw rate: `jagspec::mint` of the same claims with the same key.
//!
//! Run with `cargo bench --bench issuer`; see `BENCHMARKS.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jagspec::issuer::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, IssuerConfig, RunningIssuer, Seed, TOKEN_EXCHANGE_GRANT,
};
use jagspec::{Alg, ID_JAG_TYP, fixtures};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Requests in flight, the load levels measured: a moderate one, and a busy IdP's.
const IN_FLIGHT: [usize; 2] = [32, 128];

/// The audience of the fixture tenant's server signing with `alg`.
fn audience(alg: Alg) -> &'static str {
    match alg {
        Alg::ES256 => "https://as.chat.example",
        Alg::EdDSA => "https://as.eddsa.example",
        Alg::RS256 => "https://as.rsa.example",
    }
}

fn claims() -> Value {
    json!({
        "iss": "http://127.0.0.1:1", "sub": "alice", "aud": "https://as.chat.example",
        "client_id": "agent-at-chat", "jti": "0123456789abcdef0123456789abcdef",
        "iat": 1_800_000_000, "exp": 1_800_000_600,
        "resource": "https://mcp.chat.example/mcp", "scope": "chat.read",
    })
}

/// `Basic base64("agent:agent-secret")`.
const AGENT_BASIC: &str = "Basic YWdlbnQ6YWdlbnQtc2VjcmV0";

/// A token-exchange form body for the server signing with `alg`.
fn exchange_body(id_token: &str, alg: Alg) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", TOKEN_EXCHANGE_GRANT)
        .append_pair("requested_token_type", ID_JAG_TOKEN_TYPE)
        .append_pair("subject_token", id_token)
        .append_pair("subject_token_type", ID_TOKEN_TYPE)
        .append_pair("audience", audience(alg))
        .finish()
}

/// Runs `iters` requests made by `request`, `in_flight` at a time; the wall time taken.
/// Every request must succeed, or the figure would not mean anything.
async fn concurrently<F, Fut>(iters: u64, in_flight: usize, request: F) -> Duration
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

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("jagspec-bench-issuer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let seed = Seed::from_toml(include_str!("../fixtures/tenant-examples.toml"))
        .expect("the fixture seed parses");
    let (issuer, id_token) = runtime.block_on(async {
        let config = IssuerConfig {
            seed: Some(seed),
            ..IssuerConfig::new(dir.join("issuer.db"))
        };
        let issuer = RunningIssuer::start(config)
            .await
            .expect("the issuer starts");
        let login: Value = reqwest::Client::new()
            .post(format!("{}/token", issuer.url))
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
        (
            issuer,
            login["id_token"].as_str().expect("an id_token").to_owned(),
        )
    });
    let client = reqwest::Client::new();
    let token_endpoint = format!("{}/token", issuer.url);

    let mut group = c.benchmark_group("issuer");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for alg in [Alg::ES256, Alg::EdDSA] {
        let key = fixtures::signing_key(alg, 1);
        group.bench_function(format!("sign/{alg}"), |b| {
            b.iter(|| {
                jagspec::mint(black_box(&key), Some(ID_JAG_TYP), black_box(&claims()))
                    .expect("mint")
            });
        });
        let router = jagspec::issuer::router(Arc::clone(&issuer.state));
        for in_flight in IN_FLIGHT {
            group.bench_function(format!("issue_in_process/{alg}/{in_flight}"), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(concurrently(iters, in_flight, || {
                        let router = router.clone();
                        let body = exchange_body(&id_token, alg);
                        async move {
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
                    }))
                });
            });
            group.bench_function(format!("issue/{alg}/{in_flight}"), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(concurrently(iters, in_flight, || {
                        let request = client
                            .post(token_endpoint.as_str())
                            .basic_auth("agent", Some("agent-secret"))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(exchange_body(&id_token, alg));
                        async move {
                            let response = request.send().await.expect("the issuer answers");
                            let status = response.status().as_u16();
                            drop(response.bytes().await);
                            status
                        }
                    }))
                });
            });
        }
    }
    group.finish();
    let events = issuer.state.audit.count().expect("the audit log reads");
    let commits = issuer.state.audit.commits();
    println!(
        "audit log: {events} events in {commits} transactions ({:.1} events per commit)",
        events as f64 / commits.max(1) as f64
    );
    runtime.block_on(issuer.stop());
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);

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

mod common;

use common::{IN_FLIGHT, concurrently, exchange_body};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jagspec::issuer::{IssuerConfig, RunningIssuer, Seed};
use jagspec::{Alg, ID_JAG_TYP, fixtures};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn claims() -> Value {
    json!({
        "iss": "http://127.0.0.1:1", "sub": "alice", "aud": "https://as.chat.example",
        "client_id": "agent-at-chat", "jti": "0123456789abcdef0123456789abcdef",
        "iat": 1_800_000_000, "exp": 1_800_000_600,
        "resource": "https://mcp.chat.example/mcp", "scope": "chat.read",
    })
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
        let id_token = common::alice_id_token(&issuer.url).await;
        (issuer, id_token)
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
                        common::exchange_in_process(router, body)
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

//! The mock ecosystem: how fast `jagspec serve` (and every test that starts the ecosystem)
//! is ready, and how long one whole chain takes through the reference client.
//!
//! `start_stop`: bind every loopback socket, open and seed the issuer's SQLite database
//! (a fresh temporary file each time), generate each authorization server's ES256
//! access-token key, serve, then stop and remove the database. No RSA key is generated:
//! the tenant's keys are the committed fixtures.
//!
//! `chain/<alg>`: one run of `jagspec::client::run` against the running ecosystem: the
//! 401 challenge, both metadata documents, the login, the token exchange (audited,
//! durably), the jwt-bearer grant (JWKS cached after the first run), then MCP
//! `initialize` (and `notifications/initialized`), `tools/list` and `tools/call` — ten HTTP
//! exchanges over loopback.
//!
//! Run with `cargo bench --bench ecosystem`; see `BENCHMARKS.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use jagspec::client::{ClientConfig, SubjectToken, ToolCall};
use jagspec::mocks::{Ecosystem, Manifest};
use jagspec::{Alg, AuthMethod};
use serde_json::json;
use std::time::Duration;

fn config(manifest: &Manifest, server: &str, scope: &str) -> ClientConfig {
    let s = manifest
        .authorization_servers
        .iter()
        .find(|a| a.name == server)
        .expect("the default ecosystem declares this server");
    ClientConfig {
        mcp_url: s.mcp_servers[0].url.clone(),
        idp_token_endpoint: manifest.issuer.token_endpoint.clone(),
        subject: SubjectToken::Login {
            user: manifest.users[0].name.clone(),
            password: manifest.users[0].password.clone(),
        },
        idp_client_id: manifest.clients[0].client_id.clone(),
        idp_client_secret: manifest.clients[0].client_secret.clone(),
        client_id: s.client_id.clone(),
        client_secret: s.client_secret.clone(),
        auth_method: AuthMethod::ClientSecretBasic,
        scope: Some(scope.to_owned()),
        call: Some(ToolCall {
            name: "echo".into(),
            arguments: json!({"text": "bench"}),
        }),
        expected_issuer: None,
        allow_insecure_http: false,
    }
}

fn ecosystem(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut group = c.benchmark_group("ecosystem");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));

    group.bench_function("start_stop", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let e = Ecosystem::start()
                    .await
                    .expect("the default ecosystem starts");
                e.stop().await;
            });
        });
    });

    let eco = runtime
        .block_on(Ecosystem::start())
        .expect("the default ecosystem starts");
    let manifest = eco.manifest().clone();
    let http = reqwest::Client::new();
    for (alg, server, scope) in [
        (Alg::EdDSA, "eddsa", "tools.read"),
        (Alg::RS256, "rs256", "tools.read"),
        (Alg::ES256, "es256", "chat.read"),
    ] {
        let config = config(&manifest, server, scope);
        group.bench_function(format!("chain/{alg}"), |b| {
            b.iter(|| {
                let t = runtime.block_on(jagspec::client::run(&config, &http));
                assert!(
                    t.outcome.is_ok(),
                    "the chain completes: {:?}",
                    t.outcome.err()
                );
            });
        });
    }
    group.finish();
    runtime.block_on(eco.stop());
}

criterion_group!(benches, ecosystem);
criterion_main!(benches);

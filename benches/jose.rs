//! Minting and verifying an ID-JAG, per algorithm (EdDSA, RS256, ES256).
//!
//! `mint/<alg>` measures [`jagspec::mint`]: header and claims serialised, base64url-encoded
//! and signed with the committed fixture key 1 of that algorithm.
//!
//! `verify/<alg>` measures [`jagspec::Verifier::verify`] on the token minted once up front:
//! the whole pipeline (size bound, header checks, `alg` pinned to that algorithm, `typ`,
//! `crit`, key selection from the fixture JWKS by `kid`, the signature, the time window on a
//! fixed clock, issuer, audience and every required ID-JAG claim).
//!
//! `inspect/ES256` measures [`jagspec::Verifier::inspect`], the same pipeline with its
//! per-step trace, for the tenant default algorithm only.
//!
//! `jwt_encode/<alg>` and `jwt_decode/<alg>` are the baseline on the same machine: bare
//! `jsonwebtoken::encode` and `jsonwebtoken::decode` with the same keys and claims, as in
//! the research note's figures (decode checks `iss` and `aud`; `exp` is not checked because
//! jsonwebtoken reads the system clock).
//!
//! Run with `cargo bench --bench jose`; see `BENCHMARKS.md` for figures.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use jagspec::{Alg, FixedClock, ID_JAG_TYP, TrustedJwks, Verifier, fixtures};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// The fixed "now" of every verifier: tokens are issued at this instant.
const NOW: i64 = 1_800_000_000;
/// The issuer the tokens name and the verifier trusts.
const ISSUER: &str = "https://idp.example.com";
/// The authorization server the tokens are addressed to.
const AUDIENCE: &str = "https://as.mcp.example.com";

/// A realistic ID-JAG claims set (ID-JAG §3.1), valid for five minutes from [`NOW`].
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "U019488227",
        "aud": AUDIENCE,
        "client_id": "f53f191f9311af35",
        "jti": "9e43f81b64a33f20116179",
        "iat": NOW,
        "exp": NOW + 300,
        "resource": "https://mcp.example.com/mcp",
        "scope": "chat.read chat.history",
    })
}

/// An ID-JAG verifier pinned to `alg`, trusting the fixture JWKS, on a fixed clock.
fn verifier(alg: Alg) -> Verifier {
    let trusted = TrustedJwks::from(fixtures::jwks());
    Verifier::id_jag(trusted, ISSUER, AUDIENCE)
        .clock(Arc::new(FixedClock::at(NOW)))
        .pin(alg)
}

/// Shared timing: modest, so the whole run fits in a couple of minutes on two cores.
fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group
}

/// `mint/<alg>`: sign the claims set as an ID-JAG.
fn bench_mint(c: &mut Criterion) {
    let claims = claims();
    let mut group = configure(c, "mint");
    for alg in Alg::ALL {
        let key = fixtures::signing_key(alg, 1);
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jagspec::mint(black_box(&key), Some(ID_JAG_TYP), black_box(&claims))
                    .expect("fixture key signs")
            });
        });
    }
    group.finish();
}

/// `verify/<alg>`: run a valid ID-JAG through the whole pipeline.
fn bench_verify(c: &mut Criterion) {
    let claims = claims();
    let mut group = configure(c, "verify");
    for alg in Alg::ALL {
        let key = fixtures::signing_key(alg, 1);
        let token = jagspec::mint(&key, Some(ID_JAG_TYP), &claims).expect("fixture key signs");
        let verifier = verifier(alg);
        // Measure acceptances, not an early rejection.
        let verified = verifier
            .verify(token.secret())
            .expect("the ID-JAG verifies");
        assert_eq!(verified.alg, alg);
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(token.secret()))
                    .expect("the ID-JAG verifies")
            });
        });
    }
    group.finish();
}

/// `inspect/ES256`: the pipeline with its per-step trace, for the default algorithm.
fn bench_inspect(c: &mut Criterion) {
    let alg = Alg::ES256;
    let key = fixtures::signing_key(alg, 1);
    let token = jagspec::mint(&key, Some(ID_JAG_TYP), &claims()).expect("fixture key signs");
    let verifier = verifier(alg);
    assert!(verifier.inspect(token.secret()).result.is_ok());
    let mut group = configure(c, "inspect");
    group.bench_function(alg.as_str(), |b| {
        b.iter(|| verifier.inspect(black_box(token.secret())));
    });
    group.finish();
}

/// `jwt_encode/<alg>` and `jwt_decode/<alg>`: bare jsonwebtoken, without jagspec's pipeline.
fn bench_baseline(c: &mut Criterion) {
    let claims = claims();
    let mut encode = configure(c, "jwt_encode");
    let mut tokens = Vec::new();
    for alg in Alg::ALL {
        let key = fixtures::signing_key(alg, 1);
        let pem = key.to_pem();
        let pem = pem.secret().as_bytes();
        let (encoding, algorithm) = match alg {
            Alg::EdDSA => (EncodingKey::from_ed_pem(pem), Algorithm::EdDSA),
            Alg::RS256 => (EncodingKey::from_rsa_pem(pem), Algorithm::RS256),
            Alg::ES256 => (EncodingKey::from_ec_pem(pem), Algorithm::ES256),
        };
        let encoding = encoding.expect("fixture PEM loads");
        let mut header = Header::new(algorithm);
        header.typ = Some(ID_JAG_TYP.to_owned());
        header.kid = Some(key.kid().as_str().to_owned());
        encode.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jsonwebtoken::encode(black_box(&header), black_box(&claims), &encoding)
                    .expect("fixture key signs")
            });
        });
        let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("fixture key signs");
        tokens.push((alg, algorithm, key, token));
    }
    encode.finish();

    let mut decode = configure(c, "jwt_decode");
    for (alg, algorithm, key, token) in tokens {
        let jwk: Jwk = serde_json::from_value(key.public_jwk().to_json()).expect("JWK parses");
        let decoding = DecodingKey::from_jwk(&jwk).expect("JWK loads");
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("the JWT verifies");
        decode.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation)
                    .expect("the JWT verifies")
            });
        });
    }
    decode.finish();
}

criterion_group!(
    benches,
    bench_mint,
    bench_verify,
    bench_inspect,
    bench_baseline
);
criterion_main!(benches);

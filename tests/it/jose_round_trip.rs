//! sign → JWKS → verify, for each algorithm.

use crate::support::{self, AUDIENCE, ISSUER, NOW};
use jagspec::{Alg, ID_JAG_TYP, KeySet, KeyStatus, TrustedJwks, Verifier, fixtures};
use serde_json::Value;

#[test]
fn an_id_jag_signed_with_each_algorithm_verifies_through_the_published_jwks() {
    for alg in Alg::ALL {
        // Arrange: a key set with one active key, published and read back as JSON.
        let key = support::key(alg);
        let mut keys = KeySet::new();
        keys.insert(key.clone(), KeyStatus::Active).unwrap();
        let published = keys.jwks().to_json_pretty();
        let trusted = TrustedJwks::from_json(published.as_bytes()).unwrap();

        // Act
        let token = jagspec::mint(&key, Some(ID_JAG_TYP), &support::claims()).unwrap();
        let verified = Verifier::id_jag(trusted, ISSUER, AUDIENCE)
            .clock(support::clock())
            .pin(alg)
            .verify(token.secret())
            .unwrap_or_else(|r| panic!("{alg}: {r}"));

        // Assert
        assert_eq!(verified.alg, alg);
        assert_eq!(verified.kid.as_ref(), Some(key.kid()));
        assert_eq!(Value::Object(verified.claims), support::claims());
        assert_eq!(verified.header["typ"], ID_JAG_TYP);
        assert_eq!(verified.header["kid"], key.kid().as_str());
        assert_eq!(verified.header["alg"], alg.as_str());
    }
}

#[test]
fn the_published_jwks_carries_kty_kid_alg_and_use_and_never_a_private_member() {
    let jwks: Value = serde_json::to_value(fixtures::jwks()).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6);
    for jwk in keys {
        let obj = jwk.as_object().unwrap();
        for member in ["kty", "kid", "alg", "use"] {
            assert!(obj.contains_key(member), "{member} missing from {jwk}");
        }
        assert_eq!(jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                !obj.contains_key(private),
                "private member {private} published in {jwk}"
            );
        }
        let alg: Alg = jwk["alg"].as_str().unwrap().parse().unwrap();
        assert_eq!(jwk["kty"], alg.kty());
    }
}

#[test]
fn the_committed_jwks_file_is_the_jwks_of_the_committed_keys() {
    let committed: Value =
        serde_json::from_str(include_str!("../../fixtures/keys/jwks.json")).unwrap();
    assert_eq!(committed, serde_json::to_value(fixtures::jwks()).unwrap());
}

#[test]
fn a_retired_key_still_verifies_tokens_it_signed_before_rotation() {
    let old = fixtures::signing_key(Alg::ES256, 1);
    let new = fixtures::signing_key(Alg::ES256, 2);
    let mut keys = KeySet::new();
    keys.insert(old.clone(), KeyStatus::Active).unwrap();
    let before = jagspec::mint(&old, Some(ID_JAG_TYP), &support::claims()).unwrap();

    assert_eq!(keys.rotate(new.clone()).unwrap(), Some(old.kid().clone()));
    assert_eq!(keys.active(Alg::ES256), Some(&new));
    assert_eq!(
        keys.get(old.kid()).map(|(_, s)| s),
        Some(KeyStatus::Retired)
    );

    let verifier = Verifier::id_jag(keys.jwks().into(), ISSUER, AUDIENCE).clock(support::clock());
    assert!(verifier.verify(before.secret()).is_ok());
    let after = jagspec::mint(
        keys.active(Alg::ES256).unwrap(),
        Some(ID_JAG_TYP),
        &support::claims(),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(after.secret()).unwrap().kid.as_ref(),
        Some(new.kid())
    );
    let _ = NOW;
}

#[test]
fn a_remembered_signature_skips_only_the_crypto_and_every_other_step_still_runs() {
    let clock = support::clock();
    let trusted = TrustedJwks::from(fixtures::jwks()).remember_verified_signatures(2);
    let verifier = Verifier::id_jag(trusted, ISSUER, AUDIENCE).clock(clock.clone());
    let token = support::id_jag(Alg::ES256);
    let signature_step =
        |t: &str| match &verifier.inspect(t).steps[jagspec::Step::Signature as usize - 1].verdict {
            jagspec::Verdict::Pass(detail) => detail.clone(),
            other => panic!("{other:?}"),
        };
    assert!(!signature_step(&token).contains("remembered"));
    assert!(signature_step(&token).ends_with("(verified earlier, remembered)"));

    // A changed token is a different digest: verified afresh, and refused.
    let tampered =
        jagspec::dangerous::replace_payload(&token, &serde_json::json!({"sub": "mallory"}));
    assert!(matches!(
        verifier.verify(&tampered),
        Err(jagspec::Rejection::SignatureInvalid { .. })
    ));
    // Time is checked on every presentation.
    clock.advance(3600);
    assert!(matches!(
        verifier.verify(&token),
        Err(jagspec::Rejection::Expired { .. })
    ));
    clock.set(NOW);
    // When the memo is full it starts over; verification stays correct.
    for alg in Alg::ALL {
        assert!(verifier.verify(&support::id_jag(alg)).is_ok());
    }
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn a_memo_is_shared_by_clones_of_its_key_set_and_a_new_set_starts_empty() {
    let token = support::id_jag(Alg::EdDSA);
    let remembered = |v: &Verifier| match &v.inspect(&token).steps
        [jagspec::Step::Signature as usize - 1]
        .verdict
    {
        jagspec::Verdict::Pass(detail) => detail.ends_with("(verified earlier, remembered)"),
        other => panic!("{other:?}"),
    };
    let set = TrustedJwks::from(fixtures::jwks()).remember_verified_signatures(16);
    let first = Verifier::id_jag(set.clone(), ISSUER, AUDIENCE).clock(support::clock());
    assert!(!remembered(&first));
    let clone = Verifier::id_jag(set, ISSUER, AUDIENCE).clock(support::clock());
    assert!(remembered(&clone), "clones share the memo");
    // A new set, as after a key change, remembers nothing.
    let fresh = TrustedJwks::from(fixtures::jwks()).remember_verified_signatures(16);
    assert!(!remembered(
        &Verifier::id_jag(fresh, ISSUER, AUDIENCE).clock(support::clock())
    ));
}

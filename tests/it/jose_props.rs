//! Property tests of the JOSE core: mint → verify is the identity on claim sets, and no
//! single-byte change to a valid token survives the pipeline.

use crate::support::{self, NOW};
use jagspec::{Alg, DEFAULT_MAX_TOKEN_BYTES, ID_JAG_TYP, Rejection, SigningKey, Step, Verifier};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use std::sync::LazyLock;

/// One fixture key per algorithm, loaded once for every case.
static KEYS: LazyLock<Vec<SigningKey>> =
    LazyLock::new(|| Alg::ALL.iter().map(|alg| support::key(*alg)).collect());

/// One valid ID-JAG per algorithm, minted once for every case.
static TOKENS: LazyLock<Vec<(Alg, String)>> = LazyLock::new(|| {
    Alg::ALL
        .iter()
        .map(|alg| (*alg, support::id_jag(*alg)))
        .collect()
});

/// The ID-JAG verifier of the fixtures, built once.
static VERIFIER: LazyLock<Verifier> = LazyLock::new(support::verifier);

/// Claims whose values decide whether an ID-JAG verifies: the generated extras never set
/// them, so every generated claim set is valid.
const DECIDING_CLAIMS: [&str; 8] = ["iss", "sub", "aud", "client_id", "jti", "iat", "exp", "nbf"];

/// Short strings of any Unicode scalar values: control characters (escaped in JSON),
/// quotes, backslashes, non-BMP characters.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,16}"
}

/// Any finite float: serde_json's `float_roundtrip` feature (enabled in Cargo.toml) reads
/// back exactly the f64 it wrote, so a claim's value is never off by one ULP after a trip
/// through a token. (Without it, `-9.67928865266794e-168` reads back as
/// `-9.679288652667939e-168`.)
fn json_float() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
}

/// Any JSON value, nested up to four levels: null, booleans, integers of the whole i64
/// and u64 ranges (negatives and values past i64::MAX), floats, Unicode strings, arrays,
/// objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        json_float().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A valid ID-JAG claims set: [`support::claims`] with arbitrary `sub`, `client_id` and
/// `jti`, `iat` and `exp` anywhere that is valid at [`NOW`], `aud` as a string or a
/// one-element array, and up to seven arbitrary extra claims (which may replace `resource`
/// and `scope`, never a claim in [`DECIDING_CLAIMS`]).
fn id_jag_claims() -> impl Strategy<Value = Value> {
    let extra_name = text().prop_filter("a claim deciding validity", |name| {
        !DECIDING_CLAIMS.contains(&name.as_str())
    });
    (
        (text(), text(), text()),
        (NOW - 3600..=NOW, NOW + 1..=NOW + 3600, any::<bool>()),
        prop::collection::btree_map(extra_name, json_value(), 0..8),
    )
        .prop_map(|((sub, client_id, jti), (iat, exp, aud_array), extra)| {
            let Value::Object(mut claims) = support::claims() else {
                unreachable!("support::claims() is an object")
            };
            claims.extend(extra);
            let aud = claims["aud"].clone();
            let overrides = json!({
                "sub": sub,
                "client_id": client_id,
                "jti": jti,
                "iat": iat,
                "exp": exp,
                "aud": if aud_array { json!([aud]) } else { aud },
            });
            if let Value::Object(overrides) = overrides {
                claims.extend(overrides);
            }
            Value::Object(claims)
        })
}

/// The segment of a compact serialization a byte position falls in; a dot belongs to the
/// segment before it.
const SEGMENTS: [&str; 3] = ["header", "payload", "signature"];

/// The byte range of `segment` (0, 1, 2) in `token`, its trailing dot included.
fn segment_range(token: &str, segment: usize) -> std::ops::Range<usize> {
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    let [first, second] = dots[..] else {
        panic!("a compact JWS has two dots: {token}")
    };
    match segment {
        0 => 0..first + 1,
        1 => first + 1..second + 1,
        _ => second + 1..token.len(),
    }
}

/// The verdict, for a failure message.
fn describe(result: &Result<jagspec::Verified, Rejection>) -> String {
    match result {
        Ok(verified) => format!("ACCEPTED with claims {:?}", verified.claims),
        Err(rejection) => format!(
            "refused at step {} with `{}`: {rejection}",
            rejection.step(),
            rejection.code()
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_claim_sets_round_trip_through_mint_and_verify(claims in id_jag_claims()) {
        for key in KEYS.iter() {
            // Arrange
            let alg = key.alg();

            // Act
            let token = jagspec::mint(key, Some(ID_JAG_TYP), &claims)
                .unwrap_or_else(|e| panic!("{alg}: mint failed: {e}"))
                .into_secret();
            let result = VERIFIER.verify(&token);

            // Assert: a claim set too large for the verifier's limit is refused for its size
            // and nothing else; every other one comes back exactly as minted.
            if token.len() > DEFAULT_MAX_TOKEN_BYTES {
                prop_assert!(
                    matches!(result, Err(Rejection::TooLarge { .. })),
                    "{alg}: a {}-byte token: {}", token.len(), describe(&result)
                );
                continue;
            }
            let verified = match result {
                Ok(verified) => verified,
                Err(rejection) => {
                    return Err(TestCaseError::fail(format!(
                        "{alg}: a valid ID-JAG was refused at step {} with `{}`: {rejection}",
                        rejection.step(),
                        rejection.code()
                    )));
                }
            };
            prop_assert_eq!(verified.alg, alg);
            prop_assert_eq!(verified.kid, Some(key.kid().clone()));
            prop_assert_eq!(&verified.header["typ"], ID_JAG_TYP);
            prop_assert_eq!(Value::Object(verified.claims), claims.clone(), "{}", alg);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_single_byte_change_to_a_valid_id_jag_is_refused(
        segment in 0..SEGMENTS.len(),
        at in any::<Index>(),
        delta in 1_u8..0x80,
    ) {
        for (alg, token) in TOKENS.iter() {
            // Arrange: the byte at a position in the chosen segment (its dot included)
            // becomes another ASCII byte. A compact JWS is all ASCII (base64url and dots),
            // and replacing one ASCII byte by another keeps the text valid UTF-8, so the
            // mutated token is still a `&str`; `delta` in 1..0x80 reaches each of the other
            // 127 ASCII bytes exactly once.
            let range = segment_range(token, segment);
            let position = range.start + at.index(range.len());
            let original = token.as_bytes()[position];
            prop_assert!(original.is_ascii(), "{alg}: byte {position} of the token is not ASCII");
            let replacement = (original + delta) % 0x80;
            let mut bytes = token.clone().into_bytes();
            bytes[position] = replacement;
            let mutated = String::from_utf8(bytes).expect("ASCII for ASCII keeps UTF-8");

            // Act
            let result = VERIFIER.verify(&mutated);

            // Assert: refused, and before the claims are read: nothing that follows the
            // signature check may be the first to notice a change to signed bytes.
            let change = format!(
                "{alg}: byte {position} ({}) {original:#04x} {:?} -> {replacement:#04x} {:?}",
                SEGMENTS[segment],
                char::from(original),
                char::from(replacement),
            );
            prop_assert!(result.is_err(), "{change}: {}", describe(&result));
            if let Err(rejection) = &result {
                prop_assert!(
                    rejection.step() <= Step::Signature,
                    "{change}: {}", describe(&result)
                );
            }
        }
    }
}

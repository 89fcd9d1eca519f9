//! The committed test keys (`fixtures/keys/`), embedded in the library and the binary.
//!
//! Two keys per algorithm, so rotation and wrong-key cases need no key generation: an
//! RSA-2048 key takes ~0.2 s to generate even optimised, and nothing in jagspec generates
//! one at start-up or in a test. These keys are public; never trust them outside tests.

use super::alg::Alg;
use super::keys::SigningKey;
use super::keyset::{Jwks, KeySet, KeyStatus};
use std::sync::LazyLock;

/// The PEM text of each fixture key, by algorithm and number.
const PEMS: [(Alg, u8, &str); 6] = [
    (
        Alg::EdDSA,
        1,
        include_str!("../../fixtures/keys/eddsa-1.pem"),
    ),
    (
        Alg::EdDSA,
        2,
        include_str!("../../fixtures/keys/eddsa-2.pem"),
    ),
    (
        Alg::RS256,
        1,
        include_str!("../../fixtures/keys/rs256-1.pem"),
    ),
    (
        Alg::RS256,
        2,
        include_str!("../../fixtures/keys/rs256-2.pem"),
    ),
    (
        Alg::ES256,
        1,
        include_str!("../../fixtures/keys/es256-1.pem"),
    ),
    (
        Alg::ES256,
        2,
        include_str!("../../fixtures/keys/es256-2.pem"),
    ),
];

static KEYS: LazyLock<Vec<(Alg, u8, SigningKey)>> = LazyLock::new(|| {
    PEMS.iter()
        .map(|(alg, n, pem)| {
            let key = SigningKey::from_pem(pem).unwrap_or_else(|e| {
                panic!(
                    "fixtures/keys/{}-{n}.pem does not load: {e}",
                    alg.file_stem()
                )
            });
            assert_eq!(
                key.alg(),
                *alg,
                "fixtures/keys/{}-{n}.pem holds a {} key",
                alg.file_stem(),
                key.alg()
            );
            (*alg, *n, key)
        })
        .collect()
});

/// Fixture key `n` (1 or 2) for `alg`.
///
/// # Panics
///
/// If `n` is not 1 or 2, or the committed PEM does not load (a test guards that).
pub fn signing_key(alg: Alg, n: u8) -> SigningKey {
    KEYS.iter()
        .find(|(a, m, _)| *a == alg && *m == n)
        .map(|(_, _, k)| k.clone())
        .unwrap_or_else(|| panic!("there is no fixture key {n} for {alg}; use 1 or 2"))
}

/// Every fixture key: key 1 of each algorithm active, key 2 retired.
pub fn key_set() -> KeySet {
    let mut set = KeySet::new();
    for (_, n, key) in KEYS.iter() {
        let status = if *n == 1 {
            KeyStatus::Active
        } else {
            KeyStatus::Retired
        };
        // Six distinct keys: their thumbprints differ, so insertion cannot collide.
        let _ = set.insert(key.clone(), status);
    }
    set
}

/// The JWKS of every fixture key, as committed in `fixtures/keys/jwks.json`.
pub fn jwks() -> Jwks {
    key_set().jwks()
}

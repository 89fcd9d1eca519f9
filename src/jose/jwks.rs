//! The JWK Set a verifier trusts, read from what an issuer publishes.
//!
//! Each key is prepared once, when the set is read, so verification does no parsing. A key
//! that cannot be used (unknown `kty`, a curve jagspec does not verify, a short RSA modulus,
//! a symmetric `oct` key) does not spoil the others (RFC 7517 §5: "Implementations SHOULD
//! ignore JWKs within a JWK Set that use `kty` values that are not understood"); it is kept
//! with the reason, so selecting it gives a precise rejection.

use super::b64;
use super::keys::RSA_BITS;
use super::keyset::Jwks;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a document is not a JWK Set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedJwksError {
    /// Not JSON at all.
    #[error("expected a JWK Set in JSON, RFC 7517 §5 (found text that is not JSON: {0})")]
    NotJson(String),
    /// JSON, but not an object with a `keys` array.
    #[error("expected a JWK Set: an object with a `keys` array, RFC 7517 §5 (found {0})")]
    NotAJwkSet(String),
    /// An element of `keys` is not a JSON object.
    #[error("expected every element of `keys` to be a JWK object (found {found} at index {index})")]
    KeyNotAnObject {
        /// Position in `keys`.
        index: usize,
        /// What was there.
        found: &'static str,
    },
}

/// One JWK of a trusted set, with what the verifier needs to select and use it.
#[derive(Clone)]
pub(crate) struct TrustedKey {
    /// Position in the set: binds a remembered signature to this very key.
    pub(crate) index: usize,
    /// The JWK `kid`, if it is a string.
    pub(crate) kid: Option<String>,
    /// The JWK `kty`, as written.
    pub(crate) kty: String,
    /// The JWK `alg`, as written (RFC 7517 §4.4).
    pub(crate) alg: Option<String>,
    /// The JWK `use`, as written (RFC 7517 §4.2).
    pub(crate) use_: Option<String>,
    /// The prepared key, or why it is unusable.
    pub(crate) prepared: Result<PreparedKey, String>,
}

/// A public key ready for the signature step.
#[derive(Clone)]
pub(crate) struct PreparedKey {
    /// The backend's key.
    pub(crate) key: DecodingKey,
    /// The signature length this key's algorithm produces: 64 for ES256 (r‖s) and Ed25519,
    /// the modulus size for RS256.
    pub(crate) sig_len: usize,
}

/// A JWK Set the verifier trusts: the keys of the issuer whose tokens it accepts.
#[derive(Clone, Default)]
pub struct TrustedJwks {
    keys: Vec<TrustedKey>,
    /// Signatures already verified with these keys, when enabled: shared by clones, so
    /// every verifier built from one set shares it, and gone with the set.
    remembered: Option<Arc<Remembered>>,
}

/// Digests of tokens whose signatures verified, each bound to the key that verified it.
struct Remembered {
    /// The most digests kept; the set is emptied when full (simple, and a miss only costs
    /// a verification).
    capacity: usize,
    digests: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for TrustedJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedJwks")
            .field("kids", &self.kids())
            .finish()
    }
}

impl TrustedJwks {
    /// Reads a JWK Set from JSON text.
    ///
    /// # Errors
    ///
    /// [`TrustedJwksError`] when the document is not a JWK Set; individual unusable keys are
    /// not an error.
    pub fn from_json(text: &[u8]) -> Result<Self, TrustedJwksError> {
        let value: Value =
            serde_json::from_slice(text).map_err(|e| TrustedJwksError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Reads a JWK Set from a JSON value.
    ///
    /// # Errors
    ///
    /// As [`TrustedJwks::from_json`].
    pub fn from_value(value: &Value) -> Result<Self, TrustedJwksError> {
        let keys = match value.get("keys") {
            Some(Value::Array(keys)) => keys,
            Some(other) => {
                return Err(TrustedJwksError::NotAJwkSet(format!(
                    "`keys` that is {}",
                    json_kind(other)
                )));
            }
            None if value.is_object() => {
                return Err(TrustedJwksError::NotAJwkSet(
                    "an object without `keys`".to_owned(),
                ));
            }
            None => return Err(TrustedJwksError::NotAJwkSet(json_kind(value).to_owned())),
        };
        let keys = keys
            .iter()
            .enumerate()
            .map(|(index, k)| match k {
                Value::Object(jwk) => Ok(prepare(index, jwk)),
                other => Err(TrustedJwksError::KeyNotAnObject {
                    index,
                    found: json_kind(other),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            remembered: None,
        })
    }

    /// The kids in the set, in order (keys without a string kid are left out).
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }

    /// How many JWKs the set holds, usable or not.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Remembers up to `capacity` signatures that verified, so that the same token
    /// presented again (an ID token exchanged for many ID-JAGs) is not verified again.
    /// Exact: the memo is keyed by a SHA-256 of the key's position in this set and the
    /// whole token, and it belongs to this set, so a new set (after a key change) starts
    /// empty. Every other step still runs on every presentation.
    #[must_use]
    pub fn remember_verified_signatures(mut self, capacity: usize) -> Self {
        self.remembered = Some(Arc::new(Remembered {
            capacity,
            digests: Mutex::new(HashSet::new()),
        }));
        self
    }

    /// The memo digest of `token` verified by key number `index`, if the memo is on.
    pub(crate) fn memo_digest(&self, index: usize, token: &str) -> Option<[u8; 32]> {
        self.remembered.as_ref()?;
        let mut h = Sha256::new();
        h.update((index as u64).to_be_bytes());
        h.update(token.as_bytes());
        Some(h.finalize().into())
    }

    /// Whether this digest's signature verified before.
    pub(crate) fn was_verified(&self, digest: &[u8; 32]) -> bool {
        self.remembered.as_ref().is_some_and(|r| {
            r.digests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(digest)
        })
    }

    /// Records a signature that verified.
    pub(crate) fn verified(&self, digest: [u8; 32]) {
        if let Some(r) = &self.remembered {
            let mut set = r.digests.lock().unwrap_or_else(PoisonError::into_inner);
            if set.len() >= r.capacity {
                set.clear();
            }
            set.insert(digest);
        }
    }
}

impl From<Jwks> for TrustedJwks {
    fn from(jwks: Jwks) -> Self {
        Self::from(&jwks)
    }
}

impl From<&Jwks> for TrustedJwks {
    fn from(jwks: &Jwks) -> Self {
        // Through JSON, so a published set and a fetched one take the same path.
        let value = serde_json::to_value(jwks).unwrap_or_default();
        Self::from_value(&value).unwrap_or_default()
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_member(jwk: &Map<String, Value>, name: &str) -> Option<String> {
    jwk.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn prepare(index: usize, jwk: &Map<String, Value>) -> TrustedKey {
    let kty = string_member(jwk, "kty").unwrap_or_default();
    TrustedKey {
        index,
        kid: string_member(jwk, "kid"),
        alg: string_member(jwk, "alg"),
        use_: string_member(jwk, "use"),
        prepared: prepare_key(&kty, jwk),
        kty,
    }
}

/// Decodes a fixed-size base64url coordinate.
fn coordinate(jwk: &Map<String, Value>, name: &str, len: usize) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(format!("no `{name}` member"))?;
    let bytes = b64::decode(text).map_err(|e| format!("`{name}`: {e}"))?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(format!("`{name}` is {} bytes, expected {len}", bytes.len()))
    }
}

fn prepare_key(kty: &str, jwk: &Map<String, Value>) -> Result<PreparedKey, String> {
    let crv = string_member(jwk, "crv");
    match kty {
        "EC" => {
            if crv.as_deref() != Some("P-256") {
                return Err(format!(
                    "EC key on curve {crv:?}; jagspec verifies P-256 only"
                ));
            }
            let x = coordinate(jwk, "x", 32)?;
            let y = coordinate(jwk, "y", 32)?;
            let key = DecodingKey::from_ec_components(&b64::encode(x), &b64::encode(y))
                .map_err(|e| e.to_string())?;
            Ok(PreparedKey { key, sig_len: 64 })
        }
        "OKP" => {
            if crv.as_deref() != Some("Ed25519") {
                return Err(format!(
                    "OKP key on curve {crv:?}; jagspec verifies Ed25519 only"
                ));
            }
            let x = coordinate(jwk, "x", 32)?;
            let key =
                DecodingKey::from_ed_components(&b64::encode(x)).map_err(|e| e.to_string())?;
            Ok(PreparedKey { key, sig_len: 64 })
        }
        "RSA" => {
            let text = |name: &str| {
                jwk.get(name)
                    .and_then(Value::as_str)
                    .ok_or(format!("no `{name}` member"))
            };
            let n = b64::decode(text("n")?).map_err(|e| format!("`n`: {e}"))?;
            let e = b64::decode(text("e")?).map_err(|e| format!("`e`: {e}"))?;
            let leading_zeros = n.iter().take_while(|b| **b == 0).count();
            let bits = (n.len() - leading_zeros) * 8;
            if bits < RSA_BITS {
                return Err(format!(
                    "RSA modulus of about {bits} bits; at least 2048 required"
                ));
            }
            let modulus = &n[leading_zeros..];
            Ok(PreparedKey {
                key: DecodingKey::from_rsa_raw_components(modulus, &e),
                sig_len: modulus.len(),
            })
        }
        "oct" => Err("a symmetric `oct` key".to_owned()),
        "" => Err("no `kty` member".to_owned()),
        other => Err(format!("unsupported `kty` `{other}`")),
    }
}

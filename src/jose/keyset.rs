//! Several signing keys per algorithm, one active, and the JWKS that publishes them.

use super::alg::Alg;
use super::keys::{PublicJwk, SigningKey};
use crate::types::Kid;
use serde::Serialize;

/// Whether a key in a [`KeySet`] still signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new tokens for its algorithm; at most one per algorithm.
    Active,
    /// No longer signs, but its public key stays in the JWKS so that tokens it signed
    /// before rotation verify until they expire.
    Retired,
}

/// Why a key-set operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// A key with this kid is already in the set (RFC 7517 §4.5: kids in one JWKS SHOULD be
    /// distinct, and jagspec selects keys by kid).
    #[error("a key with kid `{0}` is already in the key set")]
    DuplicateKid(Kid),
    /// No key with this kid.
    #[error("no key with kid `{0}` in the key set")]
    UnknownKid(Kid),
}

/// A tenant's signing keys. Each algorithm has at most one active key; retired keys are
/// published until removed.
///
/// ```
/// use jagspec::{fixtures, Alg, KeySet, KeyStatus};
/// let mut keys = KeySet::new();
/// keys.insert(fixtures::signing_key(Alg::ES256, 1), KeyStatus::Active).unwrap();
/// let old = keys.rotate(fixtures::signing_key(Alg::ES256, 2)).unwrap();
/// assert_eq!(old, Some(fixtures::signing_key(Alg::ES256, 1).kid().clone()));
/// assert_eq!(keys.jwks().keys.len(), 2); // the retired key is still published
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// In insertion order, which is also JWKS order, so the published document is stable.
    entries: Vec<(SigningKey, KeyStatus)>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. Adding an active key retires the algorithm's previous active key.
    ///
    /// # Errors
    ///
    /// [`KeySetError::DuplicateKid`] if the kid is taken.
    pub fn insert(&mut self, key: SigningKey, status: KeyStatus) -> Result<(), KeySetError> {
        if self.get(key.kid()).is_some() {
            return Err(KeySetError::DuplicateKid(key.kid().clone()));
        }
        if status == KeyStatus::Active {
            self.retire_active(key.alg());
        }
        self.entries.push((key, status));
        Ok(())
    }

    /// Makes `key` the active key of its algorithm and retires the previous one, whose kid
    /// is returned.
    ///
    /// # Errors
    ///
    /// [`KeySetError::DuplicateKid`] if the kid is taken.
    pub fn rotate(&mut self, key: SigningKey) -> Result<Option<Kid>, KeySetError> {
        let previous = self.active(key.alg()).map(|k| k.kid().clone());
        self.insert(key, KeyStatus::Active)?;
        Ok(previous)
    }

    /// Retires a key: it stops signing but stays published.
    ///
    /// # Errors
    ///
    /// [`KeySetError::UnknownKid`].
    pub fn retire(&mut self, kid: &Kid) -> Result<(), KeySetError> {
        let entry = self
            .entries
            .iter_mut()
            .find(|(k, _)| k.kid() == kid)
            .ok_or_else(|| KeySetError::UnknownKid(kid.clone()))?;
        entry.1 = KeyStatus::Retired;
        Ok(())
    }

    /// Removes a key from the set and the JWKS: for when every token it signed has expired.
    ///
    /// # Errors
    ///
    /// [`KeySetError::UnknownKid`].
    pub fn remove(&mut self, kid: &Kid) -> Result<SigningKey, KeySetError> {
        let at = self
            .entries
            .iter()
            .position(|(k, _)| k.kid() == kid)
            .ok_or_else(|| KeySetError::UnknownKid(kid.clone()))?;
        Ok(self.entries.remove(at).0)
    }

    /// The key that signs for `alg`, if the set holds one: when it does not, the seeds'
    /// "No signing key for the algorithm" denial applies.
    pub fn active(&self, alg: Alg) -> Option<&SigningKey> {
        self.entries
            .iter()
            .find(|(k, s)| k.alg() == alg && *s == KeyStatus::Active)
            .map(|(k, _)| k)
    }

    /// A key and its status by kid.
    pub fn get(&self, kid: &Kid) -> Option<(&SigningKey, KeyStatus)> {
        self.entries
            .iter()
            .find(|(k, _)| k.kid() == kid)
            .map(|(k, s)| (k, *s))
    }

    /// Every key with its status, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&SigningKey, KeyStatus)> {
        self.entries.iter().map(|(k, s)| (k, *s))
    }

    /// The published JWK Set (RFC 7517 §5): the public half of every key, active and
    /// retired.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .entries
                .iter()
                .map(|(k, _)| k.public_jwk().clone())
                .collect(),
        }
    }

    fn retire_active(&mut self, alg: Alg) {
        for (k, s) in &mut self.entries {
            if k.alg() == alg {
                *s = KeyStatus::Retired;
            }
        }
    }
}

/// A JWK Set as published at `jwks_uri` (RFC 7517 §5): `{"keys": [...]}`, public members
/// only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Jwks {
    /// The public keys.
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// The document as JSON text.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

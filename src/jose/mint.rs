//! Minting: a claims set signed as a JWS compact serialization.

use super::b64;
use super::jwks::json_kind;
use super::keys::SigningKey;
use crate::types::{Kid, Secret};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A JWT claims set is a JSON object (RFC 7519 §4).
    #[error("expected the claims to be a JSON object, RFC 7519 §4 (found {found})")]
    ClaimsNotAnObject {
        /// What the claims serialised to.
        found: &'static str,
    },
    /// The claims could not be serialised.
    #[error("could not serialise the claims: {0}")]
    Serialize(String),
    /// The crypto backend refused to sign.
    #[error("the signer failed: {0}")]
    Sign(String),
}

/// A signed token in compact serialization. It is a bearer credential: `Debug` is
/// redacted and the text is read with [`SignedJwt::secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct SignedJwt(Secret);

impl SignedJwt {
    pub(crate) fn new(compact: String) -> Self {
        Self(Secret::new(compact))
    }

    /// The compact serialization.
    ///
    /// # Security Warning
    ///
    /// This is a bearer credential until it expires; do not log it.
    pub fn secret(&self) -> &str {
        self.0.secret()
    }

    /// Unwraps the compact serialization (same warning as [`SignedJwt::secret`]).
    pub fn into_secret(self) -> String {
        self.0.into_secret()
    }
}

impl fmt::Debug for SignedJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedJwt([redacted])")
    }
}

/// The JOSE header of a token to sign. By default it carries the key's `alg` and `kid` and
/// no `typ`; [`JwsHeader::param`] can set or override any member, `alg` included, which is
/// how hostile test tokens are made.
#[derive(Debug, Clone, Default)]
pub struct JwsHeader {
    /// `typ`, if any (RFC 7515 §4.1.9).
    typ: Option<String>,
    /// `None`: the key's kid. `Some(None)`: no kid. `Some(Some(k))`: this kid.
    kid: Option<Option<Kid>>,
    /// Members set explicitly; applied last, so they win.
    params: Map<String, Value>,
}

impl JwsHeader {
    /// A header with the key's `alg` and `kid` and no `typ`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `typ`.
    #[must_use]
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Puts another `kid` than the key's.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<Kid>) -> Self {
        self.kid = Some(Some(kid.into()));
        self
    }

    /// Leaves `kid` out.
    #[must_use]
    pub fn without_kid(mut self) -> Self {
        self.kid = Some(None);
        self
    }

    /// Sets any header member, overriding what the key would put (even `alg`).
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: Value) -> Self {
        self.params.insert(name.into(), value);
        self
    }

    /// The header as it will be signed with `key`.
    pub fn for_key(&self, key: &SigningKey) -> Map<String, Value> {
        let mut h = Map::new();
        h.insert("alg".into(), Value::from(key.alg().as_str()));
        if let Some(typ) = &self.typ {
            h.insert("typ".into(), Value::from(typ.as_str()));
        }
        match &self.kid {
            None => {
                h.insert("kid".into(), Value::from(key.kid().as_str()));
            }
            Some(Some(kid)) => {
                h.insert("kid".into(), Value::from(kid.as_str()));
            }
            Some(None) => {}
        }
        for (k, v) in &self.params {
            h.insert(k.clone(), v.clone());
        }
        h
    }
}

/// Signs `claims` under `header` with `key`.
///
/// # Errors
///
/// [`MintError::ClaimsNotAnObject`] unless the claims serialise to a JSON object;
/// [`MintError::Sign`] if the backend fails.
pub fn sign(
    key: &SigningKey,
    header: &JwsHeader,
    claims: &impl Serialize,
) -> Result<SignedJwt, MintError> {
    let claims = serde_json::to_value(claims).map_err(|e| MintError::Serialize(e.to_string()))?;
    if !claims.is_object() {
        return Err(MintError::ClaimsNotAnObject {
            found: json_kind(&claims),
        });
    }
    let header = Value::Object(header.for_key(key));
    let signing_input = format!(
        "{}.{}",
        b64::encode(header.to_string()),
        b64::encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        key.encoding(),
        key.alg().primitive(),
    )
    .map_err(|e| MintError::Sign(e.to_string()))?;
    Ok(SignedJwt::new(format!("{signing_input}.{signature}")))
}

/// Signs `claims` with the key's `alg` and `kid` and the given `typ` — for an ID-JAG,
/// [`super::ID_JAG_TYP`].
///
/// # Errors
///
/// As [`sign`].
pub fn mint(
    key: &SigningKey,
    typ: Option<&str>,
    claims: &impl Serialize,
) -> Result<SignedJwt, MintError> {
    let header = match typ {
        Some(t) => JwsHeader::new().typ(t),
        None => JwsHeader::new(),
    };
    sign(key, &header, claims)
}

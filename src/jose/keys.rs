//! Signing keys and their public JWKs.
//!
//! Keys are generated and encoded with the RustCrypto crates (p256, rsa, ed25519-dalek) and
//! handed to jsonwebtoken's aws-lc backend in the DER forms it takes: PKCS#8 for P-256, the
//! PKCS#8 *v1* form for Ed25519, PKCS#1 for RSA (what jsonwebtoken's aws-lc-rs backend reads).

use super::alg::Alg;
use super::b64;
use crate::types::{Kid, Secret};
use jsonwebtoken::EncodingKey;
use p256::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding, SecretDocument,
};
use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::ser::{Serialize, SerializeMap, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The RSA modulus size jagspec generates, and the smallest it loads (RFC 7518 §3.3: "A key
/// of size 2048 bits or larger MUST be used").
pub(crate) const RSA_BITS: usize = 2048;

/// Why a key could not be loaded, generated or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a PEM private key jagspec reads.
    #[error(
        "expected a PEM private key: PKCS#8 `PRIVATE KEY` (P-256, Ed25519 or RSA), \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY` (found {found})"
    )]
    NotAPrivateKey {
        /// What was found instead, e.g. "a `PUBLIC KEY` block" or "no PEM block".
        found: String,
    },
    /// The PEM block has a known label but its contents do not decode.
    #[error("the `{label}` PEM block does not decode as a P-256, Ed25519 or RSA key: {reason}")]
    Undecodable {
        /// The PEM label.
        label: String,
        /// The decoder's explanation.
        reason: String,
    },
    /// An RSA key below 2048 bits.
    #[error("expected an RSA key of at least 2048 bits, RFC 7518 §3.3 (found {bits} bits)")]
    RsaTooSmall {
        /// The modulus size found.
        bits: usize,
    },
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An encoder failed (should not happen for keys jagspec made).
    #[error("could not encode the key: {0}")]
    Encode(String),
}

/// The public half of a signing key, as the JWK published in the JWKS: `kty`, the curve or
/// modulus members, `kid`, `alg` and `use: "sig"`, never a private member (RFC 7517 §4,
/// RFC 7518 §6, RFC 8037 §2).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    kid: Kid,
    alg: Alg,
    params: PublicParams,
}

/// The key-type-specific public members, base64url-encoded as they appear in the JWK.
#[derive(Clone, PartialEq, Eq, Debug)]
enum PublicParams {
    Okp { x: String },
    Rsa { n: String, e: String },
    Ec { x: String, y: String },
}

impl PublicParams {
    /// The RFC 7638 §3.2 thumbprint input: the required members only, in lexicographic
    /// order, no whitespace.
    fn thumbprint_input(&self) -> String {
        match self {
            Self::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Self::Ec { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
        }
    }

    /// RFC 7638 JWK thumbprint with SHA-256, base64url: jagspec's `kid`.
    fn thumbprint(&self) -> Kid {
        Kid::new(b64::encode(Sha256::digest(
            self.thumbprint_input().as_bytes(),
        )))
    }
}

impl PublicJwk {
    /// The key id.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The algorithm the key is for.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The RFC 7638 SHA-256 thumbprint of this key, which is its `kid` unless a custom kid
    /// was set.
    pub fn thumbprint(&self) -> Kid {
        self.params.thumbprint()
    }

    /// The JWK as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for PublicJwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kty", self.alg.kty())?;
        match &self.params {
            PublicParams::Okp { x } => {
                m.serialize_entry("crv", "Ed25519")?;
                m.serialize_entry("x", x)?;
            }
            PublicParams::Rsa { n, e } => {
                m.serialize_entry("n", n)?;
                m.serialize_entry("e", e)?;
            }
            PublicParams::Ec { x, y } => {
                m.serialize_entry("crv", "P-256")?;
                m.serialize_entry("x", x)?;
                m.serialize_entry("y", y)?;
            }
        }
        m.serialize_entry("kid", &self.kid)?;
        m.serialize_entry("alg", self.alg.as_str())?;
        m.serialize_entry("use", "sig")?;
        m.end()
    }
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// A private signing key for one [`Alg`], with its `kid` and public JWK.
///
/// Cloning is cheap (the key material is shared). `Debug` shows the algorithm and kid,
/// never private material.
#[derive(Clone)]
pub struct SigningKey(Arc<Inner>);

struct Inner {
    /// What the key signs with; fixed by the key type (Ed25519 → EdDSA, …).
    alg: Alg,
    /// The `kid` put in every header this key signs; by default the RFC 7638 thumbprint,
    /// so the same key always gets the same id wherever it is loaded.
    kid: Kid,
    /// The form jsonwebtoken's aws-lc backend signs with, prepared once.
    encoding: EncodingKey,
    /// PKCS#8 DER, kept for saving as PEM and for crafting invalid signatures in
    /// [`super::dangerous`]. Zeroized on drop.
    pkcs8: SecretDocument,
    /// The published half.
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.0.alg)
            .field("kid", &self.0.kid)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.kid == other.0.kid && self.0.public == other.0.public
    }
}

impl SigningKey {
    /// Generates a fresh key. RSA-2048 generation takes ~0.2 s even optimised: tests and
    /// start-up use the committed [`super::fixtures`] instead.
    ///
    /// # Errors
    ///
    /// [`KeyError::Encode`] if an encoder fails, which does not happen for fresh keys.
    pub fn generate(alg: Alg) -> Result<Self, KeyError> {
        let material = match alg {
            Alg::ES256 => Material::Ec(p256::SecretKey::random(&mut OsRng)),
            Alg::EdDSA => Material::Ed(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            Alg::RS256 => Material::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                    .map_err(|e| KeyError::Encode(e.to_string()))?,
            )),
        };
        Self::from_material(material)
    }

    /// Loads a PEM private key: PKCS#8 (`PRIVATE KEY`) for any of the three types, PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). The algorithm follows from the key.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotAPrivateKey`], [`KeyError::Undecodable`] or [`KeyError::RsaTooSmall`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let label = pem_label(pem).ok_or_else(|| KeyError::NotAPrivateKey {
            found: "no PEM block".to_owned(),
        })?;
        let undecodable = |reason: String| KeyError::Undecodable {
            label: label.clone(),
            reason,
        };
        let material = match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
                    Material::Ec(k)
                } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
                    Material::Ed(k)
                } else {
                    Material::Rsa(Box::new(
                        rsa::RsaPrivateKey::from_pkcs8_pem(pem)
                            .map_err(|e| undecodable(e.to_string()))?,
                    ))
                }
            }
            "RSA PRIVATE KEY" => Material::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| undecodable(e.to_string()))?,
            )),
            "EC PRIVATE KEY" => Material::Ec(
                p256::SecretKey::from_sec1_pem(pem).map_err(|e| undecodable(e.to_string()))?,
            ),
            other => {
                return Err(KeyError::NotAPrivateKey {
                    found: format!("a `{other}` PEM block"),
                });
            }
        };
        Self::from_material(material)
    }

    /// Reads [`SigningKey::from_pem`] from a file.
    ///
    /// # Errors
    ///
    /// [`KeyError::Io`], or the errors of [`SigningKey::from_pem`].
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&text)
    }

    fn from_material(material: Material) -> Result<Self, KeyError> {
        let enc = |e: &dyn fmt::Display| KeyError::Encode(e.to_string());
        let (alg, pkcs8, encoding, params) = match material {
            Material::Ec(sk) => {
                let pkcs8 = sk.to_pkcs8_der().map_err(|e| enc(&e))?;
                let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                    &sk.public_key(),
                    false,
                );
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(KeyError::Encode("P-256 point at infinity".to_owned()));
                };
                let params = PublicParams::Ec {
                    x: b64::encode(x),
                    y: b64::encode(y),
                };
                let encoding = EncodingKey::from_ec_der(pkcs8.as_bytes());
                (Alg::ES256, pkcs8, encoding, params)
            }
            Material::Ed(sk) => {
                // aws-lc and jsonwebtoken's JWK code take the 48-byte PKCS#8 v1 form; dalek
                // would emit v2, which the signing backend refuses.
                let v1 = ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: sk.to_bytes(),
                    public_key: None,
                };
                let pkcs8 = v1.to_pkcs8_der().map_err(|e| enc(&e))?;
                let params = PublicParams::Okp {
                    x: b64::encode(sk.verifying_key().to_bytes()),
                };
                let encoding = EncodingKey::from_ed_der(pkcs8.as_bytes());
                (Alg::EdDSA, pkcs8, encoding, params)
            }
            Material::Rsa(sk) => {
                let bits = sk.size() * 8;
                if bits < RSA_BITS {
                    return Err(KeyError::RsaTooSmall { bits });
                }
                let pkcs8 = sk.to_pkcs8_der().map_err(|e| enc(&e))?;
                let pkcs1 = sk.to_pkcs1_der().map_err(|e| enc(&e))?;
                let params = PublicParams::Rsa {
                    n: b64::encode(sk.n().to_bytes_be()),
                    e: b64::encode(sk.e().to_bytes_be()),
                };
                let encoding = EncodingKey::from_rsa_der(pkcs1.as_bytes());
                (Alg::RS256, pkcs8, encoding, params)
            }
        };
        let kid = params.thumbprint();
        let public = PublicJwk {
            kid: kid.clone(),
            alg,
            params,
        };
        Ok(Self(Arc::new(Inner {
            alg,
            kid,
            encoding,
            pkcs8,
            public,
        })))
    }

    /// The same key under another `kid` (the default is the RFC 7638 thumbprint). For
    /// issuers that name keys their own way, and for tests of kid handling.
    #[must_use]
    pub fn with_kid(&self, kid: impl Into<Kid>) -> Self {
        let kid = kid.into();
        let mut public = self.0.public.clone();
        public.kid = kid.clone();
        Self(Arc::new(Inner {
            alg: self.0.alg,
            kid,
            encoding: self.0.encoding.clone(),
            pkcs8: self.0.pkcs8.clone(),
            public,
        }))
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.0.alg
    }

    /// The key id put in the JWS header.
    pub fn kid(&self) -> &Kid {
        &self.0.kid
    }

    /// The public JWK, as published in the JWKS.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.0.public
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pem(&self) -> Secret {
        let pem = self.0.pkcs8.to_pem("PRIVATE KEY", LineEnding::LF);
        Secret::new(pem.map(|p| p.to_string()).unwrap_or_default())
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), for tools that want PEM
    /// rather than a JWK.
    ///
    /// # Errors
    ///
    /// [`KeyError::Encode`] if the encoder fails.
    pub fn public_pem(&self) -> Result<String, KeyError> {
        let enc = |e: &dyn fmt::Display| KeyError::Encode(e.to_string());
        let der = self.0.pkcs8.as_bytes();
        match self.0.alg {
            Alg::ES256 => p256::SecretKey::from_pkcs8_der(der)
                .map_err(|e| enc(&e))?
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| enc(&e)),
            Alg::EdDSA => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map_err(|e| enc(&e))?
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| enc(&e)),
            Alg::RS256 => rsa::RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|e| enc(&e))?
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| enc(&e)),
        }
    }

    /// The prepared jsonwebtoken key.
    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.0.encoding
    }

    /// PKCS#8 DER, for [`super::dangerous`].
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        self.0.pkcs8.as_bytes()
    }
}

enum Material {
    Ec(p256::SecretKey),
    Ed(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// The label of the first PEM block (`PRIVATE KEY`, `RSA PRIVATE KEY`, …).
fn pem_label(pem: &str) -> Option<String> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = pem[start..].find("-----")? + start;
    Some(pem[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 Appendix A.1 / A.3: the Ed25519 example key and its thumbprint.
    #[test]
    fn ed25519_thumbprint_matches_rfc_8037_appendix_a3() {
        let params = PublicParams::Okp {
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        };
        assert_eq!(
            params.thumbprint().as_str(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    /// RFC 7638 §3.1: the example RSA key (RFC 7517 Appendix A.1) and its thumbprint.
    #[test]
    fn rsa_thumbprint_matches_rfc_7638_section_3_1() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let params = PublicParams::Rsa {
            n: n.into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            params.thumbprint().as_str(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn keys_survive_a_pem_round_trip_with_the_same_kid() {
        for alg in [Alg::EdDSA, Alg::ES256] {
            let key = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pem(key.to_pem().secret()).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.kid(), key.kid());
            assert_eq!(again.public_jwk(), key.public_jwk());
        }
    }

    #[test]
    fn pkcs1_and_sec1_pems_load_as_the_same_keys_as_their_pkcs8_forms() {
        use p256::pkcs8::DecodePrivateKey as _;
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let rsa_key = crate::fixtures::signing_key(Alg::RS256, 1);
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(rsa_key.to_pem().secret())
            .unwrap()
            .to_pkcs1_pem(LineEnding::LF)
            .unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_pem(&pkcs1).unwrap(), rsa_key);

        let ec_key = crate::fixtures::signing_key(Alg::ES256, 1);
        let sec1 = p256::SecretKey::from_pkcs8_pem(ec_key.to_pem().secret())
            .unwrap()
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_pem(&sec1).unwrap(), ec_key);
    }

    #[test]
    fn a_public_key_is_not_taken_for_a_private_key() {
        let key = SigningKey::generate(Alg::ES256).unwrap();
        let err = SigningKey::from_pem(&key.public_pem().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a PEM private key: PKCS#8 `PRIVATE KEY` (P-256, Ed25519 or RSA), \
             `RSA PRIVATE KEY` or `EC PRIVATE KEY` (found a `PUBLIC KEY` PEM block)"
        );
    }

    #[test]
    fn debug_output_never_shows_private_material() {
        let key = SigningKey::generate(Alg::EdDSA).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(&key.to_pem().secret()[30..60]));
    }
}

//! Deliberately broken tokens, for negative tests and the hostile battery.
//!
//! Nothing here is used to issue a token a verifier should accept. Each function builds
//! something a well-behaved signer never produces: an unsecured JWS, a MAC keyed with a
//! public key, a DER-encoded ECDSA signature, a header the signature does not cover as
//! written, raw JSON with duplicate members.

use super::alg::Alg;
use super::b64;
use super::keys::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::Value;

/// The compact serialization of arbitrary header and payload JSON text and raw signature
/// bytes: nothing is checked or signed.
pub fn assemble_raw(header_json: &[u8], payload_json: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64::encode(header_json),
        b64::encode(payload_json),
        b64::encode(signature)
    )
}

/// [`assemble_raw`] for JSON values.
pub fn assemble(header: &Value, payload: &Value, signature: &[u8]) -> String {
    assemble_raw(
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
        signature,
    )
}

/// A real signature by `key` over header and payload JSON text given byte for byte (so the
/// header may say anything: duplicate members, `crit`, another `alg`).
///
/// # Errors
///
/// The backend's message if signing fails.
pub fn sign_raw(
    key: &SigningKey,
    header_json: &[u8],
    payload_json: &[u8],
) -> Result<String, String> {
    let input = format!("{}.{}", b64::encode(header_json), b64::encode(payload_json));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key.encoding(), key.alg().primitive())
        .map_err(|e| e.to_string())?;
    Ok(format!("{input}.{sig}"))
}

/// An HMAC-SHA-256 "signature" keyed with `secret`: with a public key's PEM or JWK text as
/// the secret, the classic key-confusion attack (RFC 8725 §2.1).
///
/// # Errors
///
/// The backend's message if the MAC fails.
pub fn hs256(secret: &[u8], header: &Value, payload: &Value) -> Result<String, String> {
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string()),
        b64::encode(payload.to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .map_err(|e| e.to_string())?;
    Ok(format!("{input}.{sig}"))
}

/// A valid ECDSA P-256 signature in ASN.1 DER instead of the raw `r‖s` that JWS requires
/// (RFC 7518 §3.4).
///
/// # Errors
///
/// If `key` is not an ES256 key.
pub fn es256_der(key: &SigningKey, header: &Value, payload: &Value) -> Result<String, String> {
    if key.alg() != Alg::ES256 {
        return Err(format!("expected an ES256 key (found {})", key.alg()));
    }
    let sk = p256::ecdsa::SigningKey::from_pkcs8_der(key.pkcs8_der()).map_err(|e| e.to_string())?;
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string()),
        b64::encode(payload.to_string())
    );
    let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
    Ok(format!("{input}.{}", b64::encode(sig.to_der().as_bytes())))
}

/// The token with its payload replaced by `payload` and its signature kept.
pub fn replace_payload(token: &str, payload: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if parts.len() > 1 {
        parts[1] = b64::encode(payload.to_string());
    }
    parts.join(".")
}

//! Client secrets and user passwords, stored as salted SHA-256 and compared in constant
//! time. A test issuer's secrets are random or fixture values, so a slow password hash
//! would only slow the benchmarks; what matters is that the database never holds them in
//! the clear and that comparison leaks no timing.

use sha2::{Digest, Sha256};

/// `sha256$<salt hex>$<digest hex>`.
pub(crate) fn hash_secret(secret: &str) -> String {
    let salt: [u8; 16] = rand::random();
    format!("sha256${}${}", hex(&salt), hex(&digest(&salt, secret)))
}

/// Whether `secret` matches `stored` (a [`hash_secret`] value).
pub(crate) fn verify_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("sha256"), Some(salt), Some(expected), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(salt) = unhex(salt) else {
        return false;
    };
    let actual = hex(&digest(&salt, secret));
    // Constant time over the (fixed-length) hex digests.
    actual.len() == expected.len()
        && actual
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_secret_verifies_and_nothing_else_does() {
        let stored = hash_secret("s3cret");
        assert!(stored.starts_with("sha256$"));
        assert!(!stored.contains("s3cret"));
        assert!(verify_secret("s3cret", &stored));
        assert!(!verify_secret("s3cret ", &stored));
        assert!(!verify_secret("s3cret", "sha256$zz$00"));
        assert_ne!(hash_secret("s3cret"), stored, "salted");
    }
}

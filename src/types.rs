//! The two newtypes the API uses: [`Kid`], a key identifier, which is looked up and never
//! trusted as a key source, and [`Secret`], a credential whose `Debug` and `Display` are
//! redacted, so it never leaks into logs, panics or test reports by accident. (How
//! credentials are shown in reports is [the redaction policy](crate::redact).)
//!
//! Issuer, audience, client and subject identifiers stay plain strings: every comparison
//! in these protocols is an exact string comparison, which a wrapper would not change.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! new_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps the value as it is; no normalisation is applied, because every
            /// comparison in these protocols is an exact string comparison.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

new_type!(
    /// A key identifier: the JWS `kid` header (RFC 7515 §4.1.4) and the JWK `kid` member
    /// (RFC 7517 §4.5). jagspec derives it as the RFC 7638 JWK thumbprint.
    Kid
);

/// A secret string: its `Debug` and `Display` print `[redacted]`.
///
/// Reading the value takes a deliberate call to [`Secret::secret`], so that a token or a
/// password reaches a log only when someone asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value.
    ///
    /// # Security Warning
    ///
    /// Do not log or print what this returns unless the user asked for it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Unwraps the secret value (same warning as [`Secret::secret`]).
    pub fn into_secret(self) -> String {
        self.0
    }

    /// Whether `presented` is this secret, compared in constant time: both are hashed
    /// first, so neither the position of the first difference nor the length of the secret
    /// leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let a = Sha256::digest(presented.as_bytes());
        let b = Sha256::digest(self.0.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// Serde helpers for the few documents that must carry a secret (the ecosystem manifest):
/// `Secret` implements neither trait, so a secret reaches JSON only where a field opts in.
pub(crate) mod secret_serde {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(s: &Secret, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(s.secret())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Secret, D::Error> {
        String::deserialize(input).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.secret(), "hunter2");
    }

    #[test]
    fn a_kid_compares_exactly_and_shows_its_value() {
        assert_ne!(Kid::new("k1"), Kid::new("K1"));
        assert_eq!(format!("{:?}", Kid::new("k1")), "Kid(\"k1\")");
    }
}

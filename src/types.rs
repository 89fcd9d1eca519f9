//! Newtypes for the protocol strings that travel between the parties.
//!
//! Each wraps a `String` so that an issuer can never be passed where an audience is
//! expected, and each doc comment names the clause that defines it. Values that are
//! credentials (tokens, secrets) live in secret types whose `Debug` output is redacted, so
//! they never leak into logs, panics or test reports by accident.

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
    /// An issuer identifier: the `iss` claim (RFC 7519 §4.1.1) and the `issuer` member of
    /// authorization-server metadata (RFC 8414 §2). For an ID-JAG it is the IdP's issuer.
    Issuer
);
new_type!(
    /// An audience: the `aud` claim (RFC 7519 §4.1.3). For an ID-JAG it is the issuer
    /// identifier of the MCP server's authorization server (ID-JAG §3.1, §4.3).
    Audience
);
new_type!(
    /// An OAuth client identifier (RFC 6749 §2.2). In an ID-JAG, the `client_id` claim is the
    /// client's identifier *at the authorization server*, which may differ from its id at the
    /// IdP (ID-JAG §3.1, §5).
    ClientId
);
new_type!(
    /// A key identifier: the JWS `kid` header (RFC 7515 §4.1.4) and the JWK `kid` member
    /// (RFC 7517 §4.5). jagspec derives it as the RFC 7638 JWK thumbprint.
    Kid
);
new_type!(
    /// A JWT identifier: the `jti` claim (RFC 7519 §4.1.7), the handle for replay detection
    /// (MCP enterprise-managed authorization §7.4.2).
    Jti
);
new_type!(
    /// A subject: the `sub` claim (RFC 7519 §4.1.2), the user in the IdP's namespace.
    Subject
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
    fn protocol_strings_compare_exactly() {
        assert_ne!(
            Issuer::new("https://idp.example"),
            Issuer::new("https://idp.example/")
        );
        assert_eq!(format!("{:?}", Kid::new("k1")), "Kid(\"k1\")");
    }
}

//! The signature algorithms jagspec signs and verifies with.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 §3.1, RFC 8037 §3.1): the three the seeds offer for a
/// resource server ("EdDSA, RS256, and ES256"; ES256 is the tenant default).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alg {
    /// Ed25519 (RFC 8037). JWK `kty: OKP`, `crv: Ed25519`.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). JWK `kty: RSA`.
    RS256,
    /// ECDSA P-256 with SHA-256, signature as raw `r‖s` (RFC 7518 §3.4). JWK `kty: EC`.
    ES256,
}

impl Alg {
    /// Every algorithm, in the order the seeds list them.
    pub const ALL: [Self; 3] = [Self::EdDSA, Self::RS256, Self::ES256];

    /// The `alg` header value, which is case-sensitive (RFC 7515 §4.1.1).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    /// The JWK `kty` a key for this algorithm has (RFC 7518 §6.1, RFC 8037 §2).
    pub const fn kty(self) -> &'static str {
        match self {
            Self::EdDSA => "OKP",
            Self::RS256 => "RSA",
            Self::ES256 => "EC",
        }
    }

    /// The jsonwebtoken algorithm that performs the primitive.
    pub(crate) const fn primitive(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    /// Lower-case name used for file names (`es256-….pem`).
    pub(crate) fn file_stem(self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of EdDSA, RS256, ES256 (found `{0}`)")]
pub struct UnknownAlg(pub String);

impl FromStr for Alg {
    type Err = UnknownAlg;

    /// Exact, case-sensitive match: `alg` values are case-sensitive (RFC 7515 §4.1.1), and
    /// `es256` is not `ES256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAlg(s.to_owned()))
    }
}

/// A set of algorithms: a verifier's allow-list (one element when pinned).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlgSet(u8);

impl AlgSet {
    /// All three algorithms.
    pub const ALL: Self = Self(0b111);

    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// A set of one algorithm (a pinned verifier).
    pub const fn only(alg: Alg) -> Self {
        Self(Self::bit(alg))
    }

    const fn bit(alg: Alg) -> u8 {
        match alg {
            Alg::EdDSA => 1,
            Alg::RS256 => 2,
            Alg::ES256 => 4,
        }
    }

    /// Adds an algorithm.
    #[must_use]
    pub const fn with(self, alg: Alg) -> Self {
        Self(self.0 | Self::bit(alg))
    }

    /// Whether the set holds `alg`.
    pub const fn contains(self, alg: Alg) -> bool {
        self.0 & Self::bit(alg) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Alg::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Alg> {
        Alg::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Alg> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Alg>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

impl fmt::Display for AlgSet {
    /// `ES256`, or `EdDSA | RS256 | ES256`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        let names: Vec<&str> = self.iter().map(Alg::as_str).collect();
        f.write_str(&names.join(" | "))
    }
}

impl fmt::Debug for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlgSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_names_parse_case_sensitively() {
        assert_eq!("ES256".parse::<Alg>(), Ok(Alg::ES256));
        assert_eq!("es256".parse::<Alg>(), Err(UnknownAlg("es256".into())));
        assert_eq!(
            UnknownAlg("HS256".into()).to_string(),
            "expected one of EdDSA, RS256, ES256 (found `HS256`)"
        );
    }

    #[test]
    fn alg_sets_display_their_members_in_order() {
        let set: AlgSet = [Alg::ES256, Alg::EdDSA].into_iter().collect();
        assert_eq!(set.to_string(), "EdDSA | ES256");
        assert_eq!(AlgSet::only(Alg::RS256).to_string(), "RS256");
        assert!(!AlgSet::only(Alg::RS256).contains(Alg::ES256));
    }
}

//! The ten steps of the verification pipeline ([`super::Verifier`]), each with its number,
//! title and the clauses it enforces. Its own module because both the pipeline and its
//! refusals ([`super::Rejection`], which names the step that refused) name them.

use std::fmt;

/// The pipeline's steps, numbered as [`super::Verifier::inspect`] prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// 1. Three base64url segments; a JSON-object header with unique members.
    Compact = 1,
    /// 2. `alg` present, asymmetric, on the allow-list (pinned when the list has one).
    Alg,
    /// 3. `typ` equals the required media type.
    Typ,
    /// 4. `crit` lists only understood extensions.
    Crit,
    /// 5. Key sources in the header are ignored.
    KeySource,
    /// 6. The key is selected by `kid` from the trusted JWKS, and fits the `alg`.
    Key,
    /// 7. The signature verifies.
    Signature,
    /// 8. The payload is a JSON object with unique members.
    Payload,
    /// 9. `exp`, `nbf`, `iat` against the injected clock, with bounded skew.
    Time,
    /// 10. `iss`, `aud`, and the caller's required and expected claims.
    Claims,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Self; 10] = [
        Self::Compact,
        Self::Alg,
        Self::Typ,
        Self::Crit,
        Self::KeySource,
        Self::Key,
        Self::Signature,
        Self::Payload,
        Self::Time,
        Self::Claims,
    ];

    /// The step's number, 1–10.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// A short title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Compact => "compact serialization",
            Self::Alg => "algorithm",
            Self::Typ => "explicit type",
            Self::Crit => "critical extensions",
            Self::KeySource => "key sources in the header",
            Self::Key => "key selection",
            Self::Signature => "signature",
            Self::Payload => "claims set",
            Self::Time => "time",
            Self::Claims => "issuer, audience and claims",
        }
    }

    /// The clauses the step enforces.
    pub fn spec(self) -> &'static str {
        match self {
            Self::Compact => "RFC 7515 §7.1, §5.2 steps 1-4",
            Self::Alg => "RFC 7515 §4.1.1; RFC 8725 §3.1-3.2",
            Self::Typ => "RFC 7515 §4.1.9; RFC 8725 §3.11; ID-JAG §3.1",
            Self::Crit => "RFC 7515 §4.1.11",
            Self::KeySource => "RFC 8725 §3.10",
            Self::Key => "RFC 7515 §4.1.4; RFC 7517 §4.1-4.5",
            Self::Signature => "RFC 7515 §5.2 step 8; RFC 7518 §3.3-3.4; RFC 8037 §3.1",
            Self::Payload => "RFC 7519 §7.2 step 10, §4",
            Self::Time => "RFC 7519 §4.1.4-4.1.6; RFC 7523 §3 items 4-6",
            Self::Claims => "RFC 7523 §3 items 1-3; RFC 7519 §4.1.1, §4.1.3; ID-JAG §3.1, §4.4.1",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. {}", self.number(), self.title())
    }
}

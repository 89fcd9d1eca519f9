//! Every reason the verification pipeline refuses a token, one variant each.

use super::alg::{Alg, AlgSet};
use super::step::Step;
use crate::types::Kid;
use std::fmt;

/// A part of the JWS compact serialization (RFC 7515 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The protected header (`BASE64URL(UTF8(JWS Protected Header))`).
    Header,
    /// The payload: for a JWT, the claims set.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        })
    }
}

/// Why a token was refused. One variant per reason; messages say what was expected and what
/// was found. At an authorization server every one of them is `invalid_grant` (RFC 7523
/// §3.1: "If the JWT is not valid … the authorization server MUST construct an error
/// response … the value of the error parameter MUST be the `invalid_grant` error code").
///
/// Values found in a token are shortened to 120 characters, so a hostile token cannot flood
/// a log through its rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    // ---- 1. compact serialization -------------------------------------------------------
    /// Larger than the verifier accepts (a real ID-JAG is a few hundred bytes).
    #[error("expected a token of at most {limit} bytes (found {found} bytes)")]
    TooLarge {
        /// The verifier's limit.
        limit: usize,
        /// The token's size.
        found: usize,
    },
    /// Not three dot-separated segments (RFC 7515 §7.1; a JWE has five and is refused here).
    #[error("expected a JWS compact serialization of 3 dot-separated segments (found {found})")]
    SegmentCount {
        /// Segments found.
        found: usize,
    },
    /// A segment is not unpadded, canonical base64url (RFC 7515 §2, §7.1).
    #[error("expected the {part} to be unpadded base64url, RFC 7515 §2 (found {reason})")]
    Base64 {
        /// Which segment.
        part: Part,
        /// What was wrong.
        reason: String,
    },
    /// The header or payload is not JSON (RFC 7515 §5.2 step 3; RFC 7519 §7.2 step 10).
    #[error("expected the {part} to be JSON (found {reason})")]
    Json {
        /// Which segment.
        part: Part,
        /// The parser's explanation.
        reason: String,
    },
    /// The header or payload is JSON but not an object.
    #[error("expected the {part} to be a JSON object (found {found})")]
    NotAnObject {
        /// Which segment.
        part: Part,
        /// What it is instead.
        found: &'static str,
    },
    /// A member name occurs twice (RFC 7515 §5.2 step 4; RFC 7519 §4). Accepting it would
    /// let two parsers disagree on the token's meaning.
    #[error("expected unique member names in the {part} (found `{name}` more than once)")]
    DuplicateMember {
        /// Which segment.
        part: Part,
        /// The repeated name.
        name: String,
    },
    /// A header parameter jagspec reads has the wrong JSON type.
    #[error("expected header parameter `{name}` to be {expected} (found {found})")]
    HeaderParamType {
        /// The parameter.
        name: &'static str,
        /// Its required type.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },

    // ---- 2. alg -----------------------------------------------------------------------
    /// No `alg` (RFC 7515 §4.1.1: REQUIRED).
    #[error("expected an `alg` header parameter, RFC 7515 §4.1.1 (found none)")]
    AlgMissing,
    /// `alg: none` in any spelling: an unsecured JWS (RFC 7518 §3.6), never accepted
    /// (RFC 8725 §3.1; MCP enterprise-managed authorization §7.4.1).
    #[error(
        "expected a signed token (found alg `{found}`: an unsecured JWS, never accepted, \
         RFC 8725 §3.1)"
    )]
    AlgNone {
        /// The spelling found.
        found: String,
    },
    /// An HMAC algorithm: a verifier holding public keys must never accept one, or the
    /// public key becomes the MAC secret (RFC 8725 §2.1, §3.1).
    #[error(
        "expected an asymmetric algorithm, one of {allowed} (found `{found}`: a MAC with a \
         shared secret, refused to prevent key confusion, RFC 8725 §3.1)"
    )]
    AlgSymmetric {
        /// The algorithm found.
        found: String,
        /// The verifier's allow-list.
        allowed: AlgSet,
    },
    /// An algorithm jagspec does not verify (ES512, PS256, a typo, `none ` …).
    #[error("expected alg {allowed} (found unsupported `{found}`)")]
    AlgUnsupported {
        /// The algorithm found.
        found: String,
        /// The verifier's allow-list.
        allowed: AlgSet,
    },
    /// One of the three algorithms, but not one this verifier allows: the seeds'
    /// "signature-algorithm mismatch" when the verifier is pinned.
    #[error("expected alg {allowed} (found `{found}`)")]
    AlgNotAllowed {
        /// The algorithm found.
        found: Alg,
        /// The verifier's allow-list.
        allowed: AlgSet,
    },

    // ---- 3. typ -----------------------------------------------------------------------
    /// No `typ`, where explicit typing is required (RFC 8725 §3.11; ID-JAG §3.1).
    #[error("expected typ `{expected}`, RFC 7515 §4.1.9 (found no typ)")]
    TypMissing {
        /// The required media type.
        expected: String,
    },
    /// The wrong `typ`, compared per RFC 7515 §4.1.9 (case-insensitive; `application/`
    /// optional).
    #[error("expected typ `{expected}`, RFC 7515 §4.1.9 (found `{found}`)")]
    TypMismatch {
        /// The required media type.
        expected: String,
        /// The `typ` found.
        found: String,
    },

    // ---- 4. crit ----------------------------------------------------------------------
    /// `crit` is not a non-empty array of strings naming present, non-registered
    /// parameters (RFC 7515 §4.1.11).
    #[error("expected `crit` to be {expected}, RFC 7515 §4.1.11 (found {found})")]
    CritMalformed {
        /// What a well-formed `crit` would be here.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// `crit` names an extension this verifier does not understand, so the JWS "MUST be
    /// rejected" (RFC 7515 §4.1.11).
    #[error("expected only understood critical extensions, RFC 7515 §4.1.11 (found `{name}`)")]
    CritUnknown {
        /// The extension.
        name: String,
    },

    // ---- 6. key selection -------------------------------------------------------------
    /// No `kid`, and the trusted set does not hold exactly one key usable with the `alg`.
    #[error(
        "expected a `kid`, or exactly one trusted key usable with {alg} (found no kid and \
         {candidates} such keys)"
    )]
    KidMissing {
        /// The header's algorithm.
        alg: Alg,
        /// How many keys could have matched.
        candidates: usize,
    },
    /// The `kid` is in no trusted key.
    #[error("expected a kid from the trusted JWKS [{}] (found `{kid}`)", known.join(", "))]
    KidUnknown {
        /// The kid found.
        kid: Kid,
        /// The trusted kids.
        known: Vec<String>,
    },
    /// Several trusted keys share the `kid` and more than one fits the `alg`.
    #[error("expected one trusted key with kid `{kid}` (found {count})")]
    KidAmbiguous {
        /// The kid.
        kid: Kid,
        /// How many keys fit.
        count: usize,
    },
    /// The selected JWK is a symmetric `oct` key: never a verification key for a token
    /// signed by someone else (RFC 8725 §3.1).
    #[error("expected an asymmetric key for kid `{kid}` (found a JWK of kty `oct`)")]
    JwkSymmetric {
        /// The kid.
        kid: Kid,
    },
    /// The selected JWK's `alg` differs from the header's (RFC 7517 §4.4).
    #[error("expected the JWK `{kid}` to be for {header_alg} (found JWK alg `{jwk_alg}`)")]
    JwkAlgMismatch {
        /// The kid.
        kid: Kid,
        /// The JWK's `alg`.
        jwk_alg: String,
        /// The header's `alg`.
        header_alg: Alg,
    },
    /// The selected JWK's key type cannot verify the header's `alg` (RFC 7518 §6.1).
    #[error("expected a JWK of kty `{}` for {header_alg} (found kty `{kty}` for kid `{kid}`)", header_alg.kty())]
    JwkKtyMismatch {
        /// The kid.
        kid: Kid,
        /// The JWK's `kty`.
        kty: String,
        /// The header's `alg`.
        header_alg: Alg,
    },
    /// The selected JWK is marked for another use (RFC 7517 §4.2).
    #[error("expected JWK `{kid}` to have use `sig` (found `{found}`)")]
    JwkUseNotSig {
        /// The kid.
        kid: Kid,
        /// The `use` found.
        found: String,
    },
    /// The selected JWK cannot be turned into a key (bad coordinates, short modulus, …).
    #[error("expected JWK `{kid}` to be a usable public key (found {reason})")]
    JwkUnusable {
        /// The kid.
        kid: Kid,
        /// What is wrong with it.
        reason: String,
    },

    // ---- 7. signature -----------------------------------------------------------------
    /// The signature has the wrong length for the algorithm. ES256 is raw `r‖s`, 64 bytes
    /// (RFC 7518 §3.4); a DER-encoded ECDSA signature is the classic mistake.
    #[error(
        "expected a {expected}-byte {alg} signature{} (found {found} bytes{})",
        if *alg == Alg::ES256 { ", raw r‖s per RFC 7518 §3.4" } else { "" },
        if *der { ", DER-encoded" } else { "" }
    )]
    SignatureLength {
        /// The header's algorithm.
        alg: Alg,
        /// The required length.
        expected: usize,
        /// The length found.
        found: usize,
        /// Whether the bytes parse as a DER `SEQUENCE` of two `INTEGER`s.
        der: bool,
    },
    /// The signature does not verify with the selected key (RFC 7515 §5.2 step 8): a wrong
    /// key, or a header or payload changed after signing.
    #[error("expected a signature that verifies with {alg} key `{kid}` (found one that does not)")]
    SignatureInvalid {
        /// The key tried.
        kid: Kid,
        /// The algorithm.
        alg: Alg,
    },

    // ---- 9. time ----------------------------------------------------------------------
    /// A required claim is absent.
    #[error("expected claim `{claim}` (found none)")]
    ClaimMissing {
        /// The claim.
        claim: String,
    },
    /// A claim has the wrong JSON type (time claims are NumericDate, RFC 7519 §2).
    #[error("expected claim `{claim}` to be {expected} (found {found})")]
    ClaimType {
        /// The claim.
        claim: String,
        /// The required type.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// `exp` has passed, beyond the allowed skew (RFC 7519 §4.1.4).
    #[error("expected exp after now {now} - skew {skew}s (found exp {exp}: expired)")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The verifier's clock.
        now: i64,
        /// The allowed skew, seconds.
        skew: u64,
    },
    /// `nbf` is in the future, beyond the allowed skew (RFC 7519 §4.1.5).
    #[error("expected nbf at or before now {now} + skew {skew}s (found nbf {nbf}: not yet valid)")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The verifier's clock.
        now: i64,
        /// The allowed skew, seconds.
        skew: u64,
    },
    /// `iat` is in the future, beyond the allowed skew (RFC 7523 §3 item 6; MCP
    /// enterprise-managed authorization §7.4.1).
    #[error(
        "expected iat at or before now {now} + skew {skew}s (found iat {iat}: issued in the future)"
    )]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The verifier's clock.
        now: i64,
        /// The allowed skew, seconds.
        skew: u64,
    },
    /// `exp - iat` exceeds the verifier's bound: ID-JAGs are short-lived (MCP
    /// enterprise-managed authorization §7.4.2).
    #[error("expected a lifetime (exp - iat) of at most {max}s (found {lifetime}s)")]
    LifetimeTooLong {
        /// `exp - iat`.
        lifetime: i64,
        /// The verifier's bound.
        max: u64,
    },

    // ---- 10. claims -------------------------------------------------------------------
    /// `iss` is not the trusted issuer (RFC 7523 §3 item 1).
    #[error("expected iss `{expected}` (found `{found}`)")]
    IssuerMismatch {
        /// The trusted issuer.
        expected: String,
        /// The `iss` found.
        found: String,
    },
    /// `aud` does not name this audience (RFC 7523 §3 item 3; ID-JAG §4.4.1).
    #[error("expected aud `{expected}` (found {found})")]
    AudienceMismatch {
        /// This verifier's audience.
        expected: String,
        /// The `aud` found, as JSON.
        found: String,
    },
    /// `aud` is an array of more than one element: an ID-JAG is for exactly one
    /// authorization server (ID-JAG §4.4.1; docs/positions.md D10).
    #[error("expected aud `{expected}` as a string or a one-element array (found {found})")]
    AudienceMultiple {
        /// This verifier's audience.
        expected: String,
        /// The `aud` found, as JSON.
        found: String,
    },
    /// A claim the caller requires has another value.
    #[error("expected claim `{claim}` to be {expected} (found {found})")]
    ClaimMismatch {
        /// The claim.
        claim: String,
        /// The required value, as JSON.
        expected: String,
        /// The value found, as JSON.
        found: String,
    },
}

impl Rejection {
    /// The OAuth error an authorization server answers with (RFC 7523 §3.1).
    pub fn oauth_error(&self) -> crate::oauth::OAuthError {
        crate::oauth::OAuthError::InvalidGrant
    }

    /// The pipeline step that refused the token.
    pub fn step(&self) -> Step {
        match self {
            Self::TooLarge { .. }
            | Self::SegmentCount { .. }
            | Self::Base64 { .. }
            | Self::Json {
                part: Part::Header | Part::Signature,
                ..
            }
            | Self::NotAnObject {
                part: Part::Header | Part::Signature,
                ..
            }
            | Self::DuplicateMember {
                part: Part::Header | Part::Signature,
                ..
            } => Step::Compact,
            Self::HeaderParamType { name: "typ", .. } => Step::Typ,
            Self::HeaderParamType { name: "kid", .. } => Step::Key,
            Self::HeaderParamType { .. } => Step::Alg,
            Self::AlgMissing
            | Self::AlgNone { .. }
            | Self::AlgSymmetric { .. }
            | Self::AlgUnsupported { .. }
            | Self::AlgNotAllowed { .. } => Step::Alg,
            Self::TypMissing { .. } | Self::TypMismatch { .. } => Step::Typ,
            Self::CritMalformed { .. } | Self::CritUnknown { .. } => Step::Crit,
            Self::KidMissing { .. }
            | Self::KidUnknown { .. }
            | Self::KidAmbiguous { .. }
            | Self::JwkSymmetric { .. }
            | Self::JwkAlgMismatch { .. }
            | Self::JwkKtyMismatch { .. }
            | Self::JwkUseNotSig { .. }
            | Self::JwkUnusable { .. } => Step::Key,
            Self::SignatureLength { .. } | Self::SignatureInvalid { .. } => Step::Signature,
            Self::Json {
                part: Part::Payload,
                ..
            }
            | Self::NotAnObject {
                part: Part::Payload,
                ..
            }
            | Self::DuplicateMember {
                part: Part::Payload,
                ..
            } => Step::Payload,
            Self::ClaimMissing { claim } if matches!(claim.as_str(), "exp" | "nbf" | "iat") => {
                Step::Time
            }
            Self::ClaimType { .. }
            | Self::Expired { .. }
            | Self::NotYetValid { .. }
            | Self::IssuedInFuture { .. }
            | Self::LifetimeTooLong { .. } => Step::Time,
            Self::ClaimMissing { .. }
            | Self::IssuerMismatch { .. }
            | Self::AudienceMismatch { .. }
            | Self::AudienceMultiple { .. }
            | Self::ClaimMismatch { .. } => Step::Claims,
        }
    }

    /// A stable snake_case identifier for reports and scripts (`alg_none`, `expired`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::SegmentCount { .. } => "segment_count",
            Self::Base64 { .. } => "base64",
            Self::Json { .. } => "json",
            Self::NotAnObject { .. } => "not_an_object",
            Self::DuplicateMember { .. } => "duplicate_member",
            Self::HeaderParamType { .. } => "header_param_type",
            Self::AlgMissing => "alg_missing",
            Self::AlgNone { .. } => "alg_none",
            Self::AlgSymmetric { .. } => "alg_symmetric",
            Self::AlgUnsupported { .. } => "alg_unsupported",
            Self::AlgNotAllowed { .. } => "alg_not_allowed",
            Self::TypMissing { .. } => "typ_missing",
            Self::TypMismatch { .. } => "typ_mismatch",
            Self::CritMalformed { .. } => "crit_malformed",
            Self::CritUnknown { .. } => "crit_unknown",
            Self::KidMissing { .. } => "kid_missing",
            Self::KidUnknown { .. } => "kid_unknown",
            Self::KidAmbiguous { .. } => "kid_ambiguous",
            Self::JwkSymmetric { .. } => "jwk_symmetric",
            Self::JwkAlgMismatch { .. } => "jwk_alg_mismatch",
            Self::JwkKtyMismatch { .. } => "jwk_kty_mismatch",
            Self::JwkUseNotSig { .. } => "jwk_use_not_sig",
            Self::JwkUnusable { .. } => "jwk_unusable",
            Self::SignatureLength { .. } => "signature_length",
            Self::SignatureInvalid { .. } => "signature_invalid",
            Self::ClaimMissing { .. } => "claim_missing",
            Self::ClaimType { .. } => "claim_type",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::IssuedInFuture { .. } => "issued_in_future",
            Self::LifetimeTooLong { .. } => "lifetime_too_long",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::AudienceMismatch { .. } => "audience_mismatch",
            Self::AudienceMultiple { .. } => "audience_multiple",
            Self::ClaimMismatch { .. } => "claim_mismatch",
        }
    }
}

/// The most of a value found in a token that a rejection repeats.
const SHOWN: usize = 120;

/// Shortens a value found in a token for a rejection message.
pub(crate) fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(SHOWN).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Kid;

    /// One of each variant: codes are distinct, and each maps to a step.
    fn one_of_each() -> Vec<Rejection> {
        let kid = || Kid::new("k");
        let s = || "x".to_owned();
        vec![
            Rejection::TooLarge { limit: 1, found: 2 },
            Rejection::SegmentCount { found: 2 },
            Rejection::Base64 {
                part: Part::Header,
                reason: s(),
            },
            Rejection::Json {
                part: Part::Header,
                reason: s(),
            },
            Rejection::NotAnObject {
                part: Part::Header,
                found: "an array",
            },
            Rejection::DuplicateMember {
                part: Part::Header,
                name: s(),
            },
            Rejection::HeaderParamType {
                name: "alg",
                expected: "a string",
                found: "a number",
            },
            Rejection::AlgMissing,
            Rejection::AlgNone { found: s() },
            Rejection::AlgSymmetric {
                found: s(),
                allowed: AlgSet::ALL,
            },
            Rejection::AlgUnsupported {
                found: s(),
                allowed: AlgSet::ALL,
            },
            Rejection::AlgNotAllowed {
                found: Alg::ES256,
                allowed: AlgSet::only(Alg::EdDSA),
            },
            Rejection::TypMissing { expected: s() },
            Rejection::TypMismatch {
                expected: s(),
                found: s(),
            },
            Rejection::CritMalformed {
                expected: "e",
                found: s(),
            },
            Rejection::CritUnknown { name: s() },
            Rejection::KidMissing {
                alg: Alg::ES256,
                candidates: 0,
            },
            Rejection::KidUnknown {
                kid: kid(),
                known: vec![],
            },
            Rejection::KidAmbiguous {
                kid: kid(),
                count: 2,
            },
            Rejection::JwkSymmetric { kid: kid() },
            Rejection::JwkAlgMismatch {
                kid: kid(),
                jwk_alg: s(),
                header_alg: Alg::ES256,
            },
            Rejection::JwkKtyMismatch {
                kid: kid(),
                kty: s(),
                header_alg: Alg::ES256,
            },
            Rejection::JwkUseNotSig {
                kid: kid(),
                found: s(),
            },
            Rejection::JwkUnusable {
                kid: kid(),
                reason: s(),
            },
            Rejection::SignatureLength {
                alg: Alg::ES256,
                expected: 64,
                found: 70,
                der: true,
            },
            Rejection::SignatureInvalid {
                kid: kid(),
                alg: Alg::ES256,
            },
            Rejection::ClaimMissing { claim: s() },
            Rejection::ClaimType {
                claim: s(),
                expected: "e",
                found: "f",
            },
            Rejection::Expired {
                exp: 1,
                now: 2,
                skew: 0,
            },
            Rejection::NotYetValid {
                nbf: 2,
                now: 1,
                skew: 0,
            },
            Rejection::IssuedInFuture {
                iat: 2,
                now: 1,
                skew: 0,
            },
            Rejection::LifetimeTooLong {
                lifetime: 2,
                max: 1,
            },
            Rejection::IssuerMismatch {
                expected: s(),
                found: s(),
            },
            Rejection::AudienceMismatch {
                expected: s(),
                found: s(),
            },
            Rejection::AudienceMultiple {
                expected: s(),
                found: s(),
            },
            Rejection::ClaimMismatch {
                claim: s(),
                expected: s(),
                found: s(),
            },
        ]
    }

    #[test]
    fn every_variant_has_its_own_code_and_an_expected_found_message() {
        let all = one_of_each();
        let codes: std::collections::BTreeSet<&str> = all.iter().map(Rejection::code).collect();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        for r in &all {
            assert!(r.to_string().starts_with("expected "), "{r}");
            assert_eq!(r.oauth_error(), "invalid_grant");
        }
    }

    #[test]
    fn values_found_in_a_token_are_shortened() {
        let long = "a".repeat(500);
        assert_eq!(shown(&long).chars().count(), 121);
        assert_eq!(shown("short"), "short");
    }
}

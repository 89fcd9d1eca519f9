//! Keys and tokens: everything JOSE, written once.
//!
//! * [`Alg`] and [`AlgSet`]: the three signature algorithms the seeds name.
//! * [`SigningKey`] / [`PublicJwk`]: generation, PEM load and save, the RFC 7638 `kid`.
//! * [`KeySet`]: several keys per algorithm (one active, others retired), published as a
//!   [`Jwks`].
//! * [`sign`] / [`mint`]: compact JWS with a caller-given `typ` and the key's `kid`.
//! * [`Verifier`]: the verification pipeline, numbered steps citing the specs; every
//!   refusal is a [`Rejection`]. [`Verifier::inspect`] returns each step's [`Verdict`].
//! * [`Clock`]: time is injected, so expiry and skew are deterministic in tests.
//! * [`fixtures`]: the committed test keys, embedded in the binary.
//! * [`dangerous`]: builders for deliberately malformed or forged tokens, for negative tests.
//! * [`wycheproof`]: Project Wycheproof's ECDSA, Ed25519 and RSA PKCS#1 v1.5 signature edge
//!   cases, lifted into real tokens over a caller's header and payload, each with its vector's
//!   flags and expected result.

mod alg;
mod b64;
mod clock;
pub mod dangerous;
pub mod fixtures;
mod jwks;
mod keys;
mod keyset;
mod mint;
mod rejection;
mod step;
mod verify;
pub mod wycheproof;

pub use alg::{Alg, AlgSet};
pub use clock::{Clock, FixedClock, SystemClock, UnixTime};
pub use jwks::{TrustedJwks, TrustedJwksError};
pub use keys::{KeyError, PublicJwk, SigningKey};
pub use keyset::{Jwks, KeySet, KeySetError, KeyStatus};
pub use mint::{JwsHeader, MintError, SignedJwt, mint, sign};
pub use rejection::{Part, Rejection};
pub use step::Step;
pub use verify::{
    DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SKEW_SECS, ID_JAG_REQUIRED_CLAIMS, Inspection, MAX_SKEW_SECS,
    StepReport, Verdict, Verified, Verifier,
};

pub(crate) use b64::decode as b64_decode;
pub(crate) use jwks::json_kind as json_kind_of;

/// The JOSE `typ` of an ID-JAG (ID-JAG §3.1; media type `application/oauth-id-jag+jwt`,
/// §10.1). Explicit typing per RFC 8725 §3.11 keeps an ID token from being replayed as an
/// ID-JAG.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

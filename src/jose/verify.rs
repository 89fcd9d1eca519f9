//! The verification pipeline: written once, used by every party that accepts a token.
//!
//! The steps run in order and the first refusal ends the run (fail closed). Each step
//! cites the clause it enforces; [`Verifier::inspect`] reports every step's verdict.
//!
//! NB: nothing in the token chooses how it is checked. The header's `alg` must be on the
//! verifier's allow-list, its `kid` only *looks up* a key in the trusted JWKS, and key
//! sources carried in the token (`jku`, `jwk`, `x5u`, `x5c`) are never used (RFC 8725
//! §3.10).

use super::ID_JAG_TYP;
use super::alg::{Alg, AlgSet};
use super::b64::{self, JsonTop};
use super::clock::{Clock, SystemClock, UnixTime};
use super::jwks::{PreparedKey, TrustedJwks, TrustedKey, json_kind};
use super::rejection::{Part, Rejection, shown};
use super::step::Step;
use crate::types::Kid;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// The largest clock skew a verifier may allow, seconds. A larger allowance would turn an
/// expired token into a valid one for longer than an ID-JAG lives.
pub const MAX_SKEW_SECS: u64 = 300;

/// The default skew, seconds (jsonwebtoken's default leeway; KC and PY use the same order).
pub const DEFAULT_SKEW_SECS: u64 = 60;

/// The default size limit, bytes. An ID-JAG is a few hundred bytes; a JWS header carrying
/// an `x5c` chain can reach a few KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The claims an ID-JAG MUST carry (ID-JAG §3.1; IDP-21).
pub const ID_JAG_REQUIRED_CLAIMS: [&str; 7] =
    ["iss", "sub", "aud", "client_id", "jti", "exp", "iat"];

/// Header parameters that name where to get a key. They are never used (RFC 8725 §3.10).
const KEY_SOURCE_PARAMS: [&str; 6] = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"];

/// Header parameters registered by RFC 7515 §4.1 for JWS, which `crit` must not list.
const REGISTERED_PARAMS: [&str; 11] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];

/// One step's outcome in an [`Inspection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The step passed; the text says what was checked.
    Pass(String),
    /// The step refused the token.
    Fail(Rejection),
    /// The step did not apply; the text says why.
    Skipped(String),
    /// An earlier step refused the token.
    NotReached,
}

/// A step and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// What it decided.
    pub verdict: Verdict,
}

/// What [`Verifier::inspect`] found: the token decoded (unverified), every step's verdict
/// and the outcome.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The header, if it decodes, whether or not it verifies.
    pub header: Option<Value>,
    /// The payload, if it decodes, whether or not it verifies.
    pub claims: Option<Value>,
    /// The ten steps, in order.
    pub steps: Vec<StepReport>,
    /// The outcome.
    pub result: Result<Verified, Rejection>,
    /// False when the signature was not checked (no trusted JWKS was given): an `Ok`
    /// result then means only that every other step passed.
    pub signature_checked: bool,
}

/// A token that passed every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The algorithm it was signed with.
    pub alg: Alg,
    /// The kid of the trusted key that verified it.
    pub kid: Option<Kid>,
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims set.
    pub claims: Map<String, Value>,
}

/// The verification pipeline, configured by a consuming builder.
///
/// ```
/// use jagspec::{fixtures, Alg, Verifier, Rejection, AlgSet};
/// // An authorization server pinned to EdDSA refuses an ES256 ID-JAG at step 2.
/// let verifier = Verifier::id_jag(fixtures::jwks().into(), "https://idp.example", "https://as.example")
///     .pin(Alg::EdDSA);
/// let es256 = jagspec::mint(&fixtures::signing_key(Alg::ES256, 1), Some(jagspec::ID_JAG_TYP),
///     &serde_json::json!({"iss": "https://idp.example"})).unwrap();
/// assert_eq!(
///     verifier.verify(es256.secret()),
///     Err(Rejection::AlgNotAllowed { found: Alg::ES256, allowed: AlgSet::only(Alg::EdDSA) })
/// );
/// ```
#[derive(Clone)]
pub struct Verifier {
    /// The only source of keys.
    jwks: Arc<TrustedJwks>,
    /// The allow-list; one element when pinned.
    algs: AlgSet,
    /// The required `typ`, as configured; `None` accepts any.
    typ: Option<String>,
    /// Injected so expiry is deterministic in tests.
    clock: Arc<dyn Clock>,
    /// Allowed clock skew, seconds, at most [`MAX_SKEW_SECS`].
    skew: u64,
    /// Tokens larger than this are refused before any parsing.
    max_bytes: usize,
    /// Upper bound on `exp - iat`, if set.
    max_lifetime: Option<u64>,
    /// The trusted `iss`, if checked.
    issuer: Option<String>,
    /// This party's identifier, required in `aud`, if checked.
    audience: Option<String>,
    /// Claims that must be present.
    required: Vec<String>,
    /// Claims that must have exactly these values.
    expected: Vec<(String, Value)>,
    /// `crit` extensions this verifier processes; by default none.
    understood_crit: Vec<String>,
    /// Only for a mock's deliberate defect: `exp` is required but never compared.
    ignore_exp: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks", &self.jwks)
            .field("algs", &self.algs)
            .field("typ", &self.typ)
            .field("skew", &self.skew)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier trusting `jwks`: all three algorithms, `typ` `oauth-id-jag+jwt`, the
    /// system clock, 60 s skew, `exp` required. Set the issuer and audience before use.
    pub fn new(jwks: TrustedJwks) -> Self {
        Self {
            jwks: Arc::new(jwks),
            algs: AlgSet::ALL,
            typ: Some(ID_JAG_TYP.to_owned()),
            clock: Arc::new(SystemClock),
            skew: DEFAULT_SKEW_SECS,
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_lifetime: None,
            issuer: None,
            audience: None,
            required: vec!["exp".to_owned()],
            expected: Vec::new(),
            understood_crit: Vec::new(),
            ignore_exp: false,
        }
    }

    /// A verifier for ID-JAGs from `issuer` addressed to the authorization server
    /// `audience`: typed `oauth-id-jag+jwt`, with every required claim of ID-JAG §3.1.
    pub fn id_jag(
        jwks: TrustedJwks,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let mut v = Self::new(jwks).issuer(issuer).audience(audience);
        v.required = ID_JAG_REQUIRED_CLAIMS
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        v
    }

    /// Allows these algorithms only.
    #[must_use]
    pub fn allow_algs(mut self, algs: AlgSet) -> Self {
        self.algs = algs;
        self
    }

    /// Allows `alg` only: an authorization server that verifies one algorithm.
    #[must_use]
    pub fn pin(self, alg: Alg) -> Self {
        self.allow_algs(AlgSet::only(alg))
    }

    /// Requires this `typ` (compared per RFC 7515 §4.1.9).
    #[must_use]
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Accepts any `typ`, or none: for untyped tokens such as many ID tokens.
    #[must_use]
    pub fn any_typ(mut self) -> Self {
        self.typ = None;
        self
    }

    /// Uses this clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allows `secs` of clock skew on `exp`, `nbf` and `iat`.
    ///
    /// # Panics
    ///
    /// If `secs` exceeds [`MAX_SKEW_SECS`]: a larger allowance would keep expired ID-JAGs
    /// alive; fix the clocks instead.
    #[must_use]
    pub fn skew(mut self, secs: u64) -> Self {
        assert!(
            secs <= MAX_SKEW_SECS,
            "a clock skew of {secs}s exceeds jagspec's bound of {MAX_SKEW_SECS}s; \
             synchronise the clocks rather than widen the window"
        );
        self.skew = secs;
        self
    }

    /// Refuses tokens longer than `bytes`.
    #[must_use]
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Refuses tokens whose `exp - iat` exceeds `secs`.
    #[must_use]
    pub fn max_lifetime(mut self, secs: u64) -> Self {
        self.max_lifetime = Some(secs);
        self
    }

    /// Requires `iss` to be exactly `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to be exactly `audience`, as a string or a one-element array.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Requires the claim to be present.
    #[must_use]
    pub fn require_claim(mut self, claim: impl Into<String>) -> Self {
        let claim = claim.into();
        if !self.required.contains(&claim) {
            self.required.push(claim);
        }
        self
    }

    /// Requires the claim to have exactly this value (e.g. `client_id` = the authenticated
    /// client, ID-JAG §4.4.1).
    #[must_use]
    pub fn expect_claim(mut self, claim: impl Into<String>, value: impl Into<Value>) -> Self {
        self.expected.push((claim.into(), value.into()));
        self
    }

    /// Declares a `crit` extension this verifier's caller processes.
    #[must_use]
    pub fn understand_crit(mut self, name: impl Into<String>) -> Self {
        self.understood_crit.push(name.into());
        self
    }

    /// Never compares `exp` with the clock (it is still required and must still be a
    /// number): the defect `AsFault::NoExpiryCheck` of the mock authorization server, for
    /// the conformance suite's self-test. Crate-private, so not even hidden API: nothing
    /// outside jagspec can skip expiry.
    #[must_use]
    pub(crate) fn ignore_exp_for_fault_injection(mut self) -> Self {
        self.ignore_exp = true;
        self
    }

    /// Runs the pipeline.
    ///
    /// # Errors
    ///
    /// The first step's [`Rejection`].
    pub fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        self.run(token, &mut Trace::off(), Signature::Check)
    }

    /// Runs the pipeline and reports every step's verdict.
    pub fn inspect(&self, token: &str) -> Inspection {
        self.inspect_with(token, Signature::Check)
    }

    /// For `jagspec inspect` without a trust anchor: every step but key selection and the
    /// signature runs, and the inspection says so (`signature_checked: false`). Not public:
    /// nothing may accept a token this way.
    pub(crate) fn inspect_without_signature(&self, token: &str) -> Inspection {
        self.inspect_with(token, Signature::SkipForDiagnosis)
    }

    fn inspect_with(&self, token: &str, signature: Signature) -> Inspection {
        let mut trace = Trace::on();
        let result = self.run(token, &mut trace, signature);
        let mut steps = trace.reports.unwrap_or_default();
        if let Err(rejection) = &result {
            steps.push(StepReport {
                step: trace.at,
                verdict: Verdict::Fail(rejection.clone()),
            });
        }
        let done = steps.len();
        steps.extend(Step::ALL[done..].iter().map(|s| StepReport {
            step: *s,
            verdict: Verdict::NotReached,
        }));
        let (header, claims) = decode_unverified(token);
        Inspection {
            header,
            claims,
            steps,
            result,
            signature_checked: signature == Signature::Check,
        }
    }

    fn run(
        &self,
        token: &str,
        trace: &mut Trace,
        signature_mode: Signature,
    ) -> Result<Verified, Rejection> {
        // 1. "Parse the JWS representation to extract the serialized values for the
        //    components of the JWS" and decode each (RFC 7515 §5.2 steps 1-3); the header
        //    must be a JSON object whose member names are unique (step 4).
        trace.enter(Step::Compact);
        if token.len() > self.max_bytes {
            return Err(Rejection::TooLarge {
                limit: self.max_bytes,
                found: token.len(),
            });
        }
        let segments: Vec<&str> = token.split('.').collect();
        let [h64, p64, s64] = segments[..] else {
            return Err(Rejection::SegmentCount {
                found: segments.len(),
            });
        };
        let header_bytes = decode_part(h64, Part::Header)?;
        let payload_bytes = decode_part(p64, Part::Payload)?;
        let signature = decode_part(s64, Part::Signature)?;
        let header = json_object(&header_bytes, Part::Header)?;
        trace.pass(|| {
            format!(
                "3 segments, {} bytes; header members: {}",
                token.len(),
                names(&header)
            )
        });

        // 2. "alg" … "This Header Parameter MUST be present" (RFC 7515 §4.1.1). Only the
        //    allow-list decides: never `none` (RFC 8725 §3.1), never a MAC with public keys
        //    (§3.1), and one algorithm when pinned (§3.2: "use only the algorithms …
        //    expected").
        trace.enter(Step::Alg);
        let alg = self.check_alg(&header)?;
        trace.pass(|| format!("{alg} is allowed ({})", self.algs));

        // 3. "typ" compared as a media type: case-insensitive, `application/` optional
        //    (RFC 7515 §4.1.9); explicit typing keeps other JWTs out (RFC 8725 §3.11;
        //    ID-JAG §3.1: "oauth-id-jag+jwt").
        trace.enter(Step::Typ);
        match &self.typ {
            Some(expected) => {
                let found = self.check_typ(&header, expected)?;
                trace.pass(|| format!("`{found}` is `{expected}`"));
            }
            None => trace.skip(|| "any typ accepted by this verifier".to_owned()),
        }

        // 4. "crit": if any listed extension "is not understood and/or supported by the
        //    recipient, then the JWS is invalid" (RFC 7515 §4.1.11).
        trace.enter(Step::Crit);
        self.check_crit(&header)?;
        trace.pass(|| match header.get("crit") {
            None => "no crit".to_owned(),
            Some(c) => format!("crit {c} understood"),
        });

        // 5. "jku", "jwk", "x5u", "x5c": "blindly following … may result in server-side
        //    request forgery" (RFC 8725 §3.10). Keys come from the trusted JWKS only.
        trace.enter(Step::KeySource);
        trace.pass(|| {
            let present: Vec<&str> = KEY_SOURCE_PARAMS
                .iter()
                .copied()
                .filter(|p| header.contains_key(*p))
                .collect();
            if present.is_empty() {
                "none present".to_owned()
            } else {
                format!(
                    "{} present and ignored: keys come from the trusted JWKS only",
                    present.join(", ")
                )
            }
        });

        // 6. The key: looked up by "kid" (RFC 7515 §4.1.4) in the trusted set; its "kty"
        //    must fit the alg (RFC 7518 §6.1), its "alg" must equal the header's (RFC 7517
        //    §4.4), its "use" must be "sig" (§4.2); a symmetric key is never a public key.
        trace.enter(Step::Key);
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(other) => {
                return Err(Rejection::HeaderParamType {
                    name: "kid",
                    expected: "a string",
                    found: json_kind(other),
                });
            }
        };
        let selected = if signature_mode == Signature::Check {
            let (key, prepared) = self.select_key(kid, alg)?;
            trace.pass(|| {
                format!(
                    "kid `{}` found in the trusted JWKS: kty {}",
                    key.kid.as_deref().unwrap_or("(none)"),
                    key.kty
                )
            });
            Some((key, prepared))
        } else {
            trace.skip(|| "no trusted JWKS given: key not selected".to_owned());
            None
        };

        // 7. "Validate the JWS Signature against the JWS Signing Input" (RFC 7515 §5.2
        //    step 8), with the length the algorithm defines: 64 bytes r‖s for ES256
        //    (RFC 7518 §3.4), 64 for Ed25519 (RFC 8037 §3.1), the modulus size for RS256.
        trace.enter(Step::Signature);
        if let Some((key, prepared)) = selected {
            if signature.len() != prepared.sig_len {
                return Err(Rejection::SignatureLength {
                    alg,
                    expected: prepared.sig_len,
                    found: signature.len(),
                    der: looks_like_der(&signature),
                });
            }
            let signing_input = &token[..h64.len() + 1 + p64.len()];
            let memo = self.jwks.memo_digest(key.index, token);
            let remembered = memo.as_ref().is_some_and(|d| self.jwks.was_verified(d));
            let valid = remembered
                || jsonwebtoken::crypto::verify(
                    s64,
                    signing_input.as_bytes(),
                    &prepared.key,
                    alg.primitive(),
                )
                .unwrap_or(false);
            let kid = Kid::new(key.kid.clone().unwrap_or_default());
            if !valid {
                return Err(Rejection::SignatureInvalid { kid, alg });
            }
            if let (Some(digest), false) = (memo, remembered) {
                self.jwks.verified(digest);
            }
            trace.pass(|| {
                let earlier = if remembered {
                    " (verified earlier, remembered)"
                } else {
                    ""
                };
                format!("{alg} signature verifies with `{kid}`{earlier}")
            });
        } else {
            trace.skip(|| "no trusted JWKS given: signature NOT checked".to_owned());
        }

        // 8. "the JWT Claims Set … MUST be a JSON object" with unique claim names (RFC 7519
        //    §7.2 step 10, §4). Parsed only after the signature, so unauthenticated JSON
        //    never reaches the claim checks.
        trace.enter(Step::Payload);
        let claims = json_object(&payload_bytes, Part::Payload)?;
        trace.pass(|| format!("claims: {}", names(&claims)));

        // 9. Time, against the injected clock with bounded skew: "exp" (RFC 7519 §4.1.4;
        //    RFC 7523 §3 item 4: MUST), "nbf" (§4.1.5), "iat" not in the future (RFC 7523
        //    §3 item 6; MCP enterprise-managed authorization §7.4.1).
        trace.enter(Step::Time);
        let now = self.clock.now();
        let times = self.check_time(&claims, now)?;
        trace.pass(|| times.describe(now, self.skew));

        // 10. "iss" is the trusted issuer (RFC 7523 §3 item 1); "aud" is this party, as a
        //     string or a one-element array (ID-JAG §4.4.1; docs/positions.md D10); the caller's
        //     required and expected claims (ID-JAG §3.1 REQUIRED claims; `client_id`).
        trace.enter(Step::Claims);
        self.check_claims(&claims)?;
        trace.pass(|| self.claims_detail());

        let kid = selected.and_then(|(k, _)| k.kid.clone()).map(Kid::new);
        Ok(Verified {
            alg,
            kid,
            header,
            claims,
        })
    }

    fn check_alg(&self, header: &Map<String, Value>) -> Result<Alg, Rejection> {
        let found = match header.get("alg") {
            None => return Err(Rejection::AlgMissing),
            Some(Value::String(a)) => a.as_str(),
            Some(other) => {
                return Err(Rejection::HeaderParamType {
                    name: "alg",
                    expected: "a string",
                    found: json_kind(other),
                });
            }
        };
        if found.trim().eq_ignore_ascii_case("none") {
            return Err(Rejection::AlgNone {
                found: shown(found),
            });
        }
        if let Ok(alg) = found.parse::<Alg>() {
            return if self.algs.contains(alg) {
                Ok(alg)
            } else {
                Err(Rejection::AlgNotAllowed {
                    found: alg,
                    allowed: self.algs,
                })
            };
        }
        if found.to_ascii_uppercase().starts_with("HS") {
            return Err(Rejection::AlgSymmetric {
                found: shown(found),
                allowed: self.algs,
            });
        }
        Err(Rejection::AlgUnsupported {
            found: shown(found),
            allowed: self.algs,
        })
    }

    fn check_typ(&self, header: &Map<String, Value>, expected: &str) -> Result<String, Rejection> {
        match header.get("typ") {
            None => Err(Rejection::TypMissing {
                expected: expected.to_owned(),
            }),
            Some(Value::String(t)) if media_type(t) == media_type(expected) => Ok(t.clone()),
            Some(Value::String(t)) => Err(Rejection::TypMismatch {
                expected: expected.to_owned(),
                found: shown(t),
            }),
            Some(other) => Err(Rejection::HeaderParamType {
                name: "typ",
                expected: "a string",
                found: json_kind(other),
            }),
        }
    }

    fn check_crit(&self, header: &Map<String, Value>) -> Result<(), Rejection> {
        let Some(crit) = header.get("crit") else {
            return Ok(());
        };
        let malformed = |expected, found: String| Rejection::CritMalformed { expected, found };
        let Value::Array(names) = crit else {
            return Err(malformed(
                "a non-empty array of strings",
                json_kind(crit).to_owned(),
            ));
        };
        if names.is_empty() {
            // "Producers MUST NOT use the empty list "[]" as the "crit" value."
            return Err(malformed(
                "a non-empty array of strings",
                "an empty array".to_owned(),
            ));
        }
        let mut seen = Vec::new();
        for name in names {
            let Value::String(name) = name else {
                return Err(malformed(
                    "a non-empty array of strings",
                    format!("an element that is {}", json_kind(name)),
                ));
            };
            if REGISTERED_PARAMS.contains(&name.as_str()) {
                return Err(malformed(
                    "names of extension parameters",
                    format!("registered parameter `{name}`"),
                ));
            }
            if seen.contains(&name) {
                return Err(malformed(
                    "names without duplicates",
                    format!("`{}` twice", shown(name)),
                ));
            }
            if !header.contains_key(name) {
                return Err(malformed(
                    "names of parameters present in the header",
                    format!("`{}`, which is absent", shown(name)),
                ));
            }
            seen.push(name);
        }
        if let Some(unknown) = seen.iter().find(|n| !self.understood_crit.contains(n)) {
            return Err(Rejection::CritUnknown {
                name: shown(unknown),
            });
        }
        Ok(())
    }

    fn select_key(
        &self,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<(&TrustedKey, &PreparedKey), Rejection> {
        let keys = self.jwks.keys();
        let Some(kid) = kid else {
            let fitting: Vec<_> = keys
                .iter()
                .filter_map(|k| fit(k, alg).ok().map(|p| (k, p)))
                .collect();
            return match fitting[..] {
                [one] => Ok(one),
                _ => Err(Rejection::KidMissing {
                    alg,
                    candidates: fitting.len(),
                }),
            };
        };
        let checked: Vec<_> = keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .map(|k| fit(k, alg).map(|p| (k, p)))
            .collect();
        let fitting: Vec<_> = checked
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        match (fitting.as_slice(), checked.into_iter().next()) {
            ([one], _) => Ok(*one),
            ([], None) => Err(Rejection::KidUnknown {
                kid: Kid::new(shown(kid)),
                known: self.jwks.kids(),
            }),
            ([], Some(first)) => first,
            (many, _) => Err(Rejection::KidAmbiguous {
                kid: Kid::new(shown(kid)),
                count: many.len(),
            }),
        }
    }

    fn check_time(
        &self,
        claims: &Map<String, Value>,
        now: UnixTime,
    ) -> Result<TimeClaims, Rejection> {
        let skew = self.skew;
        let skew_i = i64::try_from(skew).unwrap_or(i64::MAX);
        let exp = self.numeric_date(claims, "exp")?;
        let nbf = self.numeric_date(claims, "nbf")?;
        let iat = self.numeric_date(claims, "iat")?;
        if let Some(exp) = exp.filter(|_| !self.ignore_exp) {
            // "the current date/time MUST be before the expiration date/time"
            if now >= exp.saturating_add(skew_i) {
                return Err(Rejection::Expired { exp, now, skew });
            }
        }
        if let Some(nbf) = nbf
            && nbf > now.saturating_add(skew_i)
        {
            return Err(Rejection::NotYetValid { nbf, now, skew });
        }
        if let Some(iat) = iat
            && iat > now.saturating_add(skew_i)
        {
            return Err(Rejection::IssuedInFuture { iat, now, skew });
        }
        if let (Some(max), Some(exp), Some(iat)) = (self.max_lifetime, exp, iat) {
            let lifetime = exp.saturating_sub(iat);
            if lifetime > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(Rejection::LifetimeTooLong { lifetime, max });
            }
        }
        Ok(TimeClaims { exp, nbf, iat })
    }

    /// A time claim: absent (an error if required), or a JSON number (RFC 7519 §2
    /// NumericDate; fractions are truncated).
    fn numeric_date(
        &self,
        claims: &Map<String, Value>,
        name: &str,
    ) -> Result<Option<i64>, Rejection> {
        match claims.get(name) {
            None if self.required.iter().any(|r| r == name) => Err(Rejection::ClaimMissing {
                claim: name.to_owned(),
            }),
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(
                n.as_i64()
                    .or_else(|| n.as_u64().map(|_| i64::MAX))
                    .or_else(|| n.as_f64().map(|f| f as i64))
                    .unwrap_or(i64::MAX),
            )),
            Some(other) => Err(Rejection::ClaimType {
                claim: name.to_owned(),
                expected: "a NumericDate (a JSON number)",
                found: json_kind(other),
            }),
        }
    }

    fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), Rejection> {
        for claim in &self.required {
            if !claims.contains_key(claim) {
                return Err(Rejection::ClaimMissing {
                    claim: claim.clone(),
                });
            }
        }
        if let Some(expected) = &self.issuer {
            match claims.get("iss") {
                None => {
                    return Err(Rejection::ClaimMissing {
                        claim: "iss".to_owned(),
                    });
                }
                Some(Value::String(iss)) if iss == expected => {}
                Some(Value::String(iss)) => {
                    return Err(Rejection::IssuerMismatch {
                        expected: expected.clone(),
                        found: shown(iss),
                    });
                }
                Some(other) => {
                    return Err(Rejection::IssuerMismatch {
                        expected: expected.clone(),
                        found: shown(&other.to_string()),
                    });
                }
            }
        }
        if let Some(expected) = &self.audience {
            let aud = claims.get("aud").ok_or_else(|| Rejection::ClaimMissing {
                claim: "aud".to_owned(),
            })?;
            match aud {
                Value::String(a) if a == expected => {}
                Value::Array(items) if items.len() == 1 && items[0].as_str() == Some(expected) => {}
                Value::Array(items) if items.len() > 1 => {
                    return Err(Rejection::AudienceMultiple {
                        expected: expected.clone(),
                        found: shown(&aud.to_string()),
                    });
                }
                other => {
                    return Err(Rejection::AudienceMismatch {
                        expected: expected.clone(),
                        found: shown(&other.to_string()),
                    });
                }
            }
        }
        for (claim, value) in &self.expected {
            match claims.get(claim) {
                None => {
                    return Err(Rejection::ClaimMissing {
                        claim: claim.clone(),
                    });
                }
                Some(found) if found == value => {}
                Some(found) => {
                    return Err(Rejection::ClaimMismatch {
                        claim: claim.clone(),
                        expected: shown(&value.to_string()),
                        found: shown(&found.to_string()),
                    });
                }
            }
        }
        Ok(())
    }

    fn claims_detail(&self) -> String {
        let mut parts = Vec::new();
        if let Some(iss) = &self.issuer {
            parts.push(format!("iss is `{iss}`"));
        }
        if let Some(aud) = &self.audience {
            parts.push(format!("aud is `{aud}`"));
        }
        for (claim, value) in &self.expected {
            parts.push(format!("{claim} is {value}"));
        }
        let required: Vec<&str> = self.required.iter().map(String::as_str).collect();
        if !required.is_empty() {
            parts.push(format!("present: {}", required.join(", ")));
        }
        if parts.is_empty() {
            "no claim checks configured".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Whether a trusted key may verify a token with header `alg`; its prepared key if so.
fn fit(key: &TrustedKey, alg: Alg) -> Result<&PreparedKey, Rejection> {
    let kid = || Kid::new(shown(key.kid.as_deref().unwrap_or("")));
    if key.kty == "oct" {
        return Err(Rejection::JwkSymmetric { kid: kid() });
    }
    if let Some(jwk_alg) = &key.alg
        && jwk_alg != alg.as_str()
    {
        return Err(Rejection::JwkAlgMismatch {
            kid: kid(),
            jwk_alg: shown(jwk_alg),
            header_alg: alg,
        });
    }
    if key.kty != alg.kty() {
        return Err(Rejection::JwkKtyMismatch {
            kid: kid(),
            kty: shown(&key.kty),
            header_alg: alg,
        });
    }
    if let Some(use_) = &key.use_
        && use_ != "sig"
    {
        return Err(Rejection::JwkUseNotSig {
            kid: kid(),
            found: shown(use_),
        });
    }
    match &key.prepared {
        Ok(prepared) => Ok(prepared),
        Err(reason) => Err(Rejection::JwkUnusable {
            kid: kid(),
            reason: reason.clone(),
        }),
    }
}

/// A media type for comparison (RFC 7515 §4.1.9): lower-case, `application/` added when
/// there is no `/`.
fn media_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    if lower.contains('/') {
        lower
    } else {
        format!("application/{lower}")
    }
}

/// Whether signature bytes look like a DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn looks_like_der(sig: &[u8]) -> bool {
    sig.len() > 8 && sig[0] == 0x30 && usize::from(sig[1]) == sig.len() - 2 && sig[2] == 0x02
}

fn decode_part(segment: &str, part: Part) -> Result<Vec<u8>, Rejection> {
    b64::decode(segment).map_err(|reason| Rejection::Base64 { part, reason })
}

fn json_object(bytes: &[u8], part: Part) -> Result<Map<String, Value>, Rejection> {
    match b64::parse_object(bytes) {
        Err(reason) => Err(Rejection::Json {
            part,
            reason: shown(&reason),
        }),
        Ok(JsonTop::Other(found)) => Err(Rejection::NotAnObject { part, found }),
        Ok(JsonTop::Object(_, Some(name))) => Err(Rejection::DuplicateMember {
            part,
            name: shown(&name),
        }),
        Ok(JsonTop::Object(map, None)) => Ok(map),
    }
}

fn names(map: &Map<String, Value>) -> String {
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    shown(&names.join(", "))
}

/// The header and payload as JSON, if they decode, for display only.
fn decode_unverified(token: &str) -> (Option<Value>, Option<Value>) {
    let mut parts = token.split('.');
    let mut next = || {
        parts
            .next()
            .and_then(|p| b64::decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// The time claims found, kept for the step's description.
struct TimeClaims {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

impl TimeClaims {
    /// Built only when inspecting, so verification does not format strings.
    fn describe(&self, now: UnixTime, skew: u64) -> String {
        let mut parts = vec![format!("now {now}, skew {skew}s")];
        if let Some(exp) = self.exp {
            parts.push(format!("exp {exp} (in {}s)", exp.saturating_sub(now)));
        }
        if let Some(nbf) = self.nbf {
            parts.push(format!("nbf {nbf}"));
        }
        if let Some(iat) = self.iat {
            parts.push(format!("iat {iat} ({}s ago)", now.saturating_sub(iat)));
        }
        parts.join(", ")
    }
}

/// Whether the run checks the signature; only `jagspec inspect` without a JWKS skips it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Check,
    SkipForDiagnosis,
}

/// Collects step verdicts when inspecting; costs nothing when verifying.
struct Trace {
    /// The step running now: where a refusal is reported.
    at: Step,
    /// `None` when only the outcome is wanted.
    reports: Option<Vec<StepReport>>,
}

impl Trace {
    fn off() -> Self {
        Self {
            at: Step::Compact,
            reports: None,
        }
    }

    fn on() -> Self {
        Self {
            at: Step::Compact,
            reports: Some(Vec::with_capacity(Step::ALL.len())),
        }
    }

    fn enter(&mut self, step: Step) {
        self.at = step;
    }

    fn pass(&mut self, detail: impl FnOnce() -> String) {
        let step = self.at;
        if let Some(r) = &mut self.reports {
            r.push(StepReport {
                step,
                verdict: Verdict::Pass(detail()),
            });
        }
    }

    fn skip(&mut self, why: impl FnOnce() -> String) {
        let step = self.at;
        if let Some(r) = &mut self.reports {
            r.push(StepReport {
                step,
                verdict: Verdict::Skipped(why()),
            });
        }
    }
}

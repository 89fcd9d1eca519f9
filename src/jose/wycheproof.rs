//! Project Wycheproof's signature edge cases, lifted into real ID-JAGs.
//!
//! [Project Wycheproof](https://github.com/C2SP/wycheproof) publishes test vectors for the
//! corner cases verifiers get wrong: ECDSA signatures with r = 0 or s ≥ n, Ed25519
//! signatures with S ≥ L, RSA PKCS#1 v1.5 signatures whose padding a lenient parser
//! accepts. The vectors come from the `wycheproof` crate (Apache-2.0, the upstream JSON
//! files embedded as they are) and are read at run time, so every [`EdgeCase`] reports its
//! vector's test file, `tcId`, comment, flags and expected result exactly as the file says.
//!
//! # Lifting
//!
//! A vector signs its own message with its own key; a token's signing input is another
//! message, and the verifier under test trusts only the caller's key. So each vector is
//! *lifted*: the defect it names is rebuilt over the token's signing input with the
//! caller's key, and the header and payload stay byte for byte what the caller gave. A
//! verifier lenient on exactly that defect accepts the token; a strict one refuses it.
//!
//! * **`ES256`** (`ecdsa_secp256r1_sha256_p1363_test.json`: raw `r‖s`, as JWS uses, RFC 7518
//!   §3.4). The special-value signatures (r, s ∈ {0, 1, n − 1, n, n + 1, p, p + 1}) depend
//!   on neither message nor key and are taken byte for byte. The range and overflow cases
//!   (r + n, s + 2²⁵⁶, n − r, …) and "s == 0" edit a real signature over the token, at the
//!   vector's width. "signature malleability" is the high-s twin (r, n − s) of a real
//!   signature: Wycheproof grades it `valid`, and JWS does not forbid it.
//! * **`EdDSA`** (`ed25519_test.json`). Special values byte for byte; truncated, padded and
//!   lengthened forms of a real signature; S + L, S + 2L, …, S + p (the S < L check of
//!   RFC 8032 §5.1.7); and a modified R with S recomputed from the key, so that
//!   \[S\]B − \[k\]A is still the original R — accepted only by verifiers that compare R
//!   leniently, as Wycheproof builds them.
//! * **`RS256`** (`rsa_signature_2048_sha256_test.json`). The vector's encoded message
//!   EM = sig^e mod n is recovered with the vector's public key, every SHA-2 digest of the
//!   vector's message in it is replaced by the same hash of the signing input, and the result
//!   goes through the raw RSA private-key operation of the caller's key: the padding defect
//!   is the only one left. A modulus larger than 2048 bits gets the same encoded messages
//!   with a longer run of `0xff`. Signature values (0, 1, n − 1, n, n + 1, 2^(8k) − 1, s + n,
//!   empty) are rebuilt against the caller's modulus; "RSASSA-PSS signature" is a real
//!   RSASSA-PSS signature with the caller's key.
//!
//! Each lift is checked against the vector it names (a value case against the vector's
//! value, an appended public key against the vector's key, an encoded message against its
//! digests), so a table entry that pointed at the wrong vector fails loudly. Vectors whose
//! defect exists only for the vector's own key or message are not lifted: public keys built
//! so that a missing reduction verifies, "incorrect size" signatures of tiny r and s,
//! specially generated signatures with zero bytes to drop, digests of MD5, SHA-1 or SHA-3
//! (outside the SHA-2 crate jagspec has), and encoded messages that embed the vector's short
//! message itself, where a signing input of hundreds of bytes does not fit. The
//! selection keeps one vector per distinct defect, a few dozen per algorithm.
//!
//! Tokens are deterministic for a given key, header and payload: ES256 signs with RFC 6979
//! nonces, and the RSASSA-PSS salt comes from a fixed seed.

use super::alg::Alg;
use super::b64;
use super::keys::SigningKey;
use rsa::BigUint;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;
use std::fmt;

/// What Wycheproof says a verifier must do with a vector: its `result` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// A correct verifier accepts it.
    Valid,
    /// A correct verifier refuses it.
    Invalid,
    /// Either verdict is defensible (a legacy encoding, a malleable form): refusing is
    /// right, accepting is worth a warning at most.
    Acceptable,
}

impl Expected {
    /// The spelling of the vector files: `valid`, `invalid`, `acceptable`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Acceptable => "acceptable",
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Wycheproof vector lifted into a compact JWS over the caller's header and payload.
///
/// `Debug` shows the token's length, not the token: the `valid` cases verify.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeCase {
    /// The algorithm of the key that signed it, which chose the family of vectors.
    pub alg: Alg,
    /// The vector mirrored: its test file and `tcId`, e.g.
    /// `ecdsa_secp256r1_sha256_p1363_test.json tcId 12`.
    pub source: String,
    /// The vector's comment, e.g. `Signature with special case values r=0 and s=1`.
    pub comment: String,
    /// The vector's flags as the file spells them, e.g. `["InvalidSignature"]`.
    pub flags: Vec<String>,
    /// The vector's expected result: `Invalid` must be refused, `Acceptable` may go either
    /// way, `Valid` must be accepted.
    pub expected: Expected,
    /// The token: the caller's header and payload, byte for byte, and the lifted signature.
    pub token: String,
}

impl fmt::Debug for EdgeCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeCase")
            .field("alg", &self.alg)
            .field("source", &self.source)
            .field("comment", &self.comment)
            .field("flags", &self.flags)
            .field("expected", &self.expected)
            .field("token", &format_args!("[{} bytes]", self.token.len()))
            .finish()
    }
}

/// The Wycheproof signature edge cases for `key`'s algorithm, each a compact JWS whose
/// header and payload are exactly `header_json` and `payload_json` and whose signature
/// carries one vector's defect, rebuilt with `key` (see the [module docs](self)). One token
/// per distinct defect, grouped by kind of defect.
///
/// The header is not read: give it the `alg`, `typ` and `kid` the verifier under test
/// expects, so that the signature is the only thing wrong.
///
/// ```
/// use jagspec::jose::wycheproof::{Expected, edge_cases};
/// use jagspec::{Alg, ID_JAG_TYP, fixtures};
///
/// let key = fixtures::signing_key(Alg::ES256, 1);
/// let header = format!(
///     r#"{{"alg":"ES256","typ":"{ID_JAG_TYP}","kid":"{}"}}"#,
///     key.kid().as_str()
/// );
/// let payload = br#"{"iss":"https://idp.example","sub":"alice"}"#;
/// let cases = edge_cases(&key, header.as_bytes(), payload)?;
///
/// let zeros = cases.iter().find(|c| c.comment.ends_with("r=0 and s=0")).unwrap();
/// assert_eq!(zeros.source, "ecdsa_secp256r1_sha256_p1363_test.json tcId 11");
/// assert_eq!(zeros.flags, ["InvalidSignature"]);
/// assert_eq!(zeros.expected, Expected::Invalid);
/// assert!(zeros.token.ends_with(&"A".repeat(86)));
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// If the embedded vectors do not parse, `key` cannot be decoded, or a lift disagrees with
/// the vector it names (which the tests rule out for the fixture keys).
pub fn edge_cases(
    key: &SigningKey,
    header_json: &[u8],
    payload_json: &[u8],
) -> Result<Vec<EdgeCase>, String> {
    let input = format!("{}.{}", b64::encode(header_json), b64::encode(payload_json));
    let lifted = match key.alg() {
        Alg::ES256 => es256::lift(key, input.as_bytes())?,
        Alg::EdDSA => eddsa::lift(key, input.as_bytes())?,
        Alg::RS256 => rs256::lift(key, input.as_bytes())?,
    };
    let mut seen = HashSet::new();
    let mut cases = Vec::with_capacity(lifted.len());
    for case in lifted {
        let token = format!("{input}.{}", b64::encode(&case.signature));
        if seen.insert(token.clone()) {
            cases.push(EdgeCase {
                alg: key.alg(),
                source: case.source,
                comment: case.comment,
                flags: case.flags,
                expected: case.expected,
                token,
            });
        }
    }
    Ok(cases)
}

// ---- the vector files ---------------------------------------------------------------------

/// A vector file, parsed from the JSON text the `wycheproof` crate embeds. Read here rather
/// than through the crate's typed structs so the flags keep the files' own spelling (the
/// crate renames some, e.g. `Ktv`).
struct TestFile {
    /// The upstream file name, e.g. `ed25519_test.json`.
    name: &'static str,
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "testGroups")]
    test_groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    /// The group's public key: `{modulus, publicExponent}` for RSA, `{pk}` for `EdDSA`.
    #[serde(rename = "publicKey")]
    public_key: serde_json::Value,
    tests: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(rename = "tcId")]
    tc_id: usize,
    #[serde(default)]
    comment: String,
    #[serde(deserialize_with = "hex_field")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_field")]
    sig: Vec<u8>,
    result: Expected,
    #[serde(default)]
    flags: Vec<String>,
}

impl TestFile {
    fn load(name: &'static str, json: &str) -> Result<Self, String> {
        let raw: RawFile =
            serde_json::from_str(json).map_err(|e| format!("Wycheproof {name}: {e}"))?;
        Ok(Self {
            name,
            groups: raw.test_groups,
        })
    }

    /// The vector with `tc_id` and its group.
    fn find(&self, tc_id: usize) -> Result<(&Group, &Vector), String> {
        self.groups
            .iter()
            .find_map(|g| g.tests.iter().find(|t| t.tc_id == tc_id).map(|t| (g, t)))
            .ok_or_else(|| format!("Wycheproof {} has no tcId {tc_id}", self.name))
    }

    /// `signature` as the lift of `vector`.
    fn lifted(&self, vector: &Vector, signature: Vec<u8>) -> Lifted {
        Lifted {
            source: format!("{} tcId {}", self.name, vector.tc_id),
            comment: vector.comment.clone(),
            flags: vector.flags.clone(),
            expected: vector.result,
            signature,
        }
    }

    /// Fails with the vector named if `ok` is false: the lift does not fit the vector.
    fn check(&self, tc_id: usize, ok: bool, what: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "Wycheproof {} tcId {tc_id}: expected {what}",
                self.name
            ))
        }
    }
}

/// One vector's defect rebuilt over the signing input: the signature and what the vector
/// says about it.
struct Lifted {
    source: String,
    comment: String,
    flags: Vec<String>,
    expected: Expected,
    signature: Vec<u8>,
}

fn hex_field<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <&str>::deserialize(d)?;
    hex(text).map_err(serde::de::Error::custom)
}

/// Decodes lower- or upper-case hexadecimal.
fn hex(text: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("expected a hex digit (found {:?})", char::from(c))),
    };
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "expected an even number of hex digits (found {})",
            text.len()
        ));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A constant written in hexadecimal.
fn big(hex_text: &str) -> Result<BigUint, String> {
    Ok(BigUint::from_bytes_be(&hex(hex_text)?))
}

/// `x` as exactly `width` big-endian bytes.
fn be(x: &BigUint, width: usize) -> Result<Vec<u8>, String> {
    let bytes = x.to_bytes_be();
    let digits = bytes
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |i| &bytes[i..]);
    if digits.len() > width {
        return Err(format!(
            "a {}-byte integer does not fit in {width} bytes",
            digits.len()
        ));
    }
    let mut out = vec![0; width - digits.len()];
    out.extend_from_slice(digits);
    Ok(out)
}

/// `x` as exactly `width` little-endian bytes.
fn le(x: &BigUint, width: usize) -> Result<Vec<u8>, String> {
    let mut out = be(x, width)?;
    out.reverse();
    Ok(out)
}

// ---- ES256 --------------------------------------------------------------------------------

mod es256 {
    use super::{Lifted, SigningKey, TestFile, be, big};
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::DecodePrivateKey as _;
    use rsa::BigUint;

    const FILE: &str = "ecdsa_secp256r1_sha256_p1363_test.json";

    /// The order n of the P-256 base point (SEC 2 v2 §2.4.2).
    const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

    /// A change to one integer of a real signature.
    #[derive(Clone, Copy)]
    enum Edit {
        Keep,
        Zero,
        /// x + m·n.
        AddN(u32),
        /// n − x.
        NegN,
        /// x + 2^b.
        AddPow2(usize),
    }

    /// How a vector is lifted.
    #[derive(Clone, Copy)]
    enum Lift {
        /// The vector's bytes: special values, wrong for any message and key.
        Verbatim,
        /// A real signature with r and s edited, each written at half the vector's length.
        Edit(Edit, Edit),
        /// A real signature in its high-s form (s > n / 2).
        HighS,
    }

    use Edit::{AddN, AddPow2, Keep, NegN, Zero};

    /// The vectors lifted, by `tcId`, with their comments.
    const LIFTS: &[(usize, Lift)] = &[
        (1, Lift::HighS),                     // signature malleability
        (2, Lift::Edit(AddN(1), Keep)),       // replaced r by r + n
        (3, Lift::Edit(AddN(256), Keep)),     // replaced r by r + 256 * n
        (4, Lift::Edit(NegN, Keep)),          // replaced r by n - r
        (5, Lift::Edit(AddPow2(256), Keep)),  // replaced r by r + 2**256
        (6, Lift::Edit(AddPow2(320), Keep)),  // replaced r by r + 2**320
        (7, Lift::Edit(Keep, AddN(1))),       // replaced s by s + n
        (8, Lift::Edit(Keep, AddN(256))),     // replaced s by s + 256 * n
        (9, Lift::Edit(Keep, AddPow2(256))),  // replaced s by s + 2**256
        (10, Lift::Edit(Keep, AddPow2(320))), // replaced s by s + 2**320
        (11, Lift::Verbatim),                 // r=0 and s=0
        (12, Lift::Verbatim),                 // r=0 and s=1
        (13, Lift::Verbatim),                 // r=0 and s=n
        (18, Lift::Verbatim),                 // r=1 and s=0
        (19, Lift::Verbatim),                 // r=1 and s=1
        (20, Lift::Verbatim),                 // r=1 and s=n
        (26, Lift::Verbatim),                 // r=n and s=1
        (27, Lift::Verbatim),                 // r=n and s=n
        (35, Lift::Verbatim),                 // r=n - 1 and s=n - 1
        (40, Lift::Verbatim),                 // r=n + 1 and s=1
        (47, Lift::Verbatim),                 // r=p and s=1
        (51, Lift::Verbatim),                 // r=p and s=p
        (59, Lift::Verbatim),                 // r=p + 1 and s=p + 1
        (153, Lift::Edit(Keep, Zero)),        // s == 0
    ];

    pub(super) fn lift(key: &SigningKey, input: &[u8]) -> Result<Vec<Lifted>, String> {
        let file = TestFile::load(
            FILE,
            wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363.json_data(),
        )?;
        let sk = p256::ecdsa::SigningKey::from_pkcs8_der(key.pkcs8_der())
            .map_err(|e| format!("the ES256 key does not decode: {e}"))?;
        // RFC 6979 nonces: the same input gives the same signature.
        let signature: p256::ecdsa::Signature = sk.sign(input);
        let bytes = signature.to_bytes();
        let r = BigUint::from_bytes_be(&bytes[..32]);
        let s = BigUint::from_bytes_be(&bytes[32..]);
        let n = big(N)?;
        let mut out = Vec::with_capacity(LIFTS.len());
        for &(tc_id, lift) in LIFTS {
            let (_, v) = file.find(tc_id)?;
            let sig = match lift {
                Lift::Verbatim => {
                    file.check(tc_id, v.sig.len() == 64, "a 64-byte r‖s")?;
                    v.sig.clone()
                }
                Lift::HighS => {
                    let high = if s > (&n >> 1) { s.clone() } else { &n - &s };
                    [be(&r, 32)?, be(&high, 32)?].concat()
                }
                Lift::Edit(edit_r, edit_s) => {
                    file.check(tc_id, v.sig.len().is_multiple_of(2), "an even length")?;
                    let width = v.sig.len() / 2;
                    for (edit, half) in [(edit_r, &v.sig[..width]), (edit_s, &v.sig[width..])] {
                        if matches!(edit, Zero) {
                            file.check(tc_id, half.iter().all(|&b| b == 0), "a zero half")?;
                        }
                    }
                    [
                        be(&apply(edit_r, &r, &n), width)?,
                        be(&apply(edit_s, &s, &n), width)?,
                    ]
                    .concat()
                }
            };
            out.push(file.lifted(v, sig));
        }
        Ok(out)
    }

    fn apply(edit: Edit, x: &BigUint, n: &BigUint) -> BigUint {
        match edit {
            Keep => x.clone(),
            Zero => BigUint::from(0u8),
            AddN(m) => x + n * BigUint::from(m),
            NegN => n - x,
            AddPow2(b) => x + (BigUint::from(1u8) << b),
        }
    }
}

// ---- EdDSA --------------------------------------------------------------------------------

mod eddsa {
    use super::{Lifted, SigningKey, TestFile, big, hex, le};
    use ed25519_dalek::Signer as _;
    use p256::pkcs8::DecodePrivateKey as _;
    use rsa::BigUint;
    use sha2::{Digest as _, Sha512};

    const FILE: &str = "ed25519_test.json";

    /// L, the order of the Ed25519 base point: 2^252 + 27742317777372353535851937790883648493
    /// (RFC 8032 §5.1).
    const L: &str = "1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed";

    /// p = 2^255 − 19, the field prime (RFC 8032 §5.1).
    const P: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";

    /// What is added to S (as a 256-bit little-endian integer).
    #[derive(Clone, Copy)]
    enum Addend {
        /// m·L: the same scalar mod L, so only the S < L check catches it.
        L(u32),
        /// 2^b.
        Pow2(usize),
        /// The field prime.
        P,
    }

    /// Which R replaces the real one; S is recomputed so that [S]B − [k]A is the real R.
    #[derive(Clone, Copy)]
    enum NewR {
        /// The real R with bit b (little-endian) flipped.
        FlipBit(usize),
        /// The real R with every bit flipped.
        Complement,
        /// The vector's R: a constant (all zeros, all ones, y = 1 with the sign bit).
        FromVector,
    }

    /// How a vector is lifted.
    #[derive(Clone, Copy)]
    enum Lift {
        /// The vector's bytes: special values, wrong for any message and key.
        Verbatim,
        /// The first n bytes of a real signature.
        Truncate(usize),
        /// A real signature followed by the bytes the vector appends to its own.
        AppendVectorTail,
        /// A real signature followed by the public key.
        AppendPublicKey,
        /// A real signature with a zero byte inserted at this offset.
        InsertZero(usize),
        /// A real signature with S increased.
        AddToS(Addend),
        /// A real signature with another R and S recomputed.
        NewR(NewR),
    }

    use Lift::{AddToS, AppendPublicKey, AppendVectorTail, InsertZero, NewR as R, Truncate};
    use NewR::{Complement, FlipBit, FromVector};

    /// The vectors lifted, by `tcId`, with their comments.
    const LIFTS: &[(usize, Lift)] = &[
        (10, Lift::Verbatim),            // special values for r and s: R = 0, S = 0
        (11, Lift::Verbatim),            // R = 0, S = 1
        (12, Lift::Verbatim),            // R = 0, S = L
        (14, Lift::Verbatim),            // R = 0, S = p
        (16, Lift::Verbatim),            // R = 1 (the neutral point's y), S = 1
        (20, Lift::Verbatim),            // R = L, S = 0
        (25, Lift::Verbatim),            // R = p, S = 0
        (29, Lift::Verbatim),            // R = p, S = p
        (30, Truncate(0)),               // empty signature
        (31, Truncate(32)),              // s missing
        (32, Truncate(62)),              // signature too short
        (33, AppendVectorTail),          // signature too long
        (34, AppendPublicKey),           // include pk in signature
        (35, InsertZero(0)),             // prepending 0 byte to signature
        (36, InsertZero(32)),            // prepending 0 byte to s
        (37, AppendVectorTail),          // appending 0 byte to signature
        (42, R(FlipBit(0))),             // modified bit 0 in R
        (48, R(FlipBit(31))),            // modified bit 31 in R
        (53, R(FlipBit(127))),           // modified bit 127 in R
        (56, R(FlipBit(248))),           // modified bit 248 in R
        (58, R(FlipBit(254))),           // modified bit 254 in R
        (59, R(FlipBit(255))),           // modified bit 255 in R: the negated point
        (60, R(FromVector)),             // R==0
        (61, R(FromVector)),             // invalid R
        (62, R(Complement)),             // all bits flipped in R
        (151, R(FromVector)),            // R encodes y = 1 with the sign bit of x set
        (63, AddToS(Addend::L(1))),      // s replaced by s + L
        (64, AddToS(Addend::L(2))),      // s + 2L
        (65, AddToS(Addend::L(4))),      // s + 4L
        (66, AddToS(Addend::L(8))),      // s + 8L
        (67, AddToS(Addend::Pow2(253))), // s + 2^253
        (68, AddToS(Addend::Pow2(254))), // s + 2^254
        (69, AddToS(Addend::Pow2(255))), // s + 2^255
        (70, AddToS(Addend::P)),         // s + p
    ];

    pub(super) fn lift(key: &SigningKey, input: &[u8]) -> Result<Vec<Lifted>, String> {
        let file = TestFile::load(FILE, wycheproof::eddsa::TestName::Ed25519.json_data())?;
        let sk = ed25519_dalek::SigningKey::from_pkcs8_der(key.pkcs8_der())
            .map_err(|e| format!("the EdDSA key does not decode: {e}"))?;
        let public = sk.verifying_key().to_bytes();
        let real = sk.sign(input).to_bytes();
        let signer = Recompute::new(&sk.to_bytes(), &public, input)?;
        signer.check(&real)?;
        let (real_r, real_s) = real.split_at(32);
        let l = big(L)?;
        let mut out = Vec::with_capacity(LIFTS.len());
        for &(tc_id, lift) in LIFTS {
            let (group, v) = file.find(tc_id)?;
            let sig = match lift {
                Lift::Verbatim => {
                    file.check(tc_id, v.sig.len() == 64, "a 64-byte R‖S")?;
                    v.sig.clone()
                }
                Truncate(n) => {
                    file.check(tc_id, v.sig.len() == n, &format!("{n} bytes"))?;
                    real[..n].to_vec()
                }
                AppendVectorTail => {
                    file.check(tc_id, v.sig.len() > 64, "more than 64 bytes")?;
                    [&real[..], &v.sig[64..]].concat()
                }
                AppendPublicKey => {
                    let pk = group.public_key.get("pk").and_then(|pk| pk.as_str());
                    let pk = pk.map(hex).transpose()?;
                    file.check(tc_id, pk.as_deref() == Some(&v.sig[64..]), "R‖S‖pk")?;
                    [&real[..], &public[..]].concat()
                }
                InsertZero(at) => {
                    let zero_at = v.sig.len() == 65 && v.sig[at] == 0;
                    file.check(tc_id, zero_at, &format!("65 bytes with a zero at {at}"))?;
                    [&real[..at], &[0], &real[at..]].concat()
                }
                AddToS(addend) => {
                    file.check(tc_id, v.sig.len() == 64, "a 64-byte R‖S")?;
                    let add = match addend {
                        Addend::L(m) => &l * BigUint::from(m),
                        Addend::Pow2(b) => BigUint::from(1u8) << b,
                        Addend::P => big(P)?,
                    };
                    let s = BigUint::from_bytes_le(real_s) + add;
                    [real_r, &le(&s, 32)?].concat()
                }
                R(new_r) => {
                    file.check(tc_id, v.sig.len() == 64, "a 64-byte R‖S")?;
                    let mut r = real_r.to_vec();
                    match new_r {
                        FlipBit(b) => r[b / 8] ^= 1 << (b % 8),
                        Complement => r.iter_mut().for_each(|byte| *byte = !*byte),
                        FromVector => r.copy_from_slice(&v.sig[..32]),
                    }
                    let s = signer.s_for(&r)?;
                    [r, s].concat()
                }
            };
            out.push(file.lifted(v, sig));
        }
        Ok(out)
    }

    /// The Ed25519 signing equation S = r + k·a mod L with the key's secret scalar a and the
    /// signing input's nonce r (RFC 8032 §5.1.6), for any R: Wycheproof's "modified R" vectors
    /// keep [S]B − [k]A equal to the real R while the encoded R differs.
    struct Recompute<'a> {
        l: BigUint,
        a: BigUint,
        nonce: BigUint,
        public: &'a [u8; 32],
        input: &'a [u8],
    }

    impl<'a> Recompute<'a> {
        fn new(seed: &[u8; 32], public: &'a [u8; 32], input: &'a [u8]) -> Result<Self, String> {
            let l = big(L)?;
            let expanded = Sha512::digest(seed);
            let mut scalar = [0u8; 32];
            scalar.copy_from_slice(&expanded[..32]);
            scalar[0] &= 0b1111_1000;
            scalar[31] &= 0b0111_1111;
            scalar[31] |= 0b0100_0000;
            let nonce = Sha512::new()
                .chain_update(&expanded[32..])
                .chain_update(input)
                .finalize();
            Ok(Self {
                nonce: BigUint::from_bytes_le(&nonce) % &l,
                a: BigUint::from_bytes_le(&scalar),
                l,
                public,
                input,
            })
        }

        /// S for the encoded point `r`, little-endian.
        fn s_for(&self, r: &[u8]) -> Result<Vec<u8>, String> {
            let k = Sha512::new()
                .chain_update(r)
                .chain_update(self.public)
                .chain_update(self.input)
                .finalize();
            let k = BigUint::from_bytes_le(&k) % &self.l;
            le(&((&self.nonce + k * &self.a) % &self.l), 32)
        }

        /// That the equation reproduces the signer's own signature.
        fn check(&self, real: &[u8; 64]) -> Result<(), String> {
            if self.s_for(&real[..32])? == real[32..] {
                Ok(())
            } else {
                Err("the Ed25519 signing equation does not reproduce the signer's S".to_owned())
            }
        }
    }
}

// ---- RS256 --------------------------------------------------------------------------------

mod rs256 {
    use super::{Group, Lifted, SigningKey, TestFile, be, hex};
    use rand::SeedableRng as _;
    use rsa::BigUint;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
    use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
    use sha2::{Digest, Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};

    const FILE: &str = "rsa_signature_2048_sha256_test.json";

    /// The DER `DigestInfo` prefix of a SHA-256 digest (RFC 8017 §9.2, note 1).
    const SHA256_DIGEST_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];

    /// The shortest run of a digest taken for the digest (a truncated or split one counts).
    const MIN_DIGEST_RUN: usize = 16;

    /// The seed of the RSASSA-PSS salt, so the tokens are reproducible.
    const PSS_SALT_SEED: u64 = 0x7779_6368_6570_726f;

    /// A modulus-relative signature value.
    #[derive(Clone, Copy)]
    enum Offset {
        MinusOne,
        Zero,
        PlusOne,
    }

    /// How a vector is lifted.
    #[derive(Clone, Copy)]
    enum Lift {
        /// The vector's encoded message with the digests of its message replaced by the
        /// signing input's, signed with the raw private-key operation.
        Em,
        /// The vector's encoded message as it is (it holds no digest), signed likewise.
        EmFixed,
        /// A small integer as the signature.
        Value(u8),
        /// n − 1, n or n + 1 of the signing key.
        Modulus(Offset),
        /// 2^(8k) − 1: every byte 0xff ("-1").
        AllOnes,
        /// No signature bytes.
        Empty,
        /// The signing input itself as the signature ("no padding").
        SigningInput,
        /// The real signature plus n.
        NotReduced,
        /// An RSASSA-PSS signature with SHA-256.
        Pss,
    }

    use Lift::{AllOnes, Em, EmFixed, Empty, Modulus, NotReduced, Pss, SigningInput, Value};
    use Offset::{MinusOne, PlusOne, Zero};

    /// The vectors lifted, by `tcId`, with their comments.
    const LIFTS: &[(usize, Lift)] = &[
        (8, Em),                  // Missing NULL in the ASN encoding
        (9, Em),                  // length of digestInfo uses long form encoding
        (11, Em),                 // length of digestInfo uses 50 instead of 49
        (13, Em),                 // uint32 overflow in length of digestInfo
        (20, Em),                 // digestInfo: indefinite length, no terminator
        (21, EmFixed),            // removing digestInfo
        (24, Em),                 // appending 0's to digestInfo
        (25, Em),                 // prepending 0's to digestInfo
        (30, Em),                 // appending garbage to digestInfo
        (31, Em),                 // including undefined tags
        (38, Em),                 // composition with indefinite length (digestInfo)
        (40, EmFixed),            // Replacing digestInfo with NULL
        (47, Em),                 // using composition for digestInfo
        (48, Em),                 // truncated digestInfo
        (50, Em),                 // indefinite length
        (62, Em),                 // prepend empty sequence
        (72, Em),                 // sequence of sequence
        (75, Em),                 // repeating element in sequence
        (76, Em),                 // length of digestAlgorithm uses long form
        (88, Em),                 // removing digestAlgorithm
        (100, Em),                // Replacing digestAlgorithm with NULL
        (110, Em),                // length of oid uses long form encoding
        (122, Em),                // removing oid
        (143, Em),                // modifying first byte of oid
        (147, Em),                // wrong oid
        (156, Em),                // length of null uses 1 instead of 0
        (179, Em),                // incorrect null
        (180, Em),                // length of digest uses long form encoding
        (182, Em),                // length of digest uses 33 instead of 32
        (193, Em),                // appending 0's to digest
        (201, Em),                // composition with indefinite length (digest)
        (203, EmFixed),           // Replacing digest with NULL
        (211, Em),                // modifying first byte of digest
        (213, Em),                // truncated digest
        (215, Em),                // the padding names MD5
        (218, Em),                // the padding names SHA-224
        (219, Em),                // the message is hashed with SHA-224
        (222, Em),                // the padding names SHA-512
        (223, Em),                // the message is hashed with SHA-512
        (235, Em),                // the message is hashed with SHA-512/256
        (238, Em),                // the bare digest, no DigestInfo
        (240, Em),                // padding 0001ff...ee00
        (241, EmFixed),           // empty padding: 0001ff...ff
        (243, Em),                // padding too short: 000001ff...
        (242, SigningInput),      // no padding
        (244, NotReduced),        // the signature is not reduced
        (247, Empty),             // the signature is empty
        (248, Value(0)),          // value 0
        (249, Value(1)),          // value 1
        (250, Value(2)),          // value 2
        (251, Modulus(MinusOne)), // value n-1
        (252, Modulus(Zero)),     // value n
        (253, Modulus(PlusOne)),  // value n+1
        (254, AllOnes),           // value -1
        (255, Pss),               // RSASSA-PSS signature
    ];

    pub(super) fn lift(key: &SigningKey, input: &[u8]) -> Result<Vec<Lifted>, String> {
        let file = TestFile::load(
            FILE,
            wycheproof::rsa_pkcs1_verify::TestName::Rsa2048Sha256.json_data(),
        )?;
        let sk = rsa::RsaPrivateKey::from_pkcs8_der(key.pkcs8_der())
            .map_err(|e| format!("the RS256 key does not decode: {e}"))?;
        let k = sk.size();
        let n = sk.n();
        let canonical = emsa_pkcs1_v1_5(input, k)?;
        let signer = RawSigner::new(&sk);
        let real = BigUint::from_bytes_be(&signer.sign(&canonical)?);
        let mut out = Vec::with_capacity(LIFTS.len());
        for &(tc_id, lift) in LIFTS {
            let (group, v) = file.find(tc_id)?;
            let theirs = VectorKey::of(group)?;
            let value = BigUint::from_bytes_be(&v.sig);
            let full_length = v.sig.len() == theirs.k;
            let sig = match lift {
                Em | EmFixed => {
                    let em = theirs.encoded_message(&file, tc_id, &v.sig)?;
                    let (em, digests) = transplant(&em, &v.msg, input, k)?;
                    if matches!(lift, Em) {
                        file.check(tc_id, digests > 0, "a SHA-2 digest of its message")?;
                    } else {
                        file.check(tc_id, digests == 0, "no digest of its message")?;
                    }
                    if em == canonical {
                        // A modified digest byte that happens to be right for this input:
                        // the defect is gone, and so is the case.
                        continue;
                    }
                    signer.sign(&em)?
                }
                Value(x) => {
                    let ok = full_length && value == BigUint::from(x);
                    file.check(tc_id, ok, &format!("the value {x}"))?;
                    be(&BigUint::from(x), k)?
                }
                Modulus(offset) => {
                    let one = BigUint::from(1u8);
                    let (theirs_value, ours) = match offset {
                        MinusOne => (&theirs.n - &one, n - &one),
                        Zero => (theirs.n.clone(), n.clone()),
                        PlusOne => (&theirs.n + &one, n + &one),
                    };
                    file.check(
                        tc_id,
                        full_length && value == theirs_value,
                        "n - 1, n or n + 1",
                    )?;
                    be(&ours, k)?
                }
                AllOnes => {
                    let ok = full_length && v.sig.iter().all(|&b| b == 0xff);
                    file.check(tc_id, ok, "every byte 0xff")?;
                    vec![0xff; k]
                }
                Empty => {
                    file.check(tc_id, v.sig.is_empty(), "no bytes")?;
                    Vec::new()
                }
                SigningInput => {
                    file.check(tc_id, v.sig == v.msg, "the message itself")?;
                    input.to_vec()
                }
                NotReduced => {
                    let reduced = (value >= theirs.n)
                        .then(|| be(&(&value - &theirs.n), theirs.k))
                        .transpose()?;
                    let ok = match reduced {
                        Some(reduced) => {
                            theirs.encoded_message(&file, tc_id, &reduced)?
                                == emsa_pkcs1_v1_5(&v.msg, theirs.k)?
                        }
                        None => false,
                    };
                    file.check(tc_id, ok, "a valid signature plus n")?;
                    let sum = &real + n;
                    be(&sum, k.max(byte_len(&sum)))?
                }
                Pss => {
                    let em = theirs.encoded_message(&file, tc_id, &v.sig)?;
                    file.check(tc_id, em.last() == Some(&0xbc), "the PSS trailer 0xbc")?;
                    let signer = rsa::pss::SigningKey::<Sha256>::new(sk.clone());
                    let mut rng = rand::rngs::StdRng::seed_from_u64(PSS_SALT_SEED);
                    signer.sign_with_rng(&mut rng, input).to_vec()
                }
            };
            out.push(file.lifted(v, sig));
        }
        Ok(out)
    }

    /// A vector group's public key.
    struct VectorKey {
        n: BigUint,
        e: BigUint,
        /// The modulus length in bytes.
        k: usize,
    }

    impl VectorKey {
        fn of(group: &Group) -> Result<Self, String> {
            let part = |name: &str| {
                let text = group.public_key.get(name).and_then(|v| v.as_str());
                let text = text.ok_or_else(|| format!("a Wycheproof RSA key has no `{name}`"))?;
                Ok::<_, String>(BigUint::from_bytes_be(&hex(text)?))
            };
            let n = part("modulus")?;
            Ok(Self {
                k: byte_len(&n),
                e: part("publicExponent")?,
                n,
            })
        }

        /// sig^e mod n, as k bytes: the encoded message the vector's signature carries.
        fn encoded_message(
            &self,
            file: &TestFile,
            tc_id: usize,
            sig: &[u8],
        ) -> Result<Vec<u8>, String> {
            let value = BigUint::from_bytes_be(sig);
            let ok = sig.len() == self.k && value < self.n;
            file.check(tc_id, ok, "a signature below its modulus")?;
            be(&value.modpow(&self.e, &self.n), self.k)
        }
    }

    fn byte_len(x: &BigUint) -> usize {
        x.bits().div_ceil(8)
    }

    /// EMSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §9.2): 00 01 ff…ff 00 `DigestInfo`.
    fn emsa_pkcs1_v1_5(message: &[u8], k: usize) -> Result<Vec<u8>, String> {
        let t_len = SHA256_DIGEST_INFO.len() + 32;
        if k < t_len + 11 {
            return Err(format!("a {k}-byte modulus is too short for SHA-256"));
        }
        let mut em = vec![0x00, 0x01];
        em.resize(k - t_len - 1, 0xff);
        em.push(0x00);
        em.extend_from_slice(&SHA256_DIGEST_INFO);
        em.extend_from_slice(&Sha256::digest(message));
        Ok(em)
    }

    /// The raw RSA private-key operation m^d mod n (RFC 8017 §5.2.1 RSASP1), with the Chinese
    /// remainder theorem for a two-prime key (about four times faster), checked by the public
    /// operation. No padding is added or checked: what it is given is signed as it is. (The
    /// `rsa` crate's own raw operation sits behind its `hazmat` feature.)
    struct RawSigner<'a> {
        key: &'a rsa::RsaPrivateKey,
        crt: Option<Crt>,
    }

    /// d mod (p − 1), d mod (q − 1) and q⁻¹ mod p (RFC 8017 §3.2).
    struct Crt {
        p: BigUint,
        q: BigUint,
        dp: BigUint,
        dq: BigUint,
        q_inv: BigUint,
    }

    impl<'a> RawSigner<'a> {
        fn new(key: &'a rsa::RsaPrivateKey) -> Self {
            let crt = match key.primes() {
                [p, q] => {
                    let one = BigUint::from(1u8);
                    Some(Crt {
                        dp: key.d() % (p - &one),
                        dq: key.d() % (q - &one),
                        // Fermat: q^(p − 2) = q⁻¹ mod the prime p.
                        q_inv: q.modpow(&(p - BigUint::from(2u8)), p),
                        p: p.clone(),
                        q: q.clone(),
                    })
                }
                _ => None,
            };
            Self { key, crt }
        }

        /// `em` signed as it is, as k bytes.
        fn sign(&self, em: &[u8]) -> Result<Vec<u8>, String> {
            let n = self.key.n();
            let m = BigUint::from_bytes_be(em);
            if &m >= n {
                return Err("the encoded message is not below the modulus".to_owned());
            }
            let s = match &self.crt {
                Some(c) => {
                    let m1 = m.modpow(&c.dp, &c.p);
                    let m2 = m.modpow(&c.dq, &c.q);
                    let h = ((m1 + &c.p - (&m2 % &c.p)) * &c.q_inv) % &c.p;
                    m2 + h * &c.q
                }
                None => m.modpow(self.key.d(), n),
            };
            if s.modpow(self.key.e(), n) != m {
                return Err("the RSA private-key operation failed its check".to_owned());
            }
            be(&s, self.key.size())
        }
    }

    /// The vector's encoded message made for the signing input and a k-byte modulus: the
    /// first run of 0xff lengthened to k bytes, then every run of at least
    /// [`MIN_DIGEST_RUN`] bytes of a SHA-2 digest of the vector's message replaced by the
    /// same bytes of the same hash of `input`. Returns it with the number of runs replaced.
    fn transplant(
        em: &[u8],
        message: &[u8],
        input: &[u8],
        k: usize,
    ) -> Result<(Vec<u8>, usize), String> {
        let mut em = em.to_vec();
        if k < em.len() {
            return Err(format!(
                "a {k}-byte modulus is shorter than the vectors' {}",
                em.len()
            ));
        }
        if k > em.len() {
            let run = em
                .windows(8)
                .position(|w| w.iter().all(|&b| b == 0xff))
                .ok_or("an encoded message without a run of 0xff cannot be lengthened")?;
            let extra = k - em.len();
            em.splice(run..run, std::iter::repeat_n(0xff, extra));
        }
        let digests = [
            digests::<Sha256>(message, input),
            digests::<Sha224>(message, input),
            digests::<Sha384>(message, input),
            digests::<Sha512>(message, input),
            digests::<Sha512_224>(message, input),
            digests::<Sha512_256>(message, input),
        ];
        let replaced = digests
            .iter()
            .map(|(theirs, ours)| replace_runs(&mut em, theirs, ours))
            .sum();
        Ok((em, replaced))
    }

    fn digests<D: Digest>(message: &[u8], input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (D::digest(message).to_vec(), D::digest(input).to_vec())
    }

    /// Replaces each maximal run of `em` that equals a stretch of `theirs` (at least
    /// [`MIN_DIGEST_RUN`] bytes) by the same stretch of `ours`; returns how many.
    fn replace_runs(em: &mut [u8], theirs: &[u8], ours: &[u8]) -> usize {
        let mut replaced = 0;
        let mut i = 0;
        while i < em.len() {
            let best = (0..theirs.len())
                .filter(|&j| theirs[j] == em[i])
                .map(|j| {
                    let len = em[i..]
                        .iter()
                        .zip(&theirs[j..])
                        .take_while(|(a, b)| a == b)
                        .count();
                    (j, len)
                })
                .max_by_key(|&(_, len)| len);
            match best {
                Some((j, len)) if len >= MIN_DIGEST_RUN => {
                    em[i..i + len].copy_from_slice(&ours[j..j + len]);
                    replaced += 1;
                    i += len;
                }
                _ => i += 1,
            }
        }
        replaced
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_longer_modulus_lengthens_the_first_run_of_0xff_and_digests_are_swapped() {
            let theirs = Sha256::digest(b"theirs");
            let mut em = vec![0x00, 0x01];
            em.extend([0xff; 8]);
            em.push(0x00);
            em.extend_from_slice(&theirs[..20]); // a truncated digest still counts
            let (out, replaced) = transplant(&em, b"theirs", b"ours", em.len() + 3).unwrap();
            let mut expected = vec![0x00, 0x01];
            expected.extend([0xff; 11]);
            expected.push(0x00);
            expected.extend_from_slice(&Sha256::digest(b"ours")[..20]);
            assert_eq!((out, replaced), (expected, 1));
            assert!(transplant(&em, b"theirs", b"ours", em.len() - 1).is_err());
        }

        #[test]
        fn the_canonical_encoding_signed_raw_is_a_pkcs1_v1_5_signature() {
            use rsa::pkcs8::DecodePrivateKey as _;
            use rsa::signature::Signer as _;
            let pem = crate::jose::fixtures::signing_key(crate::Alg::RS256, 1).to_pem();
            let sk = rsa::RsaPrivateKey::from_pkcs8_pem(pem.secret()).unwrap();
            let em = emsa_pkcs1_v1_5(b"input", sk.size()).unwrap();
            let raw = RawSigner::new(&sk).sign(&em).unwrap();
            let real = rsa::pkcs1v15::SigningKey::<Sha256>::new(sk).sign(b"input");
            assert_eq!(raw, real.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_at_the_width_asked() {
        assert_eq!(be(&BigUint::from(0u8), 3), Ok(vec![0, 0, 0]));
        assert_eq!(be(&BigUint::from(258u16), 3), Ok(vec![0, 1, 2]));
        assert_eq!(le(&BigUint::from(258u16), 3), Ok(vec![2, 1, 0]));
        assert!(be(&BigUint::from(258u16), 1).is_err());
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(hex("00fFa0"), Ok(vec![0x00, 0xff, 0xa0]));
        assert!(hex("abc").is_err());
        assert!(hex("zz").is_err());
    }
}

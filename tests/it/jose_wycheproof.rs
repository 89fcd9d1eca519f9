//! Project Wycheproof's signature edge cases (`jose::wycheproof`) lifted into ID-JAGs with
//! each fixture key: jagspec's own verifier refuses every `invalid` one at the signature step
//! with the exact rejection, accepts every `valid` one and the control token signed normally
//! over the same input, and every case names a real vector with its comment, result and flags.

use crate::jose_denials::refused;
use crate::support::{claims, key, verifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jagspec::jose::wycheproof::{EdgeCase, Expected, edge_cases};
use jagspec::{Alg, ID_JAG_TYP, Rejection, dangerous};
use rsa::BigUint;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::json;
use sha2::{Digest as _, Sha224, Sha256, Sha512, Sha512_256};

fn header(alg: Alg) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"alg": alg.as_str(), "typ": ID_JAG_TYP, "kid": key(alg).kid().as_str()}),
    )
    .unwrap()
}

fn payload() -> Vec<u8> {
    serde_json::to_vec(&claims()).unwrap()
}

fn cases(alg: Alg) -> Vec<EdgeCase> {
    edge_cases(&key(alg), &header(alg), &payload()).unwrap()
}

fn signature_of(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap()
}

/// The refusal every `invalid` case must get: the signature is the only thing wrong, so the
/// pipeline stops at step 7 — on the length if it is not the algorithm's, otherwise on the
/// signature check itself.
fn expected_rejection(alg: Alg, signature: &[u8], rejection: &Rejection) -> bool {
    let expected_len = if alg == Alg::RS256 { 256 } else { 64 };
    match rejection {
        Rejection::SignatureLength {
            alg: a,
            expected,
            found,
            ..
        } => {
            *a == alg
                && *expected == expected_len
                && *found == signature.len()
                && *found != expected_len
        }
        Rejection::SignatureInvalid { kid, alg: a } => {
            *a == alg && kid == key(alg).kid() && signature.len() == expected_len
        }
        _ => false,
    }
}

#[test]
fn every_invalid_wycheproof_case_is_refused_at_the_signature_step_and_every_valid_one_accepted() {
    let v = verifier();
    let mut wrong = Vec::new();
    for alg in Alg::ALL {
        let control = dangerous::sign_raw(&key(alg), &header(alg), &payload()).unwrap();
        assert!(
            v.verify(&control).is_ok(),
            "{alg} control: {:?}",
            v.verify(&control).err()
        );
        let cases = cases(alg);
        println!("{alg}: {} cases", cases.len());
        for case in cases {
            // `refused` also checks that `inspect` agrees and stops at the same step.
            let outcome = v
                .verify(&case.token)
                .map(|_| ())
                .map_err(|_| refused(&v, &case.token));
            let shown = outcome
                .as_ref()
                .map_or_else(Rejection::code, |()| "accepted");
            println!(
                "  {:<48} {:<10} {:<60.60} {:?} -> {shown}",
                case.source, case.expected, case.comment, case.flags
            );
            match (case.expected, outcome) {
                (Expected::Invalid, Ok(())) => wrong.push(format!(
                    "{} ({}) ACCEPTED: {}",
                    case.source, case.comment, case.token
                )),
                (Expected::Invalid, Err(rejection))
                    if !expected_rejection(alg, &signature_of(&case.token), &rejection) =>
                {
                    wrong.push(format!("{}: refused with {rejection:?}", case.source));
                }
                (Expected::Valid, Err(rejection)) => wrong.push(format!(
                    "{} ({}) refused: {rejection:?}",
                    case.source, case.comment
                )),
                _ => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The vector a case names, read through the `wycheproof` crate's typed API (independently of
/// the module's own reading): its comment, result and flags.
fn named_vector(alg: Alg, file: &str, tc_id: usize) -> (String, Expected, Vec<String>) {
    macro_rules! lookup {
        ($family:ident) => {{
            let stem = file.strip_suffix("_test.json").unwrap();
            let name: wycheproof::$family::TestName = stem.parse().unwrap();
            let set = wycheproof::$family::TestSet::load(name).unwrap();
            let test = set
                .test_groups
                .iter()
                .flat_map(|g| &g.tests)
                .find(|t| t.tc_id == tc_id)
                .unwrap_or_else(|| panic!("{file} has no tcId {tc_id}"));
            let expected = match test.result {
                wycheproof::TestResult::Valid => Expected::Valid,
                wycheproof::TestResult::Invalid => Expected::Invalid,
                wycheproof::TestResult::Acceptable => Expected::Acceptable,
            };
            let flags = test.flags.iter().map(|f| format!("{f:?}")).collect();
            (test.comment.clone(), expected, flags)
        }};
    }
    match alg {
        Alg::ES256 => lookup!(ecdsa),
        Alg::EdDSA => lookup!(eddsa),
        Alg::RS256 => lookup!(rsa_pkcs1_verify),
    }
}

#[test]
fn every_case_names_a_real_vector_and_reports_its_comment_result_and_flags() {
    for alg in Alg::ALL {
        for case in cases(alg) {
            assert_eq!(case.alg, alg);
            assert!(!case.flags.is_empty(), "{}: no flags", case.source);
            let (file, tc_id) = case.source.split_once(" tcId ").unwrap();
            let (comment, expected, flags) = named_vector(alg, file, tc_id.parse().unwrap());
            assert_eq!(
                (&case.comment, case.expected, &case.flags),
                (&comment, expected, &flags),
                "{}",
                case.source
            );
        }
    }
}

#[test]
fn the_cases_keep_the_header_and_payload_and_are_few_distinct_and_reproducible() {
    for alg in Alg::ALL {
        let cases = cases(alg);
        assert!(
            (20..=80).contains(&cases.len()),
            "{alg}: {} cases",
            cases.len()
        );
        let input = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header(alg)),
            URL_SAFE_NO_PAD.encode(payload())
        );
        let mut tokens: Vec<&str> = cases.iter().map(|c| c.token.as_str()).collect();
        assert!(tokens.iter().all(|t| t.starts_with(&input)), "{alg}");
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!(tokens.len(), cases.len(), "{alg}: a token twice");
        assert_eq!(cases, self::cases(alg), "{alg}: not reproducible");
        let mut sources: Vec<&str> = cases.iter().map(|c| c.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        assert_eq!(sources.len(), cases.len(), "{alg}: a vector twice");
    }
}

fn case<'a>(cases: &'a [EdgeCase], source: &str) -> &'a EdgeCase {
    cases
        .iter()
        .find(|c| c.source == source)
        .unwrap_or_else(|| panic!("no case {source}"))
}

#[test]
fn the_defects_the_issue_names_are_there_with_their_vectors_flags() {
    let es = cases(Alg::ES256);
    let zeros = case(&es, "ecdsa_secp256r1_sha256_p1363_test.json tcId 11");
    assert_eq!(
        zeros.comment,
        "Signature with special case values r=0 and s=0"
    );
    assert_eq!(signature_of(&zeros.token), [0; 64]);
    let s_zero = case(&es, "ecdsa_secp256r1_sha256_p1363_test.json tcId 153");
    assert_eq!(
        (s_zero.comment.as_str(), s_zero.expected),
        ("s == 0", Expected::Invalid)
    );
    assert_eq!(signature_of(&s_zero.token)[32..], [0; 32]);
    // The high-s twin: Wycheproof grades it valid (its flag is ValidSignature), and JWS does
    // not forbid it.
    let high_s = case(&es, "ecdsa_secp256r1_sha256_p1363_test.json tcId 1");
    assert_eq!(
        (
            high_s.comment.as_str(),
            high_s.expected,
            high_s.flags.as_slice()
        ),
        (
            "signature malleability",
            Expected::Valid,
            &["ValidSignature".to_owned()][..]
        )
    );
    let half_n = "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8";
    let s = &signature_of(&high_s.token)[32..];
    assert!(hex(s).as_str() > half_n, "s is not high");

    let ed = cases(Alg::EdDSA);
    let s_plus_l = case(&ed, "ed25519_test.json tcId 63");
    assert!(
        s_plus_l
            .comment
            .starts_with("the encoded s was replaced by s + L.")
    );
    assert_eq!(s_plus_l.flags, ["SignatureMalleability"]);

    let rs = cases(Alg::RS256);
    let padding = case(&rs, "rsa_signature_2048_sha256_test.json tcId 240");
    assert_eq!(padding.flags, ["InvalidPadding"]);
    let missing_null = case(&rs, "rsa_signature_2048_sha256_test.json tcId 8");
    assert_eq!(
        (missing_null.expected, missing_null.flags.as_slice()),
        (Expected::Acceptable, &["MissingNull".to_owned()][..])
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat()
}

fn tc_id(case: &EdgeCase) -> usize {
    case.source.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The token with another signature.
fn resigned(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The lifts keep the vector's defect and nothing else: undo the defect the way a lenient
/// verifier would (reduce r and s mod n or mod 2^256, S mod L, an RSA signature mod n) and
/// jagspec's verifier accepts; an RSA encoded message carries the signing input's digest.
#[test]
fn undoing_each_lifted_defect_the_way_a_lenient_verifier_does_gives_a_valid_token() {
    let v = verifier();
    let p256_n = BigUint::parse_bytes(
        b"ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        16,
    )
    .unwrap();
    for case in cases(Alg::ES256) {
        let sig = signature_of(&case.token);
        let (r, s) = sig.split_at(sig.len() / 2);
        let reduce = |x: &[u8]| match tc_id(&case) {
            2 | 3 | 7 | 8 => be(&(BigUint::from_bytes_be(x) % &p256_n), 32),
            5 | 6 | 9 | 10 => x[x.len() - 32..].to_vec(),
            _ => x.to_vec(),
        };
        if matches!(tc_id(&case), 2 | 3 | 5..=10) {
            let repaired = resigned(&case.token, &[reduce(r), reduce(s)].concat());
            assert!(v.verify(&repaired).is_ok(), "{}", case.source);
        }
    }

    let ed_l = BigUint::parse_bytes(
        b"1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed",
        16,
    )
    .unwrap();
    for case in cases(Alg::EdDSA) {
        if (63..=66).contains(&tc_id(&case)) {
            let sig = signature_of(&case.token);
            let s = BigUint::from_bytes_le(&sig[32..]) % &ed_l;
            let mut s = be(&s, 32);
            s.reverse();
            let repaired = resigned(&case.token, &[&sig[..32], &s[..]].concat());
            assert!(v.verify(&repaired).is_ok(), "{}", case.source);
        }
    }

    let rsa =
        rsa::RsaPublicKey::from_public_key_pem(&key(Alg::RS256).public_pem().unwrap()).unwrap();
    let input = {
        let token = &cases(Alg::RS256)[0].token;
        token.rsplit_once('.').unwrap().0.to_owned()
    };
    let input = input.as_bytes();
    let digests = [
        Sha256::digest(input).to_vec(),
        Sha224::digest(input).to_vec(),
        Sha512::digest(input).to_vec(),
        Sha512_256::digest(input).to_vec(),
    ];
    for case in cases(Alg::RS256) {
        let sig = BigUint::from_bytes_be(&signature_of(&case.token));
        match tc_id(&case) {
            244 => {
                let repaired = resigned(&case.token, &be(&(sig - rsa.n()), 256));
                assert!(v.verify(&repaired).is_ok(), "{}", case.source);
            }
            // No digest: the encoded message is the vector's own, or the value is special.
            21 | 40 | 203 | 241 | 242 | 247..=255 => {}
            _ => {
                let em = be(&sig.modpow(rsa.e(), rsa.n()), 256);
                let carries_digest = digests
                    .iter()
                    .any(|d| em.windows(28).any(|w| d.windows(28).any(|dw| dw == w)));
                assert!(carries_digest, "{}: {}", case.source, hex(&em));
            }
        }
    }
}

/// `x` as `width` big-endian bytes.
fn be(x: &BigUint, width: usize) -> Vec<u8> {
    let bytes = x.to_bytes_be();
    let mut out = vec![0; width.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

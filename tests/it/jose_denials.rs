//! Every rejection the pipeline can give, reached and asserted exactly: the variant, the
//! step that reports it, and that the steps after it are not reached.

use crate::support::{self, AUDIENCE, ISSUER, NOW, claims, id_jag, key, verifier};
use jagspec::dangerous;
use jagspec::{
    Alg, AlgSet, ID_JAG_TYP, JwsHeader, Kid, Part, Rejection, Step, TrustedJwks, Verdict, Verifier,
    fixtures,
};
use serde_json::{Value, json};

/// A hostile token, the JWKS it is checked against, and the exact refusal expected.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) token: String,
    pub(crate) jwks: Value,
    pub(crate) pin: Option<Alg>,
    pub(crate) expected: Rejection,
}

fn fixture_jwks() -> Value {
    serde_json::to_value(fixtures::jwks()).unwrap()
}

fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": ID_JAG_TYP, "kid": key(Alg::ES256).kid().as_str()})
}

fn sign_with(alg: Alg, header: JwsHeader, claims: &Value) -> String {
    jagspec::sign(&key(alg), &header, claims)
        .unwrap()
        .into_secret()
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

/// A JWKS holding one JWK: the ES256 fixture key 1 with `changes` applied.
fn jwks_with_es256_jwk(changes: Value) -> Value {
    let mut jwk = key(Alg::ES256).public_jwk().to_json();
    for (k, v) in changes.as_object().unwrap() {
        jwk[k] = v.clone();
    }
    json!({"keys": [jwk]})
}

/// The hostile tokens issue 2 names; `jagspec inspect` must explain each (see `cli.rs`).
pub(crate) fn catalogue() -> Vec<Case> {
    let es = key(Alg::ES256);
    let es_kid = es.kid().clone();
    let mut cases = Vec::new();
    for spelling in ["none", "None", "NONE", "nOnE"] {
        cases.push(Case {
            name: "alg none",
            token: dangerous::assemble(&header(spelling), &claims(), b""),
            jwks: fixture_jwks(),
            pin: None,
            expected: Rejection::AlgNone {
                found: spelling.to_owned(),
            },
        });
    }
    let rsa = key(Alg::RS256);
    let rsa_public_pem = rsa.public_pem().unwrap();
    cases.push(Case {
        name: "HS256 signed with the RS256 public key",
        token: dangerous::hs256(
            rsa_public_pem.as_bytes(),
            &json!({"alg": "HS256", "typ": ID_JAG_TYP, "kid": rsa.kid().as_str()}),
            &claims(),
        )
        .unwrap(),
        jwks: fixture_jwks(),
        pin: Some(Alg::RS256),
        expected: Rejection::AlgSymmetric {
            found: "HS256".into(),
            allowed: AlgSet::only(Alg::RS256),
        },
    });
    cases.push(Case {
        name: "typ JWT",
        token: sign_with(Alg::ES256, JwsHeader::new().typ("JWT"), &claims()),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::TypMismatch {
            expected: ID_JAG_TYP.into(),
            found: "JWT".into(),
        },
    });
    cases.push(Case {
        name: "unknown crit",
        token: sign_with(
            Alg::ES256,
            JwsHeader::new()
                .typ(ID_JAG_TYP)
                .param("crit", json!(["urn:example:unknown"]))
                .param("urn:example:unknown", json!(true)),
            &claims(),
        ),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::CritUnknown {
            name: "urn:example:unknown".into(),
        },
    });
    cases.push(Case {
        name: "oct key in the JWKS",
        token: id_jag(Alg::ES256),
        jwks: json!({"keys": [{"kty": "oct", "kid": es_kid.as_str(), "k": "c2VjcmV0"}]}),
        pin: None,
        expected: Rejection::JwkSymmetric {
            kid: es_kid.clone(),
        },
    });
    cases.push(Case {
        name: "JWK alg mismatch",
        token: id_jag(Alg::ES256),
        jwks: jwks_with_es256_jwk(json!({"alg": "RS256"})),
        pin: None,
        expected: Rejection::JwkAlgMismatch {
            kid: es_kid.clone(),
            jwk_alg: "RS256".into(),
            header_alg: Alg::ES256,
        },
    });
    cases.push(Case {
        name: "unknown kid",
        token: sign_with(
            Alg::ES256,
            JwsHeader::new().typ(ID_JAG_TYP).kid("no-such-key"),
            &claims(),
        ),
        jwks: jwks_with_es256_jwk(json!({})),
        pin: None,
        expected: Rejection::KidUnknown {
            kid: Kid::new("no-such-key"),
            known: vec![es_kid.to_string()],
        },
    });
    cases.push(Case {
        name: "wrong key (ES256 key 2 under key 1's kid)",
        token: jagspec::sign(
            &fixtures::signing_key(Alg::ES256, 2),
            &JwsHeader::new().typ(ID_JAG_TYP).kid(es_kid.clone()),
            &claims(),
        )
        .unwrap()
        .into_secret(),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::SignatureInvalid {
            kid: es_kid.clone(),
            alg: Alg::ES256,
        },
    });
    cases.push(Case {
        name: "tampered payload",
        token: dangerous::replace_payload(
            &id_jag(Alg::ES256),
            &with_claim("sub", json!("mallory")),
        ),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::SignatureInvalid {
            kid: es_kid,
            alg: Alg::ES256,
        },
    });
    cases.push(Case {
        name: "expired",
        token: sign_with(
            Alg::ES256,
            JwsHeader::new().typ(ID_JAG_TYP),
            &with_claim("exp", json!(NOW - 61)),
        ),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::Expired {
            exp: NOW - 61,
            now: NOW,
            skew: 60,
        },
    });
    cases.push(Case {
        name: "not yet valid",
        token: sign_with(
            Alg::ES256,
            JwsHeader::new().typ(ID_JAG_TYP),
            &with_claim("nbf", json!(NOW + 61)),
        ),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::NotYetValid {
            nbf: NOW + 61,
            now: NOW,
            skew: 60,
        },
    });
    cases.push(Case {
        name: "iat in the future",
        token: sign_with(
            Alg::ES256,
            JwsHeader::new().typ(ID_JAG_TYP),
            &with_claim("iat", json!(NOW + 61)),
        ),
        jwks: fixture_jwks(),
        pin: None,
        expected: Rejection::IssuedInFuture {
            iat: NOW + 61,
            now: NOW,
            skew: 60,
        },
    });
    cases.push(Case {
        name: "ES256 signature DER-encoded instead of raw r||s",
        token: dangerous::es256_der(&es, &header("ES256"), &claims()).unwrap(),
        jwks: fixture_jwks(),
        pin: None,
        // A P-256 DER signature is 70 to 72 bytes; the exact length varies with r and s.
        expected: Rejection::SignatureLength {
            alg: Alg::ES256,
            expected: 64,
            found: 0,
            der: true,
        },
    });
    cases
}

/// Runs `token` through `verifier`, checks that `inspect` agrees with `verify` and reports
/// the failure at the rejection's step with every later step not reached; returns the
/// rejection.
pub(crate) fn refused(verifier: &Verifier, token: &str) -> Rejection {
    let rejection = verifier
        .verify(token)
        .expect_err("expected the token to be refused");
    let inspection = verifier.inspect(token);
    assert_eq!(inspection.result.as_ref().err(), Some(&rejection));
    let failed: Vec<Step> = inspection
        .steps
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .map(|r| r.step)
        .collect();
    assert_eq!(failed, vec![rejection.step()], "{rejection}");
    for report in &inspection.steps {
        if report.step > rejection.step() {
            assert_eq!(
                report.verdict,
                Verdict::NotReached,
                "{:?} after {rejection}",
                report.step
            );
        } else if report.step < rejection.step() {
            assert!(
                matches!(report.verdict, Verdict::Pass(_)),
                "{:?}: {:?}",
                report.step,
                report.verdict
            );
        }
    }
    assert_eq!(rejection.oauth_error(), "invalid_grant");
    rejection
}

fn verifier_for(jwks: &Value, pin: Option<Alg>) -> Verifier {
    let v = Verifier::id_jag(TrustedJwks::from_value(jwks).unwrap(), ISSUER, AUDIENCE)
        .clock(support::clock());
    match pin {
        Some(alg) => v.pin(alg),
        None => v,
    }
}

#[test]
fn every_hostile_token_named_by_the_issue_is_refused_with_its_exact_rejection() {
    for case in catalogue() {
        let got = refused(&verifier_for(&case.jwks, case.pin), &case.token);
        match (&case.expected, &got) {
            // The DER length depends on the signature's r and s.
            (
                Rejection::SignatureLength {
                    alg: Alg::ES256,
                    expected: 64,
                    der: true,
                    ..
                },
                Rejection::SignatureLength {
                    alg: Alg::ES256,
                    expected: 64,
                    found,
                    der: true,
                },
            ) => assert!((70..=72).contains(found), "{}: {got}", case.name),
            _ => assert_eq!(got, case.expected, "{}", case.name),
        }
    }
}

#[test]
fn the_der_encoded_signature_message_names_the_encoding() {
    let token = dangerous::es256_der(&key(Alg::ES256), &header("ES256"), &claims()).unwrap();
    let message = refused(&verifier(), &token).to_string();
    assert!(
        message
            .starts_with("expected a 64-byte ES256 signature, raw r‖s per RFC 7518 §3.4 (found 7"),
        "{message}"
    );
    assert!(message.ends_with(" bytes, DER-encoded)"), "{message}");
}

#[test]
fn alg_none_is_refused_with_a_garbage_signature_too() {
    let token = dangerous::assemble(&header("none"), &claims(), b"garbage");
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::AlgNone {
            found: "none".into()
        }
    );
    assert_eq!(
        Rejection::AlgNone {
            found: "none".into()
        }
        .to_string(),
        "expected a signed token (found alg `none`: an unsecured JWS, never accepted, RFC 8725 §3.1)"
    );
}

#[test]
fn hs256_keyed_with_the_public_jwk_is_refused_even_by_an_unpinned_verifier() {
    let jwk = key(Alg::ES256).public_jwk().to_json().to_string();
    let token = dangerous::hs256(jwk.as_bytes(), &header("HS256"), &claims()).unwrap();
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::AlgSymmetric {
            found: "HS256".into(),
            allowed: AlgSet::ALL
        }
    );
}

#[test]
fn an_algorithm_outside_the_allow_list_is_refused_as_not_allowed_or_unsupported() {
    assert_eq!(
        refused(&verifier().pin(Alg::EdDSA), &id_jag(Alg::ES256)),
        Rejection::AlgNotAllowed {
            found: Alg::ES256,
            allowed: AlgSet::only(Alg::EdDSA)
        }
    );
    for alg in ["ES512", "PS256", "es256", "RSA-OAEP"] {
        let token = dangerous::assemble(&header(alg), &claims(), b"sig");
        assert_eq!(
            refused(&verifier(), &token),
            Rejection::AlgUnsupported {
                found: alg.into(),
                allowed: AlgSet::ALL
            }
        );
    }
    let token = dangerous::assemble(&json!({"typ": ID_JAG_TYP}), &claims(), b"sig");
    assert_eq!(refused(&verifier(), &token), Rejection::AlgMissing);
}

#[test]
fn header_parameters_of_the_wrong_type_are_refused_at_their_own_step() {
    let cases = [
        (json!({"alg": 256}), "alg", Step::Alg),
        (json!({"alg": "ES256", "typ": 1}), "typ", Step::Typ),
        (
            json!({"alg": "ES256", "typ": ID_JAG_TYP, "kid": 7}),
            "kid",
            Step::Key,
        ),
    ];
    for (header, name, step) in cases {
        let token = dangerous::assemble(&header, &claims(), b"sig");
        let r = refused(&verifier(), &token);
        assert_eq!(
            r,
            Rejection::HeaderParamType {
                name,
                expected: "a string",
                found: "a number"
            }
        );
        assert_eq!(r.step(), step);
    }
}

#[test]
fn a_missing_typ_is_refused_and_media_type_spellings_are_accepted() {
    let token = sign_with(Alg::EdDSA, JwsHeader::new(), &claims());
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::TypMissing {
            expected: ID_JAG_TYP.into()
        }
    );
    // RFC 7515 §4.1.9: compared case-insensitively, `application/` optional (docs/positions.md D9).
    for typ in [
        "application/oauth-id-jag+jwt",
        "OAUTH-ID-JAG+JWT",
        "Application/Oauth-Id-Jag+Jwt",
    ] {
        let token = sign_with(Alg::EdDSA, JwsHeader::new().typ(typ), &claims());
        assert!(verifier().verify(&token).is_ok(), "{typ}");
    }
    for typ in ["JWT", "at+jwt", "application/jwt", "oauth-id-jag+jwt "] {
        let token = sign_with(Alg::EdDSA, JwsHeader::new().typ(typ), &claims());
        assert_eq!(
            refused(&verifier(), &token),
            Rejection::TypMismatch {
                expected: ID_JAG_TYP.into(),
                found: typ.into()
            }
        );
    }
    let untyped = verifier().any_typ();
    assert!(untyped.verify(&token).is_ok());
}

#[test]
fn malformed_crit_lists_are_refused_with_what_was_wrong() {
    let cases = [
        (json!("urn:x"), "a non-empty array of strings", "a string"),
        (json!([]), "a non-empty array of strings", "an empty array"),
        (
            json!([1]),
            "a non-empty array of strings",
            "an element that is a number",
        ),
        (
            json!(["alg"]),
            "names of extension parameters",
            "registered parameter `alg`",
        ),
        (
            json!(["urn:absent"]),
            "names of parameters present in the header",
            "`urn:absent`, which is absent",
        ),
        (
            json!(["urn:x", "urn:x"]),
            "names without duplicates",
            "`urn:x` twice",
        ),
    ];
    for (crit, expected, found) in cases {
        let header = JwsHeader::new()
            .typ(ID_JAG_TYP)
            .param("crit", crit.clone())
            .param("urn:x", json!(1));
        let token = sign_with(Alg::ES256, header, &claims());
        assert_eq!(
            refused(&verifier(), &token),
            Rejection::CritMalformed {
                expected,
                found: found.into()
            },
            "{crit}"
        );
    }
}

#[test]
fn an_understood_crit_extension_is_accepted() {
    let header = JwsHeader::new()
        .typ(ID_JAG_TYP)
        .param("crit", json!(["urn:x"]))
        .param("urn:x", json!(1));
    let token = sign_with(Alg::ES256, header, &claims());
    assert!(verifier().understand_crit("urn:x").verify(&token).is_ok());
}

#[test]
fn key_sources_in_the_header_are_never_used() {
    // The attacker signs with a key of their own and points at it every way a header can.
    let attacker = fixtures::signing_key(Alg::ES256, 2);
    let trusted = jwks_with_es256_jwk(json!({}));
    let embedded = JwsHeader::new()
        .typ(ID_JAG_TYP)
        .param("jwk", attacker.public_jwk().to_json())
        .param("jku", json!("http://127.0.0.1:9/jwks.json"))
        .param("x5u", json!("http://127.0.0.1:9/cert.pem"))
        .param("x5c", json!(["MIIB"]));
    let own_kid = jagspec::sign(&attacker, &embedded, &claims())
        .unwrap()
        .into_secret();
    assert_eq!(
        refused(&verifier_for(&trusted, None), &own_kid),
        Rejection::KidUnknown {
            kid: attacker.kid().clone(),
            known: vec![key(Alg::ES256).kid().to_string()]
        }
    );
    let borrowed_kid = jagspec::sign(
        &attacker,
        &embedded.kid(key(Alg::ES256).kid().clone()),
        &claims(),
    )
    .unwrap()
    .into_secret();
    assert_eq!(
        refused(&verifier_for(&trusted, None), &borrowed_kid),
        Rejection::SignatureInvalid {
            kid: key(Alg::ES256).kid().clone(),
            alg: Alg::ES256
        }
    );
    // The inspection says the parameters were seen and ignored.
    let inspection = verifier_for(&trusted, None).inspect(&borrowed_kid);
    let Verdict::Pass(detail) = &inspection.steps[Step::KeySource as usize - 1].verdict else {
        panic!("step 5 should pass: {:?}", inspection.steps);
    };
    assert_eq!(
        detail,
        "jku, jwk, x5u, x5c present and ignored: keys come from the trusted JWKS only"
    );
}

#[test]
fn a_token_without_kid_is_verified_only_when_exactly_one_trusted_key_fits() {
    let token = sign_with(
        Alg::ES256,
        JwsHeader::new().typ(ID_JAG_TYP).without_kid(),
        &claims(),
    );
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::KidMissing {
            alg: Alg::ES256,
            candidates: 2
        }
    );
    let one = verifier_for(&jwks_with_es256_jwk(json!({})), None);
    assert_eq!(
        one.verify(&token).unwrap().kid,
        Some(key(Alg::ES256).kid().clone())
    );
}

#[test]
fn unusable_or_mislabelled_jwks_are_refused_when_selected() {
    let kid = key(Alg::ES256).kid().clone();
    let token = id_jag(Alg::ES256);
    let cases = [
        (
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            Rejection::JwkKtyMismatch {
                kid: kid.clone(),
                kty: "RSA".into(),
                header_alg: Alg::ES256,
            },
        ),
        (
            json!({"use": "enc"}),
            Rejection::JwkUseNotSig {
                kid: kid.clone(),
                found: "enc".into(),
            },
        ),
        (
            json!({"x": "AAAA"}),
            Rejection::JwkUnusable {
                kid: kid.clone(),
                reason: "`x` is 3 bytes, expected 32".into(),
            },
        ),
        (
            json!({"crv": "P-384"}),
            Rejection::JwkUnusable {
                kid,
                reason: "EC key on curve Some(\"P-384\"); jagspec verifies P-256 only".into(),
            },
        ),
    ];
    for (changes, expected) in cases {
        assert_eq!(
            refused(
                &verifier_for(&jwks_with_es256_jwk(changes.clone()), None),
                &token
            ),
            expected,
            "{changes}"
        );
    }
}

#[test]
fn two_fitting_keys_under_one_kid_are_ambiguous() {
    let jwk = key(Alg::ES256).public_jwk().to_json();
    let jwks = json!({"keys": [jwk.clone(), jwk]});
    assert_eq!(
        refused(&verifier_for(&jwks, None), &id_jag(Alg::ES256)),
        Rejection::KidAmbiguous {
            kid: key(Alg::ES256).kid().clone(),
            count: 2
        }
    );
}

#[test]
fn a_truncated_eddsa_signature_is_refused_by_length() {
    let token = id_jag(Alg::EdDSA);
    let (input, sig) = token.rsplit_once('.').unwrap();
    let truncated = &sig[..sig.len() - 2]; // 84 symbols: 63 bytes
    let r = refused(&verifier(), &format!("{input}.{truncated}"));
    assert_eq!(
        r,
        Rejection::SignatureLength {
            alg: Alg::EdDSA,
            expected: 64,
            found: 63,
            der: false
        }
    );
    assert_eq!(
        r.to_string(),
        "expected a 64-byte EdDSA signature (found 63 bytes)"
    );
}

#[test]
fn malformed_serializations_are_refused_at_step_one() {
    let valid = id_jag(Alg::ES256);
    let (h, rest) = valid.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    assert_eq!(
        refused(&verifier(), "a.b"),
        Rejection::SegmentCount { found: 2 }
    );
    assert_eq!(
        refused(&verifier(), "a.b.c.d.e"),
        Rejection::SegmentCount { found: 5 }
    );
    assert_eq!(
        refused(&verifier().max_token_bytes(100), &valid),
        Rejection::TooLarge {
            limit: 100,
            found: valid.len()
        }
    );
    let padded = format!("{h}.{p}.{s}=");
    assert_eq!(
        refused(&verifier(), &padded),
        Rejection::Base64 {
            part: Part::Signature,
            reason: "padding `=` is not allowed".into()
        }
    );
    let plus = format!("{h}.{}+.{s}", &p[..p.len() - 1]);
    assert!(matches!(
        refused(&verifier(), &plus),
        Rejection::Base64 {
            part: Part::Payload,
            ..
        }
    ));
    let not_json = dangerous::assemble_raw(b"not json", b"{}", b"");
    assert!(matches!(
        refused(&verifier(), &not_json),
        Rejection::Json {
            part: Part::Header,
            ..
        }
    ));
    let array = dangerous::assemble_raw(b"[1]", b"{}", b"");
    assert_eq!(
        refused(&verifier(), &array),
        Rejection::NotAnObject {
            part: Part::Header,
            found: "an array"
        }
    );
}

#[test]
fn duplicate_members_are_refused_in_the_header_and_in_the_signed_payload() {
    let es = key(Alg::ES256);
    let header = format!(
        r#"{{"alg":"ES256","typ":"{ID_JAG_TYP}","kid":"{}","alg":"none"}}"#,
        es.kid()
    );
    let token =
        dangerous::sign_raw(&es, header.as_bytes(), claims().to_string().as_bytes()).unwrap();
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::DuplicateMember {
            part: Part::Header,
            name: "alg".into()
        }
    );

    let good_header = format!(
        r#"{{"alg":"ES256","typ":"{ID_JAG_TYP}","kid":"{}"}}"#,
        es.kid()
    );
    let payload = format!(r#"{{"iss":"{ISSUER}","sub":"alice","sub":"mallory"}}"#);
    let token = dangerous::sign_raw(&es, good_header.as_bytes(), payload.as_bytes()).unwrap();
    let r = refused(&verifier(), &token);
    assert_eq!(
        r,
        Rejection::DuplicateMember {
            part: Part::Payload,
            name: "sub".into()
        }
    );
    assert_eq!(r.step(), Step::Payload);
    let token = dangerous::sign_raw(&es, good_header.as_bytes(), b"[]").unwrap();
    assert_eq!(
        refused(&verifier(), &token),
        Rejection::NotAnObject {
            part: Part::Payload,
            found: "an array"
        }
    );
    let token = dangerous::sign_raw(&es, good_header.as_bytes(), b"{\"sub\":").unwrap();
    let r = refused(&verifier(), &token);
    assert!(
        matches!(&r, Rejection::Json { part: Part::Payload, reason } if reason.contains("EOF")),
        "{r}"
    );
    assert_eq!(r.step(), Step::Payload);
}

#[test]
fn time_claims_are_checked_against_the_injected_clock_at_the_skew_boundary() {
    let mint = |c: Value| sign_with(Alg::EdDSA, JwsHeader::new().typ(ID_JAG_TYP), &c);
    // exp + skew must be after now: exp = now - 59 passes, exp = now - 60 does not.
    assert!(
        verifier()
            .verify(&mint(with_claim("exp", json!(NOW - 59))))
            .is_ok()
    );
    assert_eq!(
        refused(&verifier(), &mint(with_claim("exp", json!(NOW - 60)))),
        Rejection::Expired {
            exp: NOW - 60,
            now: NOW,
            skew: 60
        }
    );
    assert!(
        verifier()
            .verify(&mint(with_claim("iat", json!(NOW + 60))))
            .is_ok()
    );
    assert!(
        verifier()
            .verify(&mint(with_claim("nbf", json!(NOW + 60))))
            .is_ok()
    );
    // No skew: the same instants are judged strictly.
    assert_eq!(
        refused(
            &verifier().skew(0),
            &mint(with_claim("nbf", json!(NOW + 1)))
        ),
        Rejection::NotYetValid {
            nbf: NOW + 1,
            now: NOW,
            skew: 0
        }
    );
    // Moving the clock is all it takes to expire a token: no sleeping.
    let clock = support::clock();
    let v = verifier().clock(clock.clone());
    let token = mint(claims());
    assert!(v.verify(&token).is_ok());
    clock.advance(360);
    assert_eq!(
        refused(&v, &token),
        Rejection::Expired {
            exp: NOW + 300,
            now: NOW + 360,
            skew: 60
        }
    );
}

#[test]
fn time_claims_must_be_present_numbers_and_within_the_lifetime_bound() {
    let mint = |c: Value| sign_with(Alg::EdDSA, JwsHeader::new().typ(ID_JAG_TYP), &c);
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let r = refused(&verifier(), &mint(no_exp));
    assert_eq!(
        r,
        Rejection::ClaimMissing {
            claim: "exp".into()
        }
    );
    assert_eq!(r.step(), Step::Time);
    assert_eq!(
        refused(&verifier(), &mint(with_claim("exp", json!("tomorrow")))),
        Rejection::ClaimType {
            claim: "exp".into(),
            expected: "a NumericDate (a JSON number)",
            found: "a string"
        }
    );
    assert_eq!(
        refused(
            &verifier().max_lifetime(300),
            &mint(with_claim("exp", json!(NOW + 301)))
        ),
        Rejection::LifetimeTooLong {
            lifetime: 301,
            max: 300
        }
    );
    assert!(verifier().max_lifetime(300).verify(&mint(claims())).is_ok());
}

#[test]
fn issuer_audience_and_expected_claims_are_compared_exactly() {
    let mint = |c: Value| sign_with(Alg::RS256, JwsHeader::new().typ(ID_JAG_TYP), &c);
    assert_eq!(
        refused(
            &verifier(),
            &mint(with_claim("iss", json!("https://evil.example")))
        ),
        Rejection::IssuerMismatch {
            expected: ISSUER.into(),
            found: "https://evil.example".into()
        }
    );
    assert_eq!(
        refused(
            &verifier(),
            &mint(with_claim("aud", json!("https://as.example/")))
        ),
        Rejection::AudienceMismatch {
            expected: AUDIENCE.into(),
            found: "\"https://as.example/\"".into()
        }
    );
    assert_eq!(
        refused(
            &verifier(),
            &mint(with_claim(
                "aud",
                json!([AUDIENCE, "https://other.example"])
            ))
        ),
        Rejection::AudienceMultiple {
            expected: AUDIENCE.into(),
            found: format!("[\"{AUDIENCE}\",\"https://other.example\"]"),
        }
    );
    assert!(
        verifier()
            .verify(&mint(with_claim("aud", json!([AUDIENCE]))))
            .is_ok()
    );
    assert_eq!(
        refused(
            &verifier().expect_claim("client_id", "agent-b"),
            &mint(claims())
        ),
        Rejection::ClaimMismatch {
            claim: "client_id".into(),
            expected: "\"agent-b\"".into(),
            found: "\"agent-at-as\"".into(),
        }
    );
    let mut no_jti = claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let r = refused(&verifier(), &mint(no_jti));
    assert_eq!(
        r,
        Rejection::ClaimMissing {
            claim: "jti".into()
        }
    );
    assert_eq!(r.step(), Step::Claims);
}

#[test]
#[should_panic(expected = "a clock skew of 301s exceeds jagspec's bound of 300s")]
fn a_skew_beyond_the_bound_is_refused_at_configuration() {
    let _ = verifier().skew(301);
}

//! Known-answer tests from the RFCs: our signing and verification agree byte for byte with
//! tokens and keys that other implementations produced.

use jagspec::dangerous;
use jagspec::{FixedClock, Part, Rejection, SigningKey, Step, TrustedJwks, Verdict, Verifier};
use serde_json::json;
use std::sync::Arc;

/// RFC 8037 Appendix A.1: the Ed25519 example private key `d` and public key `x`.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// RFC 8037 Appendix A.4: `{"alg":"EdDSA"}` over "Example of Ed25519 signing".
const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn rfc8037_key() -> SigningKey {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let d: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(RFC8037_D)
        .unwrap()
        .try_into()
        .unwrap();
    let pem = ed25519_dalek::SigningKey::from_bytes(&d)
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    SigningKey::from_pem(&pem).unwrap()
}

#[test]
fn ed25519_signing_reproduces_rfc_8037_appendix_a4_exactly() {
    let key = rfc8037_key();
    assert_eq!(key.public_jwk().to_json()["x"], RFC8037_X);
    // Ed25519 is deterministic: the same key and input give the RFC's signature.
    let jws =
        dangerous::sign_raw(&key, br#"{"alg":"EdDSA"}"#, b"Example of Ed25519 signing").unwrap();
    assert_eq!(jws, RFC8037_JWS);
}

#[test]
fn the_rfc_8037_token_passes_the_signature_step_and_stops_at_its_non_json_payload() {
    let jwks = TrustedJwks::from_value(
        &json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}]}),
    )
    .unwrap();
    let verifier = Verifier::new(jwks).any_typ();
    let inspection = verifier.inspect(RFC8037_JWS);
    assert!(matches!(
        inspection.steps[Step::Signature as usize - 1].verdict,
        Verdict::Pass(_)
    ));
    assert!(matches!(
        inspection.result,
        Err(Rejection::Json {
            part: Part::Payload,
            ..
        })
    ));
}

/// RFC 7515 Appendix A.3: an ES256 JWS and the P-256 key that verifies it.
#[test]
fn an_es256_jws_from_rfc_7515_appendix_a3_verifies() {
    let jwks = json!({"keys": [{
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }]});
    let jws = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let verifier = Verifier::new(TrustedJwks::from_value(&jwks).unwrap())
        .any_typ()
        .issuer("joe")
        .clock(Arc::new(FixedClock::at(1_300_819_000)));
    let verified = verifier.verify(jws).unwrap();
    assert_eq!(verified.claims["http://example.com/is_root"], true);
    // An hour later the same token has expired.
    let later = verifier.clock(Arc::new(FixedClock::at(1_300_822_600)));
    assert_eq!(
        later.verify(jws),
        Err(Rejection::Expired {
            exp: 1_300_819_380,
            now: 1_300_822_600,
            skew: 60
        })
    );
}

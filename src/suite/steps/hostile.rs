//! Hostile ID-JAGs: the last ID-JAG re-signed with one property changed (a header, a
//! claim, the key, the signature), so that the change is its only defect and a refusal
//! can only be for that change.

use super::id_jag_parts;
use super::params::{Param, Parameter, present};
use super::redemption::foreign_resource;
use super::{StepError, World, fail};
use crate::types::Secret;
use jagspec_macros::step;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[ID_JAG_IS_RE_SIGNED];

#[step("the ID-JAG is re-signed with {change}")]
async fn id_jag_is_re_signed(world: &mut World, change: Change) -> Result<(), StepError> {
    re_sign(world, &change)
}

/// One property of an ID-JAG changed before it is re-signed.
pub(super) enum Change {
    /// `typ "X"`.
    Typ(String),
    /// `its "C" claim removed`.
    Remove(String),
    /// `its "C" claim set to "V"`.
    Set(String, Value),
    /// `its "C" claim N seconds after its "iat" claim` (negative: before).
    AfterIat(String, i64),
    /// `a second audience "V"`.
    SecondAudience(String),
    /// `its audience followed by a slash`.
    AudienceSlash,
    /// `a resource of another authorization server`.
    ForeignResource,
    /// `two resources, its own and another authorization server's` (RFC 8707 §2: a
    /// server may grant a subset, never the foreign one).
    TwoResources,
    /// `its "H" header set to "V"`: signed by the issuer's key all the same.
    Header(String, String),
    /// `no signature and alg "X"`: an unsecured JWS (RFC 7519 §6), in any spelling of
    /// `none`.
    Unsecured(String),
    /// `HS256 keyed with the issuer's public key as JWK|PEM`: the key-confusion attack
    /// (RFC 8725 §2.1, §3.1).
    Hs256PublicKey { pem: bool },
    /// `an unknown kid`: the issuer's key, under a `kid` its JWKS does not publish.
    UnknownKid,
    /// `a key the issuer never published`: under the issuer's `kid`.
    UnpublishedKey,
    /// `a key of its own embedded as "jwk"`: the attacker's key, offered in the header
    /// (RFC 8725 §3.10: never trust a key the token carries).
    EmbeddedJwk,
    /// `the issuer's <alg> key`: a published key of an algorithm the server is not
    /// pinned to.
    OtherAlgKey(crate::jose::Alg),
    /// `an unknown critical header`: `crit` naming an extension nobody understands
    /// (RFC 7515 §4.1.11).
    UnknownCrit,
    /// `its payload changed after signing`: a fresh `jti`, the signature kept.
    PayloadAfterSigning,
    /// `a key of its own published at "jku"`: the attacker's key, with a `jku` naming the
    /// attacker's JWKS (RFC 8725 §3.10).
    Jku,
    /// `the shape of an ID token`: `typ` `JWT`, `aud` the client, no `resource`: the
    /// subject token presented as the assertion.
    IdTokenShape,
    /// `a claim padding it to N bytes`: an oversized assertion.
    Padded(usize),
    /// `no typ`: the header has no `typ` at all.
    NoTyp,
    /// `a certificate of its own embedded as "x5c"`: the attacker's key, its self-signed
    /// certificate in the header (RFC 8725 §3.10).
    X5c,
    /// `a certificate of its own published at "x5u"`: the attacker's key, the header
    /// pointing at its certificate.
    X5u,
}

impl Parameter for Change {
    const NAME: &'static str = "change";
    const REGEX: &'static str = ".+";
}

impl Param for Change {
    /// One of the forms below; anything else is no step.
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        let text = present(capture)?;
        parse_change(text).ok_or_else(|| format!("`{text}` is no change the suite can make"))
    }
}

fn parse_change(text: &str) -> Option<Change> {
    static FORMS: LazyLock<[Regex; 21]> = LazyLock::new(|| {
        [
            r#"^typ "([^"]*)"$"#,
            r#"^its "([^"]+)" claim removed$"#,
            r#"^its "([^"]+)" claim set to "([^"]*)"$"#,
            r#"^its "([^"]+)" claim (\d+) seconds (after|before) its "iat" claim$"#,
            r#"^a second audience "([^"]+)"$"#,
            r"^its audience followed by a slash$",
            r"^a resource of another authorization server$",
            r#"^its "([^"]+)" header set to "([^"]*)"$"#,
            r#"^no signature and alg "([^"]*)"$"#,
            r"^HS256 keyed with the issuer's public key as (JWK|PEM)$",
            r"^an unknown kid$",
            r"^a key the issuer never published$",
            r#"^a key of its own embedded as "jwk"$"#,
            r"^the issuer's (EdDSA|RS256|ES256) key$",
            r"^(an unknown critical header|its payload changed after signing)$",
            r"^two resources, its own and another authorization server's$",
            r#"^a key of its own published at "jku"$"#,
            r"^the shape of an ID token$",
            r"^a claim padding it to (\d+) bytes$",
            r"^no typ$",
            r#"^a certificate of its own (embedded as "x5c"|published at "x5u")$"#,
        ]
        .map(|p| Regex::new(p).unwrap_or_else(|e| panic!("change pattern {p}: {e}")))
    });
    let (i, c) = FORMS
        .iter()
        .enumerate()
        .find_map(|(i, re)| re.captures(text).map(|c| (i, c)))?;
    let get = |n: usize| c.get(n).map_or("", |m| m.as_str()).to_owned();
    Some(match i {
        0 => Change::Typ(get(1)),
        1 => Change::Remove(get(1)),
        2 => Change::Set(get(1), Value::String(get(2))),
        3 => {
            let n: i64 = get(2).parse().ok()?;
            Change::AfterIat(get(1), if get(3) == "before" { -n } else { n })
        }
        4 => Change::SecondAudience(get(1)),
        5 => Change::AudienceSlash,
        6 => Change::ForeignResource,
        7 => Change::Header(get(1), get(2)),
        8 => Change::Unsecured(get(1)),
        9 => Change::Hs256PublicKey {
            pem: get(1) == "PEM",
        },
        10 => Change::UnknownKid,
        11 => Change::UnpublishedKey,
        12 => Change::EmbeddedJwk,
        13 => Change::OtherAlgKey(get(1).parse().ok()?),
        14 if get(1) == "an unknown critical header" => Change::UnknownCrit,
        14 => Change::PayloadAfterSigning,
        15 => Change::TwoResources,
        16 => Change::Jku,
        17 => Change::IdTokenShape,
        18 => Change::Padded(get(1).parse().ok()?),
        19 => Change::NoTyp,
        _ if get(1).contains("x5c") => Change::X5c,
        _ => Change::X5u,
    })
}

/// The attacker's key of `alg` (see [`super::super::idp::attacker_keys`]).
pub(super) fn attacker_key(alg: crate::jose::Alg) -> Result<crate::jose::SigningKey, StepError> {
    super::super::idp::attacker_keys()
        .iter()
        .find(|k| k.alg() == alg)
        .cloned()
        .ok_or_else(|| fail(format!("an {alg} key of the suite's own"), "none generated"))
}

/// Re-signs the last ID-JAG with the issuer's own key (same `kid`) with one property
/// changed: a token whose only defect is that change.
fn re_sign(world: &mut World, change: &Change) -> Result<(), StepError> {
    use crate::jose::dangerous;
    let Some(keys) = &world.target.signing_keys else {
        return Err(StepError::Skip(
            "the suite does not hold the target issuer's signing keys".into(),
        ));
    };
    let (old_header, mut claims) = id_jag_parts(world)?;
    let kid = crate::types::Kid::new(old_header["kid"].as_str().unwrap_or_default());
    let Some((issuer_key, _)) = keys.get(&kid) else {
        return Err(StepError::Skip(format!(
            "the suite holds no key with the ID-JAG's kid `{}`",
            kid.as_str()
        )));
    };
    let mut key = issuer_key.clone();
    // The header as the issuer wrote it, in its order: typ, alg, kid.
    let mut header = serde_json::json!({
        "typ": old_header["typ"].clone(),
        "alg": key.alg().as_str(),
        "kid": kid.as_str(),
    });
    if old_header["typ"].is_null()
        && let Value::Object(map) = &mut header
    {
        map.remove("typ");
    }
    let iat = claims["iat"].as_i64().unwrap_or(0);
    let failed = |e: String| fail("a re-signed ID-JAG", e);
    let token = match change {
        Change::Unsecured(alg) => {
            header["alg"] = Value::from(alg.as_str());
            dangerous::assemble(&header, &claims, b"")
        }
        Change::Hs256PublicKey { pem } => {
            header["alg"] = Value::from("HS256");
            let secret = if *pem {
                key.public_pem().map_err(|e| failed(e.to_string()))?
            } else {
                key.public_jwk().to_json().to_string()
            };
            dangerous::hs256(secret.as_bytes(), &header, &claims).map_err(failed)?
        }
        Change::PayloadAfterSigning => {
            let signed = dangerous::sign_raw(
                &key,
                header.to_string().as_bytes(),
                claims.to_string().as_bytes(),
            )
            .map_err(failed)?;
            // A fresh `jti`: the one change that leaves the claims otherwise valid, so only
            // the signature can refuse it.
            claims["jti"] = Value::from(crate::oauth::random_id());
            dangerous::replace_payload(&signed, &claims)
        }
        _ => {
            match change {
                Change::Typ(t) => header["typ"] = Value::from(t.as_str()),
                Change::Remove(c) => {
                    if let Value::Object(map) = &mut claims {
                        map.remove(c);
                    }
                }
                Change::Set(c, v) => claims[c.as_str()] = v.clone(),
                Change::AfterIat(c, secs) => {
                    claims[c.as_str()] = Value::from(iat.saturating_add(*secs));
                }
                Change::SecondAudience(other) => {
                    let aud = claims["aud"].clone();
                    claims["aud"] = Value::Array(vec![aud, Value::String(other.clone())]);
                }
                Change::AudienceSlash => {
                    let aud = claims["aud"].as_str().unwrap_or_default().to_owned();
                    claims["aud"] = Value::String(format!("{aud}/"));
                }
                Change::ForeignResource => {
                    claims["resource"] = Value::String(foreign_resource(world)?);
                }
                Change::TwoResources => {
                    let own = claims["resource"].clone();
                    claims["resource"] = serde_json::json!([own, foreign_resource(world)?]);
                }
                Change::Header(name, value) => header[name.as_str()] = Value::from(value.as_str()),
                Change::UnknownKid => {
                    header["kid"] = Value::from(format!("unknown-{}", crate::oauth::random_id()));
                }
                Change::UnpublishedKey => key = attacker_key(key.alg())?,
                Change::EmbeddedJwk => {
                    key = attacker_key(key.alg())?;
                    header["jwk"] = key.public_jwk().to_json();
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::OtherAlgKey(alg) => {
                    key = keys
                        .active(*alg)
                        .cloned()
                        .ok_or_else(|| StepError::Skip(format!("the suite holds no {alg} key")))?;
                    header["alg"] = Value::from(alg.as_str());
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::Jku => {
                    let url = world.target.attacker_jwks_url.clone().ok_or_else(|| {
                        StepError::Skip("the suite serves no attacker JWKS for this target".into())
                    })?;
                    key = attacker_key(key.alg())?;
                    header["jku"] = Value::from(url);
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::IdTokenShape => {
                    header["typ"] = Value::from("JWT");
                    let client = claims["client_id"].clone();
                    claims["aud"] = client;
                    if let Value::Object(map) = &mut claims {
                        map.remove("resource");
                        map.remove("client_id");
                        map.remove("scope");
                    }
                }
                Change::X5c | Change::X5u => {
                    let alg = key.alg();
                    key = attacker_key(alg)?;
                    let (_, der, _) = super::super::idp::attacker_certificates()
                        .iter()
                        .find(|(a, _, _)| *a == alg)
                        .ok_or_else(|| {
                            fail(
                                format!("a certificate for the {alg} attacker key"),
                                "none made",
                            )
                        })?;
                    if matches!(change, Change::X5c) {
                        // RFC 7515 §4.1.6: standard base64 of the DER, not base64url.
                        header["x5c"] = serde_json::json!([base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            der
                        )]);
                    } else {
                        let jwks = world.target.attacker_jwks_url.clone().ok_or_else(|| {
                            StepError::Skip(
                                "the suite serves no attacker certificate for this target".into(),
                            )
                        })?;
                        header["x5u"] = Value::from(jwks.replace(
                            "jwks.json",
                            &format!("{}.pem", alg.as_str().to_ascii_lowercase()),
                        ));
                    }
                    header["kid"] = Value::from(key.kid().as_str());
                }
                Change::NoTyp => {
                    if let Value::Object(map) = &mut header {
                        map.remove("typ");
                    }
                }
                Change::Padded(bytes) => {
                    claims["x-jagspec-padding"] = Value::from("A".repeat(*bytes));
                }
                Change::UnknownCrit => {
                    header["crit"] = serde_json::json!(["urn:jagspec:unknown"]);
                    header["urn:jagspec:unknown"] = Value::Bool(true);
                }
                Change::Unsecured(_)
                | Change::Hs256PublicKey { .. }
                | Change::PayloadAfterSigning => {}
            }
            dangerous::sign_raw(
                &key,
                header.to_string().as_bytes(),
                claims.to_string().as_bytes(),
            )
            .map_err(failed)?
        }
    };
    world.id_jag = Some(Secret::new(token));
    Ok(())
}

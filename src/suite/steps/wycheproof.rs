//! Wycheproof's signature edge cases: each applied to the last ID-JAG's signature and
//! redeemed, every invalid one to be refused.

use super::post_form;
use super::redemption::redemption_form;
use super::{StepError, World, fail};
use crate::oauth::JWT_BEARER_GRANT;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[EACH_CASE_IS_REDEEMED, CASES_ARE_GRADED];

#[step("each Wycheproof signature case of the ID-JAG is redeemed at its authorization server")]
async fn each_case_is_redeemed(world: &mut World) -> Result<(), StepError> {
    redeem_wycheproof(world).await
}

#[step("every invalid case is refused, and an acceptable one that is accepted is a warning")]
async fn cases_are_graded(world: &mut World) -> Result<(), StepError> {
    let accepted = |expected| -> Vec<&WycheproofOutcome> {
        world
            .wycheproof
            .iter()
            .filter(|o| o.expected == expected && o.status == 200)
            .collect()
    };
    let accepted_invalid = accepted(crate::jose::wycheproof::Expected::Invalid);
    let accepted_acceptable = accepted(crate::jose::wycheproof::Expected::Acceptable);
    let tried = world.wycheproof.len();
    if tried == 0 {
        return Err(fail("Wycheproof cases redeemed by an earlier step", "none"));
    }
    if let Some(first) = accepted_invalid.first() {
        Err(fail(
            format!("each of {tried} cases Wycheproof grades invalid to be refused"),
            format!(
                "{} accepted, first {} ({}; flags {})",
                accepted_invalid.len(),
                first.source,
                first.comment,
                first.flags.join(", ")
            ),
        ))
    } else if let Some(first) = accepted_acceptable.first() {
        Err(StepError::Warn {
            expected: "the cases Wycheproof grades acceptable refused too".into(),
            actual: format!(
                "{} accepted, first {} ({}; flags {})",
                accepted_acceptable.len(),
                first.source,
                first.comment,
                first.flags.join(", ")
            ),
        })
    } else {
        Ok(())
    }
}

/// One Wycheproof case's redemption.
#[derive(Debug, Clone)]
pub(super) struct WycheproofOutcome {
    source: String,
    comment: String,
    flags: Vec<String>,
    expected: crate::jose::wycheproof::Expected,
    status: u16,
}

/// Redeems every Wycheproof edge case of the last ID-JAG's signature, invalid cases first
/// (an accepted one consumes the `jti`, so it must be seen before anything else is).
async fn redeem_wycheproof(world: &mut World) -> Result<(), StepError> {
    use crate::jose::wycheproof::{Expected, edge_cases};
    let Some(keys) = world.target.signing_keys.clone() else {
        return Err(StepError::Skip(
            "the suite does not hold the target issuer's signing keys".into(),
        ));
    };
    let token = world
        .id_jag
        .clone()
        .ok_or_else(|| fail("an ID-JAG from an earlier step", "none was issued"))?;
    let mut parts = token.secret().split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err(fail("a compact JWS", "something else"));
    };
    let decode = |part: &str| crate::jose::b64_decode(part).ok();
    let (Some(header), Some(payload)) = (decode(h), decode(p)) else {
        return Err(fail("a compact JWS", "something else"));
    };
    let kid: Value = serde_json::from_slice(&header).unwrap_or(Value::Null);
    let kid = crate::types::Kid::new(kid["kid"].as_str().unwrap_or_default());
    let Some((key, _)) = keys.get(&kid) else {
        return Err(StepError::Skip(format!(
            "the suite holds no key with the ID-JAG's kid `{}`",
            kid.as_str()
        )));
    };
    let mut cases = edge_cases(key, &header, &payload).map_err(|e| fail("Wycheproof cases", e))?;
    cases.sort_by_key(|c| match c.expected {
        Expected::Invalid => 0,
        Expected::Acceptable => 1,
        Expected::Valid => 2,
    });
    let (server, _) = redemption_form(world)?;
    world.wycheproof.clear();
    for case in cases {
        let form = vec![
            ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
            ("assertion".to_owned(), case.token.clone()),
        ];
        let answer = post_form(
            &world.http,
            &server.token_endpoint,
            Some((&server.client.client_id, server.client.secret.secret())),
            &form,
        )
        .await?;
        world.wycheproof.push(WycheproofOutcome {
            source: case.source,
            comment: case.comment,
            flags: case.flags,
            expected: case.expected,
            status: answer.status,
        });
        let accepted_invalid = answer.status == 200 && case.expected == Expected::Invalid;
        world.last = Some(answer);
        if accepted_invalid {
            // The jti is spent: later cases would be refused for replay, not signature.
            break;
        }
    }
    Ok(())
}

//! The ID-JAG itself: its header and claims as the issuer signed them, and minting one
//! in-process when jagspec plays the issuer (`jagspec test as`).

use super::params::RolePart;
use super::signin::subject_sub;
use super::{StepError, World, claim_list, expect_eq, fail, id_jag_parts, role, show};
use jagspec_macros::step;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    ID_JAG_IS_SIGNED_WITH,
    ID_JAG_HEADER_IS,
    ID_JAG_CARRIES_THE_CLAIMS,
    ID_JAG_CARRIES_NONE_OF_THE_CLAIMS,
    ID_JAG_CLAIM_IS_THE_ROLES,
    ID_JAG_CLAIM_IS,
    ID_JAG_SUB_IS_THE_SUBJECT_TOKENS,
    ID_JAG_LIVES,
];

#[step("the ID-JAG is signed with {alg}")]
async fn id_jag_is_signed_with(world: &mut World, alg: crate::jose::Alg) -> Result<(), StepError> {
    let (header, _) = id_jag_parts(world)?;
    expect_eq(
        "alg",
        alg.as_str(),
        header["alg"].as_str().unwrap_or_default(),
    )
}

#[step("the ID-JAG has the header {string} equal to {string}")]
async fn id_jag_header_is(world: &mut World, name: String, want: String) -> Result<(), StepError> {
    let (header, _) = id_jag_parts(world)?;
    let found = header.get(&name).map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("header `{name}`"), &want, &found)
}

#[step("the ID-JAG carries the claims {}")]
async fn id_jag_carries_the_claims(world: &mut World, list: String) -> Result<(), StepError> {
    let missing = claims_where(world, &list, false)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(fail(
            format!("claims {list}"),
            format!("no {}", missing.join(", ")),
        ))
    }
}

#[step("the ID-JAG carries none of the claims {}")]
async fn id_jag_carries_none_of_the_claims(
    world: &mut World,
    list: String,
) -> Result<(), StepError> {
    let present = claims_where(world, &list, true)?;
    if present.is_empty() {
        Ok(())
    } else {
        Err(fail(
            format!("none of the claims {list}"),
            format!("{} present", present.join(", ")),
        ))
    }
}

#[step("the ID-JAG's {string} claim is the role's {role_part}")]
async fn id_jag_claim_is_the_roles(
    world: &mut World,
    claim: String,
    part: RolePart,
) -> Result<(), StepError> {
    let want = part.of(&role(world)?);
    let (_, claims) = id_jag_parts(world)?;
    let found = claims.get(&claim).map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("claim `{claim}`"), &want, &found)
}

#[step("the ID-JAG's {string} claim is {string}")]
async fn id_jag_claim_is(world: &mut World, claim: String, want: String) -> Result<(), StepError> {
    let (_, claims) = id_jag_parts(world)?;
    let found = claims.get(&claim).map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("claim `{claim}`"), &want, &found)
}

#[step(r#"the ID-JAG's "sub" claim is the subject token's"#)]
async fn id_jag_sub_is_the_subject_tokens(world: &mut World) -> Result<(), StepError> {
    let want = subject_sub(world)?;
    let (_, claims) = id_jag_parts(world)?;
    let found = claims.get("sub").map_or_else(|| "absent".to_owned(), show);
    expect_eq("claim `sub`", &want, &found)
}

#[step("the ID-JAG lives {int} seconds")]
async fn id_jag_lives(world: &mut World, seconds: i64) -> Result<(), StepError> {
    let (_, claims) = id_jag_parts(world)?;
    let lifetime = claims["exp"]
        .as_i64()
        .zip(claims["iat"].as_i64())
        .map(|(e, i)| e - i);
    let found = lifetime.map_or_else(|| "no exp or iat".to_owned(), |l| l.to_string());
    expect_eq("exp - iat", &seconds.to_string(), &found)
}

/// The claims of `list` (as the step wrote them) that the last ID-JAG has (`present`) or
/// lacks.
pub(super) fn claims_where(
    world: &World,
    list: &str,
    present: bool,
) -> Result<Vec<String>, StepError> {
    let (_, claims) = id_jag_parts(world)?;
    Ok(claim_list(list)
        .into_iter()
        .filter(|c| claims.get(c).is_some() == present)
        .collect())
}

//! The last answer of the issuer or an authorization server: granted, or denied with an
//! HTTP status and an OAuth error (RFC 6749 §5.2), and its members and headers.

use super::params::{Param, Parameter, RolePart, present};
use super::{StepError, World, describe, expect_eq, fail, last, role, show};
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    IS_GRANTED,
    IS_DENIED,
    IS_REFUSED,
    RESPONSE_MEMBER_IS,
    RESPONSE_HAS_NO_MEMBER,
    RESPONSE_MEMBER_IS_THE_ROLES,
    RESPONSE_HEADER_IS,
    RESPONSE_HEADER_STARTS_WITH,
];

/// Which request a denial sentence speaks of; the last answer whichever it is.
pub(super) struct Exchanged;

impl Parameter for Exchanged {
    const NAME: &'static str = "exchanged";
    const REGEX: &'static str = "request|redemption|administration request";
}

impl Param for Exchanged {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        present(capture).map(|_| Self)
    }
}

/// `"e1"`, `"e1" or "e2"` (a second error where the documents disagree), optionally
/// followed by `, or "e3" as a warning` (an error the documents allow but jagspec's
/// position does not expect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExpectedErrors {
    accepted: Vec<String>,
    tolerated: Option<String>,
}

impl Parameter for ExpectedErrors {
    const NAME: &'static str = "errors";
    const REGEX: &'static str = r#""[^"]+"(?: or "[^"]+")?(?:, or "[^"]+" as a warning)?"#;
}

impl Param for ExpectedErrors {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        let text = present(capture)?;
        let (accepted, tolerated) = match text.split_once(", or ") {
            Some((accepted, warning)) => {
                let warning = warning
                    .strip_suffix(" as a warning")
                    .ok_or_else(|| format!("`{warning}` does not end with `as a warning`"))?;
                (accepted, Some(warning.trim_matches('"').to_owned()))
            }
            None => (text, None),
        };
        let accepted = accepted
            .split(" or ")
            .map(|e| e.trim_matches('"').to_owned())
            .collect();
        Ok(Self {
            accepted,
            tolerated,
        })
    }
}

#[step("the request/redemption is granted")]
async fn is_granted(world: &mut World) -> Result<(), StepError> {
    let last = last(world)?;
    if last.status == 200 {
        Ok(())
    } else {
        Err(fail("HTTP 200", describe(last)))
    }
}

#[step("the {exchanged} is denied/refused with HTTP {int} and (OAuth )error {errors}")]
async fn is_denied(
    world: &mut World,
    _exchanged: Exchanged,
    status: u16,
    errors: ExpectedErrors,
) -> Result<(), StepError> {
    let last = last(world)?;
    let want = format!(
        "HTTP {status} with error {}",
        errors
            .accepted
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let found_error = last.body.get("error").and_then(Value::as_str).unwrap_or("");
    let error_ok = errors.accepted.iter().any(|e| e == found_error);
    let status_ok = last.status == status;
    if status_ok && error_ok {
        Ok(())
    } else if status_ok && errors.tolerated.as_deref() == Some(found_error) {
        Err(StepError::Warn {
            expected: want,
            actual: describe(last),
        })
    } else {
        Err(fail(want, describe(last)))
    }
}

#[step("the redemption is refused")]
async fn is_refused(world: &mut World) -> Result<(), StepError> {
    let last = last(world)?;
    if (400..500).contains(&last.status) {
        Ok(())
    } else {
        Err(fail("a refusal (HTTP 4xx)", describe(last)))
    }
}

#[step("the response's {string} is {string}")]
async fn response_member_is(
    world: &mut World,
    member: String,
    want: String,
) -> Result<(), StepError> {
    let last = last(world)?;
    let found = last
        .body
        .get(&member)
        .map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("member `{member}`"), &want, &found)
}

#[step("the response has no {string}")]
async fn response_has_no_member(world: &mut World, member: String) -> Result<(), StepError> {
    let last = last(world)?;
    match last.body.get(&member) {
        None => Ok(()),
        Some(v) => Err(fail(format!("no member `{member}`"), show(v))),
    }
}

#[step("the response's {string} is the role's {role_part}")]
async fn response_member_is_the_roles(
    world: &mut World,
    member: String,
    part: RolePart,
) -> Result<(), StepError> {
    let want = part.of(&role(world)?);
    let last = last(world)?;
    let found = last
        .body
        .get(&member)
        .map_or_else(|| "absent".to_owned(), show);
    expect_eq(&format!("member `{member}`"), &want, &found)
}

#[step("the response's {string} header is {string}")]
async fn response_header_is(
    world: &mut World,
    name: String,
    want: String,
) -> Result<(), StepError> {
    header_matches(world, &name, "is", |v| v == want, &want)
}

#[step("the response's {string} header starts with {string}")]
async fn response_header_starts_with(
    world: &mut World,
    name: String,
    prefix: String,
) -> Result<(), StepError> {
    header_matches(
        world,
        &name,
        "starts with",
        |v| v.starts_with(&prefix),
        &prefix,
    )
}

/// The last answer's header `name` (any case) satisfies `test`.
fn header_matches(
    world: &World,
    name: &str,
    relation: &str,
    test: impl Fn(&str) -> bool,
    want: &str,
) -> Result<(), StepError> {
    let last = last(world)?;
    let lower = name.to_ascii_lowercase();
    let found = last
        .headers
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, v)| v.clone());
    if found.as_deref().is_some_and(test) {
        Ok(())
    } else {
        Err(fail(
            format!("header `{name}` that {relation} `{want}`"),
            found.map_or_else(|| "no such header".to_owned(), |v| format!("`{v}`")),
        ))
    }
}

//! The parameter types steps take: how a capture becomes a typed argument, and the
//! custom parameter types the patterns of several domains share.

use super::super::role::{RoleName, UnknownRole};
use super::super::target::Role;

/// A step parameter, read from its capture when the features load (to refuse a sentence
/// that does not read) and again when the step runs.
pub(crate) trait Param: Sized {
    /// Reads the capture; `None` is an optional part of the sentence left out.
    fn parse(capture: Option<&str>) -> Result<Self, String>;
}

/// A custom parameter type of the Cucumber Expressions: `{NAME}` in a pattern matches
/// `REGEX` (which has no capture group of its own).
pub(crate) trait Parameter {
    const NAME: &'static str;
    const REGEX: &'static str;
}

/// A capture that must be there (every parameter but an `Option`).
pub(crate) fn present(capture: Option<&str>) -> Result<&str, String> {
    capture.ok_or_else(|| "a capture the sentence left out".to_owned())
}

impl Param for String {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        present(capture).map(str::to_owned)
    }
}

impl Param for Option<String> {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        Ok(capture.map(str::to_owned))
    }
}

/// Numbers read exactly: a number too large for the type is refused, never wrapped or
/// replaced by a default.
macro_rules! number_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn parse(capture: Option<&str>) -> Result<Self, String> {
                let text = present(capture)?;
                text.parse()
                    .map_err(|e| format!("`{text}` is not a {}: {e}", stringify!($t)))
            }
        }
    )*};
}
number_param!(i64, u64, usize, u16);

impl Parameter for crate::jose::Alg {
    const NAME: &'static str = "alg";
    const REGEX: &'static str = "EdDSA|RS256|ES256";
}

impl Param for crate::jose::Alg {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        let text = present(capture)?;
        text.parse()
            .map_err(|_| format!("`{text}` is not an algorithm jagspec knows"))
    }
}

/// `{role}`: a role the target may offer, read whole (its own type says which sentences
/// are roles, and refuses the rest when the features load).
impl Parameter for RoleName {
    const NAME: &'static str = "role";
    const REGEX: &'static str = ".+";
}

impl Param for RoleName {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        present(capture)?
            .parse()
            .map_err(|e: UnknownRole| e.to_string())
    }
}

/// `the role's audience|resource|scope`: one of the role's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RolePart {
    Audience,
    Resource,
    Scope,
}

impl RolePart {
    /// The role's value of this part.
    pub(crate) fn of(self, role: &Role) -> String {
        match self {
            Self::Audience => role.audience.clone(),
            Self::Resource => role.resource.clone(),
            Self::Scope => role.scope.clone(),
        }
    }
}

impl Parameter for RolePart {
    const NAME: &'static str = "role_part";
    const REGEX: &'static str = "audience|resource|scope";
}

impl Param for RolePart {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "audience" => Ok(Self::Audience),
            "resource" => Ok(Self::Resource),
            "scope" => Ok(Self::Scope),
            other => Err(format!("`{other}` is not a part of a role")),
        }
    }
}

/// `granted|denied`: an audit outcome, of the request or of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Granted,
    Denied,
}

impl Outcome {
    /// As the audit event spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
        }
    }
}

impl Parameter for Outcome {
    const NAME: &'static str = "outcome";
    const REGEX: &'static str = "granted|denied";
}

impl Param for Outcome {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "granted" => Ok(Self::Granted),
            "denied" => Ok(Self::Denied),
            other => Err(format!("`{other}` is not an outcome")),
        }
    }
}

/// The `N` of "within N seconds", at most [`Wait::MAX_SECS`]: a longer wait (or a number
/// too large to read) is refused when the features load, so a deadline never overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait(pub(crate) u64);

impl Wait {
    /// The longest wait a step sentence may ask for.
    pub(crate) const MAX_SECS: u64 = 600;
}

impl Param for Wait {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        let text = present(capture)?;
        text.parse()
            .ok()
            .filter(|s| *s <= Self::MAX_SECS)
            .map(Self)
            .ok_or_else(|| format!("a wait of {text} seconds: at most {}", Self::MAX_SECS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_too_large_for_its_type_is_refused_rather_than_defaulted() {
        assert_eq!(u64::parse(Some("12")), Ok(12));
        assert!(u64::parse(Some("99999999999999999999999")).is_err());
        assert!(i64::parse(None).is_err());
    }

    #[test]
    fn a_wait_reads_up_to_ten_minutes_and_no_more() {
        assert_eq!(Wait::parse(Some("600")), Ok(Wait(600)));
        assert!(Wait::parse(Some("601")).is_err());
    }
}

//! The roles a check may ask a target for ("Given the target offers the ES256 server
//! paused"), as a type: each is a state of one algorithm's server, or one property of a
//! server whatever its algorithm. A sentence is read into a [`RoleName`] when the
//! features load, so a role jagspec does not know is refused before anything runs; the
//! reference target and the profiles key the roles they offer by it, so the two cannot
//! spell a role differently.

use crate::jose::Alg;
use std::fmt;
use std::str::FromStr;

/// A role, as the feature files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleName {
    /// A state of the server that verifies one algorithm: algorithm × kind.
    Of(Alg, ServerRole),
    /// "a server with an indefinite maximum grant lifetime".
    IndefiniteLifetime,
    /// "a server with a maximum grant lifetime of {n} seconds".
    MaxLifetime(u64),
    /// "a server that inherits the tenant default algorithm".
    InheritsDefaultAlg,
    /// "a server with a single resource URI".
    SingleResourceUri,
    /// "an unregistered audience": no resource server has it.
    UnregisteredAudience,
    /// "a server whose authorization server verifies another algorithm".
    VerifiesAnotherAlg,
}

/// What a check asks of one algorithm's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerRole {
    /// "the {alg} server": active, with a scope the test user is granted.
    Server,
    /// "an ungranted scope of the {alg} server".
    UngrantedScope,
    /// "a scope of the {alg} server that is not enabled".
    ScopeNotEnabled,
    /// "an unlisted target of the {alg} server": a resource URI it does not list.
    UnlistedTarget,
    /// "the {alg} server paused": its kill switch is on.
    Paused,
    /// "the {alg} server without a signing key": the tenant has no active key of `alg`.
    WithoutSigningKey,
}

impl ServerRole {
    /// Every kind, in the order the issuer-denial outlines use them.
    pub const ALL: [Self; 6] = [
        Self::Server,
        Self::UngrantedScope,
        Self::ScopeNotEnabled,
        Self::UnlistedTarget,
        Self::Paused,
        Self::WithoutSigningKey,
    ];
}

impl RoleName {
    /// "the {alg} server".
    pub fn server(alg: Alg) -> Self {
        Self::Of(alg, ServerRole::Server)
    }
}

/// The sentences without an algorithm, with their roles (the lifetime of `n` seconds
/// apart, which carries a number).
const FIXED: [(&str, RoleName); 5] = [
    (
        "a server with an indefinite maximum grant lifetime",
        RoleName::IndefiniteLifetime,
    ),
    (
        "a server that inherits the tenant default algorithm",
        RoleName::InheritsDefaultAlg,
    ),
    (
        "a server with a single resource URI",
        RoleName::SingleResourceUri,
    ),
    ("an unregistered audience", RoleName::UnregisteredAudience),
    (
        "a server whose authorization server verifies another algorithm",
        RoleName::VerifiesAnotherAlg,
    ),
];

/// Each kind's sentence around the algorithm's name: `(before, after)`.
fn around(kind: ServerRole) -> (&'static str, &'static str) {
    match kind {
        ServerRole::Server => ("the ", " server"),
        ServerRole::UngrantedScope => ("an ungranted scope of the ", " server"),
        ServerRole::ScopeNotEnabled => ("a scope of the ", " server that is not enabled"),
        ServerRole::UnlistedTarget => ("an unlisted target of the ", " server"),
        ServerRole::Paused => ("the ", " server paused"),
        ServerRole::WithoutSigningKey => ("the ", " server without a signing key"),
    }
}

const LIFETIME: (&str, &str) = ("a server with a maximum grant lifetime of ", " seconds");

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Of(alg, kind) => {
                let (before, after) = around(*kind);
                write!(f, "{before}{alg}{after}")
            }
            Self::MaxLifetime(n) => write!(f, "{}{n}{}", LIFETIME.0, LIFETIME.1),
            fixed => {
                let (text, _) = FIXED
                    .iter()
                    .find(|(_, r)| r == fixed)
                    .unwrap_or_else(|| unreachable!("FIXED lists every role without an argument"));
                f.write_str(text)
            }
        }
    }
}

/// A sentence that names no role jagspec knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is no role jagspec knows: the roles are \"the <alg> server\" (optionally \
     \"paused\" or \"without a signing key\"), \"an ungranted scope of the <alg> server\", \
     \"a scope of the <alg> server that is not enabled\", \"an unlisted target of the <alg> \
     server\", \"a server with a maximum grant lifetime of <n> seconds\" and {fixed}, \
     where <alg> is EdDSA, RS256 or ES256",
    fixed = fixed_list()
)]
pub struct UnknownRole(pub String);

fn fixed_list() -> String {
    FIXED
        .iter()
        .map(|(t, _)| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for RoleName {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some((_, role)) = FIXED.iter().find(|(t, _)| *t == text) {
            return Ok(*role);
        }
        let unknown = || UnknownRole(text.to_owned());
        if let Some(n) = text
            .strip_prefix(LIFETIME.0)
            .and_then(|rest| rest.strip_suffix(LIFETIME.1))
        {
            // Digits only: `+5` or ` 5` would read as a number but is not how one is written.
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(unknown());
            }
            return n.parse().map(Self::MaxLifetime).map_err(|_| unknown());
        }
        // The algorithm is exactly what lies between a kind's words.
        for kind in ServerRole::ALL {
            let (before, after) = around(kind);
            if let Some(alg) = text
                .strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after))
                .and_then(|alg| alg.parse::<Alg>().ok())
            {
                return Ok(Self::Of(alg, kind));
            }
        }
        Err(unknown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_the_sentence_it_writes() {
        let mut all: Vec<RoleName> = FIXED.iter().map(|(_, r)| *r).collect();
        all.push(RoleName::MaxLifetime(600));
        for alg in Alg::ALL {
            all.extend(ServerRole::ALL.map(|k| RoleName::Of(alg, k)));
        }
        for role in all {
            let text = role.to_string();
            assert_eq!(text.parse::<RoleName>(), Ok(role), "{text}");
        }
    }

    #[test]
    fn a_state_of_a_server_is_read_whole_and_never_as_the_plain_server() {
        assert_eq!(
            "the ES256 server paused".parse(),
            Ok(RoleName::Of(Alg::ES256, ServerRole::Paused))
        );
        assert_eq!(
            "the EdDSA server without a signing key".parse(),
            Ok(RoleName::Of(Alg::EdDSA, ServerRole::WithoutSigningKey))
        );
        assert_eq!("the RS256 server".parse(), Ok(RoleName::server(Alg::RS256)));
    }

    #[test]
    fn an_unknown_role_an_unknown_algorithm_or_a_number_not_in_digits_is_refused() {
        for text in [
            "a paused server",
            "the HS256 server",
            "the es256 server",
            "the ES256 server closed",
            "a server with a maximum grant lifetime of +600 seconds",
            "a server with a maximum grant lifetime of  seconds",
            "a server with a maximum grant lifetime of 99999999999999999999 seconds",
        ] {
            let refused = text.parse::<RoleName>();
            assert_eq!(refused, Err(UnknownRole(text.to_owned())), "{text}");
        }
        let message = UnknownRole("x".into()).to_string();
        assert!(
            message.contains("\"an unregistered audience\""),
            "{message}"
        );
    }
}

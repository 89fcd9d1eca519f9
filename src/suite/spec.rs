//! Which target a run is pointed at ([`TargetSpec`]), and how one is made ready for a
//! check ([`TargetSpec::provision`]): the reference ecosystem started in-process, or a
//! profile's target resolved over HTTP.

use super::target::Target;
use crate::mocks::EcosystemError;
use std::sync::Arc;

/// Which target to run against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TargetSpec {
    /// jagspec's own issuer and mock ecosystem, started in-process on loopback.
    Reference,
    /// The reference with deliberate defects: the suite's self-test shows that exactly
    /// the checks that should catch each defect fail.
    #[doc(hidden)]
    BrokenReference(crate::mocks::Faults),
    /// Someone else's issuer, described by a profile. jagspec never changes it.
    Issuer(Arc<super::profile::IssuerProfile>),
    /// Someone else's authorization server, with jagspec's IdP as its trusted issuer.
    AuthorizationServer {
        /// The server under test.
        profile: Arc<super::profile::AsProfile>,
        /// jagspec's running IdP, which the server trusts.
        idp: Arc<super::idp::LocalIdp>,
    },
}

impl TargetSpec {
    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::BrokenReference(_) => "broken reference",
            Self::Issuer(_) => "issuer",
            Self::AuthorizationServer { .. } => "authorization server",
        }
    }

    /// Whether the suite may start a target of its own for a check that changes it
    /// (its clock, its configuration). Only for targets jagspec runs itself.
    pub fn can_isolate(&self) -> bool {
        matches!(self, Self::Reference | Self::BrokenReference(_))
    }

    /// A target ready for one check.
    ///
    /// # Errors
    ///
    /// When the reference ecosystem does not start.
    pub async fn provision(&self) -> Result<Target, ProvisionError> {
        match self {
            Self::Reference => Ok(Target::reference(crate::mocks::Faults::default()).await?),
            Self::BrokenReference(faults) => Ok(Target::reference(*faults).await?),
            Self::Issuer(profile) => Ok(profile.resolve("issuer").await?),
            Self::AuthorizationServer { profile, idp } => Ok(profile.resolve(idp).await?),
        }
    }
}

/// Why a target could not be made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The reference ecosystem did not start.
    #[error(transparent)]
    Ecosystem(#[from] EcosystemError),
    /// The profile's endpoints could not be read.
    #[error(transparent)]
    Profile(#[from] super::profile::ProfileError),
}

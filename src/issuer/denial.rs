//! Every reason the issuer denies a token request, each mapped once to its audit status
//! detail, OAuth error and HTTP status.

use crate::jose::{Alg, Rejection};

/// Why a token request was denied. The status details of the seeds' table are their exact
/// words ("they are what admins search for"); the protocol-level denials of the draft have
/// their own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The request is not a well-formed token request: a parameter missing, repeated,
    /// empty, a body that is not a form, too large (RFC 6749 §5.2 `invalid_request`).
    #[error("malformed request: {reason}")]
    MalformedRequest {
        /// What is wrong, for `error_description`.
        reason: String,
    },
    /// The body exceeds the token endpoint's limit (HTTP 413).
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A `grant_type` the issuer does not offer.
    #[error("unsupported grant_type `{grant_type}`")]
    UnsupportedGrantType {
        /// The value sent.
        grant_type: String,
    },
    /// No client credentials, unknown client, wrong secret, or two methods at once
    /// (RFC 6749 §2.3, §5.2 `invalid_client`, HTTP 401).
    #[error("client authentication failed: {reason}")]
    ClientAuthenticationFailed {
        /// What failed.
        reason: String,
    },
    /// `requested_token_type` is not the ID-JAG type (ID-JAG §4.3: REQUIRED).
    #[error(
        "expected requested_token_type urn:ietf:params:oauth:token-type:id-jag (found `{found}`)"
    )]
    RequestedTokenTypeUnsupported {
        /// The value sent.
        found: String,
    },
    /// `subject_token_type` is not one the issuer accepts (an ID token).
    #[error(
        "expected subject_token_type urn:ietf:params:oauth:token-type:id_token (found `{found}`)"
    )]
    SubjectTokenTypeUnsupported {
        /// The value sent.
        found: String,
    },
    /// The subject token fails verification: signature, issuer, type, expiry (IDP-05).
    #[error("subject token invalid: {0}")]
    SubjectTokenInvalid(Rejection),
    /// The subject token's `aud` is another client (ID-JAG §4.3.3, IDP-06).
    #[error("subject token issued to `{audience}`, not to the authenticated client `{client}`")]
    SubjectTokenForAnotherClient {
        /// The token's audience.
        audience: String,
        /// The authenticated client.
        client: String,
    },
    /// The subject token names a user the tenant does not have.
    #[error("no user with sub `{sub}`")]
    UnknownUser {
        /// The token's `sub`.
        sub: String,
    },
    /// Password grant: wrong user name or password.
    #[error("wrong user name or password")]
    InvalidUserCredentials,
    /// Enterprise-managed authorization is disabled for the tenant.
    #[error("enterprise-managed authorization is disabled for the tenant")]
    TenantDisabled,
    /// "The token's audience does not match a registered resource server."
    #[error("no resource server has audience `{audience}`")]
    AudienceNotRegistered {
        /// The requested audience.
        audience: String,
    },
    /// "The token request names a target that isn't in the resource server's configured
    /// resource URLs."
    #[error("`{resource}` is not among the resource server's resource URIs")]
    TargetUrlNotRegistered {
        /// The requested resource.
        resource: String,
    },
    /// No `resource`, and the server has more than one resource URI to choose from
    /// (docs/positions.md D2).
    #[error("no resource given, and the resource server has {count} resource URIs")]
    TargetUrlNotSpecified {
        /// How many URIs the server has.
        count: usize,
    },
    /// "The resource server is paused, so no token is issued for it."
    #[error("the resource server for `{audience}` is paused")]
    ServerPaused {
        /// The server's audience.
        audience: String,
    },
    /// "The user does not hold a grant for a requested scope" (and none was granted).
    #[error("no grant for scope `{scope}`")]
    NoGrantForScope {
        /// The first requested scope without a grant.
        scope: String,
    },
    /// No `scope` was requested and the user holds no enabled scope on the server: the
    /// seeds' "No grant for the scope", for the implicit request of every scope.
    #[error("no scope requested, and the user holds no grant for an enabled scope of `{audience}`")]
    NoGrantOnServer {
        /// The server's audience.
        audience: String,
    },
    /// "The requested scope exists but is not enabled on the system" (and none was
    /// granted).
    #[error("scope `{scope}` is not enabled")]
    ScopeNotEnabled {
        /// The first requested scope not enabled.
        scope: String,
    },
    /// The requested scope is not defined on the resource server at all.
    #[error("scope `{scope}` is not defined on the resource server")]
    ScopeNotRegistered {
        /// The first requested scope not defined.
        scope: String,
    },
    /// "No signing key exists for the chosen algorithm."
    #[error("no signing key for {alg}")]
    NoSigningKey {
        /// The server's resolved algorithm.
        alg: Alg,
    },
    /// The crypto backend failed to sign (never expected; reported, not hidden).
    #[error("signing failed: {reason}")]
    SigningFailed {
        /// The backend's message.
        reason: String,
    },
}

impl Denial {
    /// The audit status detail: the seeds' exact words where they give them.
    pub fn status_detail(&self) -> &'static str {
        match self {
            Self::MalformedRequest { .. } => "Malformed request",
            Self::BodyTooLarge { .. } => "Request too large",
            Self::UnsupportedGrantType { .. } => "Unsupported grant type",
            Self::ClientAuthenticationFailed { .. } => "Client authentication failed",
            Self::RequestedTokenTypeUnsupported { .. } => "Requested token type not supported",
            Self::SubjectTokenTypeUnsupported { .. } => "Subject token type not supported",
            Self::SubjectTokenInvalid(_) => "Subject token invalid",
            Self::SubjectTokenForAnotherClient { .. } => "Subject token issued to another client",
            Self::UnknownUser { .. } => "Unknown user",
            Self::InvalidUserCredentials => "Invalid user credentials",
            Self::TenantDisabled => "Enterprise-managed authorization disabled",
            Self::AudienceNotRegistered { .. } => "Audience not registered",
            Self::TargetUrlNotRegistered { .. } => "Target URL not registered",
            Self::TargetUrlNotSpecified { .. } => "Target URL not specified",
            Self::ServerPaused { .. } => "Server paused",
            Self::NoGrantForScope { .. } | Self::NoGrantOnServer { .. } => "No grant for the scope",
            Self::ScopeNotEnabled { .. } => "Scope not enabled",
            Self::ScopeNotRegistered { .. } => "Scope not registered",
            Self::NoSigningKey { .. } => "No signing key for the algorithm",
            Self::SigningFailed { .. } => "Signing failed",
        }
    }

    /// The OAuth `error` (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707 §2).
    pub fn oauth_error(&self) -> crate::oauth::OAuthError {
        use crate::oauth::OAuthError;
        match self {
            Self::MalformedRequest { .. }
            | Self::BodyTooLarge { .. }
            | Self::RequestedTokenTypeUnsupported { .. }
            | Self::SubjectTokenTypeUnsupported { .. } => OAuthError::InvalidRequest,
            Self::UnsupportedGrantType { .. } => OAuthError::UnsupportedGrantType,
            Self::ClientAuthenticationFailed { .. } => OAuthError::InvalidClient,
            // docs/positions.md D1: the draft's `invalid_grant`.
            Self::SubjectTokenInvalid(_)
            | Self::SubjectTokenForAnotherClient { .. }
            | Self::UnknownUser { .. }
            | Self::InvalidUserCredentials => OAuthError::InvalidGrant,
            Self::TenantDisabled | Self::ServerPaused { .. } => OAuthError::AccessDenied,
            Self::AudienceNotRegistered { .. }
            | Self::TargetUrlNotRegistered { .. }
            | Self::TargetUrlNotSpecified { .. } => OAuthError::InvalidTarget,
            Self::NoGrantForScope { .. }
            | Self::NoGrantOnServer { .. }
            | Self::ScopeNotEnabled { .. }
            | Self::ScopeNotRegistered { .. } => OAuthError::InvalidScope,
            Self::NoSigningKey { .. } | Self::SigningFailed { .. } => OAuthError::ServerError,
        }
    }

    /// The HTTP status: 401 for `invalid_client` (RFC 6749 §5.2), 500 for `server_error`,
    /// else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ClientAuthenticationFailed { .. } => 401,
            Self::BodyTooLarge { .. } => 413,
            Self::NoSigningKey { .. } | Self::SigningFailed { .. } => 500,
            _ => 400,
        }
    }
}

//! `jagspec test as` against deliberately weakened mock authorization servers: each
//! weakening is a bug real servers have, and it is caught by exactly the checks that
//! should catch it, nothing more, nothing less. (`SkipTypCheck` and `ForgetJti` are in
//! `suite.rs`.)

use crate::suite::test_as;
use jagspec::mocks::Faults;
use jagspec::mocks::auth_server::AsFault;
use jagspec::suite::Outcome;

/// The mock authorization servers, each with `fault`.
fn weakened(fault: AsFault) -> Faults {
    Faults {
        authorization_servers: Some(fault),
        ..Default::default()
    }
}

fn failed(scenario: &str) -> (String, Outcome) {
    (scenario.to_owned(), Outcome::Fail)
}

fn warned(scenario: &str) -> (String, Outcome) {
    (scenario.to_owned(), Outcome::Warn)
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_accepts_any_audience_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::AcceptAnyAudience), "rs256").await;
    // The ID-token shape (aud = the client) is still refused, for its typ.
    assert_eq!(
        not_passed,
        vec![
            failed(
                "An RS256 ID-JAG re-signed with its \"aud\" claim set to \
                 \"https://as.other.example\" is refused"
            ),
            failed(
                "An RS256 ID-JAG re-signed with a second audience \"https://as.other.example\" \
                 is refused"
            ),
            failed("An RS256 ID-JAG re-signed with its audience followed by a slash is refused"),
        ]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_accepts_any_algorithm_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::AcceptAnyAlgorithm), "eddsa").await;
    // `none` and HS256 are still refused: only the issuer's published keys verify.
    assert_eq!(
        not_passed,
        vec![
            failed("An EdDSA ID-JAG re-signed with the issuer's RS256 key is refused"),
            failed("An EdDSA ID-JAG re-signed with the issuer's ES256 key is refused"),
        ]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_ignores_the_client_id_claim_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::IgnoreClientIdClaim), "es256").await;
    // An ID-JAG without `client_id` is still refused: the claim is required.
    assert_eq!(
        not_passed,
        vec![failed(
            "An ES256 ID-JAG re-signed with its \"client_id\" claim set to \"someone-else\" \
             is refused"
        )]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_never_checks_expiry_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::NoExpiryCheck), "rs256").await;
    // The clock-moving check is skipped for an external target, so the hostile row is the
    // one that catches it.
    assert_eq!(
        not_passed,
        vec![failed(
            "An RS256 ID-JAG re-signed with its \"exp\" claim 400 seconds before its \"iat\" \
             claim is refused"
        )]
    );
}

#[tokio::test]
async fn test_as_warns_about_an_authorization_server_that_ignores_a_foreign_resource_parameter_exactly()
 {
    let (not_passed, _) = test_as(weakened(AsFault::IgnoreResourceParameter), "eddsa").await;
    // The token is still for the ID-JAG's resource, so only the SHOULD of invalid_target
    // is missed.
    assert_eq!(
        not_passed,
        vec![warned(
            "A resource parameter other than the ID-JAG's is refused with invalid_target (EdDSA)"
        )]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_widens_to_the_requested_resource_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::WidenToRequestedResource), "es256").await;
    assert_eq!(
        not_passed,
        vec![
            failed(
                "The access token is for the ID-JAG's resource, whatever resource the client \
                 asks for (ES256)"
            ),
            warned(
                "A resource parameter other than the ID-JAG's is refused with invalid_target \
                 (ES256)"
            ),
        ]
    );
}

#[tokio::test]
async fn test_as_catches_an_authorization_server_that_grants_the_requested_scopes_exactly() {
    let (not_passed, _) = test_as(weakened(AsFault::GrantRequestedScopes), "rs256").await;
    // Asking for fewer scopes than the ID-JAG carries still gets just those.
    assert_eq!(
        not_passed,
        vec![failed(
            "A redemption asking for more scopes than the ID-JAG carries gets no more (RS256)"
        )]
    );
}

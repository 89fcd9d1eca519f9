//! Well-known metadata URLs: RFC 9728 §3.1 for protected resources, RFC 8414 §3.1 for
//! authorization servers, and the OpenID Connect Discovery variants MCP clients also try.

use crate::http::{UrlError, UrlUse};

/// RFC 9728 §3 well-known suffix of protected-resource metadata.
pub(crate) const PROTECTED_RESOURCE: &str = "oauth-protected-resource";
/// RFC 8414 §3 well-known suffix of authorization-server metadata.
pub(crate) const AUTHORIZATION_SERVER: &str = "oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4 well-known suffix.
pub(crate) const OPENID_CONFIGURATION: &str = "openid-configuration";

/// Why a URL has no well-known form: it is not an identifier by the one URL policy (an
/// absolute http(s) URL with a host, no userinfo, no fragment: RFC 8414 §2, RFC 9728
/// §1.2).
pub(crate) type WellKnownError = UrlError;

/// Inserts `/.well-known/<suffix>` between the host and the path (and query) of `base`,
/// removing a terminating `/` of the path first (RFC 8414 §3.1, RFC 9728 §3.1).
///
/// The string is spliced, not re-serialized through a URL parser, so that the path keeps
/// exactly the spelling the identifier has: the parser would add a `/` to an empty path.
pub(crate) fn inserted(base: &str, suffix: &str) -> Result<String, WellKnownError> {
    let (origin, path, query) = split(base)?;
    let path = path.strip_suffix('/').unwrap_or(path);
    Ok(format!("{origin}/.well-known/{suffix}{path}{query}"))
}

/// Appends `/.well-known/<suffix>` to `base` (OpenID Connect Discovery 1.0 §4.1), after
/// removing a terminating `/`.
pub(crate) fn appended(base: &str, suffix: &str) -> Result<String, WellKnownError> {
    let (origin, path, query) = split(base)?;
    let path = path.strip_suffix('/').unwrap_or(path);
    Ok(format!("{origin}{path}/.well-known/{suffix}{query}"))
}

/// The URLs at which protected-resource metadata for `resource` may live, in the order
/// MCP clients try them: with the resource's path, then at the root.
pub(crate) fn protected_resource_candidates(resource: &str) -> Result<Vec<String>, WellKnownError> {
    let (origin, _, _) = split(resource)?;
    let mut candidates = vec![inserted(resource, PROTECTED_RESOURCE)?];
    push_new(
        &mut candidates,
        format!("{origin}/.well-known/{PROTECTED_RESOURCE}"),
    );
    Ok(candidates)
}

/// The URLs at which metadata for the authorization server `issuer` may live, in the order
/// MCP clients try them: RFC 8414, then OpenID Connect Discovery inserted, then appended.
pub(crate) fn authorization_server_candidates(issuer: &str) -> Result<Vec<String>, WellKnownError> {
    let mut candidates = vec![inserted(issuer, AUTHORIZATION_SERVER)?];
    push_new(&mut candidates, inserted(issuer, OPENID_CONFIGURATION)?);
    push_new(&mut candidates, appended(issuer, OPENID_CONFIGURATION)?);
    Ok(candidates)
}

fn push_new(candidates: &mut Vec<String>, url: String) {
    if !candidates.contains(&url) {
        candidates.push(url);
    }
}

/// `(scheme://authority, path, ?query)` of an absolute http(s) URL without a fragment.
fn split(url: &str) -> Result<(&str, &str, &str), WellKnownError> {
    crate::http::check_url(url, UrlUse::Metadata)?;
    // The parser accepted it, so "scheme://" is there; the authority ends at the first
    // '/' or '?' after it.
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let (origin, rest) = url.split_at(authority_end);
    let (path, query) = rest.find('?').map_or((rest, ""), |i| rest.split_at(i));
    Ok((origin, path, query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_with_a_terminating_slash_has_its_metadata_at_the_root() {
        assert_eq!(
            inserted("http://127.0.0.1:5000/", AUTHORIZATION_SERVER).unwrap(),
            "http://127.0.0.1:5000/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            inserted("http://127.0.0.1:5000", AUTHORIZATION_SERVER).unwrap(),
            "http://127.0.0.1:5000/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn an_issuer_with_a_path_has_the_well_known_segment_inserted_before_it() {
        assert_eq!(
            inserted("https://h/t1", AUTHORIZATION_SERVER).unwrap(),
            "https://h/.well-known/oauth-authorization-server/t1"
        );
        assert_eq!(
            inserted("https://h/t1/", AUTHORIZATION_SERVER).unwrap(),
            "https://h/.well-known/oauth-authorization-server/t1"
        );
        assert_eq!(
            inserted("https://h:8443/a/b", AUTHORIZATION_SERVER).unwrap(),
            "https://h:8443/.well-known/oauth-authorization-server/a/b"
        );
    }

    #[test]
    fn authorization_server_candidates_try_rfc_8414_then_both_openid_forms() {
        assert_eq!(
            authorization_server_candidates("https://h/t1").unwrap(),
            [
                "https://h/.well-known/oauth-authorization-server/t1",
                "https://h/.well-known/openid-configuration/t1",
                "https://h/t1/.well-known/openid-configuration",
            ]
        );
        // Without a path the two OpenID forms coincide and are tried once.
        assert_eq!(
            authorization_server_candidates("https://h/").unwrap(),
            [
                "https://h/.well-known/oauth-authorization-server",
                "https://h/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn protected_resource_candidates_try_the_path_then_the_root() {
        assert_eq!(
            protected_resource_candidates("http://127.0.0.1:9/mcp?x=1").unwrap(),
            [
                "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp?x=1",
                "http://127.0.0.1:9/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            protected_resource_candidates("http://127.0.0.1:9/").unwrap(),
            ["http://127.0.0.1:9/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn identifiers_that_are_not_http_urls_have_no_well_known_form() {
        assert_eq!(
            inserted("urn:example:as", AUTHORIZATION_SERVER),
            Err(UrlError::Scheme {
                url: "urn:example:as".into()
            })
        );
        assert_eq!(
            inserted("https://h/t1#f", AUTHORIZATION_SERVER),
            Err(UrlError::Fragment {
                url: "https://h/t1#f".into()
            })
        );
        assert!(matches!(
            inserted("not a url", AUTHORIZATION_SERVER),
            Err(UrlError::NotAbsolute { .. })
        ));
    }
}

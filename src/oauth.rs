//! OAuth wire plumbing shared by every token endpoint jagspec serves (the reference issuer
//! and the mock authorization servers): form bodies, client authentication, JSON responses
//! no cache keeps. Each endpoint maps these errors to its own denial type once.

use crate::served::BodyFailure;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;

/// RFC 8693 §2.1 grant type of the token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3 token type of an ID-JAG (ID-JAG §4.3).
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// RFC 8693 §3 token type of an ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 7523 §2.1 grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// ID-JAG §7.2: the `authorization_grant_profiles_supported` value of an authorization
/// server that accepts ID-JAGs.
pub const ID_JAG_GRANT_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

/// The largest token-endpoint body accepted (a contract of jagspec's servers: "bodies over 64 KiB are refused";
/// a real request is well under 8 KiB).
pub const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;

/// The `error` member of an error response jagspec sends, each named once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthError {
    /// RFC 6749 §5.2: a malformed request.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (answered 401).
    InvalidClient,
    /// RFC 6749 §5.2: the grant (an ID-JAG, a subject token, a password) is not valid.
    InvalidGrant,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is invalid or exceeds what was granted.
    InvalidScope,
    /// RFC 8707 §2: the resource or audience is not acceptable.
    InvalidTarget,
    /// RFC 6749 §4.1.2.1, used by the issuer for a paused server or tenant.
    AccessDenied,
    /// RFC 6749 §4.1.2.1, at the mocks' `/authorize`.
    UnsupportedResponseType,
    /// RFC 6749 §5.2's extension point: the server failed.
    ServerError,
    /// jagspec's own, for an unknown path (RFC 6749 §8.5 allows new codes).
    NotFound,
    /// jagspec's own, for a method a path does not accept.
    MethodNotAllowed,
}

impl OAuthError {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for OAuthError {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for OAuthError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Form parameters, each at most once, empty values treated as absent (RFC 6749 §3.1).
pub(crate) type Form = BTreeMap<String, String>;

/// Why a token-endpoint body is not a usable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormError {
    /// RFC 6749 §3.2: the body is `application/x-www-form-urlencoded`.
    #[error("expected Content-Type application/x-www-form-urlencoded (found `{found}`)")]
    ContentType { found: String },
    /// Larger than [`MAX_TOKEN_BODY_BYTES`].
    #[error("the request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    /// The body broke off, is malformed (bad chunked encoding) or did not arrive in time.
    #[error("{reason}")]
    Unreadable { reason: String },
    /// RFC 6749 Appendix B: names and values are UTF-8 once percent-decoded.
    #[error("parameter `{name}` is not UTF-8 once percent-decoded (RFC 6749 Appendix B)")]
    NotUtf8 { name: String },
    /// RFC 6749 §3.2: parameters are sent at most once.
    #[error("parameter `{name}` is repeated (RFC 6749 §3.2)")]
    Repeated { name: String },
}

/// Reads a token-endpoint form body, at most [`MAX_TOKEN_BODY_BYTES`].
pub(crate) async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, FormError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(FormError::ContentType {
            found: echo(content_type),
        });
    }
    let bytes: Bytes = axum::body::to_bytes(body, MAX_TOKEN_BODY_BYTES)
        .await
        .map_err(|e| match BodyFailure::of(&e) {
            BodyFailure::TooLarge => FormError::TooLarge {
                limit: MAX_TOKEN_BODY_BYTES,
            },
            BodyFailure::TimedOut(reason) | BodyFailure::Unreadable(reason) => {
                FormError::Unreadable { reason }
            }
        })?;
    parse_form(&bytes)
}

/// `application/x-www-form-urlencoded` (RFC 6749 Appendix B), refusing what a lenient
/// parser would repair: a value that is not UTF-8 is an error, not U+FFFD.
fn parse_form(bytes: &[u8]) -> Result<Form, FormError> {
    let decode = |raw: &[u8]| {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    let mut form = Form::new();
    for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(raw_name).map_err(|_| FormError::NotUtf8 {
            name: echo(&String::from_utf8_lossy(raw_name)),
        })?;
        let value = decode(raw_value).map_err(|_| FormError::NotUtf8 { name: echo(&name) })?;
        if value.is_empty() {
            continue;
        }
        if form.contains_key(&name) {
            return Err(FormError::Repeated { name: echo(&name) });
        }
        form.insert(name, value);
    }
    Ok(form)
}

/// How the client authenticated (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the url-encoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The RFC 8414 / RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Credentials a request presented; not yet checked against any registration.
pub(crate) struct Presented {
    pub(crate) client_id: String,
    pub(crate) secret: String,
    pub(crate) method: AuthMethod,
}

/// Why no single set of client credentials could be read from a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CredentialsError {
    #[error("the Authorization header is not valid HTTP Basic")]
    NotBasic,
    #[error("client_id without client_secret")]
    IdWithoutSecret,
    #[error("client_secret without client_id")]
    SecretWithoutId,
    #[error("more than one client authentication method")]
    MoreThanOneMethod,
    #[error("the body's client_id `{body}` is not the authenticated client `{basic}`")]
    ClientIdDisagrees { basic: String, body: String },
    #[error("no client authentication")]
    Missing,
}

/// Exactly one of `client_secret_basic` or `client_secret_post` (RFC 6749 §2.3.1). A body
/// `client_id` beside HTTP Basic is tolerated when it names the same client: SDKs send it
/// (the MCP python SDK always does), and RFC 6749 §2.3.1 forbids only a second *method*.
pub(crate) fn presented_credentials(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Presented, CredentialsError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(parse_basic(value).ok_or(CredentialsError::NotBasic)?),
    };
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(CredentialsError::MoreThanOneMethod),
        (Some((id, _)), Some(body), None) if *body != id => {
            Err(CredentialsError::ClientIdDisagrees {
                basic: echo(&id),
                body: echo(body),
            })
        }
        (Some((client_id, secret)), _, None) => Ok(Presented {
            client_id,
            secret,
            method: AuthMethod::ClientSecretBasic,
        }),
        (None, Some(id), Some(secret)) => Ok(Presented {
            client_id: id.clone(),
            secret: secret.clone(),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, Some(_), None) => Err(CredentialsError::IdWithoutSecret),
        (None, None, Some(_)) => Err(CredentialsError::SecretWithoutId),
        (None, None, None) => Err(CredentialsError::Missing),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, b64) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Undoes `application/x-www-form-urlencoded` escaping of one value.
fn form_decode(s: &str) -> Option<String> {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// The `Authorization` value for `client_secret_basic` (RFC 6749 §2.3.1: each part
/// form-urlencoded, then base64).
pub(crate) fn basic_authorization(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// At most 120 characters of something a caller sent, for an error message.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 120 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(120).collect::<String>())
    }
}

/// What an error description may repeat of a value the caller sent: the value itself when
/// it is short and neither a JWT nor shaped like an opaque secret, with control characters
/// escaped; otherwise only its size. A token or secret sent in the wrong field (an ID-JAG as
/// `grant_type`, a client secret as `client_id`) is never echoed back, nor written to a log
/// through the description. A false alarm costs only a debugging hint.
pub(crate) fn echo(value: &str) -> String {
    /// Long enough for any URN, client id or scope jagspec's endpoints expect.
    const MAX_ECHO_CHARS: usize = 64;
    if looks_like_jws(value) || looks_like_secret(value) {
        return format!(
            "[a token-shaped value of {} bytes, not repeated]",
            value.len()
        );
    }
    if value.chars().count() > MAX_ECHO_CHARS {
        return format!("[a value of {} bytes, not repeated]", value.len());
    }
    value.escape_debug().to_string()
}

/// A JWS or JWE (RFC 7515 §7.1, RFC 7516 §7.1), whole or in part: its protected header
/// is base64url JSON, so it begins `eyJ` (`{"`). A dotted scope such as
/// `calendar.events.read` is not one.
pub(crate) fn looks_like_jws(value: &str) -> bool {
    value.trim_start().starts_with("eyJ")
}

/// An opaque bearer token or secret: one run of at least 24 base64url or hex characters
/// with both letters and digits (jagspec's own are 32 hex digits). URNs, URLs and names
/// have separators or are shorter.
fn looks_like_secret(value: &str) -> bool {
    value.len() >= 24
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_alphabetic())
}

/// 128 random bits, hex: jti, event and request ids.
pub(crate) fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON response that no cache keeps (RFC 6749 §5.1).
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error response; `invalid_client` after an authentication attempt is 401
/// with a `WWW-Authenticate` challenge.
pub(crate) fn error_response(status: u16, error: OAuthError, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = json_response(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"jagspec\""),
        );
    }
    response
}

/// The JSON errors of a party's unmatched requests: 404 for a path it does not serve, 405
/// for a method a path does not take (an OAuth `invalid_request` at a token endpoint, which
/// RFC 6749 §3.2 makes POST-only), each with `no-store` like every other answer. axum's
/// own are bare, empty-bodied 404s and 405s.
pub(crate) fn with_json_errors<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    router
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(wrong_method)
}

async fn no_such_endpoint(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error_response(
        404,
        OAuthError::NotFound,
        &format!("no endpoint `{method} {}`", echo(uri.path())),
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    // axum adds the `Allow` header of the route itself, since this answer has none.
    if uri.path().ends_with("/token") {
        let mut response = error_response(
            405,
            OAuthError::InvalidRequest,
            &format!(
                "`{}` does not accept {method}; it accepts POST",
                echo(uri.path())
            ),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        response
    } else {
        error_response(
            405,
            OAuthError::MethodNotAllowed,
            &format!("`{}` does not accept {method}", echo(uri.path())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_repeats_short_names_and_never_a_token_or_secret() {
        assert_eq!(echo("password2"), "password2");
        assert_eq!(echo("calendar.events.read"), "calendar.events.read");
        assert_eq!(
            echo("urn:ietf:params:oauth:grant-type:token-exchange"),
            "urn:ietf:params:oauth:grant-type:token-exchange"
        );
        assert_eq!(echo("a\nb"), "a\\nb");
        assert_eq!(
            echo("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
            "[a token-shaped value of 29 bytes, not repeated]"
        );
        assert_eq!(
            echo("0123456789abcdef0123456789abcdef"),
            "[a token-shaped value of 32 bytes, not repeated]"
        );
        assert_eq!(echo(&"x".repeat(65)), "[a value of 65 bytes, not repeated]");
    }

    #[test]
    fn a_form_is_decoded_strictly() {
        let form = parse_form(b"a=1&b=x+y%21&c=&d").unwrap();
        assert_eq!(form.get("a").map(String::as_str), Some("1"));
        assert_eq!(form.get("b").map(String::as_str), Some("x y!"));
        // Empty values are absent (RFC 6749 §3.1).
        assert!(!form.contains_key("c") && !form.contains_key("d"));
        assert_eq!(
            parse_form(b"a=%FF"),
            Err(FormError::NotUtf8 { name: "a".into() })
        );
        assert_eq!(
            parse_form(b"%C3%28=1"),
            Err(FormError::NotUtf8 {
                name: "%C3%28".into()
            })
        );
        assert_eq!(
            parse_form(b"a=1&a=2"),
            Err(FormError::Repeated { name: "a".into() })
        );
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&basic_authorization(id, secret)).unwrap(),
        );
        h
    }

    #[test]
    fn basic_credentials_round_trip_through_form_encoding() {
        let p = presented_credentials(&basic("a:b c", "s%&"), &Form::new()).unwrap();
        assert_eq!((p.client_id.as_str(), p.secret.as_str()), ("a:b c", "s%&"));
        assert_eq!(p.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn a_body_client_id_beside_basic_must_name_the_same_client() {
        let same = presented_credentials(&basic("agent", "s"), &form(&[("client_id", "agent")]));
        assert!(same.is_ok());
        let other = presented_credentials(&basic("agent", "s"), &form(&[("client_id", "x")]));
        assert_eq!(
            other.err(),
            Some(CredentialsError::ClientIdDisagrees {
                basic: "agent".into(),
                body: "x".into()
            })
        );
        let both = presented_credentials(
            &basic("agent", "s"),
            &form(&[("client_id", "agent"), ("client_secret", "s")]),
        );
        assert_eq!(both.err(), Some(CredentialsError::MoreThanOneMethod));
    }

    #[test]
    fn post_credentials_need_both_members() {
        let h = HeaderMap::new();
        assert_eq!(
            presented_credentials(&h, &form(&[("client_id", "a")])).err(),
            Some(CredentialsError::IdWithoutSecret)
        );
        assert_eq!(
            presented_credentials(&h, &form(&[("client_secret", "a")])).err(),
            Some(CredentialsError::SecretWithoutId)
        );
        assert_eq!(
            presented_credentials(&h, &Form::new()).err(),
            Some(CredentialsError::Missing)
        );
    }
}

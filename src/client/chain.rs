//! The hops of [`super::run`]. Each hop is a function that fills its [`Hop`] as it learns
//! and returns what the next hop needs, or a [`Fail`]; [`finish`] records the hop either way.

use super::challenge;
use super::{
    ChainFailure, ChainSuccess, ClientConfig, DecodedToken, Hop, HopKind, MCP_PROTOCOL_VERSION,
    REQUEST_TIMEOUT, SubjectToken, ToolCall, Transcript,
};
use crate::http::mcp::{self, MessageError, Session};
use crate::http::{ReadError, UrlError, UrlUse, check_url, is_loopback};
use crate::jose::b64_decode;
use crate::oauth::{
    AuthMethod, ID_JAG_GRANT_PROFILE, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT,
    TOKEN_EXCHANGE_GRANT, basic_authorization,
};
use crate::types::Secret;
use crate::wellknown;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::fmt::Write as _;

/// The most a response body may weigh; metadata and token responses are a few KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A non-JSON body is kept for the transcript up to this many characters.
const MAX_TEXT_CHARS: usize = 500;
/// `tools/list` pages followed before giving up on a server that never stops paging.
const MAX_TOOL_PAGES: usize = 20;

/// Why a hop failed; [`finish`] adds the hop and, when absent, its HTTP status.
struct Fail {
    reason: String,
    status: Option<u16>,
    oauth_error: Option<String>,
    error_description: Option<String>,
}

impl Fail {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            status: None,
            oauth_error: None,
            error_description: None,
        }
    }
}

/// Records `hop` and turns a [`Fail`] into the chain's failure at that hop.
fn finish<T>(hops: &mut Vec<Hop>, hop: Hop, result: Result<T, Fail>) -> Result<T, ChainFailure> {
    let outcome = result.map_err(|f| ChainFailure {
        hop: hop.kind,
        reason: f.reason,
        status: f.status.or(hop.status),
        oauth_error: f.oauth_error,
        error_description: f.error_description,
    });
    hops.push(hop);
    outcome
}

struct Ctx<'a> {
    config: &'a ClientConfig,
    http: &'a reqwest::Client,
    /// Every token a response handed over, checked or not: what the transcript scrubs.
    obtained: RefCell<Vec<Secret>>,
}

impl Ctx<'_> {
    fn obtained(&self, token: &str) {
        self.obtained.borrow_mut().push(Secret::new(token));
    }
}

pub(super) async fn run(config: &ClientConfig, http: &reqwest::Client) -> Transcript {
    let ctx = Ctx {
        config,
        http,
        obtained: RefCell::new(Vec::new()),
    };
    let mut hops = Vec::new();
    let outcome = chain(&ctx, &mut hops).await;
    let sensitive = sensitive_values(config, ctx.obtained.into_inner());
    let mut transcript = Transcript {
        hops,
        outcome,
        sensitive,
    };
    // A server may echo a secret into any text the transcript keeps.
    transcript.scrub_free_text();
    transcript
}

/// Every secret of the run, in each form it travelled in: as configured, form-encoded (a
/// `client_secret_post` body), as the Basic credentials sent and as they decode; the
/// password of a configured URL's userinfo; and every token obtained.
fn sensitive_values(config: &ClientConfig, obtained: Vec<Secret>) -> Vec<Secret> {
    let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut values: Vec<String> = Vec::new();
    for (id, secret) in [
        (&config.idp_client_id, &config.idp_client_secret),
        (&config.client_id, &config.client_secret),
    ] {
        let secret = secret.secret();
        let sent = basic_authorization(id, secret);
        values.extend([
            secret.to_owned(),
            form(secret),
            sent.strip_prefix("Basic ").unwrap_or(&sent).to_owned(),
            format!("{}:{}", form(id), form(secret)),
            format!("{id}:{secret}"),
        ]);
    }
    match &config.subject {
        SubjectToken::IdToken(token) => values.push(token.secret().to_owned()),
        SubjectToken::Login { password, .. } => {
            values.extend([password.secret().to_owned(), form(password.secret())]);
        }
    }
    let urls = [&config.mcp_url, &config.idp_token_endpoint];
    for url in urls.into_iter().chain(config.expected_issuer.as_ref()) {
        if let Some(password) = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            values.extend(
                form_urlencoded::parse(format!("p={password}").as_bytes())
                    .map(|(_, v)| v.into_owned()),
            );
            values.push(password);
        }
    }
    values.extend(obtained.into_iter().map(Secret::into_secret));
    values.retain(|v| !v.is_empty());
    values.sort();
    values.dedup();
    values.into_iter().map(Secret::new).collect()
}

async fn chain(ctx: &Ctx<'_>, hops: &mut Vec<Hop>) -> Result<ChainSuccess, ChainFailure> {
    let config = ctx.config;

    let mut hop = Hop::new(HopKind::Challenge, "POST", &config.mcp_url);
    let result = discover(ctx, &mut hop).await;
    let discovery = finish(hops, hop, result)?;

    let first = discovery.metadata_urls.first().map_or("", String::as_str);
    let mut hop = Hop::new(HopKind::ResourceMetadata, "GET", first);
    let result = resource_metadata(ctx, &mut hop, &discovery.metadata_urls).await;
    let (resource, issuer) = finish(hops, hop, result)?;

    let mut hop = Hop::new(HopKind::AuthorizationServerMetadata, "GET", &issuer);
    let result = authorization_server_metadata(ctx, &mut hop, &issuer).await;
    let token_endpoint = finish(hops, hop, result)?;

    let id_token = match &config.subject {
        SubjectToken::IdToken(token) => token.clone(),
        SubjectToken::Login { user, password } => {
            let mut hop = Hop::new(HopKind::Login, "POST", &config.idp_token_endpoint);
            let result = login(ctx, &mut hop, user, password).await;
            finish(hops, hop, result)?
        }
    };

    let mut hop = Hop::new(HopKind::TokenExchange, "POST", &config.idp_token_endpoint);
    // The MCP authorization spec: a client should use the challenge's scope; one given
    // explicitly wins.
    let scope = match (&config.scope, discovery.scope) {
        (Some(scope), _) => Some(scope.clone()),
        (None, Some(scope)) => {
            hop.add_note(format!(
                "scope `{scope}` from the 401 challenge (none configured)"
            ));
            Some(scope)
        }
        (None, None) => {
            hop.add_note("no scope: none configured and the 401 challenge names none");
            None
        }
    };
    let scope = scope.as_deref();
    let result = token_exchange(ctx, &mut hop, &id_token, (&issuer, &resource), scope).await;
    let id_jag = finish(hops, hop, result)?;

    let mut hop = Hop::new(HopKind::JwtBearer, "POST", &token_endpoint);
    let result = jwt_bearer(ctx, &mut hop, &id_jag.token, &id_token, scope).await;
    let (access_token, access_token_claims) = finish(hops, hop, result)?;

    let mut session = Session::new(Some(access_token));
    let mut hop = Hop::new(HopKind::Initialize, "POST", &config.mcp_url);
    let result = initialize(ctx, &mut hop, &mut session).await;
    finish(hops, hop, result)?;

    let mut hop = Hop::new(HopKind::ToolsList, "POST", &config.mcp_url);
    let result = tools_list(ctx, &mut hop, &mut session).await;
    let tools = finish(hops, hop, result)?;

    let call_result = match &config.call {
        None => None,
        Some(call) => {
            let mut hop = Hop::new(HopKind::ToolsCall, "POST", &config.mcp_url);
            let result = tools_call(ctx, &mut hop, &mut session, call, &tools).await;
            Some(finish(hops, hop, result)?)
        }
    };

    Ok(ChainSuccess {
        tools,
        call_result,
        access_token_claims,
        id_jag_claims: id_jag.claims,
        id_jag_header: id_jag.header,
    })
}

// ---------------------------------------------------------------------------------------
// Hops 1-3: discovery.

/// What the challenge told.
struct Discovery {
    /// The protected-resource metadata URLs to try, in order; never empty.
    metadata_urls: Vec<String>,
    /// The Bearer challenge's `scope`, if any.
    scope: Option<String>,
}

/// Hop 1: the configured URLs, checked before any request; then the unauthenticated
/// `initialize`, whose challenge names the metadata URL (or the well-known ones are tried).
async fn discover(ctx: &Ctx<'_>, hop: &mut Hop) -> Result<Discovery, Fail> {
    check_configuration(ctx.config, hop)?;
    let mcp_url = &ctx.config.mcp_url;
    let body = mcp::message(Some(1), "initialize", Some(mcp::initialize_params()));
    let headers = Session::new(None).headers();
    hop.request_headers.clone_from(&headers);
    hop.request_params = rpc_params(&body);
    let request = post_json(ctx, mcp_url, &headers, &body)?;
    let mut response = send(hop, request).await?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        // The body is not read: a stream the server keeps open would only cost time.
        return Err(Fail::new(format!(
            "the MCP server did not ask for a token: HTTP {status} to an unauthenticated \
             initialize, where a 401 with a Bearer challenge was expected (RFC 9728 §5.1)"
        )));
    }
    let challenges = www_authenticate(response.headers());
    // For the transcript only: a body that cannot be read changes nothing.
    hop.response = read_body(&mut response)
        .await
        .ok()
        .and_then(|b| body_value(&b));
    if !challenges.is_empty() {
        hop.add_note(format!("WWW-Authenticate: {}", challenges.join(", ")));
    }
    if status != 401 {
        return Err(Fail::new(format!(
            "expected HTTP 401 with a Bearer challenge to an unauthenticated initialize \
             (RFC 9728 §5.1) (found HTTP {status})"
        )));
    }
    let bearer = challenge::bearer(challenges.iter().map(String::as_str));
    let param = |name: &str| {
        bearer
            .as_ref()
            .and_then(|c| c.param(name))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let scope = param("scope");
    let metadata_urls = match param("resource_metadata") {
        Some(url) => {
            check_url(&url, UrlUse::Metadata).map_err(|e| {
                Fail::new(format!(
                    "the challenge's resource_metadata {e} (RFC 9728 §5.1)"
                ))
            })?;
            vec![url]
        }
        None => {
            let candidates = wellknown::protected_resource_candidates(mcp_url)
                .map_err(|e| Fail::new(e.to_string()))?;
            hop.add_note(
                "the challenge has no Bearer resource_metadata; trying the RFC 9728 \
                 well-known URLs (CLI-01)",
            );
            candidates
        }
    };
    Ok(Discovery {
        metadata_urls,
        scope,
    })
}

/// The configured URLs: the MCP URL and the IdP's token endpoint carry credentials, the
/// expected issuer is an identifier. A URL with userinfo is recorded without it.
fn check_configuration(config: &ClientConfig, hop: &mut Hop) -> Result<(), Fail> {
    let credentials = UrlUse::Credentials {
        allow_insecure_http: config.allow_insecure_http,
    };
    if let Err(e) = check_url(&config.mcp_url, credentials) {
        if let UrlError::Userinfo { url } = &e {
            url.clone_into(&mut hop.url);
        }
        return Err(Fail::new(format!("the MCP URL {e}")));
    }
    check_url(&config.idp_token_endpoint, credentials)
        .map_err(|e| Fail::new(format!("the IdP token endpoint {e}")))?;
    if let Some(issuer) = &config.expected_issuer {
        check_url(issuer, UrlUse::Metadata)
            .map_err(|e| Fail::new(format!("the expected issuer {e}")))?;
    }
    Ok(())
}

/// Hop 2: the protected-resource metadata; its `resource` and first authorization server.
async fn resource_metadata(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    candidates: &[String],
) -> Result<(String, String), Fail> {
    let map = fetch_metadata(ctx, hop, candidates, "protected-resource metadata").await?;
    let mcp_url = &ctx.config.mcp_url;
    let resource = map
        .get("resource")
        .and_then(Value::as_str)
        .ok_or_else(|| Fail::new("the metadata has no `resource` string (RFC 9728 §2)"))?;
    if resource != mcp_url {
        return Err(Fail::new(format!(
            "the metadata's resource `{resource}` is not identical to the MCP server URL \
             `{mcp_url}` (RFC 9728 §3.3, CLI-02); the metadata is not used"
        )));
    }
    let servers = map
        .get("authorization_servers")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Fail::new("the metadata lists no authorization_servers (MCP requires at least one)")
        })?;
    let issuer = match &ctx.config.expected_issuer {
        // Pinned: the one listed that is exactly it, whatever its position.
        Some(expected) => {
            if !servers
                .iter()
                .any(|s| s.as_str() == Some(expected.as_str()))
            {
                let listed: Vec<String> = servers.iter().map(Value::to_string).collect();
                return Err(Fail::new(format!(
                    "the metadata's authorization_servers [{}] do not include the expected \
                     issuer `{expected}`; no metadata is fetched and no secret sent",
                    listed.join(", ")
                )));
            }
            if servers.len() > 1 {
                hop.add_note(format!(
                    "{} authorization servers listed; using the expected one, {expected}",
                    servers.len()
                ));
            }
            expected.as_str()
        }
        None => {
            let issuer = servers[0]
                .as_str()
                .ok_or_else(|| Fail::new("authorization_servers[0] is not a string"))?;
            if servers.len() > 1 {
                hop.add_note(format!(
                    "{} authorization servers listed; using the first, {issuer}",
                    servers.len()
                ));
            }
            issuer
        }
    };
    check_url(issuer, UrlUse::Metadata)
        .map_err(|e| Fail::new(format!("the authorization server {e}")))?;
    Ok((resource.to_owned(), issuer.to_owned()))
}

/// Hop 3: the authorization server's metadata, checked; its token endpoint.
async fn authorization_server_metadata(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    issuer: &str,
) -> Result<String, Fail> {
    let candidates = wellknown::authorization_server_candidates(issuer)
        .map_err(|e| Fail::new(format!("authorization server: {e}")))?;
    let map = fetch_metadata(ctx, hop, &candidates, "authorization server metadata").await?;
    match map.get("issuer").and_then(Value::as_str) {
        Some(found) if found == issuer => {}
        Some(found) => {
            return Err(Fail::new(format!(
                "the metadata's issuer `{found}` is not identical to `{issuer}`, the issuer it \
                 was fetched for (RFC 8414 §3.3, CLI-03); the document is not used"
            )));
        }
        None => {
            return Err(Fail::new(
                "the metadata has no `issuer` string (RFC 8414 §2); the document is not used",
            ));
        }
    }
    match strings(&map, "grant_types_supported") {
        None => {
            return Err(Fail::new(format!(
                "the metadata has no grant_types_supported, whose default (authorization_code, \
                 implicit; RFC 8414 §2) excludes {JWT_BEARER_GRANT} (CLI-04)"
            )));
        }
        Some(grants) if !grants.contains(&JWT_BEARER_GRANT) => {
            return Err(Fail::new(format!(
                "grant_types_supported does not list {JWT_BEARER_GRANT} (CLI-04)"
            )));
        }
        Some(_) => {}
    }
    let profiles = strings(&map, "authorization_grant_profiles_supported").unwrap_or_default();
    if profiles.contains(&ID_JAG_GRANT_PROFILE) {
        hop.add_note("the id-jag grant profile and the jwt-bearer grant are supported");
    } else {
        hop.add_note(format!(
            "authorization_grant_profiles_supported does not list {ID_JAG_GRANT_PROFILE} \
             (EMA §6); trying the jwt-bearer grant anyway"
        ));
    }
    let method = ctx.config.auth_method.as_str();
    if let Some(methods) = strings(&map, "token_endpoint_auth_methods_supported")
        && !methods.contains(&method)
    {
        hop.add_note(format!(
            "token_endpoint_auth_methods_supported does not list {method}; using it anyway"
        ));
    }
    let endpoint = map
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| Fail::new("the metadata has no token_endpoint (RFC 8414 §2)"))?;
    let credentials = UrlUse::Credentials {
        allow_insecure_http: ctx.config.allow_insecure_http,
    };
    check_url(endpoint, credentials).map_err(|e| Fail::new(format!("the token_endpoint {e}")))?;
    Ok(endpoint.to_owned())
}

/// GETs the first candidate that exists: a 4xx moves on to the next (MCP clients try each
/// well-known location in turn). The JSON object of the 200 response.
async fn fetch_metadata(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    candidates: &[String],
    what: &str,
) -> Result<Map<String, Value>, Fail> {
    let headers = vec![("Accept".to_owned(), "application/json".to_owned())];
    hop.request_headers.clone_from(&headers);
    for (i, url) in candidates.iter().enumerate() {
        url.clone_into(&mut hop.url);
        hop.response = None;
        let request = with_headers(ctx.http.get(url), &headers)?;
        let mut response = send(hop, request).await?;
        let status = response.status().as_u16();
        if (400..500).contains(&status)
            && let Some(next) = candidates.get(i + 1)
        {
            hop.add_note(format!("GET {url} → {status}; trying {next}"));
            continue;
        }
        let body = read_body(&mut response).await?;
        hop.response = body_value(&body);
        if status != 200 {
            return Err(Fail::new(format!("HTTP {status} fetching the {what}")));
        }
        return match &hop.response {
            Some(Value::Object(map)) => Ok(map.clone()),
            _ => Err(Fail::new(format!("the {what} is not a JSON object"))),
        };
    }
    Err(Fail::new(format!("no URL to fetch the {what} from")))
}

// ---------------------------------------------------------------------------------------
// Hops 4-6: tokens.

/// Hop 4: the password grant for a test user; the ID token.
async fn login(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    user: &str,
    password: &Secret,
) -> Result<Secret, Fail> {
    let config = ctx.config;
    let params = vec![
        ("grant_type", "password".to_owned()),
        ("username", user.to_owned()),
        ("password", password.secret().to_owned()),
    ];
    let body = token_request(
        ctx,
        hop,
        (&config.idp_client_id, &config.idp_client_secret),
        params,
        "the IdP refused the login",
    )
    .await?;
    let id_token = body
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Fail::new("the login response has no id_token"))?;
    hop.tokens.extend(decode("ID token", id_token));
    Ok(Secret::new(id_token))
}

/// What the token exchange obtained.
struct IdJag {
    token: Secret,
    header: Value,
    claims: Value,
}

/// Hop 5: the RFC 8693 token exchange (ID-JAG §4.3); the ID-JAG, checked per CLI-09.
async fn token_exchange(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    id_token: &Secret,
    (issuer, resource): (&str, &str),
    scope: Option<&str>,
) -> Result<IdJag, Fail> {
    let config = ctx.config;
    let mut params = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT.to_owned()),
        ("requested_token_type", ID_JAG_TOKEN_TYPE.to_owned()),
        // CLI-06: the issuer exactly as the validated metadata has it.
        ("audience", issuer.to_owned()),
        // CLI-07: the PRM resource, which step 2 found identical to the MCP URL.
        ("resource", resource.to_owned()),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope.to_owned()));
    }
    params.push(("subject_token", id_token.secret().to_owned()));
    params.push(("subject_token_type", ID_TOKEN_TYPE.to_owned()));
    let body = token_request(
        ctx,
        hop,
        (&config.idp_client_id, &config.idp_client_secret),
        params,
        "the IdP refused the token exchange",
    )
    .await?;
    let issued = body.get("issued_token_type").and_then(Value::as_str);
    if issued != Some(ID_JAG_TOKEN_TYPE) {
        return Err(Fail::new(format!(
            "issued_token_type is {} instead of {ID_JAG_TOKEN_TYPE} (ID-JAG §4.3.4, CLI-09); \
             the token is not used",
            quoted_or_missing(issued)
        )));
    }
    let token_type = body.get("token_type").and_then(Value::as_str);
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("N_A")) {
        return Err(Fail::new(format!(
            "token_type is {} instead of N_A (RFC 8693 §2.2.1, CLI-09); the token is not used",
            quoted_or_missing(token_type)
        )));
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Fail::new("the response has no access_token, which carries the ID-JAG"))?;
    let (header, claims) = match decode("ID-JAG", token) {
        Some(decoded) => {
            let pair = (decoded.header.clone(), decoded.claims.clone());
            hop.tokens.push(decoded);
            pair
        }
        None => {
            hop.add_note("the ID-JAG does not decode as a JWT");
            (Value::Null, Value::Null)
        }
    };
    Ok(IdJag {
        token: Secret::new(token),
        header,
        claims,
    })
}

/// Hop 6: the RFC 7523 §2.1 jwt-bearer grant; the access token and its claims if a JWT.
async fn jwt_bearer(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    id_jag: &Secret,
    id_token: &Secret,
    scope: Option<&str>,
) -> Result<(Secret, Value), Fail> {
    let config = ctx.config;
    let mut params = vec![
        ("grant_type", JWT_BEARER_GRANT.to_owned()),
        ("assertion", id_jag.secret().to_owned()),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope.to_owned()));
    }
    let body = token_request(
        ctx,
        hop,
        (&config.client_id, &config.client_secret),
        params,
        "the authorization server refused the jwt-bearer grant",
    )
    .await?;
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Fail::new("the response has no access_token"))?;
    let token_type = body.get("token_type").and_then(Value::as_str);
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("Bearer")) {
        return Err(Fail::new(format!(
            "token_type is {} instead of Bearer (RFC 6750); this client presents bearer \
             tokens only",
            quoted_or_missing(token_type)
        )));
    }
    if token == id_jag.secret() || token == id_token.secret() {
        return Err(Fail::new(
            "the access token is the ID-JAG or the ID token itself, which must never reach \
             the MCP server (CLI-13); it is not sent",
        ));
    }
    if !challenge::is_token68(token) {
        return Err(Fail::new(
            "the access token is not an RFC 6750 §2.1 b64token (letters, digits, `-._~+/`, \
             then `=`s), so no Authorization header can carry it; it is not sent",
        ));
    }
    let claims = match decode("access token", token) {
        Some(decoded) => {
            let claims = decoded.claims.clone();
            hop.tokens.push(decoded);
            claims
        }
        None => {
            hop.add_note("the access token is opaque (not a JWT)");
            Value::Null
        }
    };
    Ok((Secret::new(token), claims))
}

/// POSTs a token request with the client's authentication; the JSON object of the 200
/// response. Any other status is an RFC 6749 §5.2 error, named in the failure.
async fn token_request(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    (client_id, secret): (&str, &Secret),
    params: Vec<(&str, String)>,
    refused: &str,
) -> Result<Map<String, Value>, Fail> {
    let mut params: Vec<(String, String)> =
        params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
    match ctx.config.auth_method {
        AuthMethod::ClientSecretBasic => headers.push((
            "Authorization".to_owned(),
            basic_authorization(client_id, secret.secret()),
        )),
        AuthMethod::ClientSecretPost => {
            params.push(("client_id".to_owned(), client_id.to_owned()));
            params.push(("client_secret".to_owned(), secret.secret().to_owned()));
        }
    }
    note_plain_http(hop);
    hop.request_headers.clone_from(&headers);
    hop.request_params.clone_from(&params);
    let request = with_headers(ctx.http.post(&hop.url), &headers)?.form(&params);
    let mut response = send(hop, request).await?;
    let status = response.status().as_u16();
    let body = read_body(&mut response).await?;
    hop.response = body_value(&body);
    if status != 200 {
        return Err(oauth_refusal(hop, refused));
    }
    match &hop.response {
        Some(Value::Object(map)) => {
            // Obtained, even if a check below refuses it: scrubbed wherever it is echoed.
            for name in ["access_token", "id_token", "refresh_token"] {
                if let Some(token) = map.get(name).and_then(Value::as_str) {
                    ctx.obtained(token);
                }
            }
            Ok(map.clone())
        }
        _ => Err(Fail::new(
            "the 200 response is not a JSON object (RFC 6749 §5.1)",
        )),
    }
}

/// The RFC 6749 §5.2 error of a refused token request, with the server's request id.
fn oauth_refusal(hop: &Hop, refused: &str) -> Fail {
    let member = |name: &str| match &hop.response {
        Some(Value::Object(m)) => m.get(name).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let error = member("error");
    let description = member("error_description");
    let mut reason = format!("{refused}: HTTP {}", hop.status.unwrap_or_default());
    match &error {
        Some(e) => {
            let _ = write!(reason, " {e}");
        }
        None => reason.push_str(" without an RFC 6749 §5.2 error body"),
    }
    if let Some(d) = &description {
        let _ = write!(reason, " ({d})");
    }
    if let Some(id) = &hop.request_id {
        let _ = write!(reason, " [x-request-id {id}]");
    }
    Fail {
        reason,
        status: hop.status,
        oauth_error: error,
        error_description: description,
    }
}

// ---------------------------------------------------------------------------------------
// Hops 7-9: MCP with the access token.

/// Hop 7: `initialize`, then `notifications/initialized`.
async fn initialize(ctx: &Ctx<'_>, hop: &mut Hop, session: &mut Session) -> Result<(), Fail> {
    let params = Some(mcp::initialize_params());
    let (headers, result) = rpc(ctx, hop, session, "initialize", params).await?;
    let chosen = session
        .initialized(&headers, &result)
        .map_err(|e| Fail::new(e.to_string()))?;
    if let Some(version) = chosen {
        hop.add_note(format!(
            "the server chose protocol version {version} (asked for {MCP_PROTOCOL_VERSION})"
        ));
    }

    let body = mcp::message(None, "notifications/initialized", None);
    let headers = session.headers();
    let request = post_json(ctx, &ctx.config.mcp_url, &headers, &body)?;
    let response = dispatch(request, hop).await?;
    let status = response.status().as_u16();
    match status {
        200 | 202 => {
            hop.add_note(format!("notifications/initialized → {status}"));
            Ok(())
        }
        _ => {
            let mut fail = mcp_refusal(hop, status, response.headers());
            fail.reason = format!("notifications/initialized: {}", fail.reason);
            Err(fail)
        }
    }
}

/// Hop 8: `tools/list`, following `nextCursor`; the names.
async fn tools_list(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    session: &mut Session,
) -> Result<Vec<String>, Fail> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=MAX_TOOL_PAGES {
        let params = cursor.as_ref().map(|c| json!({"cursor": c}));
        let (_, result) = rpc(ctx, hop, session, "tools/list", params).await?;
        let tools = result
            .get("tools")
            .and_then(Value::as_array)
            .ok_or_else(|| Fail::new("the tools/list result has no tools array"))?;
        for tool in tools {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Fail::new("a tool in the tools/list result has no name"))?;
            names.push(name.to_owned());
        }
        match result.get("nextCursor").and_then(Value::as_str) {
            None => {
                if page > 1 {
                    hop.add_note(format!("{page} pages (nextCursor followed)"));
                }
                return Ok(names);
            }
            Some(next) => cursor = Some(next.to_owned()),
        }
    }
    hop.add_note(format!(
        "stopped after {MAX_TOOL_PAGES} pages; the server offered more"
    ));
    Ok(names)
}

/// Hop 9: `tools/call`; the result.
async fn tools_call(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    session: &mut Session,
    call: &ToolCall,
    listed: &[String],
) -> Result<Value, Fail> {
    if !listed.contains(&call.name) {
        hop.add_note(format!(
            "`{}` is not among the listed tools; calling it anyway",
            call.name
        ));
    }
    let params = json!({"name": call.name, "arguments": call.arguments});
    let (_, result) = rpc(ctx, hop, session, "tools/call", Some(params)).await?;
    if result.get("isError") == Some(&Value::Bool(true)) {
        hop.add_note("the tool reported an error (isError: true)");
    }
    Ok(result)
}

/// One JSON-RPC request with the access token; the response headers and the `result`.
/// The hop records the first request of the hop (a later page differs only by cursor).
async fn rpc(
    ctx: &Ctx<'_>,
    hop: &mut Hop,
    session: &mut Session,
    method: &str,
    params: Option<Value>,
) -> Result<(HeaderMap, Value), Fail> {
    let id = session.next_id();
    let body = mcp::message(Some(id), method, params);
    let headers = session.headers();
    if hop.request_params.is_empty() {
        note_plain_http(hop);
        hop.request_headers.clone_from(&headers);
        hop.request_params = rpc_params(&body);
    }
    let request = post_json(ctx, &ctx.config.mcp_url, &headers, &body)?;
    let mut response = send(hop, request).await?;
    let status = response.status().as_u16();
    let response_headers = response.headers().clone();
    if !(200..300).contains(&status) {
        let fail = mcp_refusal(hop, status, &response_headers);
        hop.response = read_body(&mut response)
            .await
            .ok()
            .and_then(|b| body_value(&b));
        return Err(fail);
    }
    let message = mcp::read_response(&mut response, id, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let reason = match &e {
                MessageError::NotJson { body, .. } => {
                    hop.response = body_value(body);
                    e.to_string()
                }
                MessageError::ServerRequest { message, .. } => {
                    hop.response = Some(message.clone());
                    e.to_string()
                }
                MessageError::StreamBroken(error) => {
                    format!("reading the event stream: {}", describe(error))
                }
                _ => e.to_string(),
            };
            Fail::new(reason)
        })?;
    hop.response = Some(message.clone());
    let result = mcp::result(&message, id, method).map_err(|e| Fail::new(e.to_string()))?;
    Ok((response_headers, result))
}

/// A non-2xx MCP response: 401 names the challenge's `error` (RFC 6750 §3.1), 403
/// `insufficient_scope` the scope required.
fn mcp_refusal(hop: &mut Hop, status: u16, headers: &HeaderMap) -> Fail {
    let challenges = www_authenticate(headers);
    if !challenges.is_empty() {
        hop.add_note(format!("WWW-Authenticate: {}", challenges.join(", ")));
    }
    let bearer = challenge::bearer(challenges.iter().map(String::as_str));
    let param = |name: &str| {
        bearer
            .as_ref()
            .and_then(|c| c.param(name))
            .map(str::to_owned)
    };
    let error = param("error");
    let description = param("error_description");
    let mut reason = match (status, error.as_deref()) {
        (403, Some("insufficient_scope")) => format!(
            "the MCP server requires scope `{}` (HTTP 403 insufficient_scope)",
            param("scope").unwrap_or_default()
        ),
        (401, _) => "the MCP server refused the access token: HTTP 401".to_owned(),
        _ => format!("the MCP server answered HTTP {status}"),
    };
    if status != 403
        && let Some(e) = &error
    {
        let _ = write!(reason, " {e}");
    }
    if let Some(d) = &description {
        let _ = write!(reason, " ({d})");
    }
    Fail {
        reason,
        status: Some(status),
        oauth_error: error,
        error_description: description,
    }
}

/// How a JSON-RPC request is shown in the transcript.
fn rpc_params(body: &Value) -> Vec<(String, String)> {
    ["method", "id", "params"]
        .into_iter()
        .filter_map(|name| {
            body.get(name).map(|v| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (name.to_owned(), text)
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing.

/// A request header that cannot be sent as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HeaderError {
    /// Not an RFC 9110 §5.1 field name.
    #[error("`{0}` is not a valid HTTP field name (RFC 9110 §5.1); the request is not sent")]
    Name(String),
    /// Not an RFC 9110 §5.5 field value; the value is not repeated, it may be a credential.
    #[error(
        "the {0} header's value is not a valid HTTP field value (RFC 9110 §5.5); the request \
         is not sent"
    )]
    Value(String),
}

impl From<HeaderError> for Fail {
    fn from(e: HeaderError) -> Self {
        Self::new(e.to_string())
    }
}

/// Every header set, or the first that cannot be: dropping one would send another request
/// than the transcript shows.
fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &[(String, String)],
) -> Result<reqwest::RequestBuilder, HeaderError> {
    for (name, value) in headers {
        let header_name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::Name(name.clone()))?;
        let mut header_value =
            HeaderValue::from_str(value).map_err(|_| HeaderError::Value(name.clone()))?;
        // Keeps the value out of reqwest's and hyper's debug output.
        header_value.set_sensitive(header_name == reqwest::header::AUTHORIZATION);
        request = request.header(header_name, header_value);
    }
    Ok(request)
}

fn post_json(
    ctx: &Ctx<'_>,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<reqwest::RequestBuilder, HeaderError> {
    Ok(with_headers(ctx.http.post(url), headers)?.body(body.to_string()))
}

/// Sends with the timeout and records the status and `x-request-id` on the hop; a
/// redirect fails.
async fn send(hop: &mut Hop, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Fail> {
    let response = transport(request, hop).await?;
    hop.status = Some(response.status().as_u16());
    hop.request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    not_redirected(&response, hop)?;
    Ok(response)
}

/// Sends with the timeout, without recording; a redirect fails.
async fn dispatch(request: reqwest::RequestBuilder, hop: &Hop) -> Result<reqwest::Response, Fail> {
    let response = transport(request, hop).await?;
    not_redirected(&response, hop)?;
    Ok(response)
}

/// Sends with the timeout; a transport error names the hop's request.
async fn transport(request: reqwest::RequestBuilder, hop: &Hop) -> Result<reqwest::Response, Fail> {
    request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| Fail::new(format!("{} {}: {}", hop.method, hop.url, describe(&e))))
}

/// A 3xx fails, and so does a response from another URL than the hop's (an HTTP client
/// that follows redirects): a credential would be replayed to a location nobody configured.
fn not_redirected(response: &reqwest::Response, hop: &Hop) -> Result<(), Fail> {
    const WHY: &str = "redirects are not followed: a credential would be replayed to a location nobody \
         configured";
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| "no Location".to_owned(), |l| format!("Location `{l}`"));
        let mut fail = Fail::new(format!("HTTP {} ({location}): {WHY}", status.as_u16()));
        fail.status = Some(status.as_u16());
        return Err(fail);
    }
    let requested = url::Url::parse(&hop.url).ok();
    if requested.as_ref().is_some_and(|u| u != response.url()) {
        return Err(Fail::new(format!(
            "the response came from `{}`, not from the URL requested, so the HTTP client \
             followed a redirect; {WHY} (build it with redirect(Policy::none()))",
            response.url()
        )));
    }
    Ok(())
}

/// A transport error with its causes: reqwest's own message stops at "error sending
/// request", while the useful part (refused, reset, DNS) is in the sources.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", REQUEST_TIMEOUT.as_secs());
    }
    crate::http::describe(e)
}

/// The body, at most [`MAX_BODY_BYTES`].
async fn read_body(response: &mut reqwest::Response) -> Result<Vec<u8>, Fail> {
    crate::http::read_capped(response, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge { cap } => {
                Fail::new(format!("the response body exceeds {cap} bytes"))
            }
            ReadError::Broken(e) => Fail::new(format!("reading the response: {e}")),
        })
}

/// A body for the transcript: JSON as parsed, other text shortened; nothing when empty.
fn body_value(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    serde_json::from_slice(body).ok().or_else(|| {
        let text = String::from_utf8_lossy(body);
        let mut short: String = text.chars().take(MAX_TEXT_CHARS).collect();
        if text.chars().count() > MAX_TEXT_CHARS {
            short.push('…');
        }
        Some(Value::String(short))
    })
}

fn www_authenticate(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// CLI-15: plain http to a host other than loopback gets this far only when allowed; the
/// transcript says so.
fn note_plain_http(hop: &mut Hop) {
    if let Ok(url) = url::Url::parse(&hop.url)
        && url.scheme() == "http"
        && !is_loopback(&url)
    {
        hop.add_note(
            "credentials sent over plain http to a host other than loopback, as allowed \
             (CLI-15)",
        );
    }
}

/// Header and claims of a JWS compact token, decoded without verification; `None` for
/// anything else (an opaque token, a JWE, parts that are not strict base64url).
fn decode(label: &str, token: &str) -> Option<DecodedToken> {
    let mut parts = token.split('.');
    let (header, claims) = (parts.next()?, parts.next()?);
    parts.next()?;
    let object = |part: &str| -> Option<Value> {
        let bytes = b64_decode(part).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    Some(DecodedToken {
        label: label.to_owned(),
        header: object(header)?,
        claims: object(claims)?,
    })
}

fn strings<'a>(map: &'a Map<String, Value>, name: &str) -> Option<Vec<&'a str>> {
    map.get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
}

fn quoted_or_missing(value: Option<&str>) -> String {
    value.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_three_part_token_with_strict_base64url_json_object_parts_decodes() {
        let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.";
        let decoded = decode("t", token).unwrap();
        assert_eq!(decoded.header, json!({"alg": "none"}));
        assert_eq!(decoded.claims, json!({"sub": "a"}));
        assert_eq!(decode("t", "opaque-token"), None);
        assert_eq!(decode("t", "eyJhbGciOiJub25lIn0.bm90IGpzb24."), None);
        // Padding is not base64url as JWS has it.
        assert_eq!(decode("t", "eyJhbGciOiJub25lIn0=.eyJzdWIiOiJhIn0."), None);
    }

    #[test]
    fn a_header_that_cannot_be_sent_is_an_error_rather_than_dropped() {
        let http = reqwest::Client::new();
        let header = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
        assert_eq!(
            with_headers(
                http.get("http://127.0.0.1:9/"),
                &header(mcp::SESSION_ID, "a\nb")
            )
            .unwrap_err(),
            HeaderError::Value(mcp::SESSION_ID.into())
        );
        assert_eq!(
            with_headers(http.get("http://127.0.0.1:9/"), &header("Bad Name", "x")).unwrap_err(),
            HeaderError::Name("Bad Name".into())
        );
    }
}

//! The two token requests: the token exchange at the IdP (RFC 8693) and the jwt-bearer grant
//! at the authorization server (RFC 7523), their answers, client authentication, and the
//! transport rules that keep credentials from going where they should not.

use super::*;

#[tokio::test]
async fn a_refused_token_exchange_reports_the_oauth_error_and_the_request_id() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-request-id", "req-denied-7")
                .set_body_json(json!({
                    "error": "invalid_target",
                    "error_description": "Audience not registered",
                })),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(400));
    assert_eq!(failure.oauth_error.as_deref(), Some("invalid_target"));
    assert_eq!(
        failure.error_description.as_deref(),
        Some("Audience not registered")
    );
    assert_eq!(
        failure.reason,
        "the IdP refused the token exchange: HTTP 400 invalid_target (Audience not \
         registered) [x-request-id req-denied-7]"
    );
    let hop = transcript.hop(HopKind::TokenExchange).unwrap();
    assert_eq!(hop.request_id.as_deref(), Some("req-denied-7"));
    assert_eq!(
        hop.response,
        Some(json!({"error": "invalid_target", "error_description": "Audience not registered"}))
    );
    // Without a login the exchange is the fourth hop.
    assert_eq!(
        last_line(&transcript.render(false)),
        format!("FAILED at hop 4 (Token exchange): {}", failure.reason)
    );
    let json = transcript.to_json(false);
    assert_eq!(
        json["outcome"],
        json!({
            "result": "failed", "hop": "token_exchange", "hop_number": 4,
            "title": "Token exchange", "reason": failure.reason, "status": 400,
            "oauth_error": "invalid_target", "error_description": "Audience not registered",
        })
    );
}

#[tokio::test]
async fn a_token_exchange_answer_whose_token_type_is_not_n_a_is_not_presented_anywhere() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.exchange_response(ID_JAG_TYPE, "Bearer")),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        failure.reason,
        "token_type is `Bearer` instead of N_A (RFC 8693 §2.2.1, CLI-09); the token is not used"
    );
}

#[tokio::test]
async fn a_token_exchange_answer_of_another_token_type_is_not_presented_anywhere() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let access_token_type = "urn:ietf:params:oauth:token-type:access_token";
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.exchange_response(access_token_type, "n_a")),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::TokenExchange),
        format!(
            "issued_token_type is `{access_token_type}` instead of {ID_JAG_TYPE} \
             (ID-JAG §4.3.4, CLI-09); the token is not used"
        )
    );
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form_and_no_authorization_header() {
    let world = World::start(Framing::Json).await;
    let mut config = world.config(world.with_id_token());
    config.auth_method = AuthMethod::ClientSecretPost;
    config.scope = None;

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(idp.len(), 1);
    assert_eq!(header_of(&idp[0], "authorization"), None);
    let exchange = form(&idp[0]);
    assert_eq!(exchange.get("client_id").map(String::as_str), Some("agent"));
    assert_eq!(
        exchange.get("client_secret").map(String::as_str),
        Some("agent-secret")
    );
    // No scope configured: the challenge's `scope="tools.read"` is used.
    assert_eq!(
        exchange.get("scope").map(String::as_str),
        Some("tools.read")
    );
    assert_eq!(
        transcript
            .hop(HopKind::TokenExchange)
            .unwrap()
            .note
            .as_deref(),
        Some("scope `tools.read` from the 401 challenge (none configured)")
    );
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(header_of(grant, "authorization"), None);
    assert_eq!(
        form(grant),
        BTreeMap::from([
            ("grant_type".into(), JWT_BEARER.into()),
            ("assertion".into(), world.id_jag.clone()),
            ("scope".into(), "tools.read".into()),
            ("client_id".into(), "agent-at-as".into()),
            ("client_secret".into(), "agent-at-as-secret".into()),
        ])
    );
    assert!(
        transcript
            .render(false)
            .contains("    client_secret=(redacted, 18 bytes)\n")
    );
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_fails_the_hop_whether_or_not_the_http_client_follows_it()
 {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let elsewhere = format!("{}/elsewhere", world.idp.uri());
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", elsewhere.as_str()))
        .with_priority(1)
        .mount(&world.idp)
        .await;
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.exchange_response(ID_JAG_TYPE, "N_A")),
        )
        .mount(&world.idp)
        .await;
    let replayed = || async {
        let requests = world.idp.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.url.path() == "/elsewhere")
            .count()
    };
    let config = world.config(world.with_id_token());

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(failure.status, Some(307));
    assert_eq!(
        failure.reason,
        format!(
            "HTTP 307 (Location `{elsewhere}`): redirects are not followed: a credential would \
             be replayed to a location nobody configured"
        )
    );
    assert_eq!(replayed().await, 0);

    // A caller's client that follows redirects has replayed the request; the hop fails all
    // the same, and the ID-JAG it obtained is not presented.
    let following = client::run(&config, &reqwest::Client::new()).await;

    let failure = following.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    assert_eq!(
        failure.reason,
        format!(
            "the response came from `{elsewhere}`, not from the URL requested, so the HTTP \
             client followed a redirect; redirects are not followed: a credential would be \
             replayed to a location nobody configured (build it with redirect(Policy::none()))"
        )
    );
    assert_eq!(replayed().await, 1);
}

#[tokio::test]
async fn plain_http_token_endpoints_on_other_hosts_fail_before_any_credential_is_sent() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let insecure = |url: &str| {
        format!(
            "`{url}` is plain http to a host other than loopback: credentials would cross \
             the network unencrypted (CLI-15); use https, or allow insecure http explicitly"
        )
    };
    let mut config = world.config(world.with_id_token());
    config.idp_token_endpoint = "http://idp.example/token".into();

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(
        failure.reason,
        format!(
            "the IdP token endpoint {}",
            insecure("http://idp.example/token")
        )
    );
    assert_eq!(failure.status, None);
    assert_eq!(world.mcp_messages().await, Vec::<Value>::new());

    // The authorization server's token endpoint, as its metadata names it.
    let mut metadata = world.as_metadata(&world.issuer());
    metadata["token_endpoint"] = json!("http://as.example/token");
    world.as_metadata_answer(metadata).await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::AuthorizationServerMetadata),
        format!("the token_endpoint {}", insecure("http://as.example/token"))
    );
}

#[tokio::test]
async fn urls_with_userinfo_or_a_fragment_fail_before_any_request_and_userinfo_is_never_shown() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let mut config = world.config(world.with_id_token());
    config.mcp_url = world.mcp_url().replace("http://", "http://alice:hunter2@");

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(
        failure.reason,
        format!(
            "the MCP URL `{}` was given with userinfo (`user:password@`, removed here), which \
             is never sent; give the URL without it",
            world.mcp_url()
        )
    );
    assert_eq!(transcript.hops[0].url, world.mcp_url());
    for text in [
        transcript.render(true),
        transcript.to_json(true).to_string(),
        format!("{transcript:?}"),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }

    let mut config = world.config(world.with_id_token());
    config.idp_token_endpoint = format!("{}/token#f", world.idp.uri());
    let failure = world.run(&config).await.outcome.unwrap_err();
    assert_eq!(
        failure.reason,
        format!(
            "the IdP token endpoint `{}/token#f` has a fragment, which no request URL or \
             identifier may have",
            world.idp.uri()
        )
    );
    assert_eq!(world.mcp_messages().await, Vec::<Value>::new());

    // Discovered: a challenge naming metadata at a URL with a fragment.
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer resource_metadata="{}{PRM_PATH}#x""#,
                    world.mcp.uri()
                )
                .as_str(),
            ),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let transcript = world.run(&world.config(world.with_id_token())).await;
    assert_eq!(
        failed_at(&transcript, HopKind::Challenge),
        format!(
            "the challenge's resource_metadata `{}{PRM_PATH}#x` has a fragment, which no \
             request URL or identifier may have (RFC 9728 §5.1)",
            world.mcp.uri()
        )
    );
}

#[tokio::test]
async fn an_access_token_that_is_no_b64token_is_refused_at_the_jwt_bearer_grant() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": "at 1\u{7f}", "token_type": "Bearer"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::JwtBearer),
        "the access token is not an RFC 6750 §2.1 b64token (letters, digits, `-._~+/`, then \
         `=`s), so no Authorization header can carry it; it is not sent"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

#[tokio::test]
async fn an_access_token_equal_to_the_id_jag_is_refused_at_the_jwt_bearer_grant() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": world.id_jag, "token_type": "Bearer"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::JwtBearer),
        "the access token is the ID-JAG or the ID token itself, which must never reach the \
         MCP server (CLI-13); it is not sent"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

#[tokio::test]
async fn an_access_token_of_a_type_other_than_bearer_is_not_presented() {
    let world = World::start(Framing::Json).await;
    world
        .grant_answer(json!({"access_token": world.access_token, "token_type": "DPoP"}))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::JwtBearer),
        "token_type is `DPoP` instead of Bearer (RFC 6750); this client presents bearer \
         tokens only"
    );
    assert_eq!(methods(&world.mcp_messages().await), ["initialize"]);
}

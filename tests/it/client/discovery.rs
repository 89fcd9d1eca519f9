//! Discovery: the MCP server's challenge, its protected resource metadata (RFC 9728) and the
//! authorization server's metadata (RFC 8414); a refusal here stops the chain before any
//! token is requested.

use super::*;

#[tokio::test]
async fn a_resource_metadata_naming_another_resource_stops_the_chain_before_any_token_request() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let other = format!("{}/", world.mcp_url());
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(world.protected_resource(&other)))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(AS_METADATA_PATH))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .expect(0)
        .mount(&world.auth)
        .await;

    let transcript = world.run(&world.config(world.login())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ResourceMetadata);
    assert_eq!(
        failure.reason,
        format!(
            "the metadata's resource `{other}` is not identical to the MCP server URL `{}` \
             (RFC 9728 §3.3, CLI-02); the metadata is not used",
            world.mcp_url()
        )
    );
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        kinds(&transcript),
        [HopKind::Challenge, HopKind::ResourceMetadata]
    );
    assert_eq!(
        last_line(&transcript.render(false)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): {}",
            failure.reason
        )
    );
}

#[tokio::test]
async fn authorization_server_metadata_with_another_issuer_is_not_used_and_no_token_is_requested() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let other = format!("{}/", world.issuer());
    world.as_metadata_answer(world.as_metadata(&other)).await;

    let transcript = world.run(&world.config(world.login())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::AuthorizationServerMetadata),
        format!(
            "the metadata's issuer `{other}` is not identical to `{}`, the issuer it was \
             fetched for (RFC 8414 §3.3, CLI-03); the document is not used",
            world.issuer()
        )
    );
    assert_eq!(
        kinds(&transcript),
        [
            HopKind::Challenge,
            HopKind::ResourceMetadata,
            HopKind::AuthorizationServerMetadata
        ]
    );
}

#[tokio::test]
async fn metadata_without_the_jwt_bearer_grant_stops_the_chain_before_the_token_exchange() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let mut metadata = world.as_metadata(&world.issuer());
    metadata["grant_types_supported"] = json!(["authorization_code"]);
    world.as_metadata_answer(metadata).await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::AuthorizationServerMetadata),
        format!("grant_types_supported does not list {JWT_BEARER} (CLI-04)")
    );
}

#[tokio::test]
async fn without_resource_metadata_in_the_challenge_the_well_known_url_of_the_path_is_used() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Bearer realm="mcp""#),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let challenge = transcript.hop(HopKind::Challenge).unwrap();
    assert_eq!(
        challenge.note.as_deref(),
        Some(
            "WWW-Authenticate: Bearer realm=\"mcp\"; the challenge has no Bearer \
             resource_metadata; trying the RFC 9728 well-known URLs (CLI-01)"
        )
    );
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().url,
        format!("{}{PRM_PATH}", world.mcp.uri())
    );
}

#[tokio::test]
async fn without_any_challenge_header_the_root_well_known_url_is_tried_after_the_path_one() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(ResponseTemplate::new(401))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path(PRM_ROOT))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.protected_resource(&world.mcp_url())),
        )
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    let hop = transcript.hop(HopKind::ResourceMetadata).unwrap();
    assert_eq!(hop.url, format!("{}{PRM_ROOT}", world.mcp.uri()));
    assert_eq!(
        hop.note.as_deref(),
        Some(
            format!(
                "GET {0}{PRM_PATH} → 404; trying {0}{PRM_ROOT}",
                world.mcp.uri()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn an_mcp_server_that_answers_without_asking_for_a_token_fails_the_challenge() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(failure.status, Some(200));
    assert_eq!(
        failure.reason,
        "the MCP server did not ask for a token: HTTP 200 to an unauthenticated initialize, \
         where a 401 with a Bearer challenge was expected (RFC 9728 §5.1)"
    );
}

#[tokio::test]
async fn an_unreachable_mcp_server_fails_the_challenge_with_the_cause() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = World::start(Framing::Json).await;
    let mut config = world.config(world.with_id_token());
    config.mcp_url = format!("http://127.0.0.1:{port}/mcp");

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Challenge);
    assert_eq!(failure.status, None);
    let prefix = format!("POST http://127.0.0.1:{port}/mcp: ");
    assert!(failure.reason.starts_with(&prefix), "{}", failure.reason);
    assert!(
        failure.reason.to_lowercase().contains("connection refused"),
        "{}",
        failure.reason
    );
    assert_eq!(transcript.hops.len(), 1);
    assert!(transcript.render(false).contains("    → no response\n"));
}

#[tokio::test]
async fn a_pinned_issuer_missing_from_the_resource_metadata_stops_the_chain_before_any_metadata_fetch()
 {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .expect(0)
        .named("no authorization server metadata")
        .mount(&world.auth)
        .await;
    let mut config = world.config(world.with_id_token());
    config.expected_issuer = Some("https://as.example".into());

    let transcript = world.run(&config).await;

    assert_eq!(
        failed_at(&transcript, HopKind::ResourceMetadata),
        format!(
            "the metadata's authorization_servers [\"{}\"] do not include the expected issuer \
             `https://as.example`; no metadata is fetched and no secret sent",
            world.issuer()
        )
    );
    assert_eq!(
        kinds(&transcript),
        [HopKind::Challenge, HopKind::ResourceMetadata]
    );
}

#[tokio::test]
async fn a_pinned_issuer_is_used_wherever_the_resource_metadata_lists_it() {
    let world = World::start(Framing::Json).await;
    let mut prm = world.protected_resource(&world.mcp_url());
    prm["authorization_servers"] = json!(["https://as.example", world.issuer()]);
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(prm))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.expected_issuer = Some(world.issuer());

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().note,
        Some(format!(
            "2 authorization servers listed; using the expected one, {}",
            world.issuer()
        ))
    );
}

#[tokio::test]
async fn a_bearer_challenge_after_another_schemes_token68_is_found() {
    let world = World::start(Framing::Json).await;
    let advertised = format!("{}/prm-elsewhere", world.mcp.uri());
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Basic abc/def=, Bearer resource_metadata="{advertised}""#).as_str(),
        ))
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    Mock::given(method("GET"))
        .and(path("/prm-elsewhere"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(world.protected_resource(&world.mcp_url())),
        )
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript.hop(HopKind::ResourceMetadata).unwrap().url,
        advertised
    );
}

#[tokio::test]
async fn without_a_scope_configured_or_in_the_challenge_none_is_requested_and_the_note_says_so() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(Unauthenticated)
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer resource_metadata="{}{PRM_PATH}""#,
                    world.mcp.uri()
                )
                .as_str(),
            ),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.scope = None;

    let transcript = world.run(&config).await;

    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));
    assert_eq!(
        transcript
            .hop(HopKind::TokenExchange)
            .unwrap()
            .note
            .as_deref(),
        Some("no scope: none configured and the 401 challenge names none")
    );
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(form(&idp[0]).get("scope"), None);
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(form(grant).get("scope"), None);
}

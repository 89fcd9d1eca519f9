//! What the transcript shows: every credential and token redacted unless secrets are shown,
//! and secrets a hostile server echoes scrubbed from every rendering but the full one.

use super::*;

#[tokio::test]
async fn the_rendering_redacts_every_credential_and_token_unless_secrets_are_shown() {
    let world = World::start(Framing::Json).await;
    let transcript = world.run(&world.config(world.login())).await;
    assert!(transcript.outcome.is_ok(), "{}", transcript.render(false));

    let secrets = [
        world.id_token.as_str(),
        world.id_jag.as_str(),
        world.access_token.as_str(),
        "alice-password",
        "opaque-login-token",
        "agent-secret",
        "agent-at-as-secret",
    ];
    let basic_idp = basic("agent", "agent-secret");
    let redacted = transcript.render(false);
    let as_json = transcript.to_json(false).to_string();
    let debug = format!("{transcript:?}");
    for text in [&redacted, &as_json, &debug] {
        for secret in secrets
            .iter()
            .copied()
            .chain([&basic_idp["Basic ".len()..]])
        {
            assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
        }
    }
    assert!(redacted.contains(&format!(
        "    subject_token=eyJhbGciOi…(redacted, {} bytes)\n",
        world.id_token.len()
    )));
    assert!(redacted.contains(&format!(
        "    assertion=eyJhbGciOi…(redacted, {} bytes)\n",
        world.id_jag.len()
    )));
    assert!(redacted.contains(&format!(
        "    Authorization: Bearer eyJhbGciOi…(redacted, {} bytes)\n",
        world.access_token.len()
    )));
    assert!(redacted.contains("    password=(redacted, 14 bytes)\n"));
    assert!(redacted.contains("    Authorization: Basic (redacted, 24 bytes)\n"));
    assert!(redacted.starts_with(&format!("[1] Challenge  POST {}\n", world.mcp_url())));
    assert!(redacted.contains(&format!(
        "\n[5] Token exchange  POST {}/token\n",
        world.idp.uri()
    )));
    assert!(redacted.contains("    → 401\n"));
    assert!(redacted.contains("    x-request-id: req-te-1\n"));
    assert!(redacted.contains("    ID-JAG claims (unverified):\n      {\n"));
    assert_eq!(last_line(&redacted), "OK: tools [echo, publish]");

    // With Basic authentication the client secrets travel base64-encoded.
    let basic_as = basic("agent-at-as", "agent-at-as-secret");
    let shown = transcript.render(true);
    for secret in secrets[..5]
        .iter()
        .copied()
        .chain([basic_idp.as_str(), basic_as.as_str()])
    {
        assert!(shown.contains(secret), "`{secret}` missing from:\n{shown}");
    }
    assert_eq!(last_line(&shown), "OK: tools [echo, publish]");
    assert_eq!(
        transcript.to_json(true)["hops"][4]["request_params"]["subject_token"],
        world.id_token.as_str()
    );
    assert_eq!(transcript.to_json(false)["outcome"]["result"], "ok");
}

#[tokio::test]
async fn secrets_a_server_echoes_are_scrubbed_from_every_rendering_except_the_full_one() {
    let world = World::start(Framing::Json).await;
    world.forbid_jwt_bearer().await;
    let basic_sent = basic("agent", "agent-secret");
    let basic_sent = &basic_sent["Basic ".len()..];
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormParam("grant_type", TOKEN_EXCHANGE))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-request-id", "agent-secret")
                .set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": format!(
                        "subject_token {} refused for agent:agent-secret ({basic_sent})",
                        world.id_token
                    ),
                    "debug": {"seen": world.id_token, "client": "agent-secret"},
                })),
        )
        .with_priority(1)
        .mount(&world.idp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::TokenExchange);
    let id_token = format!(
        "{}…(redacted, {} bytes)",
        &world.id_token[..10],
        world.id_token.len()
    );
    let description =
        format!("subject_token {id_token} refused for (redacted, 18 bytes) ((redacted, 24 bytes))");
    assert_eq!(
        failure.error_description.as_deref(),
        Some(description.as_str())
    );
    assert_eq!(
        failure.reason,
        format!(
            "the IdP refused the token exchange: HTTP 400 invalid_grant ({description}) \
             [x-request-id (redacted, 12 bytes)]"
        )
    );
    let texts = [
        transcript.render(false),
        transcript.to_json(false).to_string(),
        format!("{transcript:?}"),
        format!("{:?}", transcript.hops),
        failure.to_string(),
        format!("{failure:?}"),
    ];
    for text in &texts {
        for secret in [world.id_token.as_str(), "agent-secret", basic_sent] {
            assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
        }
    }
    let hop = &transcript.to_json(false)["hops"][3];
    assert_eq!(
        hop["response"]["debug"],
        json!({"seen": id_token, "client": "(redacted, 12 bytes)"})
    );
    assert_eq!(hop["request_id"], "(redacted, 12 bytes)");
    // Shown whole, the response is as it came; the free text stays scrubbed.
    let shown = transcript.render(true);
    assert!(shown.contains(&format!(r#""seen":"{}""#, world.id_token)));
    assert_eq!(
        last_line(&shown),
        format!("FAILED at hop 4 (Token exchange): {}", failure.reason)
    );
}

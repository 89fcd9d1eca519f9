//! The MCP calls with the access token: initialize, tools/list (with paging) and tools/call,
//! over JSON or server-sent events, and each way an MCP server can break them.

use super::*;

#[tokio::test]
async fn an_insufficient_scope_answer_to_the_tool_call_names_the_scope_required() {
    let world = World::start(Framing::Json).await;
    let challenge = format!(
        r#"Bearer error="insufficient_scope", scope="tools.write", resource_metadata="{}{PRM_PATH}", error_description="publish needs tools.write""#,
        world.mcp.uri()
    );
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(body_partial_json(json!({"method": "tools/call"})))
        .respond_with(
            ResponseTemplate::new(403).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;
    let mut config = world.config(world.with_id_token());
    config.call = Some(ToolCall {
        name: "publish".into(),
        arguments: json!({"text": "hi"}),
    });

    let transcript = world.run(&config).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ToolsCall);
    assert_eq!(failure.status, Some(403));
    assert_eq!(failure.oauth_error.as_deref(), Some("insufficient_scope"));
    assert_eq!(
        failure.error_description.as_deref(),
        Some("publish needs tools.write")
    );
    assert_eq!(
        failure.reason,
        "the MCP server requires scope `tools.write` (HTTP 403 insufficient_scope) \
         (publish needs tools.write)"
    );
    assert_eq!(
        last_line(&transcript.render(false)),
        format!("FAILED at hop 8 (Call tool): {}", failure.reason)
    );
}

#[tokio::test]
async fn an_access_token_refused_with_401_names_the_challenge_error_at_initialize() {
    let world = World::start(Framing::Json).await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .and(header(
            "authorization",
            format!("Bearer {}", world.access_token).as_str(),
        ))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            r#"Bearer error="invalid_token", error_description="audience mismatch""#,
        ))
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(failure.status, Some(401));
    assert_eq!(failure.oauth_error.as_deref(), Some("invalid_token"));
    assert_eq!(
        failure.reason,
        "the MCP server refused the access token: HTTP 401 invalid_token (audience mismatch)"
    );
}

#[tokio::test]
async fn an_mcp_server_answering_with_server_sent_events_is_understood() {
    let world = World::start(Framing::Sse).await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        success.call_result,
        Some(
            json!({"content": [{"type": "text", "text": "hello from jagspec"}], "isError": false})
        )
    );
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().response,
        Some(json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
            {"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "publish", "inputSchema": {"type": "object"}},
        ]}}))
    );
}

#[tokio::test]
async fn a_session_id_that_cannot_be_sent_back_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("initialize", |request: &Request| {
            reply(
                request,
                json!({"protocolVersion": "2025-11-25", "capabilities": {}}),
            )
            .insert_header("Mcp-Session-Id", "a b")
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::Initialize),
        "the Mcp-Session-Id is not visible ASCII (MCP Streamable HTTP: 0x21 to 0x7E), so it \
         cannot be sent back"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize"]
    );
}

#[tokio::test]
async fn a_protocol_version_the_client_does_not_support_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("initialize", |request: &Request| {
            reply(
                request,
                json!({"protocolVersion": "2024-11-05", "capabilities": {}}),
            )
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::Initialize),
        "the server chose protocol version `2024-11-05`, which this client does not support \
         (2025-03-26, 2025-06-18, 2025-11-25); the session is not used"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize"]
    );
}

#[tokio::test]
async fn a_json_rpc_response_with_another_id_fails_the_hop() {
    let world = World::start(Framing::Json).await;
    world
        .answer(
            "initialize",
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": 99, "result": {}})),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::Initialize),
        "the JSON-RPC response's id is 99 instead of 1"
    );
}

#[tokio::test]
async fn a_response_body_over_one_mebibyte_fails_the_hop() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(vec![b' '; 1024 * 1024 + 1], "application/json"),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::ResourceMetadata);
    assert_eq!(failure.status, Some(200));
    assert_eq!(failure.reason, "the response body exceeds 1048576 bytes");
}

#[tokio::test]
async fn an_event_stream_that_ends_without_the_response_fails_the_hop() {
    let world = World::start(Framing::Sse).await;
    let notification = json!({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": "info", "data": "working"}});
    world
        .answer(
            "tools/list",
            ResponseTemplate::new(200)
                .set_body_raw(format!("data: {notification}\n\n"), "text/event-stream"),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::ToolsList),
        "the event stream ended without a response to request 2"
    );
}

#[tokio::test]
async fn a_request_from_the_mcp_server_on_the_event_stream_fails_the_hop_naming_its_method() {
    let world = World::start(Framing::Sse).await;
    let request = json!({"jsonrpc": "2.0", "id": "s-1", "method": "sampling/createMessage",
                         "params": {"messages": []}});
    world
        .answer(
            "initialize",
            ResponseTemplate::new(200)
                .set_body_raw(format!("data: {request}\n\n"), "text/event-stream"),
        )
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    assert_eq!(
        failed_at(&transcript, HopKind::Initialize),
        "the server sent a `sampling/createMessage` request on the event stream before its \
         response to request 1; this client answers no server request, so it stops rather \
         than wait"
    );
    assert_eq!(
        transcript.hop(HopKind::Initialize).unwrap().response,
        Some(request)
    );
}

#[tokio::test]
async fn tools_list_follows_next_cursor_and_sends_it_back() {
    let world = World::start(Framing::Json).await;
    world
        .answer("tools/list", |request: &Request| {
            let message: Value = request.body_json().unwrap_or(Value::Null);
            let result = match message["params"]["cursor"].as_str() {
                None => json!({"tools": [{"name": "echo"}], "nextCursor": "page-2"}),
                Some(_) => json!({"tools": [{"name": "publish"}]}),
            };
            reply(request, result)
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().note.as_deref(),
        Some("2 pages (nextCursor followed)")
    );
    let lists: Vec<Value> = world
        .mcp_messages()
        .await
        .into_iter()
        .filter(|m| m["method"] == "tools/list")
        .collect();
    assert_eq!(
        lists,
        [
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list",
                   "params": {"cursor": "page-2"}}),
        ]
    );
}

#[tokio::test]
async fn tools_list_stops_after_twenty_pages_of_a_server_that_never_stops_paging() {
    let world = World::start(Framing::Json).await;
    world
        .answer("tools/list", |request: &Request| {
            reply(
                request,
                json!({"tools": [{"name": "echo"}], "nextCursor": "more"}),
            )
        })
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(success.tools, vec!["echo"; 20]);
    assert_eq!(
        transcript.hop(HopKind::ToolsList).unwrap().note.as_deref(),
        Some("stopped after 20 pages; the server offered more")
    );
    let messages = world.mcp_messages().await;
    assert_eq!(
        methods(&messages)
            .iter()
            .filter(|m| **m == "tools/list")
            .count(),
        20
    );
}

#[tokio::test]
async fn a_refused_initialized_notification_fails_initialize() {
    let world = World::start(Framing::Json).await;
    world
        .answer("notifications/initialized", ResponseTemplate::new(500))
        .await;

    let transcript = world.run(&world.config(world.with_id_token())).await;

    let failure = transcript.outcome.as_ref().unwrap_err();
    assert_eq!(failure.hop, HopKind::Initialize);
    assert_eq!(failure.status, Some(500));
    assert_eq!(
        failure.reason,
        "notifications/initialized: the MCP server answered HTTP 500"
    );
    assert_eq!(
        methods(&world.mcp_messages().await),
        ["initialize", "initialize", "notifications/initialized"]
    );
}

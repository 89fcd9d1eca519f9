//! The whole chain against conforming parties: every hop in order, each party sent exactly
//! its parameters.

use super::*;

#[tokio::test]
async fn the_whole_chain_runs_every_hop_in_order_and_sends_each_party_exactly_its_parameters() {
    let world = World::start(Framing::Json).await;
    let transcript = world.run(&world.config(world.login())).await;

    let success = transcript.outcome.as_ref().expect("the chain completes");
    assert_eq!(kinds(&transcript), HopKind::ALL);
    assert_eq!(
        statuses(&transcript),
        [401, 200, 200, 200, 200, 200, 200, 200, 200].map(Some)
    );
    assert_eq!(success.tools, ["echo", "publish"]);
    assert_eq!(
        success.call_result,
        Some(
            json!({"content": [{"type": "text", "text": "hello from jagspec"}], "isError": false})
        )
    );
    assert_eq!(
        success.id_jag_claims,
        id_jag_claims(&world.idp, &world.auth, &world.mcp)
    );
    assert_eq!(success.id_jag_header["typ"], ID_JAG_TYP);
    assert_eq!(success.id_jag_header["alg"], "ES256");
    assert_eq!(success.access_token_claims["aud"], world.mcp_url());

    let hop = |kind| transcript.hop(kind).unwrap();
    assert_eq!(hop(HopKind::Challenge).url, world.mcp_url());
    assert_eq!(
        hop(HopKind::ResourceMetadata).url,
        format!("{}{PRM_PATH}", world.mcp.uri())
    );
    assert_eq!(
        hop(HopKind::AuthorizationServerMetadata).url,
        format!("{}{AS_METADATA_PATH}", world.issuer())
    );
    assert_eq!(
        hop(HopKind::TokenExchange).request_id.as_deref(),
        Some("req-te-1")
    );
    let labels =
        |kind| -> Vec<String> { hop(kind).tokens.iter().map(|t| t.label.clone()).collect() };
    assert_eq!(labels(HopKind::Login), ["ID token"]);
    assert_eq!(labels(HopKind::TokenExchange), ["ID-JAG"]);
    assert_eq!(labels(HopKind::JwtBearer), ["access token"]);
    assert_eq!(
        hop(HopKind::Initialize).note.as_deref(),
        Some("notifications/initialized → 202")
    );

    // The IdP: the login, then the exchange with the AS issuer and the PRM resource.
    let idp = world.idp.received_requests().await.unwrap();
    assert_eq!(idp.len(), 2);
    let login = form(&idp[0]);
    assert_eq!(
        login,
        BTreeMap::from([
            ("grant_type".into(), "password".into()),
            ("username".into(), "alice".into()),
            ("password".into(), "alice-password".into()),
        ])
    );
    let exchange = form(&idp[1]);
    assert_eq!(
        exchange,
        BTreeMap::from([
            ("grant_type".into(), TOKEN_EXCHANGE.into()),
            ("requested_token_type".into(), ID_JAG_TYPE.into()),
            ("audience".into(), world.issuer()),
            ("resource".into(), world.mcp_url()),
            ("scope".into(), "tools.read".into()),
            ("subject_token".into(), world.id_token.clone()),
            ("subject_token_type".into(), ID_TOKEN_TYPE.into()),
        ])
    );
    for request in &idp {
        assert_eq!(
            header_of(request, "authorization"),
            Some(basic("agent", "agent-secret"))
        );
    }

    // The authorization server: the ID-JAG with the client's credentials there.
    let auth = world.auth.received_requests().await.unwrap();
    let grant = auth.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(
        form(grant),
        BTreeMap::from([
            ("grant_type".into(), JWT_BEARER.into()),
            ("assertion".into(), world.id_jag.clone()),
            ("scope".into(), "tools.read".into()),
        ])
    );
    assert_eq!(
        header_of(grant, "authorization"),
        Some(basic("agent-at-as", "agent-at-as-secret"))
    );

    // The MCP server: no token, then only the access token (CLI-13), with the session.
    let mcp: Vec<Request> = world
        .mcp
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    let methods: Vec<String> = mcp
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["method"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call"
        ]
    );
    let bearer = format!("Bearer {}", world.access_token);
    assert_eq!(header_of(&mcp[0], "authorization"), None);
    for request in &mcp[1..] {
        assert_eq!(header_of(request, "authorization").as_ref(), Some(&bearer));
        assert_eq!(
            header_of(request, "accept").as_deref(),
            Some("application/json, text/event-stream")
        );
    }
    for request in &mcp[2..] {
        assert_eq!(
            header_of(request, "mcp-session-id").as_deref(),
            Some(SESSION)
        );
        assert_eq!(
            header_of(request, "mcp-protocol-version").as_deref(),
            Some("2025-11-25")
        );
    }
    assert_eq!(header_of(&mcp[1], "mcp-session-id"), None);
    assert_eq!(
        mcp[1].body_json::<Value>().unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")}}})
    );
}

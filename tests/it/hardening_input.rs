//! What hostile input gets at the token endpoints and beside them: JSON errors for
//! unmatched requests, form values that are not UTF-8, error descriptions that never repeat
//! a token, audit events a stranger cannot inflate.

use crate::hardening::{LIMITS, alice_id_token, ecosystem};
use serde_json::Value;

#[tokio::test]
async fn unmatched_requests_get_json_errors_that_no_cache_keeps() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let http = reqwest::Client::new();
    let es256 = &m.authorization_servers[2];
    let cases: Vec<(reqwest::Method, String, u16, &str)> = vec![
        (
            reqwest::Method::GET,
            m.issuer.token_endpoint.clone(),
            405,
            "invalid_request",
        ),
        (
            reqwest::Method::PUT,
            m.issuer.token_endpoint.clone(),
            405,
            "invalid_request",
        ),
        (
            reqwest::Method::POST,
            m.issuer.jwks_uri.clone(),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            m.issuer.metadata_url.clone(),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            format!("{}/nothing-here", m.issuer.url),
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            format!("{}/admin/", m.issuer.url),
            401,
            "invalid_token",
        ),
        (
            reqwest::Method::GET,
            format!("{}/admin/nothing", m.issuer.url),
            401,
            "invalid_token",
        ),
        (
            reqwest::Method::GET,
            es256.token_endpoint.clone(),
            405,
            "invalid_request",
        ),
        (
            reqwest::Method::DELETE,
            es256.token_endpoint.clone(),
            405,
            "invalid_request",
        ),
        (
            reqwest::Method::POST,
            es256.metadata_url.clone(),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            format!("{}/jwks", es256.issuer),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            format!("{}/nothing-here", es256.issuer),
            404,
            "not_found",
        ),
    ];
    for (method, url, status, error) in cases {
        let r = http.request(method.clone(), &url).send().await.unwrap();
        let what = format!("{method} {url}");
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(r.headers()["content-type"], "application/json", "{what}");
        if status == 405 {
            let allow = if error == "invalid_request" {
                "POST"
            } else {
                "GET,HEAD"
            };
            assert_eq!(r.headers()["allow"], allow, "{what}");
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{what}");
    }
    // With the admin token, an unknown admin path is the admin API's 404.
    let r = http
        .get(format!("{}/admin/", m.issuer.url))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    eco.stop().await;
}

#[tokio::test]
async fn a_form_value_that_is_not_utf8_is_invalid_request_not_silently_replaced() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let body = "grant_type=password&username=alice%FF&password=alice-password";
    let r = reqwest::Client::new()
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(
        answer["error_description"],
        "malformed request: parameter `username` is not UTF-8 once percent-decoded (RFC 6749 Appendix B)"
    );
    let events = eco
        .issuer()
        .state
        .audit
        .find_by_request_id(&request_id)
        .unwrap();
    assert_eq!(events[0].status_detail, "Malformed request");

    let es256 = &m.authorization_servers[2];
    let r = reqwest::Client::new()
        .post(&es256.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=%C3%28")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(
        answer["error_description"],
        "malformed request: parameter `assertion` is not UTF-8 once percent-decoded (RFC 6749 Appendix B)"
    );
    eco.stop().await;
}

#[tokio::test]
async fn an_error_description_never_repeats_a_token_sent_in_the_wrong_field() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let http = reqwest::Client::new();
    let token = alice_id_token(&m.issuer.token_endpoint).await;
    let exchange = jagspec::TOKEN_EXCHANGE_GRANT;
    // No 16-character piece of the token comes back.
    let pieces: Vec<String> = token
        .as_bytes()
        .chunks(16)
        .filter(|c| c.len() == 16)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let repeats = |text: &str| pieces.iter().any(|p| text.contains(p.as_str()));
    // The form, the OAuth error, the audit status detail.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("grant_type", &token)],
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
        (
            vec![
                ("grant_type", exchange),
                ("requested_token_type", &token),
                ("subject_token", &token),
            ],
            "invalid_request",
            "Requested token type not supported",
        ),
        (
            vec![
                ("grant_type", exchange),
                ("requested_token_type", jagspec::ID_JAG_TOKEN_TYPE),
                ("subject_token", "x"),
                ("subject_token_type", &token),
            ],
            "invalid_request",
            "Subject token type not supported",
        ),
    ];
    for (form, error, detail) in &cases {
        let r = http
            .post(&m.issuer.token_endpoint)
            .basic_auth("agent", Some("agent-secret"))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{detail}");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let text = r.text().await.unwrap();
        assert!(!repeats(&text), "the answer repeats the token: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"], *error, "{text}");
        let marker = format!(
            "[a token-shaped value of {} bytes, not repeated]",
            token.len()
        );
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains(&marker),
            "{text}"
        );
        let event = eco
            .issuer()
            .state
            .audit
            .find_by_request_id(&id)
            .unwrap()
            .remove(0);
        assert_eq!(event.status_detail, *detail);
        // Nor does the audit log keep it.
        assert!(
            !repeats(&serde_json::to_string(&event).unwrap()),
            "{event:?}"
        );
    }
    // The authorization server, with the token as its grant type and as the client id.
    let es256 = &m.authorization_servers[2];
    let r = http
        .post(&es256.token_endpoint)
        .basic_auth(&es256.client_id, Some(es256.client_secret.secret()))
        .form(&[("grant_type", token.as_str()), ("assertion", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(!repeats(&text), "the answer repeats the token: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"], "unsupported_grant_type");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("token-shaped value of"),
        "{text}"
    );
    eco.stop().await;
}

#[tokio::test]
async fn a_stranger_cannot_make_an_audit_event_large() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let http = reqwest::Client::new();
    let huge = "g".repeat(60_000);
    // Unauthenticated: the grant type alone, 60 KB of it.
    let r = http
        .post(&m.issuer.token_endpoint)
        .form(&[("grant_type", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let event = eco
        .issuer()
        .state
        .audit
        .find_by_request_id(&id)
        .unwrap()
        .remove(0);
    assert_eq!(event.status_detail, "Client authentication failed");
    let kept = event.grant_type.as_deref().unwrap();
    assert!(kept.ends_with("…[cut from 60000 bytes]"), "{kept}");
    assert!(serde_json::to_string(&event).unwrap().len() < 2048);

    // Authenticated: a huge audience, resource and 2,000 scopes.
    let id_token = alice_id_token(&m.issuer.token_endpoint).await;
    let scopes: Vec<String> = (0..2000).map(|i| format!("scope-{i}")).collect();
    let scope = scopes.join(" ");
    let audience = format!("http://127.0.0.1:1/{}", "a".repeat(20_000));
    let r = http
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", jagspec::TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", jagspec::ID_JAG_TOKEN_TYPE),
            ("subject_token", id_token.as_str()),
            ("subject_token_type", jagspec::ID_TOKEN_TYPE),
            ("audience", audience.as_str()),
            ("resource", audience.as_str()),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
    let event = eco
        .issuer()
        .state
        .audit
        .find_by_request_id(&id)
        .unwrap()
        .remove(0);
    assert_eq!(event.status_detail, "Audience not registered");
    let row = serde_json::to_string(&event).unwrap();
    assert!(row.len() < 8 * 1024, "{} bytes", row.len());
    assert_eq!(
        event.scopes.len(),
        jagspec::audit::MAX_RECORDED_DENIED_SCOPES + 1
    );
    assert_eq!(
        event.scopes.last().unwrap().scope,
        format!(
            "[{} more denied scopes not recorded]",
            2000 - jagspec::audit::MAX_RECORDED_DENIED_SCOPES
        )
    );
    eco.stop().await;
}

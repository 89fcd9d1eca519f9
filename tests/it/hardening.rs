//! Slow and hostile clients against every listener of the ecosystem, over raw sockets: a
//! request head that never ends, a keep-alive connection left idle, a body that stalls or
//! never ends, a malformed chunked body, hundreds of half-open connections, a shutdown
//! while a client holds a half-sent request; the JSON errors of unmatched requests; form
//! values that are not UTF-8; error descriptions that never repeat a token; audit events
//! a stranger cannot inflate. The limits are shortened so each case takes well under a
//! second; what they mean is the same at the defaults.

use crate::support::{Launch, ServeProcess, scratch};
use jagspec::ServeLimits;
use jagspec::mocks::{Ecosystem, EcosystemOptions, Manifest};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: ServeLimits = ServeLimits {
    header_timeout: Duration::from_millis(300),
    body_timeout: Duration::from_millis(600),
    write_timeout: Duration::from_millis(600),
    max_connections: 64,
    shutdown_grace: Duration::from_millis(300),
};

/// Long enough for any of the limits above to have acted, on a loaded 2-core machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

async fn ecosystem(limits: ServeLimits) -> Ecosystem {
    Ecosystem::start_with(EcosystemOptions {
        limits,
        ..EcosystemOptions::default()
    })
    .await
    .unwrap()
}

/// `host:port` of every listener: the issuer, each authorization server, each MCP server,
/// the SIEM sink.
fn listeners(m: &Manifest) -> Vec<(String, String)> {
    let addr = addr_of;
    let mut all = vec![("issuer".to_owned(), addr(&m.issuer.url))];
    for a in &m.authorization_servers {
        all.push((format!("authorization server {}", a.name), addr(&a.issuer)));
        for s in &a.mcp_servers {
            all.push((format!("MCP server {}/{}", a.name, s.name), addr(&s.url)));
        }
    }
    let sink = m
        .siem_sink
        .as_ref()
        .expect("the default ecosystem has a SIEM sink");
    all.push(("SIEM sink".to_owned(), addr(&sink.url)));
    all
}

fn addr_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

/// Sends `bytes` and reads until the server closes the connection: what it answered and
/// how long after the send it closed. Panics, naming `what`, if it is still open after
/// [`CLOSED_WITHIN`].
async fn send_until_closed(addr: &str, bytes: &[u8], what: &str) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let sent = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(CLOSED_WITHIN, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{what}: the connection was still open {CLOSED_WITHIN:?} after {:?}",
        String::from_utf8_lossy(bytes)
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        sent.elapsed(),
    )
}

/// A raw HTTP answer's status, one header and JSON body.
struct Raw {
    status: u16,
    headers: String,
    body: Value,
}

fn parse(answer: &str) -> Raw {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    Raw {
        status,
        headers: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn form_head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    )
}

/// The audit event of the issuer's answer, found by its `x-request-id`.
fn audited(eco: &Ecosystem, raw: &Raw) -> jagspec::audit::AuditEvent {
    let id = raw
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id in {:?}", raw.headers));
    let mut events = eco.issuer().state.audit.find_by_request_id(id).unwrap();
    assert_eq!(events.len(), 1, "one event per request");
    events.remove(0)
}

#[tokio::test]
async fn every_listener_closes_a_connection_whose_request_head_never_ends() {
    let eco = ecosystem(LIMITS).await;
    for (what, addr) in listeners(eco.manifest()) {
        let (answer, after) =
            send_until_closed(&addr, b"POST /token HTTP/1.1\r\nHost: x\r\n", &what).await;
        assert!(
            answer.is_empty(),
            "{what} answered a half-sent head: {answer:?}"
        );
        assert!(
            after >= LIMITS.header_timeout / 2,
            "{what} closed after {after:?}"
        );
    }
    eco.stop().await;
}

#[tokio::test]
async fn every_listener_closes_a_keep_alive_connection_left_idle() {
    let eco = ecosystem(LIMITS).await;
    for (what, addr) in listeners(eco.manifest()) {
        let (answer, after) = send_until_closed(
            &addr,
            b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n",
            &what,
        )
        .await;
        let raw = parse(&answer);
        // Answered and kept alive, then closed for idling, not right after the answer.
        assert!(
            (400..500).contains(&raw.status) && !raw.headers.contains("connection: close"),
            "{what}: {answer:?}"
        );
        assert!(
            after >= LIMITS.header_timeout / 2,
            "{what} closed after {after:?}"
        );
    }
    eco.stop().await;
}

#[tokio::test]
async fn a_token_request_whose_body_stalls_or_never_ends_is_refused_with_invalid_request() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let stalled = format!(
        "{}grant_type=password",
        form_head("/token", "Content-Length: 100\r\n")
    );
    let endless = format!(
        "{}13\r\ngrant_type=password\r\n",
        form_head("/token", "Transfer-Encoding: chunked\r\n")
    );
    for (label, request) in [
        ("Content-Length beyond the body", &stalled),
        ("endless chunked", &endless),
    ] {
        let (answer, after) =
            send_until_closed(&addr_of(&m.issuer.url), request.as_bytes(), label).await;
        let raw = parse(&answer);
        assert_eq!(raw.status, 400, "{label}: {answer}");
        assert_eq!(raw.body["error"], "invalid_request", "{label}");
        assert_eq!(
            raw.body["error_description"],
            "malformed request: the request body did not arrive within 600 ms",
            "{label}"
        );
        assert!(
            after >= LIMITS.body_timeout / 2,
            "{label}: answered after {after:?}"
        );
        assert_eq!(
            audited(&eco, &raw).status_detail,
            "Malformed request",
            "{label}"
        );

        let es256 = &m.authorization_servers[2];
        let (answer, _) =
            send_until_closed(&addr_of(&es256.issuer), request.as_bytes(), label).await;
        let raw = parse(&answer);
        assert_eq!(
            (
                raw.status,
                raw.body["error"].as_str(),
                raw.body["error_description"].as_str()
            ),
            (
                400,
                Some("invalid_request"),
                Some("malformed request: the request body did not arrive within 600 ms")
            ),
            "{label}"
        );
    }
    eco.stop().await;
}

#[tokio::test]
async fn a_malformed_chunked_body_at_a_token_endpoint_is_invalid_request_not_too_large() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let request = format!(
        "{}zz\r\n",
        form_head("/token", "Transfer-Encoding: chunked\r\n")
    );
    let (answer, _) =
        send_until_closed(&addr_of(&m.issuer.url), request.as_bytes(), "issuer").await;
    let raw = parse(&answer);
    assert_eq!(raw.status, 400, "{answer}");
    assert_eq!(raw.body["error"], "invalid_request");
    let description = raw.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("malformed request: the request body could not be read"),
        "{description}"
    );
    assert_eq!(audited(&eco, &raw).status_detail, "Malformed request");
    for a in &m.authorization_servers {
        let (answer, _) = send_until_closed(&addr_of(&a.issuer), request.as_bytes(), &a.name).await;
        let raw = parse(&answer);
        assert_eq!(
            (raw.status, raw.body["error"].as_str()),
            (400, Some("invalid_request")),
            "{}",
            a.name
        );
        let said = raw.body["error_description"].as_str().unwrap_or_default();
        assert!(
            said.starts_with("malformed request: the request body could not be read"),
            "{}: {said}",
            a.name
        );
    }
    eco.stop().await;
}

#[tokio::test]
async fn hundreds_of_half_open_connections_do_not_keep_a_valid_token_request_out() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let issuer = addr_of(&m.issuer.url);
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&issuer).await.unwrap();
        s.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    // 300 half-open connections, 64 at a time at most: the listener is at its cap, and the
    // valid request waits in the backlog behind them until their heads time out.
    let started = Instant::now();
    let login = reqwest::Client::new()
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("the valid token request got no answer");
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    assert!(body["id_token"].is_string(), "{body}");
    // Each wave of 64 takes one header timeout: 300 / 64 waves, and then ours.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    drop(held);
    eco.stop().await;
}

#[tokio::test]
async fn stopping_finishes_while_clients_hold_half_sent_requests() {
    // A body timeout far beyond the test: only the shutdown grace period can end these.
    let eco = ecosystem(ServeLimits {
        body_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..LIMITS
    })
    .await;
    let m = eco.manifest();
    let mut held = Vec::new();
    for url in [&m.issuer.url, &m.authorization_servers[0].issuer] {
        let mut body_pending = TcpStream::connect(addr_of(url)).await.unwrap();
        body_pending
            .write_all(
                format!("{}grant", form_head("/token", "Content-Length: 100\r\n")).as_bytes(),
            )
            .await
            .unwrap();
        let mut head_pending = TcpStream::connect(addr_of(url)).await.unwrap();
        head_pending
            .write_all(b"POST /token HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(body_pending);
        held.push(head_pending);
    }
    // Let the servers read what was sent, so the requests are in flight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(CLOSED_WITHIN, eco.stop()).await;
    assert!(
        stopped.is_ok(),
        "the ecosystem did not stop within {CLOSED_WITHIN:?}"
    );
    for mut s in held {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
        assert!(n.is_ok(), "a held connection was left open after stop");
    }
}

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
    let login: Value = http
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["id_token"].as_str().unwrap().to_owned();
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
    let id_token: Value = http
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes: Vec<String> = (0..2000).map(|i| format!("scope-{i}")).collect();
    let scope = scopes.join(" ");
    let audience = format!("http://127.0.0.1:1/{}", "a".repeat(20_000));
    let r = http
        .post(&m.issuer.token_endpoint)
        .basic_auth("agent", Some("agent-secret"))
        .form(&[
            ("grant_type", jagspec::TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", jagspec::ID_JAG_TOKEN_TYPE),
            ("subject_token", id_token["id_token"].as_str().unwrap()),
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

// ---------------------------------------------------------------------------------------
// `jagspec serve` as a process: SIGTERM, running out of file descriptors, log lines.
// ---------------------------------------------------------------------------------------

/// A password-grant login for alice over a fresh connection: the ID token's status.
fn login(token_endpoint: &str, within: Duration) -> Result<u16, String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .post(token_endpoint)
            .basic_auth("agent", Some("agent-secret"))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
            ])
            .timeout(within)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn serve_exits_0_on_sigterm_while_a_client_holds_a_half_sent_request() {
    let dir = scratch("hardening-sigterm");
    let mut serve = ServeProcess::start(&dir, &[]);
    let issuer = addr_of(&serve.at("/issuer/url"));
    // Head complete, body pending: neither the header timeout nor (within the test) the
    // 10 s body timeout ends it; only the 2 s shutdown grace can.
    let mut held = std::net::TcpStream::connect(&issuer).unwrap();
    std::io::Write::write_all(
        &mut held,
        format!("{}grant", form_head("/token", "Content-Length: 100\r\n")).as_bytes(),
    )
    .unwrap();
    let mut half_head = std::net::TcpStream::connect(&issuer).unwrap();
    std::io::Write::write_all(&mut half_head, b"POST /token HTTP/1.1\r\n").unwrap();
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    let started = Instant::now();
    let code = serve.terminate(Duration::from_secs(8));
    assert_eq!(
        code,
        Some(0),
        "serve did not exit 0 within 8 s: {}",
        serve.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn serve_out_of_file_descriptors_warns_and_serves_again_once_connections_leave() {
    let dir = scratch("hardening-fds");
    // 128 descriptors: enough to start (17 listeners, the database), far fewer than the
    // 300 connections below.
    let serve = ServeProcess::start_as(
        &dir,
        &["--header-timeout".into(), "0.5".into()],
        &Launch {
            open_files: Some(128),
            ..Launch::default()
        },
    );
    let issuer = addr_of(&serve.at("/issuer/url"));
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = std::net::TcpStream::connect(&issuer).unwrap();
        std::io::Write::write_all(&mut s, b"POST /token HTTP/1.1\r\nHost: x\r\n").unwrap();
        held.push(s);
    }
    // The listener ran out of descriptors with connections still queued; as the half-sent
    // heads time out it accepts the rest, and then the valid request.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), Duration::from_secs(30)),
        Ok(200)
    );
    let log = serve.stderr();
    let warning = log
        .lines()
        .find(|l| l.contains("cannot accept a connection"))
        .unwrap_or_else(|| panic!("no warning about the failed accepts in:\n{log}"));
    assert!(
        warning.contains("WARN")
            && warning.contains("server=\"the issuer\"")
            && warning.contains("Too many open files"),
        "{warning}"
    );
    drop(held);
}

#[test]
fn an_exporter_pointed_at_a_closed_port_leaves_a_json_warning_line_without_its_token() {
    let dir = scratch("hardening-exporter-log");
    let serve = ServeProcess::start(&dir, &["--log-format".into(), "json".into()]);
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // One event in the log for the exporter to deliver.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    let token = "exporter-bearer-token-that-must-never-be-logged";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/exporters", serve.at("/issuer/admin_url")))
            .bearer_auth(serve.at("/issuer/admin_token"))
            .json(&serde_json::json!({
                "name": "siem-down", "kind": "http",
                "url": format!("http://{closed}/ingest"), "bearer_token": token,
            }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 201);
    // That event is behind its cursor, so it tries at once and fails.
    let deadline = Instant::now() + CLOSED_WITHIN;
    let line = loop {
        let log = serve.stderr();
        if let Some(line) = log.lines().find(|l| l.contains("export failed")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no export warning within {CLOSED_WITHIN:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["level"], "WARN", "{line}");
    assert_eq!(entry["exporter"], "siem-down", "{line}");
    assert_eq!(entry["message"], "export failed; retrying", "{line}");
    assert!(
        entry["error"]
            .as_str()
            .unwrap()
            .contains(&closed.to_string()),
        "{line}"
    );
    assert!(
        !serve.stderr().contains(token),
        "a log line holds the exporter's token"
    );
}

#[test]
fn serve_on_a_port_another_program_holds_exits_at_once_with_its_own_message() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(["serve", "--port-base", &port.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    // The test helpers rely on it: they fail with this message instead of waiting.
    assert!(
        started.elapsed() < CLOSED_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Files that hold secrets.
// ---------------------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn the_manifest_is_written_privately_through_a_fresh_temporary_file_never_a_planted_one() {
    let dir = scratch("hardening-manifest");
    let victim = dir.join("victim");
    std::fs::write(&victim, "not the credentials").unwrap();
    // The fixed temporary name the manifest went through before: a symlink planted there
    // got its target overwritten with the credentials.
    std::os::unix::fs::symlink(&victim, dir.join("manifest.json.tmp")).unwrap();
    let serve = ServeProcess::start(&dir, &[]);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "not the credentials"
    );
    assert_eq!(mode(&dir.join("manifest.json")), 0o600);
    assert!(serve.manifest["issuer"]["admin_token"].is_string());
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "manifest.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[cfg(unix)]
#[test]
fn the_state_database_and_its_wal_and_shm_are_private_and_a_readable_one_is_reported() {
    let dir = scratch("hardening-db-mode");
    let db = dir.join("state.db");
    let mut serve = ServeProcess::start(&dir, &["--db".into(), db.display().to_string()]);
    // One token request, so the WAL holds something.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert!(
        !serve.stderr().contains("can be read by others"),
        "{}",
        serve.stderr()
    );
    assert_eq!(serve.terminate(Duration::from_secs(8)), Some(0));

    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let serve = ServeProcess::start(&dir, &["--db".into(), db.display().to_string()]);
    let log = serve.stderr();
    assert!(
        log.contains("WARN")
            && log.contains("the state database can be read by others")
            && log.contains("mode=\"644\""),
        "{log}"
    );
}

#[cfg(unix)]
#[test]
fn without_a_database_file_serve_keeps_its_database_in_a_private_folder_removed_at_exit() {
    let dir = scratch("hardening-temp-db");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut serve = ServeProcess::start_as(
        &dir,
        &[],
        &Launch {
            tmpdir: Some(tmp.clone()),
            ..Launch::default()
        },
    );
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(mode(&folders[0]), 0o700);
    assert_eq!(mode(&folders[0].join("state.db")), 0o600);
    assert_eq!(serve.terminate(Duration::from_secs(8)), Some(0));
    assert!(
        !folders[0].exists(),
        "the temporary folder outlived a clean exit"
    );
}

#[tokio::test]
async fn a_file_exporter_path_that_is_no_regular_file_or_not_absolute_is_refused_at_once() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let dir = scratch("hardening-exporter-paths");
    let fifo = dir.join("fifo");
    let link = dir.join("link.ndjson");
    std::os::unix::fs::symlink(dir.join("elsewhere.ndjson"), &link).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let http = reqwest::Client::builder()
        .timeout(CLOSED_WITHIN)
        .build()
        .unwrap();
    let admin = |path: Value| {
        let http = http.clone();
        let url = format!("{}/exporters", m.issuer.admin_url);
        let token = m.issuer.admin_token.secret().to_owned();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"name": "archive", "kind": "file", "path": path}))
                .send()
                .await
                .expect("the admin API answered within 5 s");
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let cases = [
        (Value::from(fifo.display().to_string()), format!("`path` {} is not a regular file (a FIFO, socket or device)", fifo.display())),
        (Value::from(dir.display().to_string()), format!("`path` {} is a directory", dir.display())),
        (Value::from("audit.ndjson"), "`path` must be absolute (found `audit.ndjson`): a relative path would depend on the folder jagspec happens to run in".to_owned()),
        (Value::from("/tmp/a\u{0}b"), "`path` holds a NUL byte".to_owned()),
        (Value::from(format!("{}/missing/audit.ndjson", dir.display())), format!("`path` {}/missing/audit.ndjson: its folder does not exist", dir.display())),
        // A symlink, dangling here: opening it to append would create its target anywhere.
        (Value::from(link.display().to_string()), format!("`path` {} is a symlink; give the file itself", link.display())),
    ];
    for (path, description) in cases {
        let (status, body) = admin(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}");
        let said = body["error_description"].as_str().unwrap();
        assert!(said.ends_with(&description), "{path}: {said}");
    }
    // PATCH goes through the same check, and a good path still works.
    let good = dir.join("audit.ndjson");
    let (status, body) = admin(Value::from(good.display().to_string())).await;
    assert_eq!(status, 201, "{body}");
    let r = http
        .patch(format!("{}/exporters/archive", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .json(&serde_json::json!({"path": fifo.display().to_string()}))
        .send()
        .await
        .expect("the admin API answered within 5 s");
    assert_eq!(r.status(), 400);
    let said = r.json::<Value>().await.unwrap()["error_description"].clone();
    assert!(
        said.as_str().unwrap().ends_with(&format!(
            "`path` {} is not a regular file (a FIFO, socket or device)",
            fifo.display()
        )),
        "{said}"
    );
    // The exporter list is never held up by a file either.
    let r = http
        .get(format!("{}/exporters", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .expect("the admin API answered within 5 s");
    assert_eq!(r.status(), 200);
    eco.stop().await;
}

// ---------------------------------------------------------------------------------------
// The SIEM sink: a token of its own per start, and paged listings.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_siem_sink_token_is_random_at_every_start_and_in_the_manifest() {
    let (a, b) = (ecosystem(LIMITS).await, ecosystem(LIMITS).await);
    let token = |e: &Ecosystem| {
        e.manifest()
            .siem_sink
            .as_ref()
            .and_then(|s| s.bearer_token.as_ref())
            .map(|t| t.secret().to_owned())
            .expect("the manifest carries the sink's token")
    };
    let (ta, tb) = (token(&a), token(&b));
    assert_ne!(ta, tb);
    assert_eq!(ta.len(), 32);
    assert_ne!(ta, "siem-sink-token", "the fixed token of old");
    let sink = &a.manifest().siem_sink.as_ref().unwrap().url;
    let http = reqwest::Client::new();
    let with_other = http
        .get(format!("{sink}/received"))
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap();
    assert_eq!(with_other.status(), 403);
    let with_own = http
        .get(format!("{sink}/received"))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(with_own.status(), 200);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_siem_sink_lists_what_it_received_a_page_at_a_time() {
    let eco = ecosystem(LIMITS).await;
    let sink = eco.manifest().siem_sink.as_ref().unwrap();
    let token = sink.bearer_token.as_ref().unwrap().secret().to_owned();
    let http = reqwest::Client::new();
    for i in 0..5 {
        let r = http
            .post(format!("{}/events", sink.url))
            .bearer_auth(&token)
            .body(format!("{{\"n\":{i}}}\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let page = |query: &'static str| {
        let (http, url, token) = (
            http.clone(),
            format!("{}/received{query}", sink.url),
            token.clone(),
        );
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = page("").await;
    assert_eq!(status, 200);
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 5);
    assert_eq!(
        (all["total"].as_u64(), all["next"].as_u64()),
        (Some(5), None)
    );
    let mut bodies = Vec::new();
    let mut from = Some(0u64);
    let mut pages = 0;
    while let Some(f) = from {
        let url = format!("{}/received?from={f}&limit=2", sink.url);
        let body: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for d in body["deliveries"].as_array().unwrap() {
            bodies.push(d["body"].as_str().unwrap().to_owned());
        }
        from = body["next"].as_u64();
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    assert_eq!(bodies, expected);
    for bad in ["?limit=0", "?limit=1001", "?from=x", "?page=2"] {
        let (status, body) = page(bad).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(6)),
            "{bad}: {body}"
        );
    }
    eco.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let eco = ecosystem(LIMITS).await;
    let addr: std::net::SocketAddr = addr_of(&eco.manifest().issuer.url).parse().unwrap();
    // A small receive buffer, so the server's answers back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let requests = b"GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
    let started = Instant::now();
    // Pipelined requests, never a read: the answers fill the socket, the server's writes
    // stall, and it must cut the connection rather than hold it.
    let cut = tokio::time::timeout(CLOSED_WITHIN, async {
        while stream.write_all(&requests).await.is_ok() {}
    })
    .await;
    assert!(
        cut.is_ok(),
        "the connection still took requests after {CLOSED_WITHIN:?}"
    );
    assert!(
        started.elapsed() >= LIMITS.write_timeout / 2,
        "cut after {:?}",
        started.elapsed()
    );
    eco.stop().await;
}

#[test]
fn a_listener_at_its_connection_limit_says_so_once_not_per_connection() {
    let dir = scratch("hardening-cap");
    let serve = ServeProcess::start(
        &dir,
        &["--max-connections", "4", "--header-timeout", "0.3"].map(String::from),
    );
    let issuer = addr_of(&serve.at("/issuer/url"));
    let held: Vec<std::net::TcpStream> = (0..40)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&issuer).unwrap();
            std::io::Write::write_all(&mut s, b"POST /token HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // Ten waves of four time out one after the other; the valid request comes after them.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), Duration::from_secs(20)),
        Ok(200)
    );
    let log = serve.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .collect();
    assert!(!lines.is_empty(), "no warning in:\n{log}");
    assert!(
        lines[0].contains("server=\"the issuer\"") && lines[0].contains("max_connections=4"),
        "{}",
        lines[0]
    );
    // At most one line every five seconds, however often the limit was reached.
    assert!(lines.len() <= 2, "{log}");
    drop(held);
}

#[tokio::test]
async fn a_stalled_body_gets_a_400_at_the_admin_api_and_the_siem_sink_and_an_mcp_server_refuses_before_it()
 {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let sink = m.siem_sink.as_ref().unwrap();
    let stalled = |path: &str, authorization: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{"
        )
    };
    let admin = stalled(
        "/admin/users",
        &format!("Bearer {}", m.issuer.admin_token.secret()),
        "application/json",
    );
    let (answer, _) = send_until_closed(&addr_of(&m.issuer.url), admin.as_bytes(), "admin").await;
    let raw = parse(&answer);
    assert_eq!(
        (raw.status, raw.body["error"].as_str()),
        (400, Some("invalid_request")),
        "{answer}"
    );
    assert!(raw.headers.contains("cache-control: no-store"), "{answer}");

    let token = sink.bearer_token.as_ref().unwrap().secret().to_owned();
    let siem = stalled(
        "/events",
        &format!("Bearer {token}"),
        "application/x-ndjson",
    );
    let (answer, _) = send_until_closed(&addr_of(&sink.url), siem.as_bytes(), "SIEM sink").await;
    let raw = parse(&answer);
    // Splunk HEC's shape: code 6, "invalid data format".
    assert_eq!(
        (raw.status, raw.body["code"].as_u64()),
        (400, Some(6)),
        "{answer}"
    );

    let mcp = &m.authorization_servers[2].mcp_servers[0];
    let path = url::Url::parse(&mcp.url).unwrap().path().to_owned();
    let call = stalled(&path, "Bearer not-a-token", "application/json");
    let (answer, after) =
        send_until_closed(&addr_of(&mcp.url), call.as_bytes(), "MCP server").await;
    let raw = parse(&answer);
    // Its bearer token is checked first: refused at once, the body never waited for.
    assert_eq!(raw.status, 401, "{answer}");
    assert!(raw.headers.contains("error=\"invalid_token\""), "{answer}");
    assert!(after < LIMITS.body_timeout, "answered after {after:?}");
    eco.stop().await;
}

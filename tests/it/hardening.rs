//! Slow and hostile clients against every listener of the ecosystem, over raw sockets: a
//! request head that never ends, a keep-alive connection left idle, a body that stalls or
//! never ends, a malformed chunked body, a client that never reads its answers, hundreds
//! of half-open connections, a shutdown while a client holds a half-sent request. The
//! limits are shortened so each case takes well under a second; what they mean is the
//! same at the defaults. The helpers here serve `hardening_input` and `hardening_serve`.

use jagspec::ServeLimits;
use jagspec::mocks::{Ecosystem, EcosystemOptions, Manifest};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const LIMITS: ServeLimits = ServeLimits {
    header_timeout: Duration::from_millis(300),
    body_timeout: Duration::from_millis(600),
    write_timeout: Duration::from_millis(600),
    max_connections: 64,
    shutdown_grace: Duration::from_millis(300),
};

/// Long enough for any of the limits above to have acted, on a loaded 2-core machine.
pub(crate) const CLOSED_WITHIN: Duration = Duration::from_secs(5);

pub(crate) async fn ecosystem(limits: ServeLimits) -> Ecosystem {
    Ecosystem::start_with(EcosystemOptions {
        limits,
        ..EcosystemOptions::default()
    })
    .await
    .unwrap()
}

/// `host:port` of every listener: the issuer, each authorization server, each MCP server,
/// the SIEM sink.
pub(crate) fn listeners(m: &Manifest) -> Vec<(String, String)> {
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

pub(crate) fn addr_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

/// Sends `bytes` and reads until the server closes the connection: what it answered and
/// how long after the send it closed. Panics, naming `what`, if it is still open after
/// [`CLOSED_WITHIN`].
pub(crate) async fn send_until_closed(addr: &str, bytes: &[u8], what: &str) -> (String, Duration) {
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
pub(crate) struct Raw {
    status: u16,
    headers: String,
    body: Value,
}

pub(crate) fn parse(answer: &str) -> Raw {
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

/// alice's password-grant login at `token_endpoint` (the `agent` client), waiting at most
/// `within`: the answer, or why there was none.
pub(crate) async fn alice_login(
    token_endpoint: &str,
    within: Duration,
) -> Result<reqwest::Response, reqwest::Error> {
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
}

/// alice's ID token from the issuer at `token_endpoint`.
pub(crate) async fn alice_id_token(token_endpoint: &str) -> String {
    let login: Value = alice_login(token_endpoint, CLOSED_WITHIN)
        .await
        .expect("alice logs in")
        .json()
        .await
        .expect("a JSON login answer");
    login["id_token"].as_str().expect("an id_token").to_owned()
}

pub(crate) fn form_head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    )
}

/// The audit event of the issuer's answer, found by its `x-request-id`.
pub(crate) fn audited(eco: &Ecosystem, raw: &Raw) -> jagspec::audit::AuditEvent {
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
    let login = alice_login(&m.issuer.token_endpoint, Duration::from_secs(20))
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
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    // The other timers far off, so only the write timeout can cut it.
    let eco = ecosystem(ServeLimits {
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        ..LIMITS
    })
    .await;
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
    let (answer, _) = send_until_closed(&addr_of(&mcp.url), call.as_bytes(), "MCP server").await;
    let raw = parse(&answer);
    // Its bearer token is checked first: refused at once, the body never waited for.
    assert_eq!(raw.status, 401, "{answer}");
    assert!(raw.headers.contains("error=\"invalid_token\""), "{answer}");
    eco.stop().await;
}

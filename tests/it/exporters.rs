//! System-log exporters: every audit event forwarded, at least once, in order, never lost.
//! NDJSON over HTTP with bearer auth; retries through a sink that answers 503, refuses
//! connections, answers too slowly, or answers HEC's "busy" code under 200; Splunk HEC's
//! envelope into the mock SIEM; a file; delivery resumed after a restart; and the admin
//! API's checks (the bearer token never shown).
//!
//! No sleep decides an outcome: each test waits for a condition with a deadline.

use crate::support::{TempDb, ndjson_events, whole_lines};
use jagspec::audit::AuditEvent;
use jagspec::export::ExportTiming;
use jagspec::issuer::{IssuerConfig, RunningIssuer, Seed};
use jagspec::mocks::siem::SiemSink;
use jagspec::{FixedClock, Secret};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "admin-token-of-the-exporter-tests";
const SINK_TOKEN: &str = "sink-token-7f3a9c";
const T0: i64 = 1_800_000_000;
const SEED: &str = include_str!("../../fixtures/tenant-examples.toml");

/// Short backoff and timeout, so retries happen within a test's deadline.
pub(crate) fn fast() -> ExportTiming {
    ExportTiming {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        http_timeout: Duration::from_millis(500),
        idle_poll: Duration::from_millis(200),
    }
}

/// A reference issuer on the example tenant, with a fixed clock and short export timing;
/// the syslog tests use it too.
pub(crate) struct Issuer {
    pub(crate) issuer: RunningIssuer,
    pub(crate) http: reqwest::Client,
}

impl Issuer {
    pub(crate) async fn start(db: &TempDb, seed: Seed) -> Self {
        let issuer = RunningIssuer::start(IssuerConfig {
            seed: Some(seed),
            clock: Arc::new(FixedClock::at(T0)),
            admin_token: Secret::new(TOKEN),
            export_timing: fast(),
            ..IssuerConfig::new(db.path())
        })
        .await
        .unwrap();
        Self {
            issuer,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn with_examples(db: &TempDb) -> Self {
        Self::start(db, Seed::from_toml(SEED).unwrap()).await
    }

    /// `n` token requests (password logins; every third one with a wrong password, so
    /// denials are exported too). Each is one audit event.
    async fn token_requests(&self, n: usize) {
        for i in 0..n {
            let password = if i % 3 == 2 {
                "wrong"
            } else {
                "alice-password"
            };
            let status = self
                .http
                .post(format!("{}/token", self.issuer.url))
                .basic_auth("agent", Some("agent-secret"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status();
            assert!(status == 200 || status == 400, "{status}");
        }
    }

    pub(crate) fn events(&self) -> Vec<AuditEvent> {
        self.issuer.state.audit.events().unwrap()
    }

    pub(crate) async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method, format!("{}/admin{path}", self.issuer.url))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub(crate) async fn add_exporter(&self, config: Value) -> Value {
        let (status, text) = self
            .admin(reqwest::Method::POST, "/exporters", Some(config))
            .await;
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    pub(crate) async fn status_of(&self, name: &str) -> Value {
        let (status, text) = self.admin(reqwest::Method::GET, "/exporters", None).await;
        assert_eq!(status, 200, "{text}");
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        list.into_iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no exporter {name} in {text}"))
    }
}

/// Waits until `check` holds, failing the test after ten seconds.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every NDJSON line of `bodies`, as events.
fn lines_as_events(bodies: &[String]) -> Vec<AuditEvent> {
    bodies.iter().flat_map(|b| ndjson_events(b)).collect()
}

/// `received` with repeats of an already-seen `event_id` removed, after checking that a
/// repeat is the same event.
fn without_duplicates(received: Vec<AuditEvent>) -> Vec<AuditEvent> {
    let mut seen: std::collections::BTreeMap<String, AuditEvent> = Default::default();
    let mut out = Vec::new();
    for e in received {
        match seen.get(&e.event_id) {
            Some(first) => assert_eq!(first, &e, "a duplicate differs from its original"),
            None => {
                seen.insert(e.event_id.clone(), e.clone());
                out.push(e);
            }
        }
    }
    out
}

/// A wiremock responder that answers 503 while `down`, else 200, and keeps the bodies it
/// accepted. While `slow`, it keeps the body and then answers only after the exporter's
/// timeout (a collector that stored the batch but whose answer never arrived in time).
/// While `hec_busy`, it answers 200 with Splunk HEC's "server is busy" code.
#[derive(Clone, Default)]
struct Switchable {
    down: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
    hec_busy: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Respond for Switchable {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            // Echoing the request's credentials, as some proxies' error pages do: the
            // exporter's status must not repeat them.
            let echoed = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            return ResponseTemplate::new(503)
                .set_body_string(format!("collector is down (got Authorization: {echoed})"));
        }
        if self.hec_busy.load(Ordering::SeqCst) {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"text": "Server is busy", "code": 9}));
        }
        self.accepted
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&request.body).into_owned());
        let answer =
            ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0}));
        if self.slow.load(Ordering::SeqCst) {
            answer.set_delay(fast().http_timeout * 4)
        } else {
            answer
        }
    }
}

impl Switchable {
    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

async fn ndjson_sink(responder: Switchable) -> MockServer {
    ndjson_sink_on(None, responder, SINK_TOKEN).await
}

/// An NDJSON collector at `/ingest` that requires `token`, on `socket` when given (a port
/// the test chose earlier), else on a new one.
async fn ndjson_sink_on(
    socket: Option<std::net::TcpListener>,
    responder: Switchable,
    token: &str,
) -> MockServer {
    let server = match socket {
        Some(socket) => MockServer::builder().listener(socket).start().await,
        None => MockServer::start().await,
    };
    Mock::given(method("POST"))
        .and(path("/ingest"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// Waits until `sink` has every event of `expected`, then asserts it got exactly those, in
/// order, repeats only as identical copies.
async fn assert_sink_gets(sink: &Switchable, expected: &[AuditEvent], what: &str) {
    eventually(what, || async {
        without_duplicates(lines_as_events(&sink.accepted())).len() >= expected.len()
    })
    .await;
    assert_eq!(
        without_duplicates(lines_as_events(&sink.accepted())),
        expected
    );
}

fn http_exporter(name: &str, url: &str) -> Value {
    json!({"name": name, "kind": "http", "url": url, "bearer_token": SINK_TOKEN, "batch_max": 4})
}

#[tokio::test]
async fn an_http_exporter_delivers_every_event_in_order_as_ndjson_with_its_bearer_token() {
    let db = TempDb::new("exporters-ndjson");
    let issuer = Issuer::with_examples(&db).await;
    let sink = Switchable::default();
    let server = ndjson_sink(sink.clone()).await;
    let added = issuer
        .add_exporter(http_exporter("siem", &format!("{}/ingest", server.uri())))
        .await;
    assert_eq!(added["kind"], "http");
    assert_eq!(added["envelope"], "ndjson");

    issuer.token_requests(10).await;
    let expected = issuer.events();
    assert_eq!(expected.len(), 10);

    eventually("every event arrived", || async {
        lines_as_events(&sink.accepted()).len() >= expected.len()
    })
    .await;
    let received = lines_as_events(&sink.accepted());
    assert_eq!(received, expected, "the same events, in the order written");
    // Exactly the admin API's fields, no more, no fewer.
    let first_line = sink.accepted()[0].lines().next().unwrap().to_owned();
    let as_json: Value = serde_json::from_str(&first_line).unwrap();
    assert_eq!(as_json, serde_json::to_value(&expected[0]).unwrap());
    // Batches of at most four events, NDJSON content type.
    assert!(sink.accepted().iter().all(|b| b.lines().count() <= 4));
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.headers["content-type"] == "application/x-ndjson")
    );

    eventually("the status shows no lag", || async {
        let s = issuer.status_of("siem").await;
        s["lag"] == 0 && s["last_error"].is_null()
    })
    .await;
    let status = issuer.status_of("siem").await;
    assert_eq!(status["consecutive_failures"], 0);
    assert_eq!(status["last_success_ms"], T0 * 1000);
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn a_sink_that_fails_first_gets_every_event_once_it_recovers_and_the_status_shows_the_error_meanwhile()
 {
    let db = TempDb::new("exporters-retry");
    let issuer = Issuer::with_examples(&db).await;
    let sink = Switchable::default();
    sink.down.store(true, Ordering::SeqCst);
    let server = ndjson_sink(sink.clone()).await;
    issuer
        .add_exporter(http_exporter("siem", &format!("{}/ingest", server.uri())))
        .await;
    issuer.token_requests(9).await;

    eventually("the status shows repeated 503s", || async {
        let s = issuer.status_of("siem").await;
        s["consecutive_failures"].as_i64().unwrap_or(0) >= 3
            && s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("503") && e.contains("collector is down"))
    })
    .await;
    let status = issuer.status_of("siem").await;
    assert_eq!(status["lag"], 9, "nothing delivered while the sink fails");
    assert!(sink.accepted().is_empty());
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("(got Authorization: Bearer (redacted, "),
        "the echoed token is redacted: {status}"
    );
    assert!(
        !status.to_string().contains(SINK_TOKEN),
        "the error does not carry the token"
    );

    sink.down.store(false, Ordering::SeqCst);
    assert_sink_gets(
        &sink,
        &issuer.events(),
        "every event arrived after recovery",
    )
    .await;
    eventually("the error clears", || async {
        let s = issuer.status_of("siem").await;
        s["last_error"].is_null() && s["consecutive_failures"] == 0 && s["lag"] == 0
    })
    .await;
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn a_sink_that_refuses_connections_gets_every_event_once_something_listens_on_its_port() {
    let db = TempDb::new("exporters-refused");
    let issuer = Issuer::with_examples(&db).await;
    // Bound but not listening: connections are refused, and no other test can take the
    // port before the sink listens on this very socket.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    issuer
        .add_exporter(http_exporter("siem", &format!("http://{addr}/ingest")))
        .await;
    issuer.token_requests(8).await;
    eventually("the status shows the refused connection", || async {
        let s = issuer.status_of("siem").await;
        s["consecutive_failures"].as_i64().unwrap_or(0) >= 2
            && s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot connect"))
    })
    .await;
    assert_eq!(issuer.status_of("siem").await["lag"], 8);

    let sink = Switchable::default();
    let listener = socket.listen(64).unwrap().into_std().unwrap();
    let _server = ndjson_sink_on(Some(listener), sink.clone(), SINK_TOKEN).await;
    assert_sink_gets(
        &sink,
        &issuer.events(),
        "every event arrived once the port listens",
    )
    .await;
    eventually("the error clears", || async {
        let s = issuer.status_of("siem").await;
        s["last_error"].is_null() && s["lag"] == 0
    })
    .await;
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn a_sink_that_answers_too_slowly_gets_every_event_again_with_the_same_event_ids() {
    let db = TempDb::new("exporters-slow");
    let issuer = Issuer::with_examples(&db).await;
    let sink = Switchable::default();
    sink.slow.store(true, Ordering::SeqCst);
    let server = ndjson_sink(sink.clone()).await;
    issuer
        .add_exporter(http_exporter("siem", &format!("{}/ingest", server.uri())))
        .await;
    issuer.token_requests(6).await;
    eventually("a delivery has timed out", || async {
        let s = issuer.status_of("siem").await;
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out"))
    })
    .await;
    // The sink kept the batch it never answered in time: the exporter must not count it
    // as delivered.
    assert!(!sink.accepted().is_empty());
    assert_eq!(issuer.status_of("siem").await["lag"], 6);

    sink.slow.store(false, Ordering::SeqCst);
    let expected = issuer.events();
    eventually("every event arrived once the sink is fast", || async {
        issuer.status_of("siem").await["lag"] == 0
    })
    .await;
    let received = lines_as_events(&sink.accepted());
    assert!(
        received.len() > expected.len(),
        "the timed-out batch was sent again ({} lines for {} events)",
        received.len(),
        expected.len()
    );
    assert_eq!(without_duplicates(received), expected);
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn a_hec_answer_with_a_nonzero_code_is_a_failure_even_under_http_200() {
    let db = TempDb::new("exporters-hec-code");
    let issuer = Issuer::with_examples(&db).await;
    let sink = Switchable::default();
    sink.hec_busy.store(true, Ordering::SeqCst);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .and(header(
            "authorization",
            format!("Splunk {SINK_TOKEN}").as_str(),
        ))
        .respond_with(sink.clone())
        .mount(&server)
        .await;
    issuer
        .add_exporter(json!({
            "name": "splunk", "kind": "http", "envelope": "splunk_hec",
            "url": format!("{}/services/collector/event", server.uri()),
            "bearer_token": SINK_TOKEN,
        }))
        .await;
    issuer.token_requests(4).await;
    eventually("the status shows HEC's code", || async {
        let s = issuer.status_of("splunk").await;
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.ends_with("HEC answered code 9: Server is busy"))
    })
    .await;
    assert_eq!(issuer.status_of("splunk").await["lag"], 4);

    sink.hec_busy.store(false, Ordering::SeqCst);
    eventually("the lag drains once HEC answers code 0", || async {
        issuer.status_of("splunk").await["lag"] == 0
    })
    .await;
    let ids: Vec<String> = sink
        .accepted()
        .iter()
        .flat_map(|b| b.lines().map(str::to_owned).collect::<Vec<_>>())
        .map(|l| serde_json::from_str::<Value>(&l).unwrap()["event"]["event_id"].to_string())
        .collect();
    let want: Vec<String> = issuer
        .events()
        .iter()
        .map(|e| Value::from(e.event_id.clone()).to_string())
        .collect();
    assert_eq!(ids, want);
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn the_splunk_hec_envelope_reaches_the_mock_siem_with_the_splunk_scheme() {
    let db = TempDb::new("exporters-hec");
    let issuer = Issuer::with_examples(&db).await;
    let siem = Arc::new(SiemSink::new(
        Some(Secret::new(SINK_TOKEN)),
        Arc::new(FixedClock::at(T0)),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Arc::clone(&siem).router();
    let served = tokio::spawn(async move { axum::serve(listener, router).await });
    issuer
        .add_exporter(json!({
            "name": "splunk", "kind": "http", "envelope": "splunk_hec",
            "url": format!("http://{addr}/services/collector/event"),
            "bearer_token": SINK_TOKEN,
        }))
        .await;
    issuer.token_requests(5).await;
    let expected = issuer.events();

    eventually("every envelope arrived", || async {
        siem.events().len() >= expected.len()
    })
    .await;
    let envelopes = siem.events();
    let ids: Vec<&str> = envelopes
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, want);
    for (envelope, event) in envelopes.iter().zip(&expected) {
        assert_eq!(envelope["event"], serde_json::to_value(event).unwrap());
        assert_eq!(envelope["sourcetype"], "_json");
        assert_eq!(envelope["time"], format!("{T0}.000"));
    }
    assert!(
        siem.deliveries()
            .iter()
            .all(|d| d.path == "/services/collector/event")
    );
    issuer.issuer.stop().await;
    served.abort();
}

#[tokio::test]
async fn a_file_exporter_from_the_seed_appends_one_line_per_event_from_the_start_of_the_log() {
    let db = TempDb::new("exporters-file");
    let out = db.path().with_extension("ndjson");
    let _ = std::fs::remove_file(&out);
    let seed = format!(
        "{SEED}\n[[exporters]]\nname = \"archive\"\nkind = \"file\"\npath = {:?}\nbatch_max = 3\n",
        out.display().to_string()
    );
    let issuer = Issuer::start(&db, Seed::from_toml(&seed).unwrap()).await;
    issuer.token_requests(7).await;
    let expected = issuer.events();

    // Whole lines only: the exporter may be appending while the test reads.
    let read = || {
        ndjson_events(whole_lines(
            &std::fs::read_to_string(&out).unwrap_or_default(),
        ))
    };
    eventually("every line is in the file", || async {
        read().len() >= expected.len()
    })
    .await;
    assert_eq!(read(), expected);
    let status = issuer.status_of("archive").await;
    assert_eq!(status["kind"], "file");
    assert_eq!(status["target"], out.display().to_string());
    issuer.issuer.stop().await;
    let _ = std::fs::remove_file(&out);
}

#[tokio::test]
async fn after_a_restart_delivery_resumes_from_the_cursor_and_nothing_is_lost() {
    let db = TempDb::new("exporters-restart");
    // Bound but never accepting: every delivery times out until the sink takes over this
    // socket after the restart.
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ingest", socket.local_addr().unwrap());

    let first = Issuer::with_examples(&db).await;
    first.add_exporter(http_exporter("siem", &url)).await;
    first.token_requests(6).await;
    eventually("a delivery has failed", || async {
        first.status_of("siem").await["consecutive_failures"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    let before = first.events();
    assert_eq!(first.status_of("siem").await["lag"], 6);
    first.issuer.stop().await;

    let sink = Switchable::default();
    let _server = ndjson_sink_on(Some(socket), sink.clone(), SINK_TOKEN).await;
    let second = Issuer::with_examples(&db).await;
    second.token_requests(3).await;
    let expected = second.events();
    assert_eq!(&expected[..before.len()], &before[..]);
    assert_eq!(expected.len(), 9);

    assert_sink_gets(&sink, &expected, "every event of both runs arrived").await;
    eventually("the lag is zero", || async {
        second.status_of("siem").await["lag"] == 0
    })
    .await;
    second.issuer.stop().await;
}

#[tokio::test]
async fn patching_an_exporter_moves_delivery_to_the_new_destination_from_where_it_stood() {
    let db = TempDb::new("exporters-patch");
    let issuer = Issuer::with_examples(&db).await;
    let (old_sink, new_sink) = (Switchable::default(), Switchable::default());
    let old_server = ndjson_sink(old_sink.clone()).await;
    let new_token = "sink-token-rotated-41c2";
    let new_server = ndjson_sink_on(None, new_sink.clone(), new_token).await;
    issuer
        .add_exporter(http_exporter(
            "siem",
            &format!("{}/ingest", old_server.uri()),
        ))
        .await;
    issuer.token_requests(5).await;
    eventually("the old sink has caught up", || async {
        issuer.status_of("siem").await["lag"] == 0
    })
    .await;
    let before = issuer.events();
    assert_eq!(
        without_duplicates(lines_as_events(&old_sink.accepted())),
        before
    );

    let patch = |body: Value| issuer.admin(reqwest::Method::PATCH, "/exporters/siem", Some(body));
    // Refused patches change nothing.
    for (body, needle) in [
        (json!({"kind": "file"}), "cannot change"),
        (json!({"url": null}), "needs a `url`"),
        (json!({"path": "/tmp/x"}), "does not apply"),
        (json!({}), "changes nothing"),
    ] {
        let (status, text) = patch(body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
        assert!(!text.contains(SINK_TOKEN), "{text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"], "invalid_request", "{text}");
    }
    let (status, text) = issuer
        .admin(
            reqwest::Method::PATCH,
            "/exporters/nobody",
            Some(json!({"batch_max": 2})),
        )
        .await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("\"not_found\""), "{text}");

    let (status, text) = patch(json!({
        "url": format!("{}/ingest", new_server.uri()),
        "bearer_token": new_token,
        "batch_max": 2,
    }))
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(new_token), "{text}");
    let updated: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(updated["target"], format!("{}/ingest", new_server.uri()));
    assert_eq!(updated["batch_max"], 2);
    assert_eq!(updated["last_seq"], before.len());

    issuer.token_requests(4).await;
    let all = issuer.events();
    // Only what the old sink had not received, in order.
    assert_sink_gets(
        &new_sink,
        &all[before.len()..],
        "the new sink has the events written after the patch",
    )
    .await;
    assert!(new_sink.accepted().iter().all(|b| b.lines().count() <= 2));
    assert_eq!(
        without_duplicates(lines_as_events(&old_sink.accepted())),
        before,
        "nothing more reached the old destination"
    );
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn an_exporter_added_at_the_end_of_the_log_sends_only_events_written_afterwards() {
    let db = TempDb::new("exporters-start-at-end");
    let issuer = Issuer::with_examples(&db).await;
    issuer.token_requests(5).await;
    let sink = Switchable::default();
    let server = ndjson_sink(sink.clone()).await;
    let url = format!("{}/ingest", server.uri());
    let mut config = http_exporter("siem", &url);
    config["start_at"] = json!("middle");
    let (status, text) = issuer
        .admin(reqwest::Method::POST, "/exporters", Some(config.clone()))
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("start_at"), "{text}");

    config["start_at"] = json!("end");
    let added = issuer.add_exporter(config).await;
    assert_eq!(added["last_seq"], 5);
    assert_eq!(added["lag"], 0);
    issuer.token_requests(3).await;
    let all = issuer.events();
    assert_sink_gets(&sink, &all[5..], "the three new events arrived").await;
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn the_admin_api_refuses_bad_exporters_and_never_shows_the_bearer_token() {
    let db = TempDb::new("exporters-admin");
    let issuer = Issuer::with_examples(&db).await;
    let post = |body: Value| issuer.admin(reqwest::Method::POST, "/exporters", Some(body));

    let refused = [
        (
            json!({"name": "a", "kind": "http", "url": "http://siem.example/in", "bearer_token": SINK_TOKEN}),
            "loopback",
        ),
        (
            json!({"name": "a", "kind": "http", "url": "https://siem.example/in"}),
            "bearer_token",
        ),
        (
            json!({"name": "a", "kind": "http", "url": "not a url", "bearer_token": SINK_TOKEN}),
            "not an absolute URL",
        ),
        (
            json!({"name": "a b", "kind": "file", "path": "/tmp/x"}),
            "name",
        ),
        (json!({"name": "a", "kind": "syslog"}), "address"),
        (
            json!({"name": "a", "kind": "kafka"}),
            "unknown exporter kind",
        ),
        (
            json!({"name": "a", "kind": "file", "path": "/tmp/x", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, needle) in refused {
        let (status, text) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
        assert!(!text.contains(SINK_TOKEN), "{text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"], "invalid_request");
    }

    let good = json!({"name": "siem", "kind": "http",
        "url": "https://siem.example/services/collector", "bearer_token": SINK_TOKEN,
        "envelope": "splunk_hec"});
    let (status, created) = post(good.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert!(!created.contains(SINK_TOKEN), "{created}");
    let (status, text) = post(good).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("\"conflict\""), "{text}");

    let (status, list) = issuer.admin(reqwest::Method::GET, "/exporters", None).await;
    assert_eq!(status, 200);
    assert!(!list.contains(SINK_TOKEN), "{list}");
    let list: Vec<Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["target"], "https://siem.example/services/collector");
    assert_eq!(list[0]["envelope"], "splunk_hec");
    assert!(list[0].get("bearer_token").is_none());
    assert!(!format!("{:?}", issuer.issuer.state).contains(SINK_TOKEN));

    let unauthenticated = issuer
        .http
        .get(format!("{}/admin/exporters", issuer.issuer.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let (status, _) = issuer
        .admin(reqwest::Method::DELETE, "/exporters/siem", None)
        .await;
    assert_eq!(status, 204);
    let (status, text) = issuer
        .admin(reqwest::Method::DELETE, "/exporters/siem", None)
        .await;
    assert_eq!(status, 404, "{text}");
    let (_, list) = issuer.admin(reqwest::Method::GET, "/exporters", None).await;
    assert_eq!(list, "[]");
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn an_exporter_deleted_while_it_retries_and_added_again_starts_from_the_beginning() {
    let db = TempDb::new("exporters-readd");
    let issuer = Issuer::with_examples(&db).await;
    let sink = Switchable::default();
    sink.down.store(true, Ordering::SeqCst);
    let server = ndjson_sink(sink.clone()).await;
    let url = format!("{}/ingest", server.uri());
    issuer.add_exporter(http_exporter("siem", &url)).await;
    issuer.token_requests(6).await;
    eventually("the exporter is retrying", || async {
        issuer.status_of("siem").await["consecutive_failures"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    // Deleted mid-retry: the old worker has stopped, failure records and all, before the
    // name is free again, so nothing of it lands on the new exporter.
    let (status, _) = issuer
        .admin(reqwest::Method::DELETE, "/exporters/siem", None)
        .await;
    assert_eq!(status, 204);
    let added = issuer.add_exporter(http_exporter("siem", &url)).await;
    assert_eq!(added["last_seq"], 0);
    assert_eq!(added["consecutive_failures"], 0);
    assert_eq!(added["last_error"], Value::Null);
    sink.down.store(false, Ordering::SeqCst);
    assert_sink_gets(&sink, &issuer.events(), "every event, from the beginning").await;
    issuer.issuer.stop().await;
}

#[tokio::test]
async fn a_file_exporter_needs_a_file_of_its_own_that_ends_with_a_newline() {
    let db = TempDb::new("exporters-file-checks");
    let issuer = Issuer::with_examples(&db).await;
    let dir = db.path().with_extension("files");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mine = dir.join("mine.ndjson");
    issuer
        .add_exporter(json!({"name": "archive", "kind": "file", "path": mine}))
        .await;
    let post = |body: Value| issuer.admin(reqwest::Method::POST, "/exporters", Some(body));
    // The same file, by another name (or path): refused, the file is the first one's.
    let (status, text) = post(json!({"name": "copy", "kind": "file",
        "path": dir.join(".").join("mine.ndjson")}))
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("is already the file of exporter `archive`"),
        "{text}"
    );
    // A foreign file whose last line has no newline: its last line would be cut.
    let foreign = dir.join("foreign.log");
    std::fs::write(&foreign, "first line\nlast line without a newline").unwrap();
    let (status, text) = post(json!({"name": "foreign", "kind": "file", "path": foreign})).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("does not end with a newline"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "first line\nlast line without a newline",
        "the file is untouched"
    );
    let (status, text) = issuer
        .admin(
            reqwest::Method::PATCH,
            "/exporters/archive",
            Some(json!({"path": foreign})),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    // Ending with a newline, it is accepted.
    std::fs::write(&foreign, "first line\nlast line\n").unwrap();
    let (status, text) = post(json!({"name": "foreign", "kind": "file", "path": foreign})).await;
    assert_eq!(status, 201, "{text}");
    issuer.issuer.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

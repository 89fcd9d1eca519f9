//! The system log read back through the admin API ("Read and download system logs"): each
//! filter, paging, bad parameters, authentication, the NDJSON and CSV downloads, the
//! `?request_id=` contract the suite relies on, the indexes behind it, and `jagspec logs`
//! against `jagspec serve`.
//!
//! The log is built from real token requests at times set on a `FixedClock`: two users,
//! two clients, two systems, granted and denied.

use crate::support::{TempDb, ndjson_events, whole_lines};
use jagspec::audit::{AuditEvent, AuditFilter, Outcome};
use jagspec::issuer::{
    ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, IssuerConfig, RunningIssuer, Seed, TOKEN_EXCHANGE_GRANT,
};
use jagspec::{FixedClock, Secret};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::Arc;

const TOKEN: &str = "admin-token-of-the-system-log-tests";
/// The clock at the start, seconds.
const T0: i64 = 1_800_000_000;
const CHAT: &str = "https://as.chat.example";
const CHAT_MCP: &str = "https://mcp.chat.example/mcp";
const EDD: &str = "https://as.eddsa.example";
const EDD_MCP: &str = "https://mcp.eddsa.example/mcp";
/// An audience no resource server has, with a comma and quotes for the CSV.
const ODD: &str = "https://as.example/a,\"quoted\"";
const AGENT: (&str, &str) = ("agent", "agent-secret");
const OTHER: (&str, &str) = ("other-agent", "other-agent-secret");

/// `T0 + secs`, in the milliseconds events carry.
fn ms(secs: i64) -> i64 {
    (T0 + secs) * 1000
}

/// An issuer seeded from `fixtures/tenant-examples.toml` with a known admin token and a
/// clock the test sets.
struct Log {
    issuer: RunningIssuer,
    clock: Arc<FixedClock>,
    http: reqwest::Client,
    _db: TempDb,
}

/// One exchange of [`Log::populated`]: seconds after T0, the ID token, the client, the
/// audience, the resource, the scope.
type Step<'a> = (i64, &'a str, (&'a str, &'a str), &'a str, &'a str, &'a str);

/// An answer: status, headers, body text.
struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The body as events, after asserting a 200.
    #[track_caller]
    fn events(&self) -> Vec<AuditEvent> {
        assert_eq!(self.status, 200, "{}", self.text);
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not events ({e}): {}", self.text))
    }
}

impl Log {
    async fn start(name: &str) -> Self {
        let db = TempDb::new(&format!("system-log-{name}"));
        let clock = Arc::new(FixedClock::at(T0));
        let issuer = RunningIssuer::start(IssuerConfig {
            seed: Some(
                Seed::from_toml(include_str!("../../fixtures/tenant-examples.toml")).unwrap(),
            ),
            clock: clock.clone(),
            admin_token: Secret::new(TOKEN),
            ..IssuerConfig::new(db.path())
        })
        .await
        .unwrap();
        Self {
            issuer,
            clock,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    /// A log of 13 events: four logins at T0, then token exchanges ten seconds apart.
    ///
    /// | at  | user  | client      | system | outcome | status detail |
    /// |-----|-------|-------------|--------|---------|---------------|
    /// | 0   | alice, bob × agent, other-agent (logins) | | | granted | Granted |
    /// | 10  | alice | agent       | chat   | granted | Granted |
    /// | 20  | bob   | agent       | chat   | denied  | No grant for the scope |
    /// | 30  | alice | other-agent | edd    | granted | Granted |
    /// | 40  | bob   | other-agent | edd    | denied  | No grant for the scope |
    /// | 50  | alice | agent       | chat   | granted | Granted (narrowed) |
    /// | 60  | alice | other-agent | chat   | granted | Granted |
    /// | 70  | bob   | agent       | edd    | denied  | No grant for the scope |
    /// | 80  | alice | agent       | ODD    | denied  | Audience not registered |
    /// | 90  | alice | other-agent | edd    | granted | Granted |
    async fn populated(name: &str) -> Self {
        let log = Self::start(name).await;
        let alice_agent = log.login("alice", AGENT).await;
        let bob_agent = log.login("bob", AGENT).await;
        let alice_other = log.login("alice", OTHER).await;
        let bob_other = log.login("bob", OTHER).await;
        let steps: [Step<'_>; 9] = [
            (10, &alice_agent, AGENT, CHAT, CHAT_MCP, "chat.read"),
            (20, &bob_agent, AGENT, CHAT, CHAT_MCP, "chat.read"),
            (30, &alice_other, OTHER, EDD, EDD_MCP, "read"),
            (40, &bob_other, OTHER, EDD, EDD_MCP, "read"),
            (
                50,
                &alice_agent,
                AGENT,
                CHAT,
                CHAT_MCP,
                "chat.read chat.admin",
            ),
            (60, &alice_other, OTHER, CHAT, CHAT_MCP, "chat.read"),
            (70, &bob_agent, AGENT, EDD, EDD_MCP, "read"),
            (
                80,
                &alice_agent,
                AGENT,
                ODD,
                "https://mcp.example/mcp",
                "read",
            ),
            (90, &alice_other, OTHER, EDD, EDD_MCP, "read"),
        ];
        for (at, id_token, client, audience, resource, scope) in steps {
            log.clock.set(T0 + at);
            log.exchange(id_token, client, audience, resource, scope)
                .await;
        }
        assert_eq!(log.all().len(), 13);
        log
    }

    /// A user's ID token for `client` (the password grant: itself an audited request).
    async fn login(&self, user: &str, client: (&str, &str)) -> String {
        let body: Value = self
            .http
            .post(format!("{}/token", self.issuer.url))
            .basic_auth(client.0, Some(client.1))
            .form(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", &format!("{user}-password")),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["id_token"].as_str().expect("a login").to_owned()
    }

    /// A token exchange; returns the response's `x-request-id`.
    async fn exchange(
        &self,
        id_token: &str,
        client: (&str, &str),
        audience: &str,
        resource: &str,
        scope: &str,
    ) -> String {
        let response = self
            .http
            .post(format!("{}/token", self.issuer.url))
            .basic_auth(client.0, Some(client.1))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE_GRANT),
                ("requested_token_type", ID_JAG_TOKEN_TYPE),
                ("subject_token", id_token),
                ("subject_token_type", ID_TOKEN_TYPE),
                ("audience", audience),
                ("resource", resource),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Every event, in the order written, read from the library (not through the API).
    fn all(&self) -> Vec<AuditEvent> {
        self.issuer.state.audit.events().unwrap()
    }

    async fn get_with(&self, path_and_query: &str, token: Option<&str>) -> Reply {
        let mut request = self
            .http
            .get(format!("{}{path_and_query}", self.issuer.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path_and_query: &str) -> Reply {
        self.get_with(path_and_query, Some(TOKEN)).await
    }
}

/// `s` percent-encoded for a query.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The users, clients, systems, outcomes and status details of `events`, to compare
/// sets of events readably.
fn summary(events: &[AuditEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {}",
                (e.time_ms / 1000) - T0,
                e.user.as_deref().unwrap_or("-"),
                e.client.as_deref().unwrap_or("-"),
                e.system.as_deref().unwrap_or("-"),
                e.outcome.as_str(),
                e.status_detail
            )
        })
        .collect()
}

type Predicate = Box<dyn Fn(&AuditEvent) -> bool>;

#[tokio::test]
async fn each_filter_narrows_the_log_to_exactly_the_events_it_names() {
    let log = Log::populated("filters").await;
    let all = log.all();
    let is = |field: fn(&AuditEvent) -> Option<&str>, want: &'static str| -> Predicate {
        Box::new(move |e| field(e) == Some(want))
    };
    fn user(e: &AuditEvent) -> Option<&str> {
        e.user.as_deref()
    }
    fn client(e: &AuditEvent) -> Option<&str> {
        e.client.as_deref()
    }
    fn system(e: &AuditEvent) -> Option<&str> {
        e.system.as_deref()
    }
    let cases: Vec<(String, Predicate, usize)> = vec![
        ("user=alice".into(), is(user, "alice"), 8),
        ("user=bob".into(), is(user, "bob"), 5),
        ("client=agent".into(), is(client, "agent"), 7),
        ("client=other-agent".into(), is(client, "other-agent"), 6),
        (format!("system={}", enc(CHAT)), is(system, CHAT), 4),
        (format!("system={}", enc(EDD)), is(system, EDD), 4),
        (format!("system={}", enc(ODD)), is(system, ODD), 1),
        (
            "outcome=granted".into(),
            Box::new(|e| e.outcome == Outcome::Granted),
            9,
        ),
        (
            "outcome=denied".into(),
            Box::new(|e| e.outcome == Outcome::Denied),
            4,
        ),
        (
            "status_detail=No+grant+for+the+scope".into(),
            Box::new(|e| e.status_detail == "No grant for the scope"),
            3,
        ),
        (
            format!("status_detail={}", enc("Granted (narrowed)")),
            Box::new(|e| e.status_detail == "Granted (narrowed)"),
            1,
        ),
        // `since` is inclusive and `until` exclusive: 20 is in, 50 is out.
        (
            format!("since={}&until={}", ms(20), ms(50)),
            Box::new(|e| (ms(20)..ms(50)).contains(&e.time_ms)),
            3,
        ),
        (
            format!("since={}", ms(80)),
            Box::new(|e| e.time_ms >= ms(80)),
            2,
        ),
        (
            format!("until={}", ms(10)),
            Box::new(|e| e.time_ms < ms(10)),
            4,
        ),
        (
            format!("user=alice&outcome=granted&system={}", enc(CHAT)),
            Box::new(|e| {
                e.user.as_deref() == Some("alice")
                    && e.outcome == Outcome::Granted
                    && e.system.as_deref() == Some(CHAT)
            }),
            3,
        ),
        (
            format!("client=agent&outcome=denied&since={}", ms(30)),
            Box::new(|e| {
                e.client.as_deref() == Some("agent")
                    && e.outcome == Outcome::Denied
                    && e.time_ms >= ms(30)
            }),
            2,
        ),
        ("user=carol".into(), Box::new(|_| false), 0),
    ];
    for (query, predicate, count) in cases {
        let got = log
            .get(&format!("/admin/audit-events?{query}&limit=1000"))
            .await
            .events();
        let expected: Vec<AuditEvent> = all.iter().filter(|e| predicate(e)).cloned().collect();
        assert_eq!(expected.len(), count, "{query}: the test's own oracle");
        assert_eq!(summary(&got), summary(&expected), "{query}");
        assert_eq!(got, expected, "{query}");
    }

    // And one request, by its id.
    let denied = &all[5];
    assert_eq!(denied.status_detail, "No grant for the scope");
    let got = log
        .get(&format!(
            "/admin/audit-events?request_id={}",
            denied.request_id
        ))
        .await
        .events();
    assert_eq!(got, vec![denied.clone()]);
}

/// Follows `x-next-cursor` from `first` to the end; every page's events, and each page's
/// `link` header (`None` on the last).
async fn follow(log: &Log, first: &str) -> (Vec<Vec<AuditEvent>>, Vec<Option<String>>) {
    let mut pages = Vec::new();
    let mut links = Vec::new();
    let mut path = first.to_owned();
    loop {
        let reply = log.get(&path).await;
        pages.push(reply.events());
        links.push(reply.header("link").map(str::to_owned));
        match reply.header("x-next-cursor") {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
    (pages, links)
}

#[tokio::test]
async fn paging_returns_every_event_exactly_once_in_order_across_pages() {
    let log = Log::populated("paging").await;
    let all = log.all();

    for limit in [1, 2, 3, 5, 12, 13, 14, 1000] {
        let (pages, _) = follow(&log, &format!("/admin/audit-events?limit={limit}")).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().all(|n| (1..=limit).contains(n)),
            "limit {limit}: {sizes:?}"
        );
        assert_eq!(
            pages.len(),
            all.len().div_ceil(limit),
            "limit {limit}: no empty last page"
        );
        assert_eq!(pages.concat(), all, "limit {limit}");
    }

    // Without `limit`, a page is 100 events: all 13 at once, no next page.
    let reply = log.get("/admin/audit-events").await;
    assert_eq!(reply.events(), all);
    assert_eq!(reply.header("link"), None);
    assert_eq!(reply.header("x-next-cursor"), None);

    // A filtered walk: the link repeats the filters and limit, with the cursor.
    let (pages, links) = follow(&log, "/admin/audit-events?user=alice&limit=3").await;
    let alice: Vec<AuditEvent> = all
        .iter()
        .filter(|e| e.user.as_deref() == Some("alice"))
        .cloned()
        .collect();
    assert_eq!(pages.concat(), alice);
    assert_eq!(pages.len(), 3);
    assert_eq!(links[2], None);
    let first_link = links[0].as_deref().unwrap();
    let reply = log.get("/admin/audit-events?user=alice&limit=3").await;
    let cursor = reply.header("x-next-cursor").unwrap();
    assert_eq!(
        first_link,
        format!("</admin/audit-events?user=alice&limit=3&cursor={cursor}>; rel=\"next\"")
    );
    // Following the link itself (RFC 8288: a reference relative to the request) gives the
    // second page.
    let target = first_link
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .unwrap()
        .0;
    assert_eq!(log.get(target).await.events(), pages[1]);
}

#[tokio::test]
async fn events_written_after_a_page_was_read_come_on_the_next_page_and_only_there() {
    let log = Log::populated("growing").await;
    let first = log.get("/admin/audit-events?limit=10").await;
    let cursor = first.header("x-next-cursor").unwrap().to_owned();
    log.clock.set(T0 + 5);
    let token = log.login("bob", AGENT).await;
    log.exchange(&token, AGENT, CHAT, CHAT_MCP, "chat.read")
        .await;

    let rest = log
        .get(&format!("/admin/audit-events?limit=10&cursor={cursor}"))
        .await
        .events();

    let all = log.all();
    assert_eq!(all.len(), 15);
    assert_eq!(first.events(), all[..10]);
    assert_eq!(
        rest,
        all[10..],
        "the two new events follow, though their time is earlier"
    );
}

#[tokio::test]
async fn bad_parameters_are_refused_with_400_invalid_request_naming_the_parameter() {
    let log = Log::start("bad-parameters").await;
    let ms_expected = "expected an integer: milliseconds since the Unix epoch, as in `time_ms`";
    let cases: Vec<(&str, String)> = vec![
        (
            "/admin/audit-events?since=yesterday",
            format!("`since`: {ms_expected} (found `yesterday`)"),
        ),
        (
            "/admin/audit-events?until=2027-01-15T08:00:00Z",
            format!("`until`: {ms_expected} (found `2027-01-15T08:00:00Z`)"),
        ),
        (
            "/admin/audit-events?since=",
            format!("`since`: {ms_expected} (found ``)"),
        ),
        (
            "/admin/audit-events?since=2000&until=1000",
            "`until`: expected a time after `since` (2000), since the range is [since, until) \
             (found `1000`)"
                .into(),
        ),
        (
            "/admin/audit-events?outcome=maybe",
            "`outcome`: expected `granted` or `denied` (found `maybe`)".into(),
        ),
        (
            "/admin/audit-events?outcome=Granted",
            "`outcome`: expected `granted` or `denied` (found `Granted`)".into(),
        ),
        (
            "/admin/audit-events?limit=0",
            "`limit`: expected an integer from 1 to 1000 (found `0`)".into(),
        ),
        (
            "/admin/audit-events?limit=1001",
            "`limit`: expected an integer from 1 to 1000 (found `1001`)".into(),
        ),
        (
            "/admin/audit-events?limit=ten",
            "`limit`: expected an integer from 1 to 1000 (found `ten`)".into(),
        ),
        (
            "/admin/audit-events?cursor=-1",
            "`cursor`: expected a cursor from a previous page (`x-next-cursor`) (found `-1`)"
                .into(),
        ),
        (
            "/admin/audit-events?user=alice&user=bob",
            "`user` is given more than once".into(),
        ),
        (
            "/admin/audit-events?users=alice",
            "unknown parameter `users`; expected since, until, user, client, system, outcome, \
             status_detail, request_id, limit, cursor"
                .into(),
        ),
        (
            "/admin/audit-events?format=csv",
            "`format` applies to `GET /admin/audit-events/export` only; this endpoint answers \
             JSON"
                .into(),
        ),
        (
            "/admin/audit-events/export?format=xml",
            "`format`: expected `ndjson` or `csv` (found `xml`)".into(),
        ),
        (
            "/admin/audit-events/export?format=csv&limit=5",
            "`limit` does not apply to the export, which returns every matching event; read \
             pages from `GET /admin/audit-events` instead"
                .into(),
        ),
        (
            "/admin/audit-events/export?since=soon",
            format!("`since`: {ms_expected} (found `soon`)"),
        ),
    ];
    for (path, description) in cases {
        let reply = log.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"error": "invalid_request", "error_description": description}),
            "{path}"
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
    }
    // A huge value is echoed shortened, and nothing panics.
    let long = "x".repeat(10_000);
    let reply = log.get(&format!("/admin/audit-events?limit={long}")).await;
    assert_eq!(reply.status, 400);
    assert!(reply.text.len() < 600, "{}", reply.text.len());
}

#[tokio::test]
async fn reading_or_downloading_the_log_needs_the_admin_token_even_with_bad_parameters() {
    let log = Log::populated("auth").await;
    for path in [
        "/admin/audit-events",
        "/admin/audit-events?request_id=x",
        "/admin/audit-events?limit=0",
        "/admin/audit-events/export?format=csv",
        "/admin/audit-events/export?format=nope",
    ] {
        for token in [None, Some("wrong-token")] {
            let reply = log.get_with(path, token).await;
            assert_eq!(reply.status, 401, "{path} {token:?}");
            assert_eq!(reply.json()["error"], "invalid_token", "{path}");
            assert!(
                reply
                    .header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Bearer realm=\"jagspec-admin\"")),
                "{path}"
            );
            assert!(!reply.text.contains("alice"), "{path}: no event leaks");
        }
    }
}

#[tokio::test]
async fn the_ndjson_download_holds_every_matching_event_one_per_line() {
    let log = Log::populated("ndjson").await;
    let all = log.all();

    let reply = log.get("/admin/audit-events/export?format=ndjson").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"audit-events.ndjson\"")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.text.ends_with('\n'));
    let lines = ndjson_events(&reply.text);
    assert_eq!(lines, all);

    // Without `format`, NDJSON; with filters, the same events as the JSON pages.
    let denied = log
        .get("/admin/audit-events/export?outcome=denied&client=agent")
        .await;
    assert_eq!(denied.header("content-type"), Some("application/x-ndjson"));
    let lines = ndjson_events(&denied.text);
    let pages = log
        .get("/admin/audit-events?outcome=denied&client=agent")
        .await
        .events();
    assert_eq!(lines, pages);
    assert_eq!(lines.len(), 3);

    // Nothing matches: an empty body.
    let none = log.get("/admin/audit-events/export?user=carol").await;
    assert_eq!((none.status, none.text.as_str()), (200, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_of_more_events_than_a_page_holds_is_streamed_with_each_event_once() {
    let log = Log::start("export-many").await;
    // 2,500 events straight into the log (the issuer's own log, concurrently, so group
    // commit keeps it quick): more than two of the export's internal pages of 1,000.
    let tasks: Vec<_> = (0..2500)
        .map(|i| {
            let audit = log.issuer.state.audit.clone();
            tokio::spawn(async move {
                audit
                    .record(AuditEvent {
                        event_id: format!("bulk-{i:05}"),
                        request_id: format!("req-{i:05}"),
                        time_ms: ms(i),
                        user: Some(if i % 2 == 0 { "alice" } else { "bob" }.into()),
                        status_detail: "Server paused".into(),
                        ..AuditEvent::default()
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let all = log.all();
    assert_eq!(all.len(), 2500);

    let reply = log.get("/admin/audit-events/export?format=ndjson").await;
    // Streamed page by page: no length is known when the answer starts.
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    let lines = ndjson_events(&reply.text);
    assert_eq!(lines, all);

    let csv = log
        .get("/admin/audit-events/export?format=csv&user=bob")
        .await;
    assert_eq!(csv.text.lines().count(), 1 + 1250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_whose_log_fails_part_way_ends_as_a_broken_transfer_never_a_complete_one() {
    let log = Log::start("export-broken").await;
    let token = log.login("alice", AGENT).await;
    log.exchange(&token, AGENT, CHAT, CHAT_MCP, "chat.read")
        .await;
    // 2^17 events (about 50 MB as NDJSON), made by SQLite from the two real ones: far more
    // than the download's pages read ahead plus the sockets' buffers, so the server is
    // still reading pages when the log breaks.
    let conn = rusqlite::Connection::open(log._db.path()).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    for _ in 0..16 {
        conn.execute(
            "INSERT INTO audit_events (event_id, request_id, time_ms, grant_type, outcome, \
             status_detail, oauth_error, user, client, system, resource, scopes, token_id, \
             signing_key_id, algorithm, lifetime_secs) \
             SELECT lower(hex(randomblob(16))), request_id, time_ms, grant_type, outcome, \
             status_detail, oauth_error, user, client, system, resource, scopes, token_id, \
             signing_key_id, algorithm, lifetime_secs FROM audit_events",
            [],
        )
        .unwrap();
    }
    let total = log.issuer.state.audit.count().unwrap();
    assert_eq!(total, 1 << 17);

    let mut response = log
        .http
        .get(format!(
            "{}/admin/audit-events/export?format=ndjson",
            log.issuer.url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the first page was read before the answer"
    );
    // The log breaks while the download is under way (the table is gone for the issuer's
    // reader, as after a corrupted or replaced file).
    conn.execute("ALTER TABLE audit_events RENAME TO audit_events_gone", [])
        .unwrap();
    let mut body = Vec::new();
    let ended = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        ended.is_err(),
        "a download the log failed part way must not end like a complete one ({} bytes)",
        body.len()
    );
    // What did arrive is whole events, in the log's order, fewer than the log holds.
    let text = String::from_utf8(body).unwrap();
    let whole = whole_lines(&text);
    let lines = ndjson_events(whole);
    eprintln!(
        "broken download: {} whole events of {total}, then {ended:?}",
        lines.len()
    );
    assert!(
        lines.len() >= 1000,
        "at least the first page: {}",
        lines.len()
    );
    assert!((lines.len() as u64) < total);
    assert_eq!(lines[0].grant_type.as_deref(), Some("password"));
    conn.execute("ALTER TABLE audit_events_gone RENAME TO audit_events", [])
        .unwrap();
}

#[tokio::test]
async fn reading_up_to_the_last_cursor_leaves_out_events_written_afterwards() {
    let log = Log::populated("snapshot").await;
    let audit = &log.issuer.state.audit;
    let last = audit
        .last_cursor()
        .unwrap()
        .expect("a cursor: the log is not empty");
    let before = log.all();
    log.clock.set(T0 + 100);
    let token = log.login("bob", AGENT).await;
    log.exchange(&token, AGENT, CHAT, CHAT_MCP, "chat.read")
        .await;

    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = audit
            .query_up_to(&AuditFilter::default(), after, Some(last), 4)
            .unwrap();
        read.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    assert_eq!(read, before);
    assert_eq!(log.all().len(), before.len() + 2);
    let newer = audit
        .query(&AuditFilter::default(), Some(last), 1000)
        .unwrap();
    assert_eq!(newer.events, log.all()[before.len()..]);
    assert_eq!(newer.next, None);
}

/// Parses RFC 4180 CSV: records of fields, quoted fields with doubled quotes, CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '"') => panic!("a quote inside an unquoted field"),
            (false, '\n') => panic!("LF without CR"),
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "no final CRLF"
    );
    records
}

#[tokio::test]
async fn the_csv_download_has_the_header_and_quotes_a_value_with_a_comma_and_quotes() {
    let log = Log::populated("csv").await;
    let all = log.all();

    let reply = log.get("/admin/audit-events/export?format=csv").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8; header=present")
    );
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"audit-events.csv\"")
    );
    let header = "event_id,request_id,time_ms,time,grant_type,outcome,status_detail,oauth_error,\
                  user,client,system,resource,scopes,scope_reasons,token_id,signing_key_id,\
                  algorithm,lifetime_secs";
    assert!(
        reply.text.starts_with(&format!("{header}\r\n")),
        "{}",
        reply.text
    );
    // The odd audience, quoted with its quotes doubled (RFC 4180 §2).
    assert!(
        reply
            .text
            .contains(",\"https://as.example/a,\"\"quoted\"\"\","),
        "{}",
        reply.text
    );

    let records = parse_csv(&reply.text);
    assert_eq!(records.len(), 1 + all.len());
    assert_eq!(records[0].join(","), header);
    for (record, event) in records[1..].iter().zip(&all) {
        assert_eq!(record.len(), 18, "{record:?}");
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        assert_eq!(record[0], event.event_id);
        assert_eq!(record[1], event.request_id);
        assert_eq!(record[2], event.time_ms.to_string());
        assert_eq!(record[5], event.outcome.as_str());
        assert_eq!(record[6], event.status_detail);
        assert_eq!(record[7], opt(&event.oauth_error));
        assert_eq!(record[8], opt(&event.user));
        assert_eq!(record[9], opt(&event.client));
        assert_eq!(record[10], opt(&event.system));
        assert_eq!(record[14], opt(&event.token_id));
    }
    // The narrowed grant at T0+50: one column of scope:outcome, one of reasons.
    let narrowed = records
        .iter()
        .find(|r| r[6] == "Granted (narrowed)")
        .unwrap();
    assert_eq!(narrowed[3], "2027-01-15T08:00:50.000Z");
    assert_eq!(narrowed[12], "chat.read:granted chat.admin:denied");
    assert_eq!(narrowed[13], "chat.admin: Scope not enabled");
    assert_eq!(narrowed[16], "ES256");
    assert_eq!(narrowed[17], "600");

    // Nothing matches: the header alone.
    let none = log
        .get("/admin/audit-events/export?format=csv&user=carol")
        .await;
    assert_eq!(none.text, format!("{header}\r\n"));
}

#[tokio::test]
async fn a_request_id_query_answers_the_bare_array_of_that_request_events_as_before() {
    let log = Log::populated("request-id").await;
    let token = log.login("alice", AGENT).await;
    log.clock.set(T0 + 100);
    let request_id = log
        .exchange(&token, AGENT, CHAT, CHAT_MCP, "chat.write")
        .await;

    let reply = log
        .get(&format!("/admin/audit-events?request_id={request_id}"))
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("link"), None);
    let body = reply.json();
    let events = body.as_array().expect("a bare JSON array");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["request_id"], request_id.as_str());
    assert_eq!(events[0]["outcome"], "denied");
    assert_eq!(events[0]["status_detail"], "No grant for the scope");
    assert_eq!(events[0]["time_ms"], ms(100));
    // The documented shape, field for field.
    let keys: Vec<&str> = events[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "event_id",
        "request_id",
        "time_ms",
        "grant_type",
        "outcome",
        "status_detail",
        "oauth_error",
        "user",
        "client",
        "system",
        "resource",
        "scopes",
        "token_id",
        "signing_key_id",
        "algorithm",
        "lifetime_secs",
    ];
    let mut keys = keys;
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected);

    for unknown in [
        "/admin/audit-events?request_id=nope",
        "/admin/audit-events?request_id=",
    ] {
        let reply = log.get(unknown).await;
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (200, "[]"),
            "{unknown}"
        );
    }
}

#[tokio::test]
async fn the_log_indexes_exist_and_a_request_id_lookup_searches_its_index() {
    let log = Log::populated("indexes").await;
    let conn = rusqlite::Connection::open(log._db.path()).unwrap();

    let mut stmt = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' \
             AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap();
    let indexes: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let names: Vec<&str> = indexes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "audit_events_client",
            "audit_events_request_id",
            "audit_events_status_detail",
            "audit_events_system",
            "audit_events_time",
            "audit_events_user",
        ]
    );
    assert!(
        indexes[1].1.ends_with("ON audit_events (request_id)"),
        "{}",
        indexes[1].1
    );
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    // Migration 2 (the indexes) has run; later migrations (3: exporters) may follow.
    assert!(version >= 2, "schema version {version}");

    let request_id = &log.all()[7].request_id;
    let plan: Vec<String> = conn
        .prepare("EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE request_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([request_id], |r| r.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        plan,
        ["SEARCH audit_events USING INDEX audit_events_request_id (request_id=?)"]
    );
    assert_eq!(
        log.issuer
            .state
            .audit
            .find_by_request_id(request_id)
            .unwrap(),
        vec![log.all()[7].clone()]
    );
}

// ---------------------------------------------------------------------------------------
// `jagspec logs`
// ---------------------------------------------------------------------------------------

/// A `serve` child stopped with SIGTERM when the test ends, even on a failed assert.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn jagspec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(args)
        .env_remove("JAGSPEC_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("the jagspec binary runs")
}

#[test]
fn logs_reads_the_system_log_of_serve_as_a_table_and_as_csv() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("system-log-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest_path = dir.join("manifest.json");
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_jagspec"))
            .args(["serve", "--manifest", manifest_path.to_str().unwrap()])
            .env_remove("JAGSPEC_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut manifest = None;
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&manifest_path) {
            manifest = Some(serde_json::from_str::<Value>(&text).unwrap());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let m = manifest.expect("serve wrote its manifest within 10 s");
    let server = |name: &str| {
        m["authorization_servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    // One granted and one denied exchange by alice through the agent.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let request_ids: Vec<String> = runtime.block_on(async {
        let http = reqwest::Client::new();
        let token_endpoint = m["issuer"]["token_endpoint"].as_str().unwrap();
        let client = &m["clients"][0];
        let (id, secret) = (
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap(),
        );
        let user = &m["users"][0];
        let login: Value = http
            .post(token_endpoint)
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "password"),
                ("username", user["name"].as_str().unwrap()),
                ("password", user["password"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_token = login["id_token"].as_str().unwrap();
        let mut ids = Vec::new();
        for name in ["es256", "paused"] {
            let s = server(name);
            let mcp = &s["mcp_servers"][0];
            let response = http
                .post(token_endpoint)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", TOKEN_EXCHANGE_GRANT),
                    ("requested_token_type", ID_JAG_TOKEN_TYPE),
                    ("subject_token", id_token),
                    ("subject_token_type", ID_TOKEN_TYPE),
                    ("audience", s["issuer"].as_str().unwrap()),
                    ("resource", mcp["url"].as_str().unwrap()),
                    ("scope", mcp["scopes"][0].as_str().unwrap()),
                ])
                .send()
                .await
                .unwrap();
            ids.push(
                response.headers()["x-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    });
    let manifest_arg = manifest_path.to_str().unwrap();

    // The table: a header, then one aligned line per event (login, granted, denied).
    let out = jagspec(&["logs", "--manifest", manifest_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("TIME (UTC)  "), "{stdout}");
    for column in [
        "OUTCOME",
        "USER",
        "CLIENT",
        "SYSTEM",
        "STATUS DETAIL",
        "SCOPES",
    ] {
        assert!(lines[0].contains(column), "{stdout}");
    }
    let status_at = lines[0].find("STATUS DETAIL").unwrap();
    assert!(lines[2].contains(" granted  alice  "), "{stdout}");
    assert_eq!(&lines[2][status_at..status_at + 8], "Granted ", "{stdout}");
    assert!(lines[3].contains(" denied   alice  "), "{stdout}");
    assert_eq!(
        &lines[3][status_at..status_at + 13],
        "Server paused",
        "{stdout}"
    );
    assert!(lines[3].contains(server("paused")["issuer"].as_str().unwrap()));
    // The time column: `YYYY-MM-DD HH:MM:SS.mmmZ`.
    assert_eq!(lines[1].as_bytes()[10], b' ', "{stdout}");
    assert_eq!(&lines[1][23..24], "Z", "{stdout}");

    // CSV of the denials only: the header and one row.
    let out = jagspec(&[
        "logs",
        "--manifest",
        manifest_arg,
        "--outcome",
        "denied",
        "--format",
        "csv",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let records = parse_csv(&csv);
    assert_eq!(records.len(), 2, "{csv}");
    assert_eq!(records[0][0], "event_id");
    assert_eq!(records[1][1], request_ids[1]);
    assert_eq!(records[1][6], "Server paused");

    // Paging from the command line: one event a page, every page followed.
    let out = jagspec(&[
        "logs",
        "--manifest",
        manifest_arg,
        "--limit",
        "1",
        "--all",
        "--format",
        "ndjson",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let events = ndjson_events(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].request_id, request_ids[0]);
    // Without --all, the first page and a hint on standard error.
    let out = jagspec(&[
        "logs",
        "--manifest",
        manifest_arg,
        "--limit",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let page: Vec<AuditEvent> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page.len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--all"));

    // The admin URL and token by flag; a wrong token is refused by the API (exit 1).
    let admin_url = m["issuer"]["admin_url"].as_str().unwrap();
    let admin_token = m["issuer"]["admin_token"].as_str().unwrap();
    let out = jagspec(&[
        "logs",
        "--admin-url",
        admin_url,
        "--admin-token",
        admin_token,
        "--request-id",
        &request_ids[0],
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one: Vec<AuditEvent> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].status_detail, "Granted");
    let out = jagspec(&["logs", "--admin-url", admin_url, "--admin-token", "wrong"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));

    // The exporters: none yet; then a file exporter, shown with its lag until it has
    // caught up with the three events.
    let out = jagspec(&["logs", "--manifest", manifest_arg, "--exporters"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "no exporters\n");
    let export_path = dir.join("exported.ndjson");
    runtime.block_on(async {
        let added = reqwest::Client::new()
            .post(format!("{admin_url}/exporters"))
            .bearer_auth(admin_token)
            .json(&serde_json::json!({"name": "archive", "kind": "file",
                "path": export_path.to_str().unwrap()}))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 201);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = jagspec(&[
            "logs",
            "--manifest",
            manifest_arg,
            "--exporters",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["name"], "archive");
        if list[0]["lag"] == 0 {
            assert_eq!(list[0]["last_seq"], 3);
            assert!(list[0]["last_success_ms"].is_i64());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter lags: {list:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = jagspec(&["logs", "--manifest", manifest_arg, "--exporters"]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("NAME     KIND  TARGET"), "{table}");
    assert!(
        lines[1].starts_with(&format!("archive  file  {}  0  ", export_path.display())),
        "{table}"
    );
    assert!(lines[1].ends_with("  0         -"), "{table}");

    // Bad input: exit 2, nothing on standard output.
    for args in [
        vec![
            "logs",
            "--manifest",
            manifest_arg,
            "--exporters",
            "--outcome",
            "denied",
        ],
        vec![
            "logs",
            "--manifest",
            manifest_arg,
            "--exporters",
            "--format",
            "csv",
        ],
        vec!["logs", "--manifest", manifest_arg, "--since", "yesterday"],
        vec!["logs", "--manifest", manifest_arg, "--outcome", "maybe"],
        vec!["logs", "--manifest", manifest_arg, "--limit", "0"],
        vec!["logs", "--manifest", manifest_arg, "--cursor", "-4"],
        vec![
            "logs",
            "--admin-url",
            "http://192.0.2.1/admin",
            "--admin-token",
            "t",
        ],
        vec!["logs", "--admin-url", admin_url],
        vec!["logs"],
    ] {
        let out = jagspec(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

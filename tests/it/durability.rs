//! The audit log under `kill -9` (DR19; issue 7, item 4): `jagspec serve` is killed with
//! SIGKILL while token requests are in flight, then restarted on the same database. Every
//! request whose response reached the client must have its event in the log, and the
//! file exporter must end up holding every stored event, duplicates only as whole,
//! identical lines with the same `event_id`.
//!
//! This is the one place the order "event committed, then response sent" is observable
//! from outside: a response the client read whose event is missing after the crash would
//! mean the issuer answered before its write was durable.

use crate::support::{ServeProcess, scratch};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "admin-token-of-the-durability-test";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Responses to collect before the kill.
const BEFORE_KILL: usize = 300;
/// Clients sending at once.
const CLIENTS: usize = 16;

/// `jagspec serve` on `base` (`--port-base` keeps the mocks' URLs stable across the
/// restart, as the tenant stores them) with the test's database.
fn serve_args(dir: &Path, base: u16) -> Vec<String> {
    let db = dir.join("state.db");
    vec![
        "--port-base".into(),
        base.to_string(),
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--db".into(),
        db.display().to_string(),
    ]
}

fn admin_url(serve: &ServeProcess) -> String {
    serve.at("/issuer/admin_url")
}

fn token_endpoint(serve: &ServeProcess) -> String {
    serve.at("/issuer/token_endpoint")
}

/// Every event in the log, through the admin API's pages.
async fn all_events(http: &reqwest::Client, admin_url: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{admin_url}/audit-events?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let response = http.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200);
        cursor = response
            .headers()
            .get("x-next-cursor")
            .map(|v| v.to_str().unwrap().to_owned());
        let page: Vec<Value> = response.json().await.unwrap();
        events.extend(page);
        if cursor.is_none() {
            return events;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_token_response_sent_before_a_sigkill_has_its_event_after_the_restart_and_is_exported()
 {
    let dir = scratch("durability-sigkill");
    let export_file = dir.join("exported.ndjson");
    let (mut serve, base) = ServeProcess::start_on_free_ports(&dir, 20, |b| serve_args(&dir, b));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let admin = admin_url(&serve);
    let added = http
        .post(format!("{admin}/exporters"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "archive", "kind": "file",
            "path": export_file.to_str().unwrap(), "batch_max": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201, "{}", added.text().await.unwrap());

    let m = &serve.manifest;
    let client = m["clients"][0].clone();
    let (client_id, client_secret) = (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    );
    let user = &m["users"][0];
    let login = http
        .post(token_endpoint(&serve))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", user["name"].as_str().unwrap()),
            ("password", user["password"].as_str().unwrap()),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let id_token = login.json::<Value>().await.unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = &m["authorization_servers"][0];
    let mcp = &server["mcp_servers"][0];
    let granted = Arc::new(vec![
        ("grant_type".to_owned(), TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type".into(), ID_JAG.into()),
        ("subject_token".into(), id_token),
        ("subject_token_type".into(), ID_TOKEN.into()),
        ("audience".into(), server["issuer"].as_str().unwrap().into()),
        ("resource".into(), mcp["url"].as_str().unwrap().into()),
        ("scope".into(), mcp["scopes"][0].as_str().unwrap().into()),
    ]);

    // The load: every client sends until its request fails (the kill). Every fifth
    // request names an unregistered audience, so denials are in the mix. A response
    // counts only once its whole body has been read.
    let answered: Arc<Mutex<BTreeMap<String, u16>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url) = (http.clone(), token_endpoint(&serve));
        let (form, answered, count) = (granted.clone(), answered.clone(), count.clone());
        let (client_id, client_secret) = (client_id.clone(), client_secret.clone());
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let mut form = (*form).clone();
                if (i + c) % 5 == 0 {
                    form[4].1 = "https://unregistered.example".into();
                }
                let sent = http
                    .post(&url)
                    .basic_auth(&client_id, Some(&client_secret))
                    .form(&form)
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                let status = response.status().as_u16();
                let Some(id) = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                else {
                    panic!("a {status} response without x-request-id");
                };
                if response.bytes().await.is_err() {
                    return;
                }
                answered.lock().unwrap().insert(id, status);
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "only {} responses in 60 s",
            count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill_9();
    for c in clients {
        c.await.unwrap();
    }
    let answered = std::mem::take(&mut *answered.lock().unwrap());
    let statuses: BTreeSet<u16> = answered.values().copied().collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&400),
        "granted and denied answers expected, got {statuses:?}"
    );

    // The same ports: a program that took one meanwhile fails the test with serve's message.
    let serve = ServeProcess::start(&dir, &serve_args(&dir, base));
    let admin = admin_url(&serve);
    let events = all_events(&http, &admin).await;
    let stored: BTreeMap<&str, &Value> = events
        .iter()
        .map(|e| (e["request_id"].as_str().unwrap(), e))
        .collect();
    let lost: Vec<&String> = answered
        .keys()
        .filter(|id| !stored.contains_key(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests have no event after the restart, e.g. {:?}",
        lost.len(),
        answered.len(),
        lost.first()
    );
    for (id, status) in &answered {
        let outcome = stored[id.as_str()]["outcome"].as_str().unwrap();
        let expected = if *status == 200 { "granted" } else { "denied" };
        assert_eq!(outcome, expected, "request {id} answered {status}");
    }

    // The exporter resumes from its stored cursor and catches up with every stored event,
    // including those whose responses never arrived and those written after the restart.
    let event_ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Whole lines only while the exporter may still be appending; a tail torn by the
        // kill is cut back by the restarted exporter before its next write.
        let text = std::fs::read_to_string(&export_file).unwrap_or_default();
        let whole = crate::support::whole_lines(&text);
        let mut lines: BTreeMap<String, String> = BTreeMap::new();
        for line in whole.lines() {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a torn or invalid exported line ({e}): {line}"));
            let id = event["event_id"].as_str().unwrap().to_owned();
            if let Some(first) = lines.insert(id.clone(), line.to_owned()) {
                assert_eq!(
                    first, line,
                    "a duplicate of {id} that differs from the first"
                );
            }
        }
        let exported: BTreeSet<&str> = lines.keys().map(String::as_str).collect();
        if event_ids.is_subset(&exported) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} stored events not exported within 30 s",
            event_ids.difference(&exported).count(),
            event_ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Caught up (nothing is written after the restart but reads): the file is whole.
    // The cursor advances just after the write, so the lag reaches 0 a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: Value = http
            .get(format!("{admin}/exporters/archive"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["lag"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the exporter lags: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&export_file).unwrap();
    assert!(
        text.ends_with('\n'),
        "the export file ends in a partial line"
    );
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "every exported line is a whole event"
    );
    eprintln!(
        "durability: {} responses read before the kill, {} events stored",
        answered.len(),
        events.len()
    );
}

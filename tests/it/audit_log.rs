//! The audit log through its public API: exact round trips, concurrent writers, group
//! commit, durability across a reopen.

use crate::support::TempDb;
use jagspec::Alg;
use jagspec::audit::{AuditError, AuditEvent, AuditLog, Outcome, ScopeOutcome, ScopeVerdict};
use std::collections::HashSet;

/// A granted event with every field set, narrowed: one scope granted, one denied.
fn full_event(id: &str) -> AuditEvent {
    AuditEvent {
        event_id: id.into(),
        request_id: format!("req-{id}"),
        time_ms: 1_800_000_000_123,
        grant_type: Some("urn:ietf:params:oauth:grant-type:token-exchange".into()),
        outcome: Outcome::Granted,
        status_detail: "Granted (narrowed)".into(),
        oauth_error: Some("none-really".into()),
        user: Some("alice".into()),
        client: Some("agent".into()),
        system: Some("https://as.example".into()),
        resource: Some("https://mcp.example/mcp".into()),
        scopes: vec![
            ScopeOutcome {
                scope: "chat.read".into(),
                outcome: ScopeVerdict::Granted,
                reason: None,
            },
            ScopeOutcome {
                scope: "chat.admin".into(),
                outcome: ScopeVerdict::Denied,
                reason: Some("No grant for the scope".into()),
            },
        ],
        token_id: Some(format!("jti-{id}")),
        signing_key_id: Some("es256-1".into()),
        algorithm: Some(Alg::ES256),
        lifetime_secs: Some(300),
    }
}

/// A denial with every optional field empty.
fn bare_event(id: &str) -> AuditEvent {
    AuditEvent {
        event_id: id.into(),
        request_id: format!("req-{id}"),
        time_ms: -1,
        status_detail: "Server paused".into(),
        oauth_error: None,
        ..AuditEvent::default()
    }
}

/// Records `n` events at once from `n` tokio tasks; returns the ids and each result.
async fn record_concurrently(
    log: &AuditLog,
    n: usize,
) -> (Vec<String>, Vec<Result<(), AuditError>>) {
    let ids: Vec<String> = (0..n).map(|i| format!("e{i:04}")).collect();
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let log = log.clone();
            let event = full_event(id);
            tokio::spawn(async move { log.record(event).await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    (ids, results)
}

#[tokio::test]
async fn an_event_with_every_field_set_round_trips_exactly() {
    let db = TempDb::new("audit-it");
    let log = AuditLog::open(db.path()).unwrap();
    let full = full_event("full");
    let bare = bare_event("bare");
    let mut eddsa = full_event("eddsa");
    eddsa.algorithm = Some(Alg::EdDSA);
    eddsa.lifetime_secs = Some(i64::MAX as u64);

    for event in [&full, &bare, &eddsa] {
        log.record(event.clone()).await.unwrap();
    }

    assert_eq!(log.find("full").unwrap().as_ref(), Some(&full));
    assert_eq!(log.find("bare").unwrap().as_ref(), Some(&bare));
    assert_eq!(log.find("missing").unwrap(), None);
    assert_eq!(log.events().unwrap(), vec![full, bare, eddsa]);
    assert_eq!(log.count().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_records_all_succeed_and_leave_exactly_five_hundred_rows() {
    let db = TempDb::new("audit-it");
    let log = AuditLog::open(db.path()).unwrap();

    let (ids, results) = record_concurrently(&log, 500).await;

    for (id, result) in ids.iter().zip(&results) {
        assert!(result.is_ok(), "{id}: {result:?}");
    }
    assert_eq!(log.count().unwrap(), 500);
    let stored: Vec<String> = log
        .events()
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(stored.len(), 500);
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), 500, "an event id is stored twice");
    assert_eq!(unique, ids.iter().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_share_transactions() {
    let db = TempDb::new("audit-it");
    let log = AuditLog::open(db.path()).unwrap();

    let (_, results) = record_concurrently(&log, 500).await;

    assert!(results.iter().all(Result::is_ok));
    // Every event was in a committed transaction, and a fsync was shared at least once.
    // The stricter bound holds because 500 tasks enqueue far faster than one fsync.
    let commits = log.commits();
    assert!(commits <= 500, "{commits} transactions for 500 events");
    assert!(
        log.largest_batch() > 1,
        "no transaction held more than one event"
    );
    assert!(
        commits < 250,
        "{commits} transactions for 500 events: no group commit"
    );
}

#[tokio::test]
async fn events_recorded_before_the_log_is_dropped_are_there_after_a_reopen() {
    let db = TempDb::new("audit-it");
    let log = AuditLog::open(db.path()).unwrap();
    let events: Vec<AuditEvent> = (0..50).map(|i| full_event(&format!("d{i}"))).collect();
    for event in &events {
        log.record(event.clone()).await.unwrap();
    }
    let clone = log.clone();
    drop(log);
    // A clone keeps the writer running.
    clone.record(bare_event("last")).await.unwrap();
    drop(clone);

    let reopened = AuditLog::open(db.path()).unwrap();

    let mut expected = events;
    expected.push(bare_event("last"));
    assert_eq!(reopened.events().unwrap(), expected);
    assert_eq!(reopened.commits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_event_id_fails_alone_and_its_batch_neighbours_are_recorded() {
    let db = TempDb::new("audit-it");
    let log = AuditLog::open(db.path()).unwrap();
    log.record(bare_event("e0007")).await.unwrap();

    // e0007 again, in among 99 fresh events that likely share its transaction.
    let (ids, results) = record_concurrently(&log, 100).await;

    for (id, result) in ids.iter().zip(&results) {
        match (id.as_str(), result) {
            ("e0007", Err(AuditError::Duplicate { event_id })) => assert_eq!(event_id, "e0007"),
            ("e0007", other) => panic!("expected Duplicate, got {other:?}"),
            (_, other) => assert!(other.is_ok(), "{id}: {other:?}"),
        }
    }
    assert_eq!(log.count().unwrap(), 100);
    assert_eq!(log.find("e0007").unwrap(), Some(bare_event("e0007")));
}

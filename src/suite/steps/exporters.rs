//! A system-log exporter the suite adds through the admin API, pointed at a SIEM sink the
//! suite serves on loopback, and what reaches it.

use super::super::http::MAX_ANSWER_BYTES;
use super::admin::admin_call;
use super::params::{Param, Parameter, Wait, present};
use super::system_log::list_events;
use super::system_log::{difference, system_log};
use super::{ADDS_EXPORTER, StepError, World, fail, show};
use crate::types::Secret;
use jagspec_macros::step;
use serde_json::Value;
use std::collections::BTreeMap;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    ADMINISTRATOR_ADDS_AN_EXPORTER,
    SINK_HOLDS_EVERY_EVENT,
    EXPORTER_HAS_CAUGHT_UP,
];

/// An exporter's envelope, as its configuration spells it.
pub(super) struct Envelope(&'static str);

impl Parameter for Envelope {
    const NAME: &'static str = "envelope";
    const REGEX: &'static str = "ndjson|splunk_hec";
}

impl Param for Envelope {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "ndjson" => Ok(Self("ndjson")),
            "splunk_hec" => Ok(Self("splunk_hec")),
            other => Err(format!("`{other}` is no exporter envelope")),
        }
    }
}

#[step(
    "the administrator adds an http exporter with the {envelope} envelope, pointed at a SIEM sink the suite runs",
    isolated = ADDS_EXPORTER
)]
async fn administrator_adds_an_exporter(
    world: &mut World,
    envelope: Envelope,
) -> Result<(), StepError> {
    add_exporter(world, envelope.0).await
}

#[step(
    "within {int} seconds the SIEM sink holds every event recorded since the exporter was added, every field as the system log lists it"
)]
async fn sink_holds_every_event(world: &mut World, wait: Wait) -> Result<(), StepError> {
    sink_holds_every_event_within(world, wait.0).await
}

#[step("within {int} seconds the exporter's status shows lag 0 and a last success")]
async fn exporter_has_caught_up(world: &mut World, wait: Wait) -> Result<(), StepError> {
    exporter_caught_up(world, wait.0).await
}

/// A SIEM sink the suite serves on loopback, and the exporter pointed at it.
pub(super) struct SuiteSiem {
    sink: std::sync::Arc<crate::mocks::siem::SiemSink>,
    /// Stops serving when the check's world is dropped.
    _served: crate::served::Served,
    exporter: String,
    hec: bool,
    /// The events the log held before the exporter was added: the seed promises what is
    /// recorded "from then on"; these may arrive too, but need not.
    before: std::collections::BTreeSet<String>,
}

/// Serves a SIEM sink on loopback and adds an `http` exporter pointed at it.
pub(super) async fn add_exporter(world: &mut World, envelope: &str) -> Result<(), StepError> {
    let before = list_events(world, &[])
        .await?
        .iter()
        .map(|e| show(&e["event_id"]))
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| fail("a loopback port for the SIEM sink", e.to_string()))?;
    let address = listener
        .local_addr()
        .map_err(|e| fail("the SIEM sink's address", e.to_string()))?;
    let token = Secret::new(format!("siem-{}", crate::oauth::random_id()));
    let sink = std::sync::Arc::new(crate::mocks::siem::SiemSink::new(
        Some(token.clone()),
        std::sync::Arc::new(crate::jose::SystemClock),
    ));
    let served = crate::served::Served::start(
        listener,
        std::sync::Arc::clone(&sink).router(),
        "the suite's SIEM sink",
        crate::served::ServeLimits::default(),
    );
    let hec = envelope == "splunk_hec";
    // Splunk's own collector path for its envelope; the NDJSON sink takes any path.
    let path = if hec {
        "/services/collector/event"
    } else {
        "/ingest"
    };
    let name = format!("suite-siem-{}", crate::oauth::random_id());
    let body = serde_json::json!({
        "name": name,
        "kind": "http",
        "url": format!("http://{address}{path}"),
        "bearer_token": token.secret(),
        "envelope": envelope,
        // Several deliveries, so batching is exercised as well.
        "batch_max": 2,
    });
    world.siem = Some(SuiteSiem {
        sink,
        _served: served,
        exporter: name,
        hec,
        before,
    });
    admin_call(world, reqwest::Method::POST, "/exporters", Some(body), true).await
}

/// How far the sink is from holding the system log.
pub(super) enum Delivered {
    All,
    Missing(String),
}

/// The events the sink received, by `event_id`, unwrapped from HEC envelopes; a malformed
/// one, or a duplicate that differs, fails at once.
pub(super) fn received_events(siem: &SuiteSiem) -> Result<BTreeMap<String, Value>, StepError> {
    let mut by_id = BTreeMap::new();
    for value in siem.sink.events() {
        let event = if siem.hec {
            let event = value["event"].clone();
            // HEC's `time` is epoch seconds; the envelope's must be the event's.
            if let Some(time) = value
                .get("time")
                .and_then(|t| t.as_str().map_or_else(|| t.as_f64(), |s| s.parse().ok()))
            {
                #[allow(clippy::cast_possible_truncation)]
                let ms = (time * 1000.0).round() as i64;
                if Some(ms) != event["time_ms"].as_i64() {
                    return Err(fail(
                        "a HEC envelope whose `time` is its event's `time_ms`",
                        crate::oauth::shorten(&value.to_string()),
                    ));
                }
            }
            event
        } else {
            value.clone()
        };
        let Some(id) = event["event_id"].as_str().map(str::to_owned) else {
            return Err(fail(
                if siem.hec {
                    "a HEC envelope with an `event` carrying an `event_id`"
                } else {
                    "an NDJSON line that is an event with an `event_id`"
                },
                crate::oauth::shorten(&value.to_string()),
            ));
        };
        match by_id.get(&id) {
            // At least once: a duplicate is allowed, but only of the same event.
            Some(first) if *first != event => {
                return Err(fail(
                    format!("every delivery of event `{id}` to be the same"),
                    difference(first, &event),
                ));
            }
            Some(_) => {}
            None => {
                by_id.insert(id, event);
            }
        }
    }
    Ok(by_id)
}

/// Compares the sink with the system log once: the sink is read first, so an event it
/// holds is already listed.
pub(super) async fn compare_sink(world: &World, siem: &SuiteSiem) -> Result<Delivered, StepError> {
    let received = received_events(siem)?;
    let listed = list_events(world, &[]).await?;
    if let Some(extra) = received
        .keys()
        .find(|id| !listed.iter().any(|e| e["event_id"] == id.as_str()))
    {
        return Err(fail(
            "only events the system log lists at the SIEM",
            format!("event `{extra}`, which the system log does not list"),
        ));
    }
    let mut missing = 0;
    let mut required = 0;
    for event in &listed {
        let id = show(&event["event_id"]);
        let since_added = !siem.before.contains(&id);
        required += usize::from(since_added);
        match received.get(&id) {
            None if since_added => missing += 1,
            None => {}
            Some(got) if got == event => {}
            Some(got) => {
                return Err(fail(
                    format!("event `{id}` at the SIEM as the system log lists it"),
                    difference(event, got),
                ));
            }
        }
    }
    Ok(if missing == 0 {
        Delivered::All
    } else {
        Delivered::Missing(format!(
            "{missing} of the {required} events recorded since the exporter was added not \
             delivered"
        ))
    })
}

/// Waits, up to `secs`, until the sink holds every event recorded since the exporter was
/// added, each as the system log lists it.
async fn sink_holds_every_event_within(world: &World, secs: u64) -> Result<(), StepError> {
    let siem = world
        .siem
        .as_ref()
        .ok_or_else(|| fail("a SIEM sink started by an earlier step", "none"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let why = match compare_sink(world, siem).await? {
            Delivered::All => return Ok(()),
            Delivered::Missing(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            let status = exporter_status(world, siem).await?;
            return Err(fail(
                format!(
                    "every event recorded since the exporter was added at the SIEM within {secs} s"
                ),
                format!(
                    "{why}; the exporter's last error: {}",
                    show(&status["last_error"])
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub(super) async fn exporter_status(world: &World, siem: &SuiteSiem) -> Result<Value, StepError> {
    let admin = system_log(world)?;
    let path = format!("/exporters/{}", siem.exporter);
    Ok(admin.get(&path, MAX_ANSWER_BYTES).await?.json())
}

/// Waits, up to `secs`, until the exporter's status shows nothing left to deliver, a
/// success and no error.
pub(super) async fn exporter_caught_up(world: &World, secs: u64) -> Result<(), StepError> {
    let siem = world
        .siem
        .as_ref()
        .ok_or_else(|| fail("an exporter added by an earlier step", "none"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let status = exporter_status(world, siem).await?;
        if status["lag"] == 0
            && status["last_success_ms"].is_i64()
            && status["last_error"].is_null()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(fail(
                format!("within {secs} s: lag 0, a last success and no error"),
                format!(
                    "lag {}, last_success_ms {}, last_error {}",
                    show(&status["lag"]),
                    show(&status["last_success_ms"]),
                    show(&status["last_error"])
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

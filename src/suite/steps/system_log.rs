//! The issuer's system log through its admin API: every field of a request's event, the
//! filters, the NDJSON and CSV downloads, the algorithm and key an event records, and
//! counting events.

use super::audit::{audit_event, token_fields_match};
use super::params::{Param, Parameter, present};
use super::signin::subject_sub;
use super::{
    COUNTS_LOG, StepError, World, admin_of, claim_list, expect_eq, fail, read_json, role, show,
    verified_alg,
};
use crate::http::admin::AdminClient;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[
    EVENT_RECORDS_EVERY_FIELD,
    FILTERING_FINDS_THE_EVENT,
    DOWNLOAD_HOLDS_THE_EVENT,
    EVENT_RECORDS_THE_VERIFIED_ALG,
    EVENT_RECORDS_ANOTHER_ALG,
    EVENT_RECORDS_THE_PUBLISHED_KEY,
    EVENTS_ARE_NOTED,
    ONE_EVENT_MORE,
];

/// The event fields (also the filters' names) of "user, client, system and outcome".
pub(super) struct Filters(Vec<&'static str>);

impl Parameter for Filters {
    const NAME: &'static str = "filters";
    const REGEX: &'static str = ".+";
}

impl Param for Filters {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        filter_fields(present(capture)?).map(Self)
    }
}

/// A download format of the system log.
pub(super) struct Format(&'static str);

impl Parameter for Format {
    const NAME: &'static str = "format";
    const REGEX: &'static str = "NDJSON|CSV";
}

impl Param for Format {
    fn parse(capture: Option<&str>) -> Result<Self, String> {
        match present(capture)? {
            "NDJSON" => Ok(Self("NDJSON")),
            "CSV" => Ok(Self("CSV")),
            other => Err(format!("`{other}` is no download format")),
        }
    }
}

#[step("the system log's event of the request records every field of the audit page")]
async fn event_records_every_field(world: &mut World) -> Result<(), StepError> {
    audit_records_every_field(world).await
}

#[step("filtering the system log by its {filters} lists the event, and only events that match")]
async fn filtering_finds_the_event(world: &mut World, filters: Filters) -> Result<(), StepError> {
    filter_finds(world, &filters.0).await
}

#[step("the system log's {format} download holds the event with every field unchanged")]
async fn download_holds_the_event(world: &mut World, format: Format) -> Result<(), StepError> {
    download_holds(world, format.0).await
}

#[step(
    "the system log's event of the request records the algorithm its authorization server verifies"
)]
async fn event_records_the_verified_alg(world: &mut World) -> Result<(), StepError> {
    audit_alg_against_as(world, true).await
}

#[step(
    "the system log's event of the request records an algorithm other than the one its authorization server verifies"
)]
async fn event_records_another_alg(world: &mut World) -> Result<(), StepError> {
    audit_alg_against_as(world, false).await
}

#[step(
    "the system log's event of the request records the key the issuer's JWKS publishes for that algorithm"
)]
async fn event_records_the_published_key(world: &mut World) -> Result<(), StepError> {
    audit_key_in_jwks(world).await
}

#[step("the system log's events so far are noted", isolated = COUNTS_LOG)]
async fn events_are_noted(world: &mut World) -> Result<(), StepError> {
    let events = list_events(world, &[]).await?;
    world.noted_events = Some(events.iter().map(|e| show(&e["event_id"])).collect());
    Ok(())
}

#[step("the system log holds one event more than was noted, the request's")]
async fn one_event_more(world: &mut World) -> Result<(), StepError> {
    one_more_event(world).await
}

/// The most a step reads of one page of the system log (up to 1000 events) or of one
/// download of it.
pub(super) const MAX_LOG_BYTES: usize = 32 * 1024 * 1024;

/// The system log as jagspec's admin API serves it (docs/admin-api.md): filters, pages,
/// downloads and exporters. A profile's `[audit] events_url` reads one request's events
/// only, so these steps skip there.
pub(super) fn system_log(world: &World) -> Result<AdminClient, StepError> {
    let access = world.target.admin.as_ref().ok_or_else(|| {
        StepError::Skip(
            "the target's system log is read by request id only (a profile's `[audit] \
             events_url`): filtering, downloading and counting it need jagspec's admin API"
                .into(),
        )
    })?;
    admin_of(world, access)
}

/// Every event the system log lists under `filters`, oldest first, following each next
/// page to the last.
pub(super) async fn list_events(
    world: &World,
    filters: &[(&str, &str)],
) -> Result<Vec<Value>, StepError> {
    let admin = system_log(world)?;
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    // A bound, so a target whose every page names a next one fails instead of looping.
    for _ in 0..1000 {
        // Built before any await: the serializer is not `Send`.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in filters {
                query.append_pair(name, value);
            }
            query.append_pair("limit", "1000");
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
            query.finish()
        };
        let answer = admin
            .get(&format!("/audit-events?{query}"), MAX_LOG_BYTES)
            .await?;
        let page = answer.json();
        let Some(page) = page.as_array() else {
            return Err(fail(
                format!("a JSON array of audit events from {}", answer.request),
                crate::oauth::shorten(&answer.text),
            ));
        };
        events.extend(page.iter().cloned());
        match answer.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(events),
        }
    }
    Err(fail(
        "the system log's last page within 1000 pages",
        "a next page named on every one",
    ))
}

/// The event fields (also the filters' names) of "user, client, system and outcome".
fn filter_fields(list: &str) -> Result<Vec<&'static str>, String> {
    claim_list(list)
        .iter()
        .map(|name| match name.as_str() {
            "user" => Ok("user"),
            "client" => Ok("client"),
            "system" => Ok("system"),
            "outcome" => Ok("outcome"),
            "status detail" => Ok("status_detail"),
            other => Err(format!("`{other}` is no field the system log filters by")),
        })
        .collect()
}

/// Each filter alone, with the request's own value, lists the request's event as the
/// request id showed it, and lists nothing the filter should have left out.
async fn filter_finds(world: &World, fields: &[&'static str]) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let id = show(&event["event_id"]);
    for &field in fields {
        let Some(value) = event[field].as_str() else {
            return Err(fail(
                format!("the request's event to record a `{field}` to filter by"),
                show(&event[field]),
            ));
        };
        let listed = list_events(world, &[(field, value)]).await?;
        if let Some(other) = listed.iter().find(|e| e[field].as_str() != Some(value)) {
            return Err(fail(
                format!("only events whose `{field}` is `{value}` under `?{field}=`"),
                format!(
                    "event `{}` with `{field}` `{}`",
                    show(&other["event_id"]),
                    show(&other[field])
                ),
            ));
        }
        match listed.iter().find(|e| e["event_id"] == event["event_id"]) {
            Some(found) if *found == event => {}
            Some(found) => {
                return Err(fail(
                    format!("event `{id}` under `?{field}=` as the request id shows it"),
                    difference(&event, found),
                ));
            }
            None => {
                return Err(fail(
                    format!("the request's event `{id}` under `?{field}={value}`"),
                    format!("{} events, not that one", listed.len()),
                ));
            }
        }
    }
    Ok(())
}

/// The first field where `found` differs from `want`, for a finding.
pub(super) fn difference(want: &Value, found: &Value) -> String {
    let (Some(w), Some(f)) = (want.as_object(), found.as_object()) else {
        return format!("`{found}`");
    };
    w.keys()
        .chain(f.keys().filter(|k| !w.contains_key(*k)))
        .find(|k| w.get(*k) != f.get(*k))
        .map_or_else(
            || "the same event".to_owned(),
            |k| {
                format!(
                    "`{k}` is `{}` where the system log has `{}`",
                    f.get(k).map_or_else(|| "absent".to_owned(), show),
                    w.get(k).map_or_else(|| "absent".to_owned(), show)
                )
            },
        )
}

/// The download of the request's event (`?request_id=`), in `format`, holds exactly that
/// event with every field as the listing shows it.
pub(super) async fn download_holds(world: &World, format: &str) -> Result<(), StepError> {
    let admin = system_log(world)?;
    let event = audit_event(world).await?;
    let format = format.to_ascii_lowercase();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("format", &format)
        .append_pair("request_id", &show(&event["request_id"]))
        .finish();
    let text = admin
        .get(&format!("/audit-events/export?{query}"), MAX_LOG_BYTES)
        .await?
        .text;
    if format == "ndjson" {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let [line] = lines.as_slice() else {
            return Err(fail(
                "one NDJSON line for the request",
                format!("{} lines", lines.len()),
            ));
        };
        let found: Value = serde_json::from_str(line)
            .map_err(|e| fail("a JSON event on the NDJSON line", e.to_string()))?;
        return if found == event {
            Ok(())
        } else {
            Err(fail(
                "the NDJSON line to be the listed event",
                difference(&event, &found),
            ))
        };
    }
    let rows = parse_csv(&text);
    let (Some(header), [row]) = (rows.first(), rows.get(1..).unwrap_or_default()) else {
        return Err(fail(
            "a CSV header and one row for the request",
            format!("{} rows", rows.len()),
        ));
    };
    let Some(fields) = event.as_object() else {
        return Err(fail("a JSON object for the event", event.to_string()));
    };
    for (name, value) in fields {
        let want = csv_field(name, value);
        let Some(at) = header.iter().position(|h| h == name) else {
            return Err(fail(
                format!("a `{name}` column in the CSV header"),
                header.join(","),
            ));
        };
        let found = row.get(at).map_or("(no such field)", String::as_str);
        expect_eq(&format!("CSV column `{name}`"), &want, found)?;
    }
    Ok(())
}

/// An event field as the CSV download writes it (docs/admin-api.md): `scopes` as
/// `scope:outcome` items, an absent value empty, text that a spreadsheet would run as a
/// formula behind a `'`.
pub(super) fn csv_field(name: &str, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(items) if name == "scopes" => items
            .iter()
            .map(|s| format!("{}:{}", show(&s["scope"]), show(&s["outcome"])))
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        other => show(other),
    }
}

/// RFC 4180 records, read by the `csv` crate: every row, the header included, and a row
/// that is not RFC 4180 ends the list (the step then finds too few rows).
pub(super) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map_while(Result::ok)
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect()
}

/// The audit page's table for the request's event, each field against what was asked and
/// what was issued: user, client, system, every requested scope with its outcome, the
/// outcome; on a grant the ID-JAG's token ID, key ID, algorithm and lifetime; on a denial
/// a status detail and no token fields (no token was issued).
pub(super) async fn audit_records_every_field(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let role = role(world)?;
    let exchange = world
        .exchange
        .as_ref()
        .ok_or_else(|| fail("a token exchange made by an earlier step", "none"))?;
    let pairs = [
        ("user", subject_sub(world)?),
        ("client", world.target.client.client_id.clone()),
        ("system", role.audience.clone()),
    ];
    for (field, want) in pairs {
        let found = event[field].as_str().unwrap_or("absent");
        expect_eq(&format!("the event's `{field}`"), &want, found)?;
    }
    let granted = exchange.status == 200;
    let requested = world.requested_scope.clone().unwrap_or(role.scope);
    let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    // RFC 6749 §5.1: an absent `scope` is the scope requested.
    let granted_scopes: Vec<&str> = match exchange.body["scope"].as_str() {
        _ if !granted => Vec::new(),
        Some(s) => s.split(' ').collect(),
        None => requested.clone(),
    };
    let mut want: Vec<String> = requested
        .iter()
        .map(|s| {
            let outcome = if granted_scopes.contains(s) {
                "granted"
            } else {
                "denied"
            };
            format!("{s}:{outcome}")
        })
        .collect();
    let mut found: Vec<String> = event["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{}:{}", show(&s["scope"]), show(&s["outcome"])))
        .collect();
    want.sort();
    found.sort();
    expect_eq(
        "the event's scopes with their outcomes",
        &want.join(" "),
        &found.join(" "),
    )?;
    let outcome = if granted { "granted" } else { "denied" };
    expect_eq(
        "the event's outcome",
        outcome,
        event["outcome"].as_str().unwrap_or("absent"),
    )?;
    if granted {
        return token_fields_match(world, &event);
    }
    for field in ["token_id", "signing_key_id", "algorithm", "lifetime_secs"] {
        if !event[field].is_null() {
            return Err(fail(
                format!("no `{field}` on a denial, which issues no token"),
                show(&event[field]),
            ));
        }
    }
    if event["status_detail"].as_str().is_none_or(str::is_empty) {
        return Err(fail(
            "a status detail naming the denial's cause",
            show(&event["status_detail"]),
        ));
    }
    Ok(())
}

/// The issuance record's algorithm against the one the authorization server verifies:
/// equal (`same`), or different (the cause of a signature rejection).
pub(super) async fn audit_alg_against_as(world: &World, same: bool) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let verifies = verified_alg(world)?;
    let Some(recorded) = event["algorithm"].as_str() else {
        return Err(fail(
            "an algorithm in the issuance record",
            show(&event["algorithm"]),
        ));
    };
    if same {
        return expect_eq("the recorded algorithm", verifies.as_str(), recorded);
    }
    if recorded == verifies.as_str() {
        return Err(fail(
            format!(
                "a recorded algorithm other than {verifies}, the one the authorization server verifies"
            ),
            format!("`{recorded}`"),
        ));
    }
    Ok(())
}

/// The issuance record's key ID is a key the issuer's JWKS publishes, for the recorded
/// algorithm (found by discovery, as an authorization server finds it).
pub(super) async fn audit_key_in_jwks(world: &World) -> Result<(), StepError> {
    let event = audit_event(world).await?;
    let (Some(kid), Some(alg)) = (
        event["signing_key_id"].as_str(),
        event["algorithm"].as_str(),
    ) else {
        return Err(fail(
            "a signing key ID and an algorithm in the issuance record",
            format!(
                "`{}` and `{}`",
                show(&event["signing_key_id"]),
                show(&event["algorithm"])
            ),
        ));
    };
    let jwks = issuer_jwks(world).await?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let Some(key) = keys.iter().find(|k| k["kid"] == kid) else {
        let kids: Vec<String> = keys.iter().map(|k| show(&k["kid"])).collect();
        return Err(fail(
            format!("the issuer's JWKS to publish the recorded key `{kid}`"),
            format!("the kids {}", kids.join(", ")),
        ));
    };
    // A JWK's `alg` is optional (RFC 7517 §4.4); its key type must fit either way.
    if let Some(published) = key["alg"].as_str() {
        expect_eq(&format!("the `alg` of JWK `{kid}`"), alg, published)?;
    }
    let fits = match alg {
        "ES256" => key["kty"] == "EC" && key["crv"] == "P-256",
        "RS256" => key["kty"] == "RSA",
        "EdDSA" => key["kty"] == "OKP" && key["crv"] == "Ed25519",
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(fail(
            format!("JWK `{kid}` to be a key for {alg}"),
            format!("kty `{}`, crv `{}`", show(&key["kty"]), show(&key["crv"])),
        ))
    }
}

/// The issuer's JWKS, through its metadata's `jwks_uri` (RFC 8414).
pub(super) async fn issuer_jwks(world: &World) -> Result<Value, StepError> {
    let candidates = crate::wellknown::authorization_server_candidates(&world.target.issuer)
        .map_err(|e| fail("the issuer's metadata URL", e.to_string()))?;
    let mut tried = Vec::new();
    for url in candidates {
        let Ok(response) = world.http.send(world.http.get(&url)).await else {
            tried.push(format!("{url}: no answer"));
            continue;
        };
        let status = response.status();
        let metadata = read_json(&world.http, response, &format!("GET {url}")).await?;
        let Some(jwks_uri) = metadata["jwks_uri"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            tried.push(format!("{url}: HTTP {status} without `jwks_uri`"));
            continue;
        };
        let response = world
            .http
            .send(world.http.get(jwks_uri))
            .await
            .map_err(|e| fail(format!("GET {jwks_uri}"), e.to_string()))?;
        let status = response.status();
        let jwks = read_json(&world.http, response, &format!("GET {jwks_uri}")).await?;
        return if status.is_success() && jwks["keys"].is_array() {
            Ok(jwks)
        } else {
            Err(fail(
                format!("a JWKS from {jwks_uri}"),
                format!(
                    "HTTP {status}: {}",
                    crate::oauth::shorten(&jwks.to_string())
                ),
            ))
        };
    }
    Err(fail(
        "the issuer's metadata with a `jwks_uri`",
        tried.join("; "),
    ))
}

/// Exactly one event was written since the log was noted: the last token exchange's.
pub(super) async fn one_more_event(world: &World) -> Result<(), StepError> {
    let noted = world
        .noted_events
        .as_ref()
        .ok_or_else(|| fail("the system log noted by an earlier step", "none"))?;
    let event = audit_event(world).await?;
    let all = list_events(world, &[]).await?;
    let new: Vec<&Value> = all
        .iter()
        .filter(|e| !noted.contains(&show(&e["event_id"])))
        .collect();
    if let [one] = new.as_slice()
        && **one == event
    {
        return Ok(());
    }
    let shown: Vec<String> = new
        .iter()
        .map(|e| {
            format!(
                "{} {} (request {})",
                show(&e["grant_type"]),
                show(&e["outcome"]),
                show(&e["request_id"])
            )
        })
        .collect();
    Err(fail(
        format!(
            "one new event, the token exchange's (request {})",
            show(&event["request_id"])
        ),
        format!("{} new: {}", new.len(), shown.join("; ")),
    ))
}

//! The system log's download formats: NDJSON (one event per line, exactly the admin API's
//! JSON) and CSV (RFC 4180, for spreadsheets). The admin API's export and `jagspec logs`
//! both write through here, so the two never differ.

use super::event::AuditEvent;
use super::rfc3339;

/// The CSV header row: the event's fields in the order of [`AuditEvent`], with `time`
/// (RFC 3339, UTC) after `time_ms` and `scope_reasons` after `scopes`.
pub(crate) const CSV_COLUMNS: [&str; 18] = [
    "event_id",
    "request_id",
    "time_ms",
    "time",
    "grant_type",
    "outcome",
    "status_detail",
    "oauth_error",
    "user",
    "client",
    "system",
    "resource",
    "scopes",
    "scope_reasons",
    "token_id",
    "signing_key_id",
    "algorithm",
    "lifetime_secs",
];

/// Appends `event` as one NDJSON line (its JSON, then `\n`).
pub(crate) fn ndjson_line(out: &mut Vec<u8>, event: &AuditEvent) {
    // An event is strings, integers and enums: it always encodes.
    if serde_json::to_writer(&mut *out, event).is_ok() {
        out.push(b'\n');
    }
}

/// Appends one record, RFC 4180 as the `csv` crate writes it: CRLF after each record, and
/// a field holding a comma, a double quote, CR or LF enclosed in double quotes with each
/// double quote inside doubled (§2).
fn record<'a>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>) {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(1024)
        .from_writer(out);
    // Writing into a Vec fails only when memory does.
    let _ = writer.write_record(fields);
    let _ = writer.flush();
}

/// Appends the CSV header row, ending in CRLF (RFC 4180 §2).
pub(crate) fn csv_header(out: &mut Vec<u8>) {
    record(out, CSV_COLUMNS);
}

/// Appends `event` as one CSV row, ending in CRLF.
///
/// `scopes` is each requested scope as `scope:outcome` (`granted` or `denied`), joined by
/// single spaces in request order: scope tokens hold no spaces (RFC 6749 §3.3), and the
/// outcome follows the item's *last* colon (a scope may contain colons). `scope_reasons`
/// is, for each scope with a reason, `scope: reason`, joined by `; `, for people to read.
/// An absent value is an empty field.
pub(crate) fn csv_row(out: &mut Vec<u8>, event: &AuditEvent) {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let scopes = event
        .scopes
        .iter()
        .map(|s| format!("{}:{}", s.scope, s.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    let reasons = event
        .scopes
        .iter()
        .filter_map(|s| s.reason.as_ref().map(|r| format!("{}: {r}", s.scope)))
        .collect::<Vec<_>>()
        .join("; ");
    // Numbers and times are written as they are (`-1` is a number); every text field is
    // neutralised against spreadsheet formulas.
    let fields: [(String, bool); 18] = [
        (event.event_id.clone(), true),
        (event.request_id.clone(), true),
        (event.time_ms.to_string(), false),
        (rfc3339::format_ms(event.time_ms), false),
        (text(&event.grant_type), true),
        (event.outcome.as_str().to_owned(), true),
        (event.status_detail.clone(), true),
        (text(&event.oauth_error), true),
        (text(&event.user), true),
        (text(&event.client), true),
        (text(&event.system), true),
        (text(&event.resource), true),
        (scopes, true),
        (reasons, true),
        (text(&event.token_id), true),
        (text(&event.signing_key_id), true),
        (
            event
                .algorithm
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            true,
        ),
        (
            event
                .lifetime_secs
                .map(|l| l.to_string())
                .unwrap_or_default(),
            false,
        ),
    ];
    let fields: Vec<String> = fields
        .into_iter()
        .map(|(value, is_text)| neutralised(value, is_text))
        .collect();
    record(out, fields.iter().map(String::as_str));
}

/// A text field starting with `=`, `+`, `-`, `@`, tab or CR is a formula to a spreadsheet
/// (OWASP, "CSV Injection"). The audience, resource and scopes are whatever the token
/// request sent, so such a field gets a leading `'` first.
fn neutralised(value: String, is_text: bool) -> String {
    if is_text && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, ScopeOutcome, ScopeVerdict};

    fn row(event: &AuditEvent) -> String {
        let mut out = Vec::new();
        csv_row(&mut out, event);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        let event = AuditEvent {
            event_id: "e1".into(),
            request_id: "r1".into(),
            time_ms: 1_800_000_000_000,
            status_detail: "Audience not registered".into(),
            system: Some("https://as.example/a,\"b\"".into()),
            resource: Some("line\r\nbreak".into()),
            ..AuditEvent::default()
        };
        assert_eq!(
            row(&event),
            "e1,r1,1800000000000,2027-01-15T08:00:00.000Z,,denied,Audience not registered,,,,\
             \"https://as.example/a,\"\"b\"\"\",\"line\r\nbreak\",,,,,,\r\n"
        );
    }

    #[test]
    fn scopes_are_scope_colon_outcome_and_reasons_a_separate_column() {
        let event = AuditEvent {
            outcome: Outcome::Granted,
            scopes: vec![
                ScopeOutcome {
                    scope: "chat:read".into(),
                    outcome: ScopeVerdict::Granted,
                    reason: None,
                },
                ScopeOutcome {
                    scope: "chat.admin".into(),
                    outcome: ScopeVerdict::Denied,
                    reason: Some("Scope not enabled".into()),
                },
            ],
            ..AuditEvent::default()
        };
        let text = row(&event);
        assert!(
            text.contains(",chat:read:granted chat.admin:denied,chat.admin: Scope not enabled,"),
            "{text}"
        );
    }

    #[test]
    fn a_requested_value_that_a_spreadsheet_would_run_as_a_formula_is_neutralised() {
        let event = AuditEvent {
            time_ms: -1,
            system: Some("=HYPERLINK(\"http://evil\")".into()),
            resource: Some("@SUM(1)".into()),
            ..AuditEvent::default()
        };
        let text = row(&event);
        assert!(text.contains(",-1,1969-12-31T23:59:59.999Z,"), "{text}");
        assert!(
            text.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\",'@SUM(1),"),
            "{text}"
        );
    }

    #[test]
    fn the_header_names_every_column_once_and_ends_in_crlf() {
        let mut out = Vec::new();
        csv_header(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("event_id,request_id,time_ms,time,"),
            "{text}"
        );
        assert!(text.ends_with(",algorithm,lifetime_secs\r\n"), "{text}");
        assert_eq!(text.trim_end().split(',').count(), CSV_COLUMNS.len());
    }

    #[test]
    fn an_ndjson_line_is_the_event_json_and_a_newline() {
        let event = AuditEvent {
            event_id: "e1".into(),
            ..AuditEvent::default()
        };
        let mut out = Vec::new();
        ndjson_line(&mut out, &event);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
        let back: AuditEvent = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back, event);
    }
}

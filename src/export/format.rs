//! How an audit event looks on each exporter's wire. Pure functions, tested without a
//! network: NDJSON (one event per line, as the system log's download), Splunk HEC's event
//! envelope, and RFC 5424 syslog messages with RFC 6587 octet-counting framing.

use crate::audit::AuditEvent;

/// One event as a JSON object (the admin API's shape; `event_id` lets a receiver drop
/// duplicates of an at-least-once delivery).
pub fn event_json(event: &AuditEvent) -> serde_json::Value {
    serde_json::to_value(event).unwrap_or(serde_json::Value::Null)
}

/// Events as NDJSON: one JSON object per line, each line ending in `\n` (the same lines
/// as the system log's NDJSON download).
pub fn ndjson(events: &[AuditEvent]) -> String {
    let mut out = Vec::new();
    for e in events {
        crate::audit::export::ndjson_line(&mut out, e);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Events in Splunk HTTP Event Collector's envelope, one per line (HEC accepts
/// concatenated event objects): `time` in seconds with milliseconds, `source`,
/// `sourcetype`, and the event itself.
pub fn splunk_hec(events: &[AuditEvent]) -> String {
    let mut out = String::new();
    for e in events {
        let envelope = serde_json::json!({
            // HEC's epoch seconds, with the milliseconds as a fraction.
            "time": format!("{}.{:03}", e.time_ms.div_euclid(1000), e.time_ms.rem_euclid(1000)),
            "host": "jagspec",
            "source": "jagspec:system-log",
            "sourcetype": "_json",
            "event": event_json(e),
        });
        out.push_str(&envelope.to_string());
        out.push('\n');
    }
    out
}

/// RFC 5424 §6.2.1: facility 13 is "log audit".
const FACILITY_LOG_AUDIT: u8 = 13;
/// The structured-data ID: `name@` an enterprise number; 32473 is the number RFC 5612
/// reserves for documentation and examples, which is what a test tool should use.
pub const SD_ID: &str = "jagspec@32473";

/// One event as an RFC 5424 syslog message:
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM JSON`.
///
/// * PRI: facility 13 (log audit); severity 6 (informational) for a grant, 5 (notice) for
///   a denial.
/// * MSGID `token-request`; PROCID `-`.
/// * STRUCTURED-DATA `[jagspec@32473 …]`: every field of the audit page as a parameter,
///   escaped per §6.3.3, so a receiver can index them without parsing the message.
/// * MSG: the event as JSON, UTF-8 with the BOM §6.4 asks for.
pub fn syslog_5424(event: &AuditEvent, hostname: &str, app_name: &str) -> String {
    let severity: u8 = match event.outcome {
        crate::audit::Outcome::Granted => 6,
        crate::audit::Outcome::Denied => 5,
    };
    let pri = FACILITY_LOG_AUDIT * 8 + severity;
    let timestamp = crate::audit::rfc3339::format_ms(event.time_ms);
    let scopes: Vec<String> = event
        .scopes
        .iter()
        .map(|s| format!("{}:{}", s.scope, s.outcome.as_str()))
        .collect();
    let scopes = scopes.join(" ");
    let lifetime = event.lifetime_secs.map(|l| l.to_string());
    let algorithm = event.algorithm.map(|a| a.as_str().to_owned());
    let params: [(&str, Option<&str>); 15] = [
        ("event_id", Some(&event.event_id)),
        ("request_id", Some(&event.request_id)),
        ("outcome", Some(event.outcome.as_str())),
        ("status_detail", Some(&event.status_detail)),
        ("oauth_error", event.oauth_error.as_deref()),
        ("grant_type", event.grant_type.as_deref()),
        ("user", event.user.as_deref()),
        ("client", event.client.as_deref()),
        ("system", event.system.as_deref()),
        ("resource", event.resource.as_deref()),
        ("scopes", Some(scopes.as_str()).filter(|s| !s.is_empty())),
        ("token_id", event.token_id.as_deref()),
        ("signing_key_id", event.signing_key_id.as_deref()),
        ("algorithm", algorithm.as_deref()),
        ("lifetime_secs", lifetime.as_deref()),
    ];
    let mut sd = format!("[{SD_ID}");
    for (name, value) in params {
        if let Some(v) = value {
            sd.push_str(&format!(" {name}=\"{}\"", sd_escape(v)));
        }
    }
    sd.push(']');
    format!(
        "<{pri}>1 {timestamp} {} {} - token-request {sd} \u{feff}{}",
        header_field(hostname, 255),
        header_field(app_name, 48),
        event_json(event)
    )
}

/// RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes.
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` are escaped with a backslash in a PARAM-VALUE.
fn sd_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field is printable US-ASCII without spaces, at most `max` characters (§6.2:
/// 255 for HOSTNAME, 48 for APP-NAME), `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let cleaned: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, ScopeOutcome, ScopeVerdict};

    fn event() -> AuditEvent {
        AuditEvent {
            event_id: "ev-1".into(),
            request_id: "req-1".into(),
            time_ms: 1_800_000_000_123,
            outcome: Outcome::Denied,
            status_detail: "No grant for the scope".into(),
            oauth_error: Some("invalid_scope".into()),
            user: Some("alice".into()),
            client: Some("agent".into()),
            system: Some("https://as.example/\"x]\\".into()),
            scopes: vec![ScopeOutcome {
                scope: "chat.write".into(),
                outcome: ScopeVerdict::Denied,
                reason: None,
            }],
            ..AuditEvent::default()
        }
    }

    #[test]
    fn a_denial_is_a_notice_of_the_log_audit_facility_with_every_field_escaped() {
        let m = syslog_5424(&event(), "host 1", "jagspec");
        assert!(m.starts_with("<109>1 2027-01-15T08:00:00.123Z host1 jagspec - token-request [jagspec@32473 event_id=\"ev-1\" request_id=\"req-1\" outcome=\"denied\" status_detail=\"No grant for the scope\" oauth_error=\"invalid_scope\" user=\"alice\" client=\"agent\" system=\"https://as.example/\\\"x\\]\\\\\" scopes=\"chat.write:denied\"] \u{feff}{"), "{m}");
        let json = m.split('\u{feff}').nth(1).unwrap();
        let back: AuditEvent = serde_json::from_str(json).unwrap();
        assert_eq!(back, event());
    }

    #[test]
    fn a_grant_is_informational_and_octet_counting_counts_bytes_not_characters() {
        let mut e = event();
        e.outcome = Outcome::Granted;
        let m = syslog_5424(&e, "", "");
        assert!(
            m.starts_with("<110>1 2027-01-15T08:00:00.123Z - - - token-request "),
            "{m}"
        );
        let framed = octet_counted("é");
        assert_eq!(framed, "2 é");
    }

    #[test]
    fn ndjson_and_hec_put_one_event_per_line_with_its_id() {
        let lines = ndjson(&[event(), event()]);
        assert_eq!(lines.lines().count(), 2);
        assert!(lines.ends_with('\n'));
        let hec = splunk_hec(&[event()]);
        let v: serde_json::Value = serde_json::from_str(hec.trim()).unwrap();
        assert_eq!(v["time"], "1800000000.123");
        assert_eq!(v["event"]["event_id"], "ev-1");
        assert_eq!(v["sourcetype"], "_json");
    }

    #[test]
    fn a_hostname_keeps_up_to_255_characters_and_an_app_name_48() {
        let host = "h".repeat(300);
        let app = "a".repeat(60);
        let message = syslog_5424(&event(), &host, &app);
        let fields: Vec<&str> = message.split(' ').take(4).collect();
        assert_eq!(fields[2], "h".repeat(255));
        assert_eq!(fields[3], "a".repeat(48));
        let message = syslog_5424(&event(), " ", "");
        assert_eq!(message.split(' ').nth(2), Some("-"));
    }
}

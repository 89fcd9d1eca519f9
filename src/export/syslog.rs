//! Delivery to a syslog collector over TCP: each event one RFC 5424 message
//! ([`format::syslog_5424`]), framed by RFC 6587 §3.4.1 octet counting, the batch written
//! on a fresh connection that is then flushed and shut down.
//!
//! A connection per batch: a kept-alive socket can die silently (a collector restart, a
//! NAT or firewall timeout) and the next write into it still succeeds locally, so a batch
//! would be counted as delivered into a dead socket. A fresh connection fails loudly at
//! `connect` instead, and a batch is at most [`crate::export::MAX_BATCH_MAX`] messages.
//!
//! TCP syslog has no application acknowledgement (RFC 6587 has none to offer), so a batch
//! counts as delivered once its bytes are written, flushed and the socket shut down
//! cleanly: the kernel has them and the collector did not refuse the connection. A
//! collector that crashes before processing bytes it had already received loses them;
//! RELP (a protocol with acknowledgements) would be the remedy, and is not offered.

use super::config::DEFAULT_SYSLOG_APP_NAME;
use super::format;
use crate::audit::AuditEvent;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// RFC 5424 §6.2.4's limit on HOSTNAME.
const MAX_HOSTNAME_LEN: usize = 255;

/// Sends `events` to the collector at `address` (`host:port`), one octet-counted message
/// each. `timeout` bounds the connect, and then the write, flush and shutdown together.
/// `Err` says what failed, naming the address.
pub(crate) async fn deliver(
    address: &str,
    hostname: Option<&str>,
    app_name: Option<&str>,
    timeout: Duration,
    events: &[AuditEvent],
) -> Result<(), String> {
    let bytes = frames(
        events,
        hostname.unwrap_or_else(|| local_hostname()),
        app_name.unwrap_or(DEFAULT_SYSLOG_APP_NAME),
    );
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(format!("cannot connect to {address}: {e}")),
        Err(_) => {
            return Err(format!(
                "cannot connect to {address}: no connection within {timeout:?}"
            ));
        }
    };
    let sent = async {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        // A clean FIN: the collector sees the end of the last frame, not a reset.
        stream.shutdown().await
    };
    match tokio::time::timeout(timeout, sent).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot write to {address}: {e}")),
        Err(_) => Err(format!(
            "cannot write to {address}: not written within {timeout:?}"
        )),
    }
}

/// The batch on the wire: each event's message, octet counted, one after another.
fn frames(events: &[AuditEvent], hostname: &str, app_name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        let message = format::syslog_5424(event, hostname, app_name);
        out.extend_from_slice(format::octet_counted(&message).as_bytes());
    }
    out
}

/// This machine's name for HOSTNAME, read once; `-` (RFC 5424's NILVALUE) when it is not
/// available or not a valid HOSTNAME. The standard library has no call for it, so it is
/// the kernel's own (Linux), else `/etc/hostname`.
fn local_hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| text.trim().to_owned())
            .find(|name| {
                !name.is_empty()
                    && name.len() <= MAX_HOSTNAME_LEN
                    && name.bytes().all(|b| b.is_ascii_graphic())
            })
            .unwrap_or_else(|| "-".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            event_id: id.into(),
            request_id: format!("req-{id}"),
            time_ms: 1_800_000_000_000,
            outcome: Outcome::Granted,
            status_detail: "Granted".into(),
            ..AuditEvent::default()
        }
    }

    #[test]
    fn a_batch_is_one_octet_counted_message_per_event_back_to_back() {
        let bytes = frames(&[event("a"), event("b")], "h", "app");
        let mut rest = bytes.as_slice();
        let mut ids = Vec::new();
        while !rest.is_empty() {
            let space = rest.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&rest[..space])
                .unwrap()
                .parse()
                .unwrap();
            let message = std::str::from_utf8(&rest[space + 1..space + 1 + len]).unwrap();
            assert!(message.starts_with("<110>1 "), "{message}");
            let json = message.split('\u{feff}').nth(1).unwrap();
            let back: AuditEvent = serde_json::from_str(json).unwrap();
            ids.push(back.event_id);
            rest = &rest[space + 1 + len..];
        }
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn the_default_hostname_is_a_valid_rfc_5424_hostname_or_the_nil_value() {
        let name = local_hostname();
        assert!(!name.is_empty() && name.len() <= MAX_HOSTNAME_LEN, "{name}");
        assert!(name.bytes().all(|b| b.is_ascii_graphic()), "{name}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_naming_the_address() {
        // A port that was free a moment ago: nothing listens on it now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let e = deliver(&address, None, None, Duration::from_secs(5), &[event("a")])
            .await
            .unwrap_err();
        assert!(
            e.starts_with(&format!("cannot connect to {address}: ")),
            "{e}"
        );
    }
}

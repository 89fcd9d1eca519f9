//! An exporter's configuration: where the system log goes, checked once on the way in
//! (admin API `POST /admin/exporters`, the seed's `[[exporters]]`, the stored row).
//!
//! The JSON (and TOML) shape is flat: `name`, `kind`, and the fields of that kind. Each
//! kind is one variant of [`Target`] plus its fields in [`RawConfig`].

use crate::types::Secret;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Events per delivery unless the config says otherwise.
pub const DEFAULT_BATCH_MAX: usize = 100;
/// The most events one delivery may hold.
pub const MAX_BATCH_MAX: usize = 1000;
/// The longest exporter name.
const MAX_NAME_LEN: usize = 64;
/// RFC 5424 §6.2.4: HOSTNAME is at most 255 printable US-ASCII characters.
const MAX_SYSLOG_HOSTNAME_LEN: usize = 255;
/// RFC 5424 §6.2.5: APP-NAME is at most 48 printable US-ASCII characters.
const MAX_SYSLOG_APP_NAME_LEN: usize = 48;
/// The APP-NAME of a syslog exporter that names none.
pub const DEFAULT_SYSLOG_APP_NAME: &str = "jagspec";

/// One exporter: a unique name and where its events go.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct ExporterConfig {
    /// Unique; `[A-Za-z0-9._-]`, at most 64 characters. The admin API's path segment.
    pub name: String,
    /// The destination.
    pub target: Target,
}

/// Where an exporter delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// HTTP POST of each batch to a collector.
    Http {
        /// `https://…`, or `http://` to a loopback host.
        url: url::Url,
        /// Presented as `Authorization: Bearer` (NDJSON) or `Splunk` (HEC). Never shown.
        bearer_token: Secret,
        /// The body's format.
        envelope: Envelope,
        /// Events per delivery.
        batch_max: usize,
    },
    /// JSON lines appended to a local file, fsynced after each batch.
    File {
        /// The file (created if missing).
        path: PathBuf,
        /// Events per write.
        batch_max: usize,
    },
    /// RFC 5424 messages over TCP with RFC 6587 octet-counting framing, to a syslog
    /// collector (rsyslog, syslog-ng, a SIEM's syslog input).
    Syslog {
        /// `host:port` (a name, an IPv4 address or a bracketed IPv6 address). Any host:
        /// the messages carry no credential.
        address: String,
        /// The messages' HOSTNAME; `None`: this machine's name, or `-` when unknown.
        hostname: Option<String>,
        /// The messages' APP-NAME; `None`: [`DEFAULT_SYSLOG_APP_NAME`].
        app_name: Option<String>,
        /// Events per connection.
        batch_max: usize,
    },
}

/// An HTTP exporter's body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// One event per line (`application/x-ndjson`), as the system log's download.
    #[default]
    Ndjson,
    /// Splunk HTTP Event Collector's event envelope, one per line.
    SplunkHec,
}

/// The wire shape, before checking. Every field of every kind, so that a field of another
/// kind is refused by name instead of ignored.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    name: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bearer_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    envelope: Option<Envelope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_max: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_name: Option<String>,
}

/// Why a configuration was refused. Never quotes the bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);

impl TryFrom<RawConfig> for ExporterConfig {
    type Error = InvalidConfig;

    fn try_from(raw: RawConfig) -> Result<Self, InvalidConfig> {
        let bad = |m: String| InvalidConfig(m);
        check_name(&raw.name)?;
        let batch_max = raw.batch_max.unwrap_or(DEFAULT_BATCH_MAX);
        if !(1..=MAX_BATCH_MAX).contains(&batch_max) {
            return Err(bad(format!(
                "`batch_max` must be between 1 and {MAX_BATCH_MAX} (found {batch_max})"
            )));
        }
        let only = |kind: &str, fields: &[(&str, bool)]| -> Result<(), InvalidConfig> {
            match fields.iter().find(|(_, present)| *present) {
                Some((field, _)) => Err(bad(format!(
                    "`{field}` does not apply to a `{kind}` exporter"
                ))),
                None => Ok(()),
            }
        };
        let target = match raw.kind.as_str() {
            "http" => {
                only(
                    "http",
                    &[
                        ("path", raw.path.is_some()),
                        ("address", raw.address.is_some()),
                        ("hostname", raw.hostname.is_some()),
                        ("app_name", raw.app_name.is_some()),
                    ],
                )?;
                let url = raw
                    .url
                    .as_deref()
                    .ok_or_else(|| bad("an `http` exporter needs a `url`".into()))?;
                let url = check_url(url)?;
                let bearer_token = raw
                    .bearer_token
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| bad("an `http` exporter needs a `bearer_token`".into()))?;
                if bearer_token.chars().any(|c| c.is_control()) {
                    return Err(bad(
                        "the `bearer_token` must not contain control characters".into(),
                    ));
                }
                Target::Http {
                    url,
                    bearer_token: Secret::new(bearer_token),
                    envelope: raw.envelope.unwrap_or_default(),
                    batch_max,
                }
            }
            "file" => {
                only(
                    "file",
                    &[
                        ("url", raw.url.is_some()),
                        ("bearer_token", raw.bearer_token.is_some()),
                        ("envelope", raw.envelope.is_some()),
                        ("address", raw.address.is_some()),
                        ("hostname", raw.hostname.is_some()),
                        ("app_name", raw.app_name.is_some()),
                    ],
                )?;
                let path = raw
                    .path
                    .filter(|p| !p.as_os_str().is_empty())
                    .ok_or_else(|| bad("a `file` exporter needs a `path`".into()))?;
                Target::File { path, batch_max }
            }
            "syslog" => {
                only(
                    "syslog",
                    &[
                        ("url", raw.url.is_some()),
                        ("bearer_token", raw.bearer_token.is_some()),
                        ("envelope", raw.envelope.is_some()),
                        ("path", raw.path.is_some()),
                    ],
                )?;
                let address = raw
                    .address
                    .as_deref()
                    .ok_or_else(|| bad("a `syslog` exporter needs an `address`".into()))?;
                Target::Syslog {
                    address: check_address(address)?,
                    hostname: raw
                        .hostname
                        .map(|h| check_header_field("hostname", h, MAX_SYSLOG_HOSTNAME_LEN))
                        .transpose()?,
                    app_name: raw
                        .app_name
                        .map(|a| check_header_field("app_name", a, MAX_SYSLOG_APP_NAME_LEN))
                        .transpose()?,
                    batch_max,
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown exporter kind `{}`; expected `http`, `file` or `syslog`",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        Ok(Self {
            name: raw.name,
            target,
        })
    }
}

fn check_name(name: &str) -> Result<(), InvalidConfig> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig(format!(
            "an exporter `name` is 1 to {MAX_NAME_LEN} characters of letters, digits, `.`, `_` and `-`"
        )))
    }
}

/// The collector's URL, by the one URL policy: a bearer token goes to it, so `https`, or
/// `http` only to a loopback host (a token in clear text stays on this machine); no
/// credentials in the URL, the token has its own field.
fn check_url(text: &str) -> Result<url::Url, InvalidConfig> {
    crate::http::check_url(text, crate::http::UrlUse::SECRET).map_err(|e| {
        let hint = match e {
            crate::http::UrlError::Userinfo { .. } => "; give the token as `bearer_token`",
            _ => "",
        };
        InvalidConfig(format!("`url` {e}{hint}"))
    })
}

/// `host:port`, the port nonzero; the host an IP address (IPv6 in brackets) or a DNS
/// name. Any host: unlike `http`, nothing secret travels, and a collector is rarely local.
fn check_address(text: &str) -> Result<String, InvalidConfig> {
    let shown: String = text.chars().take(120).collect();
    let bad = |why: &str| {
        InvalidConfig(format!(
            "`address` `{shown}` {why}; expected `host:port`, such as `127.0.0.1:6514`"
        ))
    };
    let port = if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        addr.port()
    } else {
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
        // An unbracketed IPv6 address ("::1:514") is ambiguous: refused by the name check.
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !name_ok {
            return Err(bad("does not start with a host name or an IP address"));
        }
        port.parse::<u16>()
            .map_err(|_| bad("does not end with a port number"))?
    };
    if port == 0 {
        return Err(bad("has port 0"));
    }
    Ok(text.to_owned())
}

/// RFC 5424 §6.2.4 and §6.2.5: 1 to `max` printable US-ASCII characters (no space).
fn check_header_field(field: &str, value: String, max: usize) -> Result<String, InvalidConfig> {
    if !value.is_empty() && value.len() <= max && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(InvalidConfig(format!(
            "`{field}` is 1 to {max} printable US-ASCII characters without spaces (RFC 5424 §6.2)"
        )))
    }
}

impl ExporterConfig {
    /// `http`, `file` or `syslog`.
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Http { .. } => "http",
            Target::File { .. } => "file",
            Target::Syslog { .. } => "syslog",
        }
    }

    /// The URL, the path or the syslog collector's `host:port`, for display.
    pub fn destination(&self) -> String {
        match &self.target {
            Target::Http { url, .. } => url.to_string(),
            Target::File { path, .. } => path.display().to_string(),
            Target::Syslog { address, .. } => address.clone(),
        }
    }

    /// Events per delivery.
    pub fn batch_max(&self) -> usize {
        match self.target {
            Target::Http { batch_max, .. }
            | Target::File { batch_max, .. }
            | Target::Syslog { batch_max, .. } => batch_max,
        }
    }

    /// The stored JSON: the wire shape, bearer token included (the exporter presents it).
    pub(crate) fn to_stored_json(&self) -> String {
        let mut raw = RawConfig {
            name: self.name.clone(),
            kind: self.kind().to_owned(),
            url: None,
            bearer_token: None,
            envelope: None,
            batch_max: Some(self.batch_max()),
            path: None,
            address: None,
            hostname: None,
            app_name: None,
        };
        match &self.target {
            Target::Http {
                url,
                bearer_token,
                envelope,
                ..
            } => {
                raw.url = Some(url.to_string());
                raw.bearer_token = Some(bearer_token.secret().to_owned());
                raw.envelope = Some(*envelope);
            }
            Target::File { path, .. } => raw.path = Some(path.clone()),
            Target::Syslog {
                address,
                hostname,
                app_name,
                ..
            } => {
                raw.address = Some(address.clone());
                raw.hostname.clone_from(hostname);
                raw.app_name.clone_from(app_name);
            }
        }
        serde_json::to_string(&raw).unwrap_or_default()
    }

    /// This config with `patch`'s fields replaced (`PATCH /admin/exporters/{name}`): each
    /// member given replaces that field, `null` removes it (back to its default, or
    /// refused when the kind needs it), and the result is checked whole, as a new config
    /// would be. `name` and `kind` cannot change: a different destination kind is a new
    /// exporter with its own cursor.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] naming the field, never quoting the bearer token.
    pub fn patched(
        &self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, InvalidConfig> {
        for fixed in ["name", "kind"] {
            if patch.contains_key(fixed) {
                return Err(InvalidConfig(format!(
                    "an exporter's `{fixed}` cannot change; delete it and add a new one"
                )));
            }
        }
        if patch.is_empty() {
            return Err(InvalidConfig("the patch changes nothing".into()));
        }
        let mut merged: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.to_stored_json())
                .map_err(|e| InvalidConfig(e.to_string()))?;
        for (field, value) in patch {
            if value.is_null() {
                merged.remove(field);
            } else {
                merged.insert(field.clone(), value.clone());
            }
        }
        serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| InvalidConfig(e.to_string()))
    }

    /// Reads [`ExporterConfig::to_stored_json`]'s text back.
    pub(crate) fn from_stored_json(text: &str) -> Result<Self, InvalidConfig> {
        serde_json::from_str(text).map_err(|e| InvalidConfig(e.to_string()))
    }
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<ExporterConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn an_http_exporter_defaults_to_ndjson_batches_of_one_hundred_and_hides_its_token() {
        let c = parse(json!({"name": "siem", "kind": "http",
            "url": "https://siem.example/in", "bearer_token": "tok-123"}))
        .unwrap();
        assert_eq!(c.batch_max(), DEFAULT_BATCH_MAX);
        assert!(matches!(
            c.target,
            Target::Http {
                envelope: Envelope::Ndjson,
                ..
            }
        ));
        assert!(!format!("{c:?}").contains("tok-123"));
        let back = ExporterConfig::from_stored_json(&c.to_stored_json()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback_and_a_token_is_required() {
        let http = |url: &str| {
            parse(json!({"name": "a", "kind": "http", "url": url, "bearer_token": "t"}))
        };
        assert!(http("http://127.0.0.1:9/x").is_ok());
        assert!(http("http://localhost/x").is_ok());
        assert!(http("http://[::1]/x").is_ok());
        assert!(
            http("http://siem.example/x")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(http("ftp://siem.example/x").is_err());
        assert!(http("https://u:p@siem.example/x").is_err());
        let e =
            parse(json!({"name": "a", "kind": "http", "url": "https://s.example"})).unwrap_err();
        assert!(e.contains("bearer_token"), "{e}");
    }

    #[test]
    fn names_kinds_and_fields_of_another_kind_are_checked() {
        assert!(parse(json!({"name": "a b", "kind": "file", "path": "/tmp/x"})).is_err());
        assert!(parse(json!({"name": "", "kind": "file", "path": "/tmp/x"})).is_err());
        let e = parse(json!({"name": "a", "kind": "kafka"})).unwrap_err();
        assert!(e.contains("`http`, `file` or `syslog`"), "{e}");
        let e = parse(json!({"name": "a", "kind": "file", "path": "/tmp/x", "url": "https://x"}))
            .unwrap_err();
        assert!(e.contains("does not apply"), "{e}");
        let e = parse(json!({"name": "a", "kind": "file", "path": "/tmp/x", "batch_max": 0}))
            .unwrap_err();
        assert!(e.contains("batch_max"), "{e}");
        assert!(parse(json!({"name": "a", "kind": "file", "path": "/tmp/x", "extra": 1})).is_err());
    }

    #[test]
    fn a_syslog_exporter_takes_any_host_and_port_and_round_trips_through_the_stored_json() {
        let c = parse(json!({"name": "rsyslog", "kind": "syslog",
            "address": "collector.example:6514", "hostname": "idp-1.example",
            "app_name": "jagspec-it", "batch_max": 7}))
        .unwrap();
        assert_eq!(c.kind(), "syslog");
        assert_eq!(c.destination(), "collector.example:6514");
        assert_eq!(c.batch_max(), 7);
        assert_eq!(
            ExporterConfig::from_stored_json(&c.to_stored_json()).unwrap(),
            c
        );

        let plain = parse(json!({"name": "s", "kind": "syslog", "address": "[::1]:514"})).unwrap();
        assert_eq!(
            plain.target,
            Target::Syslog {
                address: "[::1]:514".into(),
                hostname: None,
                app_name: None,
                batch_max: DEFAULT_BATCH_MAX,
            }
        );
        assert_eq!(
            ExporterConfig::from_stored_json(&plain.to_stored_json()).unwrap(),
            plain
        );
        assert!(!plain.to_stored_json().contains("hostname"));
        assert!(parse(json!({"name": "s", "kind": "syslog", "address": "10.0.0.7:601"})).is_ok());
    }

    #[test]
    fn a_syslog_exporter_refuses_a_bad_address_header_fields_and_the_fields_of_other_kinds() {
        let syslog = |extra: serde_json::Value| {
            let mut v = json!({"name": "s", "kind": "syslog", "address": "127.0.0.1:514"});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v)
        };
        for address in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "host:port",
            ":514",
            "::1:514",
            "a b:514",
            "host..example:514",
            "",
        ] {
            let e = syslog(json!({"address": address})).unwrap_err();
            assert!(e.contains("`address`"), "{address}: {e}");
        }
        let e = parse(json!({"name": "s", "kind": "syslog"})).unwrap_err();
        assert!(e.contains("needs an `address`"), "{e}");
        for (field, value) in [
            ("url", json!("https://x.example")),
            ("bearer_token", json!("t")),
            ("envelope", json!("ndjson")),
            ("path", json!("/tmp/x")),
        ] {
            let e = syslog(json!({ field: value })).unwrap_err();
            assert!(e.contains(&format!("`{field}` does not apply")), "{e}");
        }
        let long = "h".repeat(256);
        for bad in ["", "two words", "caf\u{e9}", long.as_str()] {
            let e = syslog(json!({"hostname": bad})).unwrap_err();
            assert!(e.contains("`hostname`"), "{e}");
        }
        assert!(syslog(json!({"hostname": "h".repeat(255)})).is_ok());
        assert!(syslog(json!({"app_name": "a".repeat(48)})).is_ok());
        let e = syslog(json!({"app_name": "a".repeat(49)})).unwrap_err();
        assert!(e.contains("`app_name`"), "{e}");
        let e = parse(json!({"name": "f", "kind": "file", "path": "/tmp/x",
            "address": "127.0.0.1:514"}))
        .unwrap_err();
        assert!(e.contains("`address` does not apply"), "{e}");
    }

    #[test]
    fn a_patch_replaces_or_removes_fields_and_is_checked_whole() {
        let c = parse(json!({"name": "siem", "kind": "http",
            "url": "https://siem.example/in", "bearer_token": "tok-123", "batch_max": 7}))
        .unwrap();
        let patch = |v: serde_json::Value| c.patched(v.as_object().unwrap());
        let moved = patch(json!({"url": "https://siem2.example/in", "batch_max": null})).unwrap();
        assert_eq!(moved.destination(), "https://siem2.example/in");
        assert_eq!(moved.batch_max(), DEFAULT_BATCH_MAX);
        assert_eq!(moved.name, "siem");
        assert!(matches!(&moved.target, Target::Http { bearer_token, .. }
            if bearer_token.secret() == "tok-123"));
        for (bad, needle) in [
            (json!({"kind": "file"}), "cannot change"),
            (json!({"name": "other"}), "cannot change"),
            (json!({}), "changes nothing"),
            (json!({"url": null}), "needs a `url`"),
            (json!({"path": "/tmp/x"}), "does not apply"),
            (json!({"batch_max": 0}), "batch_max"),
            (json!({"colour": "red"}), "colour"),
        ] {
            let e = patch(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
            assert!(!e.contains("tok-123"), "{e}");
        }
    }

    #[test]
    fn a_stored_file_exporter_with_a_relative_path_still_loads() {
        // The path rules (absolute, a regular file) apply when an exporter is added or
        // changed; a database written before them must still start.
        assert!(parse(json!({"name": "a", "kind": "file", "path": "audit.ndjson"})).is_ok());
    }
}

//! The syslog exporter: every audit event as one RFC 5424 message over TCP, framed by
//! RFC 6587 octet counting. Read back by a plain loopback listener (always run: framing,
//! every event, a collector that is down and then up) and by a real rsyslogd, whose own
//! parser must agree with ours field for field (ignored unless `tests/syslog/run.sh` runs
//! it, with `JAGSPEC_RSYSLOGD` naming the binary).
//!
//! No sleep decides an outcome: each test waits for a condition with a deadline.

use crate::exporters::{Issuer, eventually};
use crate::support::TempDb;
use jagspec::audit::{AuditEvent, Outcome};
use jagspec::export::format;
use jagspec::issuer::{ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// The exporter tests' fixed clock (`T0`) as RFC 5424 writes it: it stamps every event.
const T0_RFC3339: &str = "2027-01-15T08:00:00.000Z";
const CHAT: &str = "https://as.chat.example";
const PAUSED: &str = "https://as.paused.example";
/// A user `sub` with every character RFC 5424 §6.3.3 escapes in a PARAM-VALUE. The admin
/// API takes any non-empty name and sub, and the audit event's `user` is the sub.
const ESCAPED_SUB: &str = "o\"brien]\\x";
/// Facility 13 (log audit, RFC 5424 §6.2.1); severity 6 (informational) for a grant and 5
/// (notice) for a denial, as `format::syslog_5424` writes them.
const FACILITY: u8 = 13;

/// What the issuer answered one token request, and the audit event it recorded for it
/// (found by the response's `x-request-id`).
struct Answer {
    status: u16,
    body: Value,
    event: AuditEvent,
}

impl Answer {
    /// Granted: HTTP 200 and a granted event without an OAuth error.
    fn granted(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.event.outcome, Outcome::Granted, "{:?}", self.event);
        assert_eq!(self.event.oauth_error, None, "{:?}", self.event);
        self
    }

    /// Denied exactly so: the HTTP status, the OAuth `error` of the answer (and of the
    /// event), and the event's status detail.
    fn denied(&self, status: u16, error: &str, status_detail: &str) {
        assert_eq!(
            (self.status, self.body["error"].as_str()),
            (status, Some(error)),
            "{}",
            self.body
        );
        assert_eq!(
            (
                self.event.outcome,
                self.event.oauth_error.as_deref(),
                self.event.status_detail.as_str()
            ),
            (Outcome::Denied, Some(error), status_detail),
            "{:?}",
            self.event
        );
    }
}

/// The syslog tests' own requests, beside the exporter tests' [`Issuer`].
impl Issuer {
    /// A token request by the `agent` client; the answer and its audit event.
    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}/token", self.issuer.url))
            .basic_auth("agent", Some("agent-secret"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("HTTP {status} without an x-request-id"))
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        let events = self
            .issuer
            .state
            .audit
            .find_by_request_id(&request_id)
            .unwrap();
        let [event] = <[AuditEvent; 1]>::try_from(events)
            .unwrap_or_else(|e| panic!("{} events for request {request_id}", e.len()));
        Answer {
            status,
            body,
            event,
        }
    }

    /// A password login.
    async fn login(&self, user: &str, password: &str) -> Answer {
        self.token(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .await
    }

    /// A password login that must be granted; its ID token.
    async fn signed_in(&self, user: &str, password: &str) -> String {
        let answer = self.login(user, password).await;
        answer.granted().body["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {}", answer.body))
            .to_owned()
    }

    /// A password login with a wrong password, denied as the issuer denies one.
    async fn wrong_password(&self, user: &str) {
        self.login(user, "wrong")
            .await
            .denied(400, "invalid_grant", "Invalid user credentials");
    }

    /// A token exchange of `subject` for an ID-JAG for `audience`.
    async fn exchange(&self, subject: &str, audience: &str, scope: &str) -> Answer {
        self.token(&[
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", ID_JAG_TOKEN_TYPE),
            ("subject_token", subject),
            ("subject_token_type", ID_TOKEN_TYPE),
            ("audience", audience),
            ("scope", scope),
        ])
        .await
    }

    /// `n` password logins of alice, every third one with a wrong password.
    async fn logins(&self, n: usize) {
        for i in 0..n {
            if i % 3 == 2 {
                self.wrong_password("alice").await;
            } else {
                self.signed_in("alice", "alice-password").await;
            }
        }
    }
}

/// A loopback port bound but not listening: Linux refuses a connection to it, as to a
/// collector that is down, and no other test can take the port meanwhile. `listen` on the
/// socket brings the collector up on that same port.
fn bound_not_listening() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    (socket, address)
}

/// `received` keyed by `event_id`, after checking that a repeat is the same as its first.
fn by_event_id<T: PartialEq + std::fmt::Debug>(received: Vec<(String, T)>) -> BTreeMap<String, T> {
    let mut seen = BTreeMap::new();
    for (id, item) in received {
        match seen.get(&id) {
            Some(first) => assert_eq!(first, &item, "a duplicate of {id} differs"),
            None => {
                seen.insert(id, item);
            }
        }
    }
    seen
}

/// The SD-PARAMs `format::syslog_5424` must send for `event`, derived from the event's
/// JSON (the admin API's shape): every present field, `scopes` as `scope:outcome` words.
fn expected_params(event: &AuditEvent) -> Vec<(String, String)> {
    let json = format::event_json(event);
    let mut out = Vec::new();
    for name in [
        "event_id",
        "request_id",
        "outcome",
        "status_detail",
        "oauth_error",
        "grant_type",
        "user",
        "client",
        "system",
        "resource",
        "scopes",
        "token_id",
        "signing_key_id",
        "algorithm",
        "lifetime_secs",
    ] {
        let text = match &json[name] {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(scopes) if scopes.is_empty() => continue,
            Value::Array(scopes) => scopes
                .iter()
                .map(|s| {
                    let field = |f: &str| s[f].as_str().unwrap().to_owned();
                    format!("{}:{}", field("scope"), field("outcome"))
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => panic!("{name}: unexpected {other}"),
        };
        out.push((name.to_owned(), text));
    }
    out
}

/// RFC 5424 severity for the event's outcome.
fn severity(event: &AuditEvent) -> u8 {
    match event.outcome {
        Outcome::Granted => 6,
        Outcome::Denied => 5,
    }
}

/// One SD-ELEMENT: its SD-ID and its PARAMs in order.
type SdElement = (String, Vec<(String, String)>);

/// Parses RFC 5424 STRUCTURED-DATA (§6.3), undoing the §6.3.3 escapes: `\"`, `\\` and
/// `\]` stand for the character; a backslash before anything else is kept as it is.
fn parse_sd(text: &str) -> Result<Vec<SdElement>, String> {
    let mut chars = text.chars().peekable();
    let mut elements = Vec::new();
    while let Some(c) = chars.next() {
        if c != '[' {
            return Err(format!("expected `[`, found {c:?} in {text}"));
        }
        let mut id = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == ']' {
                break;
            }
            id.push(c);
            chars.next();
        }
        let mut params = Vec::new();
        loop {
            match chars.next() {
                Some(']') => break,
                Some(' ') => {}
                other => return Err(format!("expected ` ` or `]`, found {other:?} in {text}")),
            }
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('=') => break,
                    Some(c) if c.is_ascii_graphic() && !matches!(c, ']' | '"') => name.push(c),
                    other => return Err(format!("bad PARAM-NAME at {other:?} in {text}")),
                }
            }
            if chars.next() != Some('"') {
                return Err(format!("PARAM-VALUE of {name} is not quoted in {text}"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | ']')) => value.push(c),
                        Some(c) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err(format!("unterminated escape in {text}")),
                    },
                    // §6.3.3: an unescaped `]` inside a value is malformed.
                    Some(']') => return Err(format!("unescaped `]` in {name} in {text}")),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated PARAM-VALUE in {text}")),
                }
            }
            params.push((name, value));
        }
        elements.push((id, params));
    }
    Ok(elements)
}

/// Checks one message's STRUCTURED-DATA and MSG against `event`: a single
/// `[jagspec@32473 …]` element whose params are the event's fields, and the event's JSON
/// after the BOM.
fn check_sd_and_msg(event: &AuditEvent, sd: &str, msg: &str) {
    let elements = parse_sd(sd).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        elements,
        vec![(format::SD_ID.to_owned(), expected_params(event))],
        "the structured data of {}",
        event.event_id
    );
    let json = msg
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("MSG does not start with the BOM: {msg}"));
    let back: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(
        back,
        format::event_json(event),
        "the MSG of {}",
        event.event_id
    );
}

/// One RFC 5424 message split into its header fields, structured data and MSG, by our
/// own reading of §6 (the rsyslog test checks a second, independent parser).
#[derive(Debug, PartialEq)]
struct Message {
    pri: u8,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    sd: String,
    msg: String,
}

fn parse_5424(text: &str) -> Message {
    let rest = text.strip_prefix('<').unwrap_or_else(|| panic!("{text}"));
    let (pri, rest) = rest.split_once(">1 ").unwrap_or_else(|| panic!("{text}"));
    let mut fields = rest.splitn(6, ' ');
    let mut next = || fields.next().unwrap_or_else(|| panic!("{text}")).to_owned();
    let (timestamp, hostname, app_name, procid, msgid, rest) =
        (next(), next(), next(), next(), next(), next());
    // The SD ends at the first `]` that is neither escaped nor followed by another `[`.
    let bytes = rest.as_bytes();
    let mut end = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b']' if bytes.get(i + 1) != Some(&b'[') => {
                end = Some(i + 1);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let end = end.unwrap_or_else(|| panic!("no end of the structured data: {text}"));
    let msg = rest[end..]
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("{text}"));
    Message {
        pri: pri.parse().unwrap_or_else(|e| panic!("{e}: {text}")),
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd: rest[..end].to_owned(),
        msg: msg.to_owned(),
    }
}

/// The JSON of one message (event_id from its MSG).
fn event_id_of(msg: &str) -> String {
    let json: Value = serde_json::from_str(msg.trim_start_matches('\u{feff}')).unwrap();
    json["event_id"].as_str().unwrap().to_owned()
}

/// A plain TCP collector on loopback: reads each connection to its end and splits it into
/// RFC 6587 octet-counted frames, checking every length prefix.
#[derive(Clone, Default)]
struct FrameSink {
    frames: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl FrameSink {
    fn serve(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let sink = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    match stream.read_to_end(&mut bytes).await {
                        Ok(_) => sink.split(&bytes),
                        Err(e) => sink.errors.lock().unwrap().push(e.to_string()),
                    }
                });
            }
        })
    }

    /// `MSG-LEN SP SYSLOG-MSG`, repeated to the end of the stream: MSG-LEN a nonzero digit
    /// then digits, exactly the message's bytes. A wrong length leaves a message that does
    /// not end its JSON, or a next frame that does not start with a length.
    fn split(&self, mut rest: &[u8]) {
        let mut errors = self.errors.lock().unwrap();
        while !rest.is_empty() {
            let Some(space) = rest.iter().position(|&b| b == b' ') else {
                errors.push(format!("a frame without a length: {rest:?}"));
                return;
            };
            let prefix = &rest[..space];
            let len = match std::str::from_utf8(prefix).ok().and_then(|p| {
                (p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0'))
                    .then(|| p.parse::<usize>().ok())
                    .flatten()
            }) {
                Some(len) if rest.len() >= space + 1 + len => len,
                _ => {
                    errors.push(format!("a bad length prefix {prefix:?}"));
                    return;
                }
            };
            let message = String::from_utf8_lossy(&rest[space + 1..space + 1 + len]).into_owned();
            if !(message.starts_with('<') && message.ends_with('}')) {
                errors.push(format!(
                    "a frame of {len} bytes is not one message: {message}"
                ));
            }
            self.frames.lock().unwrap().push(message);
            rest = &rest[space + 1 + len..];
        }
    }

    /// How many different events the frames carry (repeats checked identical).
    fn distinct_events(&self) -> usize {
        by_event_id(
            self.frames()
                .into_iter()
                .map(|f| (event_id_of(&parse_5424(&f).msg), f))
                .collect(),
        )
        .len()
    }

    fn frames(&self) -> Vec<String> {
        self.frames.lock().unwrap().clone()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// Checks the frames a [`FrameSink`] received against the issuer's events, field for field;
/// `hostname` and `app_name` are the header fields expected.
fn check_frames(frames: Vec<String>, events: &[AuditEvent], hostname: &str, app_name: &str) {
    let received = by_event_id(
        frames
            .into_iter()
            .map(|f| (event_id_of(&parse_5424(&f).msg), f))
            .collect(),
    );
    assert_eq!(received.len(), events.len(), "one message per event");
    for event in events {
        let frame = received
            .get(&event.event_id)
            .unwrap_or_else(|| panic!("{} did not arrive", event.event_id));
        let m = parse_5424(frame);
        assert_eq!(m.pri, FACILITY * 8 + severity(event), "{frame}");
        assert_eq!(
            (
                m.timestamp.as_str(),
                m.hostname.as_str(),
                m.app_name.as_str(),
                m.procid.as_str(),
                m.msgid.as_str()
            ),
            (T0_RFC3339, hostname, app_name, "-", "token-request"),
            "{frame}"
        );
        check_sd_and_msg(event, &m.sd, &m.msg);
    }
}

/// This machine's name as the exporter defaults it: the kernel's, else `-`.
fn default_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "-".to_owned())
}

#[tokio::test]
async fn a_syslog_exporter_sends_each_event_as_one_octet_counted_rfc_5424_message_over_tcp() {
    let db = TempDb::new("syslog-frames");
    let issuer = Issuer::with_examples(&db).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let sink = FrameSink::default();
    let served = sink.serve(listener);
    let added = issuer
        .add_exporter(
            json!({"name": "collector", "kind": "syslog", "address": address,
            "batch_max": 4}),
        )
        .await;
    assert_eq!(added["kind"], "syslog");
    assert_eq!(added["target"], address.as_str());
    assert!(added.get("envelope").is_none(), "{added}");

    issuer.logins(10).await;
    let events = issuer.events();
    assert_eq!(events.len(), 10);
    assert!(events.iter().any(|e| e.outcome == Outcome::Denied));

    eventually("every event arrived", || async {
        sink.distinct_events() >= events.len()
    })
    .await;
    assert_eq!(sink.errors(), Vec::<String>::new());
    check_frames(sink.frames(), &events, &default_hostname(), "jagspec");
    eventually("the status shows no lag", || async {
        let s = issuer.status_of("collector").await;
        s["lag"] == 0 && s["last_error"].is_null() && s["consecutive_failures"] == 0
    })
    .await;
    issuer.issuer.stop().await;
    served.abort();
}

#[tokio::test]
async fn a_collector_that_refuses_connections_gets_every_event_once_it_listens_and_the_status_shows_why_meanwhile()
 {
    let db = TempDb::new("syslog-refused");
    let issuer = Issuer::with_examples(&db).await;
    let (socket, address) = bound_not_listening();
    issuer
        .add_exporter(
            json!({"name": "collector", "kind": "syslog", "address": address,
            "hostname": "idp.jagspec.test", "app_name": "jagspec-it", "batch_max": 3}),
        )
        .await;
    issuer.logins(7).await;

    let refused = format!("cannot connect to {address}: ");
    eventually("the status shows repeated refusals", || async {
        let s = issuer.status_of("collector").await;
        s["consecutive_failures"].as_i64().unwrap_or(0) >= 3
            && s["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with(&refused))
    })
    .await;
    let status = issuer.status_of("collector").await;
    assert_eq!(
        status["lag"], 7,
        "nothing delivered while refused: {status}"
    );
    assert_eq!(status["last_seq"], 0);

    // The collector comes up on the same port; the exporter's retries reach it.
    let listener = socket.listen(1024).unwrap();
    let sink = FrameSink::default();
    let served = sink.serve(listener);
    issuer.logins(2).await;
    let events = issuer.events();
    assert_eq!(events.len(), 9);
    eventually(
        "every event arrived after the collector came up",
        || async { sink.distinct_events() >= events.len() },
    )
    .await;
    assert_eq!(sink.errors(), Vec::<String>::new());
    check_frames(sink.frames(), &events, "idp.jagspec.test", "jagspec-it");
    eventually("the error clears and the lag is zero", || async {
        let s = issuer.status_of("collector").await;
        s["last_error"].is_null() && s["consecutive_failures"] == 0 && s["lag"] == 0
    })
    .await;
    issuer.issuer.stop().await;
    served.abort();
}

/// A `rsyslogd -n` of our own: a config in a temporary directory (work directory, pid
/// file, outputs) that listens with imtcp on one loopback port and nothing else (no
/// imuxsock, no imklog), so it never touches /etc, /var or /dev/log. Killed on drop; the
/// directory is kept when the test fails, for its logs.
struct Rsyslogd {
    child: std::process::Child,
    dir: PathBuf,
    /// The port imtcp listens on: the kernel's choice (`port="0"`), which rsyslogd writes
    /// to its `listenPortFileName`, so no port is picked free and then raced for.
    port: u16,
}

impl Rsyslogd {
    /// The file rsyslog writes the messages received over TCP to, one JSON object a line.
    fn messages(&self) -> PathBuf {
        self.dir.join("messages.jsonl")
    }

    /// The binary from `JAGSPEC_RSYSLOGD`; fails the test with how to run it otherwise.
    fn binary() -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        const HOW: &str = "this test needs rsyslogd: run `bash tests/syslog/run.sh` (installs \
            rsyslog if missing and runs it), or set JAGSPEC_RSYSLOGD=/usr/sbin/rsyslogd and \
            run `cargo test --test it exporters_syslog -- --ignored`";
        let Some(path) = std::env::var_os("JAGSPEC_RSYSLOGD") else {
            panic!("JAGSPEC_RSYSLOGD is not set; {HOW}");
        };
        let path = PathBuf::from(path);
        let executable = std::fs::metadata(&path)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        assert!(
            executable,
            "JAGSPEC_RSYSLOGD={} is not an executable file; {HOW}",
            path.display()
        );
        path
    }

    async fn start(name: &str) -> Self {
        let binary = Self::binary();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rsyslog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(&conf, Self::config(&dir)).unwrap();
        let log = std::fs::File::create(dir.join("rsyslogd.out")).unwrap();
        let child = std::process::Command::new(&binary)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut me = Self {
            child,
            dir,
            port: 0,
        };
        me.port = me.wait_until_listening().await;
        me
    }

    /// The file imtcp writes the port it listens on to.
    const PORT_FILE: &str = "imtcp.port";

    /// imtcp on 127.0.0.1 only, on a port the kernel picks (written to [`Self::PORT_FILE`]),
    /// into its own ruleset whose one action writes each message as JSON (rsyslog's own
    /// RFC 5424 parser's properties); rsyslog's internal messages go to the default
    /// ruleset's file instead.
    fn config(dir: &Path) -> String {
        let port_file = dir.join(Self::PORT_FILE);
        let port_file = port_file.display();
        let dir = dir.display();
        format!(
            r#"# Written by tests/it/exporters_syslog.rs: everything under {dir}.
global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="jagspec_jsonf" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="jagspec") {{
  action(type="omfile" file="{dir}/messages.jsonl" template="jagspec_jsonf")
}}
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{port_file}"
      ruleset="jagspec")
*.* action(type="omfile" file="{dir}/internal.log")
"#
        )
    }

    /// Waits (ten seconds at most) until imtcp has written its port and the port accepts
    /// a connection; the port. Fails with rsyslogd's output if it exits first.
    async fn wait_until_listening(&mut self) -> u16 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut port = None;
        loop {
            // Read again until whole: the file may be seen before rsyslogd has written it.
            port = port.or_else(|| {
                std::fs::read_to_string(self.dir.join(Self::PORT_FILE))
                    .ok()
                    .and_then(|text| text.trim().parse::<u16>().ok())
                    .filter(|&p| p != 0)
            });
            if let Some(port) = port
                && tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rsyslogd exited ({status}): {}", self.diagnostics());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "rsyslogd did not listen within 10 s (port {port:?}): {}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// rsyslogd's own output and internal log, for a failure message.
    fn diagnostics(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "rsyslogd.out: {}\ninternal.log: {}\n(in {})",
            read("rsyslogd.out"),
            read("internal.log"),
            self.dir.display()
        )
    }

    /// Every line of the messages file, as JSON.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.messages())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A property of rsyslog's JSON line as text (jsonf writes numbers as strings).
fn text(line: &Value, field: &str) -> String {
    match &line[field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{field} is {other} in {line}"),
    }
}

#[tokio::test]
#[ignore = "needs rsyslogd: tests/syslog/run.sh installs rsyslog and runs it"]
async fn a_real_rsyslogd_accepts_every_message_and_parses_each_back_to_the_audit_event() {
    let rsyslogd = Rsyslogd::start("it").await;
    let db = TempDb::new("syslog-rsyslogd");
    let issuer = Issuer::with_examples(&db).await;
    issuer
        .add_exporter(json!({"name": "rsyslog", "kind": "syslog",
            "address": format!("127.0.0.1:{}", rsyslogd.port),
            "hostname": "idp.jagspec.test", "app_name": "jagspec-it", "batch_max": 3}))
        .await;

    // Granted and denied, with scope outcomes and status details, over several batches.
    let alice = issuer.signed_in("alice", "alice-password").await;
    issuer.wrong_password("alice").await;
    issuer
        .exchange(&alice, CHAT, "chat.read chat.write chat.admin")
        .await
        .granted();
    issuer
        .exchange(&alice, PAUSED, "read")
        .await
        .denied(400, "access_denied", "Server paused");
    // A user whose sub needs every SD escape: granted a login, denied the chat server.
    let (status, answer) = issuer
        .admin(
            reqwest::Method::POST,
            "/users",
            Some(json!({"name": "quoted", "sub": ESCAPED_SUB, "password": "quoted-pw"})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let quoted = issuer.signed_in("quoted", "quoted-pw").await;
    issuer.exchange(&quoted, CHAT, "chat.read").await.denied(
        400,
        "invalid_scope",
        "No grant for the scope",
    );
    issuer.logins(3).await;

    let events = issuer.events();
    assert_eq!(events.len(), 9);
    assert!(events.iter().any(|e| e.outcome == Outcome::Denied));
    assert!(events.iter().any(|e| !e.scopes.is_empty()));
    assert!(
        events
            .iter()
            .any(|e| e.user.as_deref() == Some(ESCAPED_SUB) && e.outcome == Outcome::Denied)
    );

    let all_arrived = || {
        let ids: Vec<(String, ())> = rsyslogd
            .received()
            .iter()
            .map(|l| (event_id_of(&text(l, "msg")), ()))
            .collect();
        by_event_id(ids).len() >= events.len()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !all_arrived() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rsyslogd did not write every event within 20 s; status {}; {}",
            issuer.status_of("rsyslog").await,
            rsyslogd.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let lines = rsyslogd.received();
    let written = lines.len();
    let received = by_event_id(
        lines
            .into_iter()
            .map(|l| (event_id_of(&text(&l, "msg")), l))
            .collect(),
    );
    assert_eq!(
        received.len(),
        events.len(),
        "no message that is not an event"
    );
    for event in &events {
        let line = &received[&event.event_id];
        let sev = severity(event);
        assert_eq!(
            text(line, "pri"),
            (FACILITY * 8 + sev).to_string(),
            "{line}"
        );
        assert_eq!(text(line, "facility"), FACILITY.to_string(), "{line}");
        assert_eq!(text(line, "severity"), sev.to_string(), "{line}");
        assert_eq!(text(line, "timestamp"), T0_RFC3339, "{line}");
        assert_eq!(text(line, "hostname"), "idp.jagspec.test", "{line}");
        assert_eq!(text(line, "app_name"), "jagspec-it", "{line}");
        assert_eq!(text(line, "procid"), "-", "{line}");
        assert_eq!(text(line, "msgid"), "token-request", "{line}");
        check_sd_and_msg(event, &text(line, "structured_data"), &text(line, "msg"));
    }
    // The escapes went through rsyslog as escapes, and came back as the sub.
    let escaped = events
        .iter()
        .find(|e| e.user.as_deref() == Some(ESCAPED_SUB))
        .unwrap();
    let sd = text(&received[&escaped.event_id], "structured_data");
    assert!(sd.contains(r#"user="o\"brien\]\\x""#), "{sd}");
    println!(
        "rsyslogd wrote {written} lines for {} events; the one with the escaped user:\n{}",
        events.len(),
        received[&escaped.event_id]
    );

    eventually("the status shows no lag", || async {
        let s = issuer.status_of("rsyslog").await;
        s["lag"] == 0 && s["last_error"].is_null()
    })
    .await;
    issuer.issuer.stop().await;
}

//! One redaction policy: `jagspec test as` against an authorization server that echoes
//! every credential it receives, nested, in its headers and bodies. No report (console,
//! JSON, JUnit) and no log line shows any of them.

use crate::support::{ServeProcess, scratch, shift_ports};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A relay in front of a real authorization server that leaks: it forwards each request,
/// then echoes every credential of it, and turns every other refusal into an access token
/// (so that checks fail and their reports show the echo).
struct Echo {
    upstream: String,
    http: reqwest::Client,
    /// Every credential the relay received or handed out.
    seen: Mutex<Vec<String>>,
    refusals: std::sync::atomic::AtomicUsize,
}

impl Echo {
    fn saw(&self, value: &str) {
        self.seen.lock().unwrap().push(value.to_owned());
    }
}

/// The credentials of one request: the Authorization header (whole, its credentials, and
/// a Basic pair decoded), and the credential-bearing form parameters.
fn credentials_of(headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        out.push(value.to_owned());
        if let Some((scheme, credentials)) = value.split_once(' ') {
            out.push(credentials.to_owned());
            if scheme.eq_ignore_ascii_case("basic")
                && let Ok(pair) = base64::engine::general_purpose::STANDARD.decode(credentials)
            {
                let pair = String::from_utf8(pair).unwrap();
                let (_, secret) = pair.split_once(':').unwrap();
                out.push(secret.to_owned());
                out.push(pair.clone());
            }
        }
    }
    for (name, value) in form_urlencoded::parse(body) {
        if [
            "assertion",
            "client_secret",
            "client_assertion",
            "subject_token",
        ]
        .contains(&name.as_ref())
        {
            out.push(value.into_owned());
        }
    }
    out
}

async fn relay(
    State(echo): State<Arc<Echo>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = credentials_of(&headers, &body);
    for c in &received {
        echo.saw(c);
    }
    let mut request = echo
        .http
        .request(method, format!("{}{}", echo.upstream, uri.path()));
    for name in ["authorization", "content-type", "accept", "dpop"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = request.body(body.to_vec()).send().await.unwrap();
    let status = answer.status();
    let mut json: Value = answer.json().await.unwrap_or(Value::Null);
    for name in ["access_token", "refresh_token", "id_token"] {
        if let Some(token) = json[name].as_str() {
            echo.saw(token);
        }
    }
    let nested = json!({
        "request": {
            "headers": {"authorization": headers.get("authorization")
                .and_then(|v| v.to_str().ok())},
            "values": received.iter().map(|v| json!({"v": v})).collect::<Vec<_>>(),
        }
    });
    let sentence = format!("you sent {}", received.join(" and "));
    let leaky = echo
        .refusals
        .fetch_add(usize::from(!status.is_success()), Ordering::Relaxed);
    let status = if !status.is_success() && leaky % 2 == 0 {
        // A refusal turned into a token, so the check that expected it fails.
        let token = format!("leaked-access-token-{leaky:06}");
        echo.saw(&token);
        json = json!({"access_token": token, "token_type": "Bearer", "expires_in": 300,
                      "scope": sentence});
        StatusCode::OK
    } else {
        if let Some(map) = json.as_object_mut()
            && map.contains_key("error")
        {
            map.insert("error_description".into(), sentence.clone().into());
        }
        StatusCode::from_u16(status.as_u16()).unwrap()
    };
    json["debug"] = nested;
    let mut response = (status, axum::Json(json)).into_response();
    let h = response.headers_mut();
    for (i, c) in received.iter().enumerate() {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.insert(
                axum::http::HeaderName::from_bytes(format!("x-echo-{i}").as_bytes()).unwrap(),
                v,
            );
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer error_description=\"{sentence}\"")) {
        h.insert("www-authenticate", v);
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_report_or_log_line_shows_a_credential_an_echoing_authorization_server_sent_back() {
    let dir = scratch("redaction-echo");
    let (_serve, base) = tokio::task::block_in_place(|| {
        ServeProcess::start_on_free_ports(&dir, 21, |base| {
            [
                "--port-base",
                &(base + 1).to_string(),
                "--trust-issuer",
                &format!("http://127.0.0.1:{base}"),
            ]
            .map(String::from)
            .to_vec()
        })
    });
    let metadata_url = format!(
        "http://127.0.0.1:{}/.well-known/oauth-authorization-server",
        base + 8
    );
    let metadata: Value = reqwest::get(&metadata_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upstream_token = metadata["token_endpoint"].as_str().unwrap();
    let upstream = upstream_token
        .strip_suffix(url::Url::parse(upstream_token).unwrap().path())
        .unwrap()
        .to_owned();
    let echo = Arc::new(Echo {
        upstream,
        http: reqwest::Client::new(),
        seen: Mutex::new(Vec::new()),
        refusals: std::sync::atomic::AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_at = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(Arc::clone(&echo));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/as-profile.toml"
    ))
    .unwrap();
    let token_path = url::Url::parse(upstream_token).unwrap().path().to_owned();
    let profile = shift_ports(&example, &[(18500, 1, base), (18600, 20, base + 1)])
        .replace(
            "keys_dir = \"../target/jagspec-idp-keys\"",
            "keys_dir = \"idp-keys\"",
        )
        .replace(
            &format!("metadata_url = \"{metadata_url}\""),
            &format!(
                "issuer = \"{}\"\ntoken_endpoint = \"http://{relay_at}{token_path}\"",
                metadata["issuer"].as_str().unwrap()
            ),
        );
    assert!(profile.contains(&format!("http://{relay_at}")), "{profile}");
    let profile_path = dir.join("as-profile.toml");
    std::fs::write(&profile_path, profile).unwrap();
    let (json_path, junit_path) = (dir.join("report.json"), dir.join("report.xml"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(["test", "as", "--show-skips", "--profile"])
        .arg(&profile_path)
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    let json_text = std::fs::read_to_string(&json_path).unwrap();
    let junit = std::fs::read_to_string(&junit_path).unwrap();

    // Not vacuous: the relay saw many credentials, and many failed checks show the
    // exchange that decided them.
    let mut distinct = echo.seen.lock().unwrap().clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 100, "{} credentials seen", distinct.len());
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let shown = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["finding"]["exchange"].is_null())
        .count();
    assert!(shown > 20, "{shown} exchanges shown:\n{console}");

    let mut leaks = Vec::new();
    for (name, text) in [
        ("console", &console),
        ("log", &logs),
        ("JSON", &json_text),
        ("JUnit", &junit),
    ] {
        let leaked = distinct
            .iter()
            .filter(|c| text.contains(c.as_str()))
            .count();
        if leaked > 0 {
            let example = distinct.iter().find(|c| text.contains(c.as_str())).unwrap();
            leaks.push(format!(
                "{name}: {leaked} of {}, e.g. {example}",
                distinct.len()
            ));
        }
    }
    assert!(leaks.is_empty(), "credentials shown: {leaks:#?}");
    // The echo is there, redacted.
    assert!(console.contains("you sent (redacted"), "{console}");
}

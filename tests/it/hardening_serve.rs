//! `jagspec serve` as a process under hostile conditions (SIGTERM with half-sent requests,
//! out of file descriptors, at its connection limit, a port already taken), the log lines
//! it leaves, the files that hold secrets, and the SIEM sink's token and pages.

use crate::hardening::{CLOSED_WITHIN, LIMITS, addr_of, alice_login, ecosystem, form_head};
use crate::support::{Launch, ServeProcess, scratch};
use jagspec::mocks::Ecosystem;
use serde_json::Value;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// `jagspec serve` as a process: SIGTERM, running out of file descriptors, log lines.
// ---------------------------------------------------------------------------------------

/// A password-grant login for alice over a fresh connection: the ID token's status.
fn login(token_endpoint: &str, within: Duration) -> Result<u16, String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        alice_login(token_endpoint, within)
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn serve_exits_0_on_sigterm_while_a_client_holds_a_half_sent_request() {
    let dir = scratch("hardening-sigterm");
    let mut serve = ServeProcess::start(&dir, &[]);
    let issuer = addr_of(&serve.at("/issuer/url"));
    // Head complete, body pending: neither the header timeout nor (within the test) the
    // 10 s body timeout ends it; only the 2 s shutdown grace can.
    let mut held = std::net::TcpStream::connect(&issuer).unwrap();
    std::io::Write::write_all(
        &mut held,
        format!("{}grant", form_head("/token", "Content-Length: 100\r\n")).as_bytes(),
    )
    .unwrap();
    let mut half_head = std::net::TcpStream::connect(&issuer).unwrap();
    std::io::Write::write_all(&mut half_head, b"POST /token HTTP/1.1\r\n").unwrap();
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    let started = Instant::now();
    let code = serve.terminate(Duration::from_secs(8));
    assert_eq!(
        code,
        Some(0),
        "serve did not exit 0 within 8 s: {}",
        serve.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn serve_out_of_file_descriptors_warns_and_serves_again_once_connections_leave() {
    let dir = scratch("hardening-fds");
    // 128 descriptors: enough to start (17 listeners, the database), far fewer than the
    // 300 connections below.
    let serve = ServeProcess::start_as(
        &dir,
        &["--header-timeout".into(), "0.5".into()],
        &Launch {
            open_files: Some(128),
            ..Launch::default()
        },
    );
    let issuer = addr_of(&serve.at("/issuer/url"));
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = std::net::TcpStream::connect(&issuer).unwrap();
        std::io::Write::write_all(&mut s, b"POST /token HTTP/1.1\r\nHost: x\r\n").unwrap();
        held.push(s);
    }
    // The listener ran out of descriptors with connections still queued; as the half-sent
    // heads time out it accepts the rest, and then the valid request.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), Duration::from_secs(30)),
        Ok(200)
    );
    let log = serve.stderr();
    let warning = log
        .lines()
        .find(|l| l.contains("cannot accept a connection"))
        .unwrap_or_else(|| panic!("no warning about the failed accepts in:\n{log}"));
    assert!(
        warning.contains("WARN")
            && warning.contains("server=\"the issuer\"")
            && warning.contains("Too many open files"),
        "{warning}"
    );
    drop(held);
}

#[test]
fn an_exporter_pointed_at_a_closed_port_leaves_a_json_warning_line_without_its_token() {
    let dir = scratch("hardening-exporter-log");
    let serve = ServeProcess::start(&dir, &["--log-format".into(), "json".into()]);
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // One event in the log for the exporter to deliver.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    let token = "exporter-bearer-token-that-must-never-be-logged";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/exporters", serve.at("/issuer/admin_url")))
            .bearer_auth(serve.at("/issuer/admin_token"))
            .json(&serde_json::json!({
                "name": "siem-down", "kind": "http",
                "url": format!("http://{closed}/ingest"), "bearer_token": token,
            }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 201);
    // That event is behind its cursor, so it tries at once and fails.
    let deadline = Instant::now() + CLOSED_WITHIN;
    let line = loop {
        let log = serve.stderr();
        if let Some(line) = log.lines().find(|l| l.contains("export failed")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no export warning within {CLOSED_WITHIN:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["level"], "WARN", "{line}");
    assert_eq!(entry["exporter"], "siem-down", "{line}");
    assert_eq!(entry["message"], "export failed; retrying", "{line}");
    assert!(
        entry["error"]
            .as_str()
            .unwrap()
            .contains(&closed.to_string()),
        "{line}"
    );
    assert!(
        !serve.stderr().contains(token),
        "a log line holds the exporter's token"
    );
}

#[test]
fn serve_on_a_port_another_program_holds_exits_at_once_with_its_own_message() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(["serve", "--port-base", &port.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    // The test helpers rely on it: they fail with this message instead of waiting.
    assert!(
        started.elapsed() < CLOSED_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Files that hold secrets.
// ---------------------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn the_manifest_is_written_privately_through_a_fresh_temporary_file_never_a_planted_one() {
    let dir = scratch("hardening-manifest");
    let victim = dir.join("victim");
    std::fs::write(&victim, "not the credentials").unwrap();
    // The fixed temporary name the manifest went through before: a symlink planted there
    // got its target overwritten with the credentials.
    std::os::unix::fs::symlink(&victim, dir.join("manifest.json.tmp")).unwrap();
    let serve = ServeProcess::start(&dir, &[]);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "not the credentials"
    );
    assert_eq!(mode(&dir.join("manifest.json")), 0o600);
    assert!(serve.manifest["issuer"]["admin_token"].is_string());
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "manifest.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[cfg(unix)]
#[test]
fn the_state_database_and_its_wal_and_shm_are_private_and_a_readable_one_is_reported() {
    let dir = scratch("hardening-db-mode");
    let db = dir.join("state.db");
    let mut serve = ServeProcess::start(&dir, &["--db".into(), db.display().to_string()]);
    // One token request, so the WAL holds something.
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), CLOSED_WITHIN),
        Ok(200)
    );
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert!(
        !serve.stderr().contains("can be read by others"),
        "{}",
        serve.stderr()
    );
    assert_eq!(serve.terminate(Duration::from_secs(8)), Some(0));

    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let serve = ServeProcess::start(&dir, &["--db".into(), db.display().to_string()]);
    let log = serve.stderr();
    assert!(
        log.contains("WARN")
            && log.contains("the state database can be read by others")
            && log.contains("mode=\"644\""),
        "{log}"
    );
}

#[cfg(unix)]
#[test]
fn without_a_database_file_serve_keeps_its_database_in_a_private_folder_removed_at_exit() {
    let dir = scratch("hardening-temp-db");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut serve = ServeProcess::start_as(
        &dir,
        &[],
        &Launch {
            tmpdir: Some(tmp.clone()),
            ..Launch::default()
        },
    );
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(mode(&folders[0]), 0o700);
    assert_eq!(mode(&folders[0].join("state.db")), 0o600);
    assert_eq!(serve.terminate(Duration::from_secs(8)), Some(0));
    assert!(
        !folders[0].exists(),
        "the temporary folder outlived a clean exit"
    );
}

#[tokio::test]
async fn a_file_exporter_path_that_is_no_regular_file_or_not_absolute_is_refused_at_once() {
    let eco = ecosystem(LIMITS).await;
    let m = eco.manifest();
    let dir = scratch("hardening-exporter-paths");
    let fifo = dir.join("fifo");
    let link = dir.join("link.ndjson");
    std::os::unix::fs::symlink(dir.join("elsewhere.ndjson"), &link).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let http = reqwest::Client::builder()
        .timeout(CLOSED_WITHIN)
        .build()
        .unwrap();
    let admin = |path: Value| {
        let http = http.clone();
        let url = format!("{}/exporters", m.issuer.admin_url);
        let token = m.issuer.admin_token.secret().to_owned();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"name": "archive", "kind": "file", "path": path}))
                .send()
                .await
                .expect("the admin API answered within 5 s");
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let cases = [
        (Value::from(fifo.display().to_string()), format!("`path` {} is not a regular file (a FIFO, socket or device)", fifo.display())),
        (Value::from(dir.display().to_string()), format!("`path` {} is a directory", dir.display())),
        (Value::from("audit.ndjson"), "`path` must be absolute (found `audit.ndjson`): a relative path would depend on the folder jagspec happens to run in".to_owned()),
        (Value::from("/tmp/a\u{0}b"), "`path` holds a NUL byte".to_owned()),
        (Value::from(format!("{}/missing/audit.ndjson", dir.display())), format!("`path` {}/missing/audit.ndjson: its folder does not exist", dir.display())),
        // A symlink, dangling here: opening it to append would create its target anywhere.
        (Value::from(link.display().to_string()), format!("`path` {} is a symlink; give the file itself", link.display())),
    ];
    for (path, description) in cases {
        let (status, body) = admin(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}");
        let said = body["error_description"].as_str().unwrap();
        assert!(said.ends_with(&description), "{path}: {said}");
    }
    // PATCH goes through the same check, and a good path still works.
    let good = dir.join("audit.ndjson");
    let (status, body) = admin(Value::from(good.display().to_string())).await;
    assert_eq!(status, 201, "{body}");
    let r = http
        .patch(format!("{}/exporters/archive", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .json(&serde_json::json!({"path": fifo.display().to_string()}))
        .send()
        .await
        .expect("the admin API answered within 5 s");
    assert_eq!(r.status(), 400);
    let said = r.json::<Value>().await.unwrap()["error_description"].clone();
    assert!(
        said.as_str().unwrap().ends_with(&format!(
            "`path` {} is not a regular file (a FIFO, socket or device)",
            fifo.display()
        )),
        "{said}"
    );
    // The exporter list is never held up by a file either.
    let r = http
        .get(format!("{}/exporters", m.issuer.admin_url))
        .bearer_auth(m.issuer.admin_token.secret())
        .send()
        .await
        .expect("the admin API answered within 5 s");
    assert_eq!(r.status(), 200);
    eco.stop().await;
}

// ---------------------------------------------------------------------------------------
// The SIEM sink: a token of its own per start, and paged listings.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_siem_sink_token_is_random_at_every_start_and_in_the_manifest() {
    let (a, b) = (ecosystem(LIMITS).await, ecosystem(LIMITS).await);
    let token = |e: &Ecosystem| {
        e.manifest()
            .siem_sink
            .as_ref()
            .and_then(|s| s.bearer_token.as_ref())
            .map(|t| t.secret().to_owned())
            .expect("the manifest carries the sink's token")
    };
    let (ta, tb) = (token(&a), token(&b));
    assert_ne!(ta, tb);
    assert_eq!(ta.len(), 32);
    assert_ne!(ta, "siem-sink-token", "the fixed token of old");
    let sink = &a.manifest().siem_sink.as_ref().unwrap().url;
    let http = reqwest::Client::new();
    let with_other = http
        .get(format!("{sink}/received"))
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap();
    assert_eq!(with_other.status(), 403);
    let with_own = http
        .get(format!("{sink}/received"))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(with_own.status(), 200);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_siem_sink_lists_what_it_received_a_page_at_a_time() {
    let eco = ecosystem(LIMITS).await;
    let sink = eco.manifest().siem_sink.as_ref().unwrap();
    let token = sink.bearer_token.as_ref().unwrap().secret().to_owned();
    let http = reqwest::Client::new();
    for i in 0..5 {
        let r = http
            .post(format!("{}/events", sink.url))
            .bearer_auth(&token)
            .body(format!("{{\"n\":{i}}}\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let page = |query: &'static str| {
        let (http, url, token) = (
            http.clone(),
            format!("{}/received{query}", sink.url),
            token.clone(),
        );
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = page("").await;
    assert_eq!(status, 200);
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 5);
    assert_eq!(
        (all["total"].as_u64(), all["next"].as_u64()),
        (Some(5), None)
    );
    let mut bodies = Vec::new();
    let mut from = Some(0u64);
    let mut pages = 0;
    while let Some(f) = from {
        let url = format!("{}/received?from={f}&limit=2", sink.url);
        let body: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for d in body["deliveries"].as_array().unwrap() {
            bodies.push(d["body"].as_str().unwrap().to_owned());
        }
        from = body["next"].as_u64();
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    assert_eq!(bodies, expected);
    for bad in ["?limit=0", "?limit=1001", "?from=x", "?page=2"] {
        let (status, body) = page(bad).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(6)),
            "{bad}: {body}"
        );
    }
    eco.stop().await;
}

#[test]
fn a_listener_at_its_connection_limit_says_so_at_most_every_five_seconds_not_per_connection() {
    let dir = scratch("hardening-cap");
    let serve = ServeProcess::start(
        &dir,
        &["--max-connections", "4", "--header-timeout", "0.3"].map(String::from),
    );
    let issuer = addr_of(&serve.at("/issuer/url"));
    let held: Vec<std::net::TcpStream> = (0..40)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&issuer).unwrap();
            std::io::Write::write_all(&mut s, b"POST /token HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // Ten waves of four time out one after the other; the valid request comes after them.
    let started = Instant::now();
    assert_eq!(
        login(&serve.at("/issuer/token_endpoint"), Duration::from_secs(20)),
        Ok(200)
    );
    let log = serve.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .collect();
    assert!(!lines.is_empty(), "no warning in:\n{log}");
    assert!(
        lines[0].contains("server=\"the issuer\"") && lines[0].contains("max_connections=4"),
        "{}",
        lines[0]
    );
    // At most one line every five seconds, however often the limit was reached.
    let allowed = 1 + started.elapsed().as_secs() / 5;
    assert!(
        lines.len() as u64 <= allowed,
        "{} lines, {allowed} allowed: {log}",
        lines.len()
    );
    drop(held);
}

#[tokio::test]
async fn a_seeded_file_exporter_follows_the_path_rules_too() {
    const SEED: &str = include_str!("../../fixtures/tenant-examples.toml");
    let db = crate::support::TempDb::new("hardening-seed-path");
    for (path, said) in [
        (
            "audit.ndjson",
            "`path` must be absolute (found `audit.ndjson`)",
        ),
        ("/proc", "`path` /proc is a directory"),
    ] {
        let seed = format!(
            "{SEED}\n[[exporters]]\nname = \"archive\"\nkind = \"file\"\npath = {path:?}\n"
        );
        let config = jagspec::issuer::IssuerConfig {
            seed: Some(jagspec::issuer::Seed::from_toml(&seed).unwrap()),
            ..jagspec::issuer::IssuerConfig::new(db.path())
        };
        let refused = jagspec::issuer::RunningIssuer::start(config)
            .await
            .expect_err("a seed with that path must not start");
        assert!(refused.to_string().contains(said), "{path}: {refused}");
        drop(refused);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.path().display()));
        }
    }
}

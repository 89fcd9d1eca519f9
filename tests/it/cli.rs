//! The `jagspec` binary: `inspect` explains every hostile token, exit codes hold, `mint`
//! and `keys generate` produce what `inspect` accepts.

use crate::jose_denials::catalogue;
use crate::support::{AUDIENCE, ISSUER, NOW, ServeProcess, id_jag, scratch, shift_ports};
use jagspec::{Alg, Rejection};
use std::process::{Command, Output, Stdio};

fn jagspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(args)
        // The outputs compared here are plain, as on any standard output that is not a
        // terminal; a colour forced from outside would change them.
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .output()
        .expect("the jagspec binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const NOW_ARG: &str = "1800000000";

/// `jagspec mint` with the standard ID-JAG claims at [`NOW_ARG`] plus `extra`; the token.
fn mint(extra: &[&str]) -> String {
    let mut args = vec![
        "mint",
        "--iss",
        ISSUER,
        "--aud",
        AUDIENCE,
        "--sub",
        "alice",
        "--client-id",
        "agent",
        "--iat",
        NOW_ARG,
    ];
    args.extend_from_slice(extra);
    let out = jagspec(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

#[test]
fn inspect_explains_why_each_hostile_token_is_refused_and_exits_with_one() {
    assert_eq!(NOW_ARG, NOW.to_string());
    let dir = scratch("cli-hostile");
    for (i, case) in catalogue().into_iter().enumerate() {
        let jwks = dir.join(format!("jwks-{i}.json"));
        std::fs::write(&jwks, case.jwks.to_string()).unwrap();
        let mut args = vec![
            "inspect",
            "--jwks",
            jwks.to_str().unwrap(),
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--now",
            NOW_ARG,
        ];
        let pin = case.pin.map(|a| a.as_str().to_owned());
        if let Some(alg) = &pin {
            args.extend(["--alg", alg]);
        }
        args.push(&case.token);
        let out = jagspec(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {text}", case.name);
        let step = case.expected.step();
        let verdict_line = format!("REFUSED at step {} ({}): ", step.number(), step.title());
        let line = text
            .lines()
            .find(|l| l.starts_with(&verdict_line))
            .unwrap_or_else(|| panic!("{}: {text}", case.name));
        match &case.expected {
            Rejection::SignatureLength { .. } => {
                assert!(
                    line.contains("raw r‖s per RFC 7518 §3.4") && line.ends_with("DER-encoded)"),
                    "{line}"
                );
            }
            expected => assert_eq!(line, format!("{verdict_line}{expected}"), "{}", case.name),
        }
        assert!(
            text.contains(&format!("[{}; {}]", case.expected.code(), step.spec())),
            "{}: {text}",
            case.name
        );
        assert!(
            text.contains(r#"HTTP 400 {"error":"invalid_grant"}"#),
            "{}",
            case.name
        );
    }
}

#[test]
fn inspect_accepts_a_valid_id_jag_with_exit_zero_and_reports_every_step_passed() {
    let out = jagspec(&[
        "inspect",
        "--jwks",
        "fixtures/keys/jwks.json",
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--alg",
        "RS256",
        "--now",
        NOW_ARG,
        &id_jag(Alg::RS256),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" pass ")).count(),
        10,
        "{text}"
    );
    assert!(text.contains("ACCEPTED: RS256 signature by `"), "{text}");
}

#[test]
fn inspect_without_a_jwks_runs_the_other_steps_and_exits_with_three() {
    let out = jagspec(&["inspect", "--now", NOW_ARG, &id_jag(Alg::EdDSA)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("signature NOT checked"), "{text}");
    assert!(text.contains("NOT VERIFIABLE"), "{text}");
    // An expired token is still refused without a JWKS: exit 1, not 3.
    let out = jagspec(&["inspect", "--now", "1900000000", &id_jag(Alg::EdDSA)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn inspect_json_output_names_the_rejection_code_step_and_oauth_error() {
    let out = jagspec(&[
        "inspect",
        "--json",
        "--jwks",
        "fixtures/keys/jwks.json",
        "--now",
        "1900000000",
        &id_jag(Alg::ES256),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "refused");
    assert_eq!(report["rejection"]["code"], "expired");
    assert_eq!(report["rejection"]["step"], 9);
    assert_eq!(report["rejection"]["oauth_error"], "invalid_grant");
    assert_eq!(report["steps"].as_array().unwrap().len(), 10);
    assert_eq!(report["steps"][8]["verdict"], "fail");
    assert_eq!(report["steps"][9]["verdict"], "not_reached");
    assert_eq!(report["claims"]["sub"], "alice");
}

#[test]
fn bad_input_is_a_clear_error_with_exit_two() {
    let out = jagspec(&["inspect", "--jwks", "no/such/file.json", "x.y.z"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: no/such/file.json: "), "{err}");
    let out = jagspec(&["inspect", "--jwks", "Cargo.toml", "x.y.z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a JWK Set in JSON"));
    let out = jagspec(&["inspect", "--skew", "301", "x.y.z"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses a skew beyond the bound"
    );
    let out = jagspec(&[
        "mint",
        "--key",
        "fixtures/keys/es256-1.pem",
        "--alg",
        "EdDSA",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected a key for EdDSA (found a ES256 key")
    );
}

#[test]
fn keys_generate_writes_a_private_key_and_a_jwks_that_inspect_trusts() {
    let dir = scratch("cli-keys");
    let out = jagspec(&[
        "keys",
        "generate",
        "--alg",
        "ES256",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let kid = text
        .lines()
        .find_map(|l| l.strip_prefix("kid  "))
        .unwrap()
        .to_owned();
    let key_path = dir.join(format!("es256-{kid}.pem"));
    assert!(key_path.exists(), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("jwks.json")).unwrap()).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private member in the JWKS"
    );

    let token = mint(&[
        "--key",
        key_path.to_str().unwrap(),
        "--claim",
        "scope=chat.read",
    ]);
    let out = jagspec(&[
        "inspect",
        "--jwks",
        dir.join("jwks.json").to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--alg",
        "ES256",
        "--now",
        NOW_ARG,
        "--expect-claim",
        "client_id=agent",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn mint_header_overrides_make_hostile_tokens_that_inspect_refuses() {
    let token = mint(&[
        "--alg",
        "ES256",
        "--header",
        r#"crit=["urn:x"]"#,
        "--header",
        "urn:x=true",
    ]);
    let out = jagspec(&[
        "inspect",
        "--jwks",
        "fixtures/keys/jwks.json",
        "--now",
        NOW_ARG,
        &token,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains(
        "REFUSED at step 4 (critical extensions): expected only understood critical extensions"
    ));
}

#[test]
fn help_describes_every_subcommand() {
    let text = stdout(&jagspec(&["--help"]));
    for sub in ["keys", "mint", "inspect"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_fetches_the_jwks_from_a_loopback_url() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jagspec::fixtures::jwks()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/missing"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let url = format!("{}/jwks", server.uri());
    let missing = format!("{}/missing", server.uri());
    let token = id_jag(Alg::EdDSA);
    let (ok, not_found) = tokio::task::spawn_blocking(move || {
        (
            jagspec(&["inspect", "--jwks", &url, "--now", NOW_ARG, &token]),
            jagspec(&["inspect", "--jwks", &missing, "--now", NOW_ARG, &token]),
        )
    })
    .await
    .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert_eq!(not_found.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("HTTP 404"));
    server.verify().await;
}

#[test]
fn the_demo_ends_every_scene_as_the_seeds_document_and_exits_zero() {
    let out = jagspec(&["demo"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("demo: 11 of 11 scenes ended as the seeds document"),
        "{text}"
    );
    for detail in [
        "status detail \"Server paused\", OAuth error access_denied, HTTP 400",
        "status detail \"Target URL not registered\", OAuth error invalid_target, HTTP 400",
        "status detail \"Audience not registered\", OAuth error invalid_target, HTTP 400",
        "status detail \"No grant for the scope\", OAuth error invalid_scope, HTTP 400",
        "status detail \"Scope not enabled\", OAuth error invalid_scope, HTTP 400",
        "status detail \"No signing key for the algorithm\", OAuth error server_error, HTTP 500",
        "the authorization server rejected the ID-JAG: invalid_grant",
    ] {
        assert!(text.contains(detail), "missing `{detail}` in:\n{text}");
    }
    // Secrets stay redacted unless --show-secrets.
    assert!(
        !text.contains("alice-password") && !text.contains("agent-secret"),
        "{text}"
    );
}

#[test]
fn serve_writes_a_manifest_that_drives_the_chain_and_stops_on_sigterm() {
    let dir = scratch("cli-serve");
    let manifest_path = dir.join("manifest.json");
    let child = Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(["serve", "--manifest", manifest_path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The manifest appears once every server listens (an atomic rename: never half a file).
    let mut manifest = None;
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&manifest_path) {
            manifest = Some(serde_json::from_str::<serde_json::Value>(&text).unwrap());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let manifest = manifest.expect("serve wrote its manifest within 10 s");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&manifest_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the manifest holds credentials");
    }
    let metadata_url = manifest["issuer"]["metadata_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let es = manifest["authorization_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "es256")
        .unwrap()
        .clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let issuer: serde_json::Value = http
            .get(&metadata_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(issuer["issuer"], manifest["issuer"]["url"]);
        let challenge = http
            .post(es["mcp_servers"][0]["url"].as_str().unwrap())
            .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap();
        assert_eq!(challenge.status(), 401);
    });
    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("authorization server") && text.contains("ready in"),
        "{text}"
    );
}

#[test]
fn a_reader_that_stops_reading_ends_the_demo_quietly_without_a_panic() {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0_u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is closed here; the demo's next write meets EPIPE.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_example_issuer_profile_passes_against_serve_with_every_role_it_declares() {
    let dir = scratch("cli-profile");
    // The admin token the example profile names, and free ports: the profile's fixed ones
    // (18400 on) are moved to them in a copy, so another program holding 18400 is no
    // failure. It is held while the test runs, when nobody else holds it, to show that.
    let _fixed = std::net::TcpListener::bind("127.0.0.1:18400");
    let (_serve, base) = ServeProcess::start_on_free_ports(&dir, 20, |base| {
        [
            "--port-base",
            &base.to_string(),
            "--admin-token",
            "example-admin-token",
        ]
        .map(String::from)
        .to_vec()
    });
    let report_path = dir.join("report.json");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/issuer-profile.toml"
    ))
    .unwrap();
    let profile = dir.join("issuer-profile.toml");
    std::fs::write(&profile, shift_ports(&example, &[(18400, 20, base)])).unwrap();
    let profile = profile.to_str().unwrap();
    let out = jagspec(&[
        "test",
        "issuer",
        "--profile",
        profile,
        "--json",
        report_path.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["target"], "issuer");
    assert_eq!(report["summary"]["failed"], 0, "{text}");
    assert_eq!(report["summary"]["warned"], 0, "{text}");
    let outcome = |scenario: &str| -> String {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scenario"] == scenario)
            .map(|c| c["outcome"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no check `{scenario}`"))
    };
    // Each kind of role the profile declares ran and passed: a subject token from the
    // command (alice), denials read back from the system log, redemptions at the
    // profile's authorization servers, the mismatch server, the lifetime roles.
    for scenario in [
        "A scope the user holds no grant for is denied (EdDSA)",
        "A scope that exists but is not enabled on the server is denied (RS256)",
        "A target URL outside the server's resource URIs is denied (ES256)",
        "A paused server gets no token (ES256)",
        "An audience no resource server has is denied",
        "A subject token issued to another client is refused",
        "An ID-JAG for the EdDSA server is signed with EdDSA and carries every required claim",
        "Granted and ungranted scopes together give a token for the granted subset (ES256)",
        "A valid RS256 ID-JAG is redeemed once and only once",
        "An authorization server that verifies another algorithm rejects an otherwise valid ID-JAG",
        "A server that inherits the tenant default is signed with ES256",
        "An indefinite maximum grant lifetime inherits the 300-second default",
        "A server's maximum grant lifetime bounds its ID-JAGs",
        "Without a resource, the server's only resource URI is used",
    ] {
        assert_eq!(outcome(scenario), "pass", "{scenario}\n{text}");
    }
    // What an external target cannot offer is skipped with the reason, never failed.
    assert_eq!(outcome("A paused server gets no token (EdDSA)"), "skip");
    assert_eq!(
        outcome("An EdDSA ID-JAG re-signed with typ \"JWT\" is refused"),
        "skip"
    );
    assert_eq!(
        outcome(
            "Disabling a server denies its next token request, and enabling it restores it \
             unchanged"
        ),
        "skip"
    );
    // The console counts skips by reason instead of a line per skipped check.
    assert!(!text.lines().any(|l| l.starts_with("skip ")), "{text}");
    let skipped = report["summary"]["skipped"].as_u64().unwrap();
    assert!(
        text.contains(&format!(
            "skipped {skipped} checks, by reason (--show-skips lists each):"
        )),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.trim_start().split_once("  ").is_some_and(|(n, reason)| {
                n.parse::<u64>().is_ok()
                    && reason
                        .starts_with("the suite does not hold the target issuer's signing keys")
            })
        ),
        "{text}"
    );
}

#[test]
fn a_broken_profile_is_refused_with_every_problem_and_its_fix() {
    let dir = scratch("cli-bad-profile");
    let path = dir.join("profile.toml");
    std::fs::write(
        &path,
        r#"
[issuer]
metadata_url = "http://issuer.example/.well-known/oauth-authorization-server"

[client]
client_id = "agent"
client_secret = "agent-secret"

[users.bob]
password = "p"
subject_token = "t"

[[servers]]
alg = "HS256"
audience = "https://as.example"
resource = "https://mcp.example"
scope = "read"

[[servers]]
alg = "ES256"
state = "sleeping"
audience = "https://as2.example"
resource = "https://mcp2.example"
scope = "read"
authorization_server = "nowhere"
"#,
    )
    .unwrap();
    let out = jagspec(&["test", "issuer", "--profile", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    for expected in [
        "the profile has 7 problem(s)",
        "[issuer] metadata_url: `http://issuer.example/.well-known/oauth-authorization-server` \
         is plain http to a host other than loopback",
        "[users]: there is no [users.alice]",
        "[users.bob]: it gives 2 ways to get a subject token.",
        "[[servers]] #1 alg: `HS256` is not an algorithm jagspec tests. Fix: write EdDSA, \
         RS256 or ES256",
        "[[servers]] #2 state: `sleeping` is not a state.",
        "[[servers]] #2 authorization_server: no [[authorization_servers]] is named `nowhere`.",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    // A syntax error names its line.
    std::fs::write(&path, "[issuer]\nmetadata_url = \n").unwrap();
    let out = jagspec(&["test", "issuer", "--profile", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("correct line 2"), "{err}");
    // An unreachable issuer is one clear error before any check runs.
    std::fs::write(
        &path,
        r#"
[issuer]
metadata_url = "http://127.0.0.1:9/.well-known/oauth-authorization-server"
[client]
client_id = "agent"
client_secret = "s"
[users.alice]
password = "p"
[[servers]]
alg = "ES256"
audience = "https://as.example"
resource = "https://mcp.example"
scope = "read"
"#,
    )
    .unwrap();
    let out = jagspec(&["test", "issuer", "--profile", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("GET http://127.0.0.1:9/.well-known/oauth-authorization-server failed")
            && err.contains("Fix: start the server, or correct the URL"),
        "{err}"
    );
}

#[test]
fn the_example_as_profile_passes_against_the_es256_mock_that_trusts_jagspecs_idp() {
    let dir = scratch("cli-as-profile");
    // The example profile's ports moved to free ones in a copy: jagspec's IdP (18500) at
    // the base, the ecosystem (18600 on) after it.
    let (_serve, base) = ServeProcess::start_on_free_ports(&dir, 21, |base| {
        [
            "--port-base",
            &(base + 1).to_string(),
            "--trust-issuer",
            &format!("http://127.0.0.1:{base}"),
        ]
        .map(String::from)
        .to_vec()
    });
    let report_path = dir.join("report.json");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/as-profile.toml"
    ))
    .unwrap();
    let profile = dir.join("as-profile.toml");
    let moved = shift_ports(&example, &[(18500, 1, base), (18600, 20, base + 1)]).replace(
        "keys_dir = \"../target/jagspec-idp-keys\"",
        "keys_dir = \"idp-keys\"",
    );
    assert!(moved.contains("keys_dir = \"idp-keys\""));
    std::fs::write(&profile, moved).unwrap();
    let profile = profile.to_str().unwrap();
    let out = jagspec(&[
        "test",
        "as",
        "--profile",
        profile,
        "--json",
        report_path.to_str().unwrap(),
        "--show-skips",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "jagspec IdP: issuer http://127.0.0.1:{base} (JWKS http://127.0.0.1:{base}/jwks"
        )),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["target"], "authorization server");
    assert_eq!(report["summary"]["failed"], 0, "{text}");
    assert_eq!(report["summary"]["warned"], 0, "{text}");
    let checks = report["checks"].as_array().unwrap();
    // Only the authorization server's scenarios run; every ES256 one passes but the one
    // that moves the clock, which an external target cannot offer.
    assert!(
        checks.iter().all(|c| c["feature"]
            .as_str()
            .unwrap()
            .contains("MCP authorization server")),
        "{text}"
    );
    let es256_not_passed: Vec<&str> = checks
        .iter()
        .filter(|c| {
            // The algorithm a check runs under is the first its name mentions.
            let name = c["scenario"].as_str().unwrap();
            let first = ["EdDSA", "RS256", "ES256"]
                .into_iter()
                .filter_map(|a| name.find(a).map(|at| (at, a)))
                .min()
                .map(|(_, a)| a);
            first == Some("ES256") && c["outcome"] != "pass"
        })
        .map(|c| c["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        es256_not_passed,
        vec!["An expired ES256 ID-JAG is refused, while a fresh one is accepted"]
    );
    // --show-skips: each skipped check on its own line with its reason, no summary.
    let skip_lines = text.lines().filter(|l| l.starts_with("skip  ")).count();
    assert_eq!(
        skip_lines as u64,
        report["summary"]["skipped"].as_u64().unwrap(),
        "{text}"
    );
    assert!(
        text.contains("\n      skipped: the target offers no `the RS256 server`"),
        "{text}"
    );
    assert!(!text.contains("by reason (--show-skips"), "{text}");
    for scenario in [
        "A valid ES256 ID-JAG is redeemed once and only once",
        "A valid ES256 ID-JAG redeemed eight times at once is granted once",
        "The access token a valid ES256 ID-JAG is redeemed for opens its MCP server",
        "Wycheproof's invalid ES256 signatures over a real ID-JAG are refused",
        "An ES256 ID-JAG re-signed with a key of its own published at \"jku\" is refused",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["scenario"] == scenario && c["outcome"] == "pass"),
            "{scenario}\n{text}"
        );
    }
}

#[test]
fn doctor_prints_the_seeds_fix_for_each_troubleshooting_case_and_exits_one() {
    let out = jagspec(&["doctor", "--authorization-server", "legacy"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "PROBLEM: The server rejects a token because of a signature-algorithm mismatch"
        ) && text.contains("ES256 is the broadest choice.")
            && text.contains("Set this server's signing algorithm to RS256.")
            && text.ends_with("doctor: 1 problem(s)\n"),
        "{text}"
    );
    let out = jagspec(&[
        "doctor",
        "--authorization-server",
        "es256",
        "--mcp",
        "unlisted",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM: A call's target URL isn't in the resource URLs")
            && text
                .contains("Add the URL the agent is calling to the resource URLs for this server."),
        "{text}"
    );
    let out = jagspec(&["doctor", "--authorization-server", "unregistered"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM: The audience isn't registered"),
        "{text}"
    );
    let out = jagspec(&["doctor", "--authorization-server", "eddsa"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("doctor: the chain works\n"));
    let out = jagspec(&["doctor", "--authorization-server", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no mock authorization server is named `nowhere`")
    );
}

#[test]
fn colour_is_added_only_when_forced_and_never_under_no_color() {
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jagspec"));
        command
            .args([
                "test",
                "reference",
                "--name",
                "features/issuer-denials.feature:11#1",
            ])
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command.output().expect("the jagspec binary runs");
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        stdout(&out)
    };
    // Standard output here is a pipe: plain, as CI logs and files want it.
    let plain = run(&[]);
    assert!(plain.starts_with("pass  "), "{plain:?}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    let forced = run(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.starts_with("\u{1b}[32mpass\u{1b}[0m  "),
        "{forced:?}"
    );
    assert!(forced.contains("\u{1b}[32mPASS\u{1b}[0m"), "{forced:?}");
    // NO_COLOR (no-color.org) wins over a forced colour.
    let refused = run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!refused.contains('\u{1b}'), "{refused:?}");
}

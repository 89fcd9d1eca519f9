//! `jagspec client`: exit codes, the password from standard input or the environment, bad
//! input, the pinned issuer, and no secret on standard output.

use super::*;

fn jagspec(args: &[String], env: &[(&str, &str)]) -> Output {
    jagspec_with_stdin(args, env, None)
}

/// Runs `jagspec` with only the environment given of its own variables, and `stdin`.
fn jagspec_with_stdin(args: &[String], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jagspec"))
        .args(args)
        .env_remove("JAGSPEC_IDP_CLIENT_SECRET")
        .env_remove("JAGSPEC_CLIENT_SECRET")
        .env_remove("JAGSPEC_PASSWORD")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jagspec binary runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("the jagspec binary runs")
}

/// `args` with `flag`'s value replaced, or the flag removed for `None`.
fn with_flag(mut args: Vec<String>, flag: &str, value: Option<&str>) -> Vec<String> {
    let at = args.iter().position(|a| a == flag).unwrap();
    match value {
        Some(value) => value.clone_into(&mut args[at + 1]),
        None => {
            args.drain(at..at + 2);
        }
    }
    args
}

fn cli_args(world: &World, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "client",
        "--mcp-url",
        &world.mcp_url(),
        "--idp-token-endpoint",
        &format!("{}/token", world.idp.uri()),
        "--user",
        "alice",
        "--password",
        "alice-password",
        "--idp-client-id",
        "agent",
        "--idp-client-secret",
        "agent-secret",
        "--client-id",
        "agent-at-as",
        "--scope",
        "tools.read",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test]
async fn the_client_command_exits_zero_after_a_complete_chain_and_prints_no_secret() {
    let world = World::start(Framing::Json).await;
    let out = jagspec(
        &cli_args(&world, &["--call", "echo"]),
        &[("JAGSPEC_CLIENT_SECRET", "agent-at-as-secret")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_line(&stdout), "OK: tools [echo, publish]");
    let basic_idp = basic("agent", "agent-secret");
    let basic_as = basic("agent-at-as", "agent-at-as-secret");
    for secret in [
        world.id_token.as_str(),
        world.id_jag.as_str(),
        world.access_token.as_str(),
        "alice-password",
        "agent-secret",
        "agent-at-as-secret",
        &basic_idp["Basic ".len()..],
        &basic_as["Basic ".len()..],
    ] {
        assert!(!stdout.contains(secret), "`{secret}` leaked:\n{stdout}");
    }
    assert!(stdout.contains("[9] Call tool  POST "));
    assert!(stdout.contains("    Authorization: Basic (redacted, 24 bytes)\n"));
    assert!(stdout.contains("    Authorization: Basic (redacted, 40 bytes)\n"));
}

#[tokio::test]
async fn the_client_command_reads_the_password_from_standard_input_or_the_environment() {
    let world = World::start(Framing::Json).await;
    let secret = [("JAGSPEC_CLIENT_SECRET", "agent-at-as-secret")];
    let args = with_flag(cli_args(&world, &[]), "--password", Some("-"));
    let from_stdin = jagspec_with_stdin(&args, &secret, Some("alice-password\n"));
    let stdout = String::from_utf8_lossy(&from_stdin.stdout);
    assert_eq!(from_stdin.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("    password=(redacted, 14 bytes)\n"),
        "{stdout}"
    );

    let args = with_flag(cli_args(&world, &[]), "--password", None);
    let env = [secret[0], ("JAGSPEC_PASSWORD", "alice-password")];
    let from_env = jagspec(&args, &env);
    let stdout = String::from_utf8_lossy(&from_env.stdout);
    assert_eq!(from_env.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("alice-password"), "{stdout}");

    let idp = world.idp.received_requests().await.unwrap();
    let logins: Vec<_> = idp
        .iter()
        .map(form)
        .filter(|f| f.get("grant_type").map(String::as_str) == Some("password"))
        .collect();
    assert_eq!(logins.len(), 2);
    for login in logins {
        assert_eq!(
            login.get("password").map(String::as_str),
            Some("alice-password")
        );
    }
}

#[tokio::test]
async fn the_client_command_exits_one_and_names_the_failing_hop_on_its_last_line() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    Mock::given(method("GET"))
        .and(path(PRM_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(world.protected_resource("https://elsewhere.example/mcp")),
        )
        .with_priority(1)
        .mount(&world.mcp)
        .await;

    let out = jagspec(
        &cli_args(&world, &["--client-secret", "agent-at-as-secret"]),
        &[],
    );

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_line(&String::from_utf8_lossy(&out.stdout)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): the metadata's resource \
             `https://elsewhere.example/mcp` is not identical to the MCP server URL `{}` \
             (RFC 9728 §3.3, CLI-02); the metadata is not used",
            world.mcp_url()
        )
    );
    let out = jagspec(
        &cli_args(&world, &["--client-secret", "agent-at-as-secret", "--json"]),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["outcome"]["hop"], "resource_metadata");
    assert_eq!(printed["outcome"]["hop_number"], 2);
    assert_eq!(printed["hops"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_client_command_exits_two_on_bad_input() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;
    let not_an_object = jagspec(
        &cli_args(
            &world,
            &[
                "--client-secret",
                "s",
                "--call",
                "echo",
                "--arguments",
                "[1]",
            ],
        ),
        &[],
    );
    assert_eq!(not_an_object.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&not_an_object.stderr).trim(),
        "error: --arguments: expected a JSON object (MCP tools/call arguments)"
    );
    let both_subjects = jagspec(
        &cli_args(&world, &["--client-secret", "s", "--id-token", "eyJ.x.y"]),
        &[],
    );
    assert_eq!(both_subjects.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both_subjects.stderr).starts_with(
            "error: the argument '--user <NAME>' cannot be used with '--id-token <TOKEN>'"
        ),
        "{}",
        String::from_utf8_lossy(&both_subjects.stderr)
    );
    let bad_url = jagspec(
        &[
            "client",
            "--mcp-url",
            "mcp.example",
            "--idp-token-endpoint",
            "http://127.0.0.1:9/token",
            "--id-token",
            "t",
            "--idp-client-id",
            "a",
            "--idp-client-secret",
            "s",
            "--client-id",
            "b",
            "--client-secret",
            "s",
        ]
        .map(str::to_owned),
        &[],
    );
    assert_eq!(bad_url.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad_url.stderr).trim(),
        "error: --mcp-url: `mcp.example` is not an absolute URL (relative URL without a base)"
    );
    let insecure = jagspec(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--idp-token-endpoint",
            Some("http://idp.example/token"),
        ),
        &[],
    );
    assert_eq!(insecure.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&insecure.stderr).trim(),
        "error: --idp-token-endpoint: `http://idp.example/token` is plain http to a host other \
         than loopback: credentials would cross the network unencrypted (CLI-15); use https, \
         or allow insecure http explicitly"
    );
    let fragment = jagspec(
        &cli_args(
            &world,
            &["--client-secret", "s", "--issuer", "https://as.example/#x"],
        ),
        &[],
    );
    assert_eq!(fragment.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&fragment.stderr).trim(),
        "error: --issuer: `https://as.example/#x` has a fragment, which no request URL or \
         identifier may have"
    );
    let password_with_token = jagspec(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--password",
            Some("alice-password"),
        )
        .into_iter()
        .map(|a| {
            if a == "--user" {
                "--id-token".to_owned()
            } else {
                a
            }
        })
        .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(password_with_token.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&password_with_token.stderr).trim(),
        "error: --password goes with --user, not with --id-token"
    );
    let empty_password = jagspec_with_stdin(
        &with_flag(
            cli_args(&world, &["--client-secret", "s"]),
            "--password",
            Some("-"),
        ),
        &[],
        Some("\n"),
    );
    assert_eq!(empty_password.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&empty_password.stderr).trim(),
        "error: --password: the password is empty"
    );
}

#[tokio::test]
async fn the_client_command_pins_the_issuer_given_with_the_issuer_flag() {
    let world = World::start(Framing::Json).await;
    world.forbid_token_requests().await;

    let out = jagspec(
        &cli_args(
            &world,
            &[
                "--client-secret",
                "agent-at-as-secret",
                "--issuer",
                "https://as.example",
            ],
        ),
        &[],
    );

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        last_line(&String::from_utf8_lossy(&out.stdout)),
        format!(
            "FAILED at hop 2 (Protected resource metadata): the metadata's \
             authorization_servers [\"{}\"] do not include the expected issuer \
             `https://as.example`; no metadata is fetched and no secret sent",
            world.issuer()
        )
    );
}

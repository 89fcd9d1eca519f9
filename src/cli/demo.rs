//! `jagspec demo`: the ecosystem and the reference client in one process. A granted chain
//! for each signing algorithm, then every denial and rejection the seeds document, each
//! with its status detail and audit record. Self-checking: the exit code is 0 only when
//! every scene ended as the seeds say it must.

use super::CliError;
use crate::audit::AuditEvent;
use crate::client::{ClientConfig, HopKind, SubjectToken, ToolCall, Transcript};
use crate::http::admin::AdminClient;
use crate::jose::Alg;
use crate::mocks::{Ecosystem, Manifest};
use crate::oauth::AuthMethod;
use clap::Args;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Print every scene's full transcript, not only the first.
    #[arg(long)]
    verbose: bool,
    /// Print tokens and secrets in full (they are test credentials of a throwaway tenant,
    /// but the default still redacts them).
    #[arg(long)]
    show_secrets: bool,
}

/// How a scene must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The chain completes.
    Granted,
    /// The issuer denies the token exchange.
    IssuerDenies {
        detail: &'static str,
        error: &'static str,
        status: u16,
    },
    /// The issuer grants; the authorization server rejects the ID-JAG.
    ServerRejects { error: &'static str },
}

/// An admin action around a scene.
#[derive(Debug, Clone, Copy)]
enum Admin {
    None,
    /// Retire the active key of this algorithm (before), generate a new one (after).
    WithoutKey(Alg),
    /// Set this resource server's signing algorithm (before the scene).
    SetAlg(&'static str, Alg),
}

struct Scene {
    title: &'static str,
    /// The seeds' words for what the scene shows.
    seeds: &'static str,
    server: &'static str,
    mcp: &'static str,
    scope: &'static str,
    expect: Expect,
    admin: Admin,
}

const SCENES: [Scene; 11] = [
    Scene {
        title: "Granted chain, EdDSA",
        seeds: "Signing algorithm: EdDSA, RS256 or ES256",
        server: "eddsa",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::Granted,
        admin: Admin::None,
    },
    Scene {
        title: "Granted chain, RS256",
        seeds: "Signing algorithm: EdDSA, RS256 or ES256",
        server: "rs256",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::Granted,
        admin: Admin::None,
    },
    Scene {
        title: "Granted chain, ES256",
        seeds: "C1 signs with ES256 by default",
        server: "es256",
        mcp: "chat",
        scope: "chat.read",
        expect: Expect::Granted,
        admin: Admin::None,
    },
    Scene {
        title: "Server paused",
        seeds: "The resource server is paused, so no token is issued for it",
        server: "paused",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::IssuerDenies {
            detail: "Server paused",
            error: "access_denied",
            status: 400,
        },
        admin: Admin::None,
    },
    Scene {
        title: "Target URL not registered",
        seeds: "The call's target URL is not registered on the resource server",
        server: "es256",
        mcp: "unlisted",
        scope: "chat.read",
        expect: Expect::IssuerDenies {
            detail: "Target URL not registered",
            error: "invalid_target",
            status: 400,
        },
        admin: Admin::None,
    },
    Scene {
        title: "Audience not registered",
        seeds: "The token's audience does not match a registered resource server",
        server: "unregistered",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::IssuerDenies {
            detail: "Audience not registered",
            error: "invalid_target",
            status: 400,
        },
        admin: Admin::None,
    },
    Scene {
        title: "No grant for the scope",
        seeds: "The user does not hold a grant for a requested scope",
        server: "es256",
        mcp: "chat",
        scope: "chat.write",
        expect: Expect::IssuerDenies {
            detail: "No grant for the scope",
            error: "invalid_scope",
            status: 400,
        },
        admin: Admin::None,
    },
    Scene {
        title: "Scope not enabled",
        seeds: "The requested scope exists but is not enabled on the system",
        server: "es256",
        mcp: "chat",
        scope: "chat.admin",
        expect: Expect::IssuerDenies {
            detail: "Scope not enabled",
            error: "invalid_scope",
            status: 400,
        },
        admin: Admin::None,
    },
    Scene {
        title: "No signing key for the algorithm",
        seeds: "No signing key exists for the chosen algorithm",
        server: "rs256",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::IssuerDenies {
            detail: "No signing key for the algorithm",
            error: "server_error",
            status: 500,
        },
        admin: Admin::WithoutKey(Alg::RS256),
    },
    Scene {
        title: "Signature-algorithm mismatch",
        seeds: "C1 minted the token, but the server's authorization server rejected its signature",
        server: "legacy",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::ServerRejects {
            error: "invalid_grant",
        },
        admin: Admin::None,
    },
    Scene {
        title: "The fix: the server's algorithm set to one its authorization server verifies",
        seeds: "Set this server's signing algorithm to one its authorization server verifies",
        server: "legacy",
        mcp: "tools",
        scope: "tools.read",
        expect: Expect::Granted,
        admin: Admin::SetAlg("legacy", Alg::RS256),
    },
];

pub(crate) fn run(args: DemoArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(demo(&args))
}

async fn demo(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let ecosystem = Ecosystem::start().await?;
    let manifest = ecosystem.manifest().clone();
    outln!(
        "jagspec demo: the reference issuer and the mock ecosystem on loopback (up in {} ms)\n",
        started.elapsed().as_millis()
    );
    out!("{}", super::serve::describe(&manifest));
    outln!();

    let http = crate::http::client(std::time::Duration::from_secs(30));
    // The admin API as an administrator uses it, between the scenes.
    let admin = AdminClient::new(
        http.clone(),
        &manifest.issuer.admin_url,
        manifest.issuer.admin_token.clone(),
    )?;
    let mut as_documented = 0;
    for (n, scene) in SCENES.iter().enumerate() {
        let saved_kid = match scene.admin {
            Admin::WithoutKey(alg) => {
                let kid = admin.active_key(alg).await?;
                admin.retire_key(&kid).await?;
                outln!(
                    "   (admin: {alg} key {kid} retired through the admin API: the tenant has no active {alg} key)\n"
                );
                Some(kid)
            }
            Admin::SetAlg(server, alg) => {
                let changes = json!({"alg": alg.as_str()});
                admin.update_resource_server(server, &changes).await?;
                outln!("   (admin: resource server `{server}` now signs with {alg})\n");
                None
            }
            Admin::None => None,
        };
        // Alternate the client authentication method, so both are shown working.
        let method = if n % 2 == 0 {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::ClientSecretPost
        };
        let config = client_config(&manifest, scene, method)?;
        let transcript = crate::client::run(&config, &http).await;
        let event = audit_event(&ecosystem, &transcript);
        let verdict = judge(scene, &transcript, event.as_ref());
        let mut out = String::new();
        let _ = writeln!(out, "── {}/{}  {} ", n + 1, SCENES.len(), scene.title);
        let _ = writeln!(out, "   seeds: \"{}\"", scene.seeds);
        let _ = writeln!(
            out,
            "   alice → MCP server `{}` of authorization server `{}` (verifies {}), scope {}, {}",
            scene.mcp,
            scene.server,
            verifies(&manifest, scene.server),
            scene.scope,
            method.as_str()
        );
        if n == 0 || args.verbose || verdict.is_err() {
            for line in transcript.render(args.show_secrets).lines() {
                let _ = writeln!(out, "   │ {line}");
            }
        } else {
            let _ = writeln!(out, "   {}", hop_line(&transcript));
        }
        if let Some(header) = id_jag_header(&transcript) {
            let _ = writeln!(out, "   ID-JAG  {header}");
        }
        match &event {
            Some(e) => {
                let _ = writeln!(out, "   audit   {}", audit_line(e));
            }
            None => {
                let _ = writeln!(out, "   audit   (no token request was made)");
            }
        }
        if let Expect::ServerRejects { .. } = scene.expect
            && let Some(e) = &event
        {
            let _ = writeln!(
                out,
                "   debug   the issuance record shows algorithm {} and key {}, but authorization \
                 server `{}` verifies {}. The seeds' fix: set this server's signing algorithm \
                 to one its authorization server verifies ({}).",
                e.algorithm.map_or("?", Alg::as_str),
                e.signing_key_id.as_deref().unwrap_or("?"),
                scene.server,
                verifies(&manifest, scene.server),
                verifies(&manifest, scene.server),
            );
        }
        match &verdict {
            Ok(said) => {
                as_documented += 1;
                let _ = writeln!(
                    out,
                    "   {}",
                    super::style::marked(true, "✓", &format!("✓ {said}"))
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "   {}",
                    super::style::marked(false, "✗", &format!("✗ {why}"))
                );
            }
        }
        outln!("{out}");
        if let (Admin::WithoutKey(alg), Some(kid)) = (scene.admin, saved_kid) {
            let new_kid = admin.generate_key(alg).await?;
            outln!(
                "   (restored: {alg} key {kid} stays retired and published; new active key {new_kid})\n"
            );
        }
    }
    ecosystem.stop().await;
    let total = SCENES.len();
    if as_documented == total {
        outln!("demo: {as_documented} of {total} scenes ended as the seeds document");
        Ok(ExitCode::SUCCESS)
    } else {
        outln!(
            "demo: only {as_documented} of {total} scenes ended as the seeds document (see ✗ above)"
        );
        Ok(ExitCode::FAILURE)
    }
}

fn client_config(
    manifest: &Manifest,
    scene: &Scene,
    method: AuthMethod,
) -> Result<ClientConfig, CliError> {
    let server = manifest
        .authorization_servers
        .iter()
        .find(|a| a.name == scene.server)
        .ok_or_else(|| {
            CliError(format!(
                "the ecosystem has no authorization server `{}`",
                scene.server
            ))
        })?;
    let mcp = server
        .mcp_servers
        .iter()
        .find(|m| m.name == scene.mcp)
        .ok_or_else(|| {
            CliError(format!(
                "`{}` has no MCP server `{}`",
                scene.server, scene.mcp
            ))
        })?;
    let user = manifest
        .users
        .iter()
        .find(|u| u.name == "alice")
        .ok_or_else(|| CliError("the tenant has no user alice".into()))?;
    let client = manifest
        .clients
        .iter()
        .find(|c| c.client_id == "agent")
        .ok_or_else(|| CliError("the tenant has no client agent".into()))?;
    Ok(ClientConfig {
        mcp_url: mcp.url.clone(),
        idp_token_endpoint: manifest.issuer.token_endpoint.clone(),
        subject: SubjectToken::Login {
            user: user.name.clone(),
            password: user.password.clone(),
        },
        idp_client_id: client.client_id.clone(),
        idp_client_secret: client.client_secret.clone(),
        client_id: server.client_id.clone(),
        client_secret: server.client_secret.clone(),
        auth_method: method,
        scope: Some(scene.scope.to_owned()),
        call: Some(ToolCall {
            name: "echo".into(),
            arguments: json!({"text": "hello from jagspec demo"}),
        }),
        expected_issuer: None,
        allow_insecure_http: false,
    })
}

/// The algorithm an authorization server of the ecosystem verifies.
fn verifies(manifest: &Manifest, server: &str) -> String {
    manifest
        .authorization_servers
        .iter()
        .find(|a| a.name == server)
        .map_or_else(|| "?".to_owned(), |a| a.alg.to_string())
}

/// The issuer's audit record of the scene's token exchange, found by its `x-request-id`.
fn audit_event(ecosystem: &Ecosystem, transcript: &Transcript) -> Option<AuditEvent> {
    let request_id = transcript
        .hop(HopKind::TokenExchange)?
        .request_id
        .as_deref()?;
    let mut events = ecosystem
        .issuer()
        .state
        .audit
        .find_by_request_id(request_id)
        .ok()?;
    (events.len() == 1).then(|| events.remove(0))
}

/// Whether the scene ended as documented; the sentence saying so, or what differed.
fn judge(scene: &Scene, t: &Transcript, event: Option<&AuditEvent>) -> Result<String, String> {
    let detail = event.map(|e| e.status_detail.as_str());
    match (scene.expect, &t.outcome) {
        (Expect::Granted, Ok(success)) => {
            let echoed = success
                .call_result
                .as_ref()
                .and_then(|r| r.pointer("/content/0/text"))
                .and_then(Value::as_str)
                .unwrap_or("");
            Ok(format!(
                "granted as expected: tools [{}]; echo answered \"{echoed}\"",
                success.tools.join(", ")
            ))
        }
        (
            Expect::IssuerDenies {
                detail: want,
                error,
                status,
            },
            Err(f),
        ) if f.hop == HopKind::TokenExchange
            && f.oauth_error.as_deref() == Some(error)
            && f.status == Some(status)
            && detail == Some(want) =>
        {
            Ok(format!(
                "denied as documented: status detail \"{want}\", OAuth error {error}, HTTP {status}"
            ))
        }
        (Expect::ServerRejects { error }, Err(f))
            if f.hop == HopKind::JwtBearer
                && f.oauth_error.as_deref() == Some(error)
                && detail.is_some_and(|d| d.starts_with("Granted")) =>
        {
            Ok(format!(
                "the issuer granted (\"{}\"); the authorization server rejected the ID-JAG: \
                 {error} — {}",
                detail.unwrap_or_default(),
                f.error_description.as_deref().unwrap_or("")
            ))
        }
        (expect, outcome) => Err(format!(
            "expected {expect:?}, but {} (audit status detail: {})",
            match outcome {
                Ok(_) => "the chain completed".to_owned(),
                Err(f) => format!(
                    "it stopped at {} with {} {}: {}",
                    f.hop,
                    f.status
                        .map_or_else(|| "no status".to_owned(), |s| s.to_string()),
                    f.oauth_error.as_deref().unwrap_or("-"),
                    f.reason
                ),
            },
            detail.unwrap_or("none")
        )),
    }
}

fn hop_line(t: &Transcript) -> String {
    t.hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            format!(
                "[{}] {} {}",
                i + 1,
                h.kind.title(),
                h.status.map_or_else(|| "-".to_owned(), |s| s.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn id_jag_header(t: &Transcript) -> Option<String> {
    let hop = t.hop(HopKind::TokenExchange)?;
    let token = hop.tokens.iter().find(|d| d.label == "ID-JAG")?;
    let h = &token.header;
    let c = &token.claims;
    Some(format!(
        "alg {} · kid {} · aud {} · client_id {} · resource {} · scope {}",
        h["alg"].as_str().unwrap_or("?"),
        h["kid"].as_str().unwrap_or("?"),
        c["aud"].as_str().unwrap_or("?"),
        c["client_id"].as_str().unwrap_or("?"),
        c["resource"].as_str().unwrap_or("?"),
        c["scope"].as_str().unwrap_or("?"),
    ))
}

/// The seeds' audit fields, in the seeds' order.
fn audit_line(e: &AuditEvent) -> String {
    let scopes = e
        .scopes
        .iter()
        .map(|s| format!("{}={}", s.scope, s.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{} · user {} · client {} · system {} · scopes {} · token id {} · key {} · {} · \
         lifetime {} · status detail \"{}\"",
        e.outcome.as_str(),
        e.user.as_deref().unwrap_or("-"),
        e.client.as_deref().unwrap_or("-"),
        e.system.as_deref().unwrap_or("-"),
        if scopes.is_empty() {
            "-".to_owned()
        } else {
            scopes
        },
        e.token_id.as_deref().unwrap_or("-"),
        e.signing_key_id.as_deref().unwrap_or("-"),
        e.algorithm.map_or("-", Alg::as_str),
        e.lifetime_secs
            .map_or_else(|| "-".to_owned(), |s| format!("{s} s")),
        e.status_detail
    )
}

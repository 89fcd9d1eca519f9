//! `jagspec sign-in`: an ID token for a test user from jagspec's reference issuer (its
//! test-only password grant), printed alone, so a profile's `subject_token_command` can
//! call it.

use super::CliError;
use crate::oauth::basic_authorization;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct SignInArgs {
    /// The issuer's token endpoint.
    #[arg(long)]
    token_endpoint: String,
    /// The test user.
    #[arg(long)]
    user: String,
    /// The user's password.
    #[arg(long, env = "JAGSPEC_PASSWORD", hide_env_values = true)]
    password: String,
    /// The client the ID token is for (its `aud`).
    #[arg(long)]
    client_id: String,
    /// The client's secret.
    #[arg(long, env = "JAGSPEC_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
}

pub(crate) fn run(args: SignInArgs) -> Result<ExitCode, CliError> {
    // The password travels in the request: only to loopback or over https.
    let url = crate::http::check_url(&args.token_endpoint, crate::http::UrlUse::SECRET)
        .map_err(|e| CliError(format!("--token-endpoint {e}")))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let answer: Result<(u16, serde_json::Value), String> = runtime.block_on(async {
        let mut response = crate::http::client(std::time::Duration::from_secs(10))
            .post(url.as_str())
            .header(
                "authorization",
                basic_authorization(&args.client_id, &args.client_secret),
            )
            .form(&[
                ("grant_type", "password"),
                ("username", args.user.as_str()),
                ("password", args.password.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status().as_u16();
        // A token response is a few KiB; the cap keeps a server that streams on at bay.
        let body = crate::http::read_capped(&mut response, 1024 * 1024)
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    });
    let (status, body) = answer.map_err(CliError)?;
    match body["id_token"].as_str() {
        Some(token) if status == 200 => {
            outln!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let error = body["error"].as_str().unwrap_or("no OAuth error");
            eprintln!("sign-in refused: HTTP {status}, {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

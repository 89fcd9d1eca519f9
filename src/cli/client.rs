//! `jagspec client`: run the reference MCP client's whole chain against an MCP server and
//! print every hop.

use super::{CliError, read_input};
use crate::client::{
    self, ClientConfig, REQUEST_TIMEOUT, SubjectToken, ToolCall, UrlUse, check_url,
};
use crate::oauth::AuthMethod;
use crate::types::Secret;
use clap::{ArgGroup, Args, ValueEnum};
use serde_json::Value;
use std::process::ExitCode;

/// The `--arguments` of `--call` when none are given.
const DEFAULT_ARGUMENTS: &str = r#"{"text":"hello from jagspec"}"#;

#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("subject").required(true).args(["id_token", "user"])),
    after_help = "Examples:\n  \
    jagspec client --mcp-url http://127.0.0.1:7101/mcp \\\n      \
    --idp-token-endpoint http://127.0.0.1:7000/token --user alice --password alice-password \\\n      \
    --idp-client-id agent --idp-client-secret agent-secret \\\n      \
    --client-id agent-at-es256 --client-secret agent-at-es256-secret \\\n      \
    --scope chat.read --call echo\n\n\
    Credentials and tokens are redacted unless --show-secrets. The client secrets and the\n\
    password may come from JAGSPEC_IDP_CLIENT_SECRET, JAGSPEC_CLIENT_SECRET and\n\
    JAGSPEC_PASSWORD instead of the command line, or (--password -, --id-token -) from\n\
    standard input.\n\n\
    Exit codes: 0 the chain completed, 1 a hop failed (the last line names it), 2 bad input."
)]
pub(crate) struct ClientArgs {
    /// The MCP server's URL; its protected-resource metadata must name exactly this
    /// resource.
    #[arg(long, value_name = "URL")]
    mcp_url: String,
    /// The IdP's token endpoint (password login and token exchange).
    #[arg(long, value_name = "URL")]
    idp_token_endpoint: String,
    /// The user's ID token, issued to --idp-client-id; `-` reads it from standard input.
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    id_token: Option<Secret>,
    /// A test user to log in with the password grant instead of --id-token.
    #[arg(long, value_name = "NAME", requires = "password")]
    user: Option<String>,
    /// The test user's password; `-` reads it from standard input.
    // No `requires = "user"`: JAGSPEC_PASSWORD in the environment must not stop --id-token.
    #[arg(long, value_name = "PW", env = "JAGSPEC_PASSWORD", hide_env_values = true,
          value_parser = secret)]
    password: Option<Secret>,
    /// The client's id at the IdP.
    #[arg(long, value_name = "ID")]
    idp_client_id: String,
    /// The client's secret at the IdP.
    #[arg(long, value_name = "SECRET", env = "JAGSPEC_IDP_CLIENT_SECRET",
          hide_env_values = true, value_parser = secret)]
    idp_client_secret: Secret,
    /// The client's id at the MCP server's authorization server.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The client's secret at the authorization server.
    #[arg(long, value_name = "SECRET", env = "JAGSPEC_CLIENT_SECRET",
          hide_env_values = true, value_parser = secret)]
    client_secret: Secret,
    /// Client authentication at both token endpoints (RFC 6749 §2.3.1).
    #[arg(long, value_enum, default_value_t = AuthFlag::Basic)]
    auth_method: AuthFlag,
    /// Space-separated scopes for the token exchange and the jwt-bearer grant [default: the
    /// scope of the MCP server's 401 challenge, if any].
    #[arg(long, value_name = "S")]
    scope: Option<String>,
    /// The authorization server to trust: the protected-resource metadata must list exactly
    /// this issuer, or the chain stops before any secret is sent.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Send credentials over plain http to hosts other than loopback (refused otherwise).
    #[arg(long)]
    allow_insecure_http: bool,
    /// A tool to call after listing the tools.
    #[arg(long, value_name = "TOOL")]
    call: Option<String>,
    /// The tool's arguments, a JSON object [default: {"text":"hello from jagspec"}].
    #[arg(long, value_name = "JSON", requires = "call")]
    arguments: Option<String>,
    /// Print credentials and tokens whole instead of redacted.
    #[arg(long)]
    show_secrets: bool,
    /// Print the transcript as JSON.
    #[arg(long)]
    json: bool,
}

/// `--auth-method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthFlag {
    /// `client_secret_basic`: HTTP Basic.
    Basic,
    /// `client_secret_post`: in the form body.
    Post,
}

/// Wraps a flag value at once, so that `Debug` of the arguments never shows it.
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

pub(crate) fn run(args: ClientArgs) -> Result<ExitCode, CliError> {
    let show_secrets = args.show_secrets;
    let json = args.json;
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError(format!("cannot start the HTTP client: {e}")))?;
    let transcript = runtime.block_on(async {
        // A redirect would replay credentials to a location nobody configured.
        let http = crate::http::builder(REQUEST_TIMEOUT)
            .user_agent(concat!("jagspec/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError(format!("cannot build the HTTP client: {e}")))?;
        Ok::<_, CliError>(client::run(&config, &http).await)
    })?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&transcript.to_json(show_secrets)).unwrap_or_default()
        );
    } else {
        // The verdict, the last line (`OK: …` or `FAILED at hop …`), coloured.
        let text = transcript.render(show_secrets);
        let (body, last) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        let last = if transcript.outcome.is_ok() {
            super::style::marked(true, "OK:", last)
        } else {
            super::style::marked(false, "FAILED", last)
        };
        if body.is_empty() {
            outln!("{last}");
        } else {
            outln!("{body}\n{last}");
        }
    }
    Ok(ExitCode::from(if transcript.outcome.is_ok() {
        0
    } else {
        1
    }))
}

/// The library's configuration from the flags; bad input is exit code 2.
fn config(args: ClientArgs) -> Result<ClientConfig, CliError> {
    // The library checks the same way; here bad input is exit code 2, before any request.
    let credentials = UrlUse::Credentials {
        allow_insecure_http: args.allow_insecure_http,
    };
    let urls = [
        ("--mcp-url", Some(&args.mcp_url), credentials),
        (
            "--idp-token-endpoint",
            Some(&args.idp_token_endpoint),
            credentials,
        ),
        ("--issuer", args.issuer.as_ref(), UrlUse::Metadata),
    ];
    for (flag, url, usage) in urls {
        if let Some(url) = url {
            check_url(url, usage).map_err(|e| CliError(format!("{flag}: {e}")))?;
        }
    }
    let password_from_env = std::env::var_os("JAGSPEC_PASSWORD").is_some();
    let subject = match (args.id_token, args.user, args.password) {
        (Some(_), None, Some(_)) if !password_from_env => {
            return Err(CliError(
                "--password goes with --user, not with --id-token".to_owned(),
            ));
        }
        // A password from the environment is for --user; with --id-token it is unused.
        (Some(token), None, _) => {
            SubjectToken::IdToken(stdin_or(token, "--id-token", "token", str::trim)?)
        }
        (None, Some(user), Some(password)) => SubjectToken::Login {
            user,
            password: stdin_or(password, "--password", "password", first_line)?,
        },
        // clap's group and `requires` rule the other combinations out.
        _ => {
            return Err(CliError(
                "give either --id-token, or --user with --password".to_owned(),
            ));
        }
    };
    let call = match args.call {
        None => None,
        Some(name) => {
            let text = args.arguments.as_deref().unwrap_or(DEFAULT_ARGUMENTS);
            let arguments: Value = serde_json::from_str(text)
                .map_err(|e| CliError(format!("--arguments: not JSON: {e}")))?;
            if !arguments.is_object() {
                return Err(CliError(
                    "--arguments: expected a JSON object (MCP tools/call arguments)".to_owned(),
                ));
            }
            Some(ToolCall { name, arguments })
        }
    };
    Ok(ClientConfig {
        mcp_url: args.mcp_url,
        idp_token_endpoint: args.idp_token_endpoint,
        subject,
        idp_client_id: args.idp_client_id,
        idp_client_secret: args.idp_client_secret,
        client_id: args.client_id,
        client_secret: args.client_secret,
        auth_method: match args.auth_method {
            AuthFlag::Basic => AuthMethod::ClientSecretBasic,
            AuthFlag::Post => AuthMethod::ClientSecretPost,
        },
        scope: args.scope,
        call,
        expected_issuer: args.issuer,
        allow_insecure_http: args.allow_insecure_http,
    })
}

/// `value`, or for `-` what `read` takes of standard input; empty is bad input.
fn stdin_or(
    value: Secret,
    flag: &str,
    what: &str,
    read: fn(&str) -> &str,
) -> Result<Secret, CliError> {
    let value = if value.secret() == "-" {
        Secret::new(read(&read_input("-")?))
    } else {
        value
    };
    if value.secret().is_empty() {
        return Err(CliError(format!("{flag}: the {what} is empty")));
    }
    Ok(value)
}

/// The first line without its line ending: a password may begin or end with a space.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

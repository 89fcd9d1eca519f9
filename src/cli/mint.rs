//! `jagspec mint`: a signed token by hand.

use super::{CliError, name_value, read_input};
use crate::jose::{Alg, Clock, ID_JAG_TYP, JwsHeader, SigningKey, SystemClock, fixtures, sign};
use clap::Args;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    jagspec mint --alg ES256 --iss https://idp.example --aud https://as.example \\\n      \
    --sub alice --client-id agent --scope 'chat.read'\n  \
    jagspec mint --key my-key.pem --claims claims.json --typ JWT\n  \
    jagspec mint --alg RS256 --header crit='[\"urn:x\"]' --header urn:x=1   # a hostile header")]
pub(crate) struct MintArgs {
    /// PEM private key to sign with (PKCS#8, PKCS#1 or SEC1). Without it, the committed
    /// fixture key 1 of --alg signs.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The algorithm: EdDSA, RS256 or ES256. With --key it must match the key.
    #[arg(long)]
    alg: Option<Alg>,
    /// JSON file with the claims set (`-` for standard input); flags below override it.
    #[arg(long)]
    claims: Option<String>,
    /// `iss`: the issuer.
    #[arg(long)]
    iss: Option<String>,
    /// `sub`: the subject.
    #[arg(long)]
    sub: Option<String>,
    /// `aud`: for an ID-JAG, the authorization server's issuer.
    #[arg(long)]
    aud: Option<String>,
    /// `client_id`: for an ID-JAG, the client's id at the authorization server.
    #[arg(long)]
    client_id: Option<String>,
    /// `jti` (default: 128 random bits, hex).
    #[arg(long)]
    jti: Option<String>,
    /// `scope`, space-separated.
    #[arg(long)]
    scope: Option<String>,
    /// `resource`: the MCP server's resource identifier.
    #[arg(long)]
    resource: Option<String>,
    /// `iat` as Unix seconds (default: now).
    #[arg(long, allow_hyphen_values = true)]
    iat: Option<i64>,
    /// Lifetime in seconds: `exp` = `iat` + this, unless the claims set `exp`.
    #[arg(long, default_value_t = 300, allow_hyphen_values = true)]
    lifetime: i64,
    /// Any other claim, NAME=VALUE; VALUE is JSON if it parses, else a string. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = name_value)]
    extra_claims: Vec<(String, Value)>,
    /// The header `typ`.
    #[arg(long, default_value = ID_JAG_TYP)]
    typ: String,
    /// Leave `typ` out of the header.
    #[arg(long, conflicts_with = "typ")]
    no_typ: bool,
    /// Put this `kid` in the header instead of the key's.
    #[arg(long)]
    kid: Option<String>,
    /// Leave `kid` out of the header.
    #[arg(long, conflicts_with = "kid")]
    no_kid: bool,
    /// Set any header member, NAME=VALUE (JSON if it parses), even `alg`: for hostile test
    /// tokens. The signature is always made with the key. Repeatable.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = name_value)]
    header_params: Vec<(String, Value)>,
}

pub(crate) fn run(args: MintArgs) -> Result<ExitCode, CliError> {
    let key = choose_key(args.key.as_ref(), args.alg)?;
    let mut claims = match &args.claims {
        None => Map::new(),
        Some(path) => match serde_json::from_str(&read_input(path)?) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(CliError(format!(
                    "{path}: expected a JSON object of claims"
                )));
            }
            Err(e) => return Err(CliError(format!("{path}: {e}"))),
        },
    };
    let strings = [
        ("iss", &args.iss),
        ("sub", &args.sub),
        ("aud", &args.aud),
        ("client_id", &args.client_id),
        ("jti", &args.jti),
        ("scope", &args.scope),
        ("resource", &args.resource),
    ];
    for (name, value) in strings {
        if let Some(v) = value {
            claims.insert(name.to_owned(), Value::from(v.as_str()));
        }
    }
    if let Some(iat) = args.iat {
        claims.insert("iat".into(), Value::from(iat));
    }
    let iat = match claims.get("iat") {
        Some(v) => v
            .as_i64()
            .ok_or_else(|| CliError("`iat` must be an integer".into()))?,
        None => {
            let now = SystemClock.now();
            claims.insert("iat".into(), Value::from(now));
            now
        }
    };
    claims
        .entry("exp")
        .or_insert_with(|| Value::from(iat.saturating_add(args.lifetime)));
    claims
        .entry("jti")
        .or_insert_with(|| Value::from(random_jti()));
    for (name, value) in args.extra_claims {
        claims.insert(name, value);
    }

    let mut header = JwsHeader::new();
    if !args.no_typ {
        header = header.typ(args.typ);
    }
    if args.no_kid {
        header = header.without_kid();
    } else if let Some(kid) = args.kid {
        header = header.kid(kid);
    }
    for (name, value) in args.header_params {
        header = header.param(name, value);
    }
    let token = sign(&key, &header, &claims)?;
    outln!("{}", token.secret());
    Ok(ExitCode::SUCCESS)
}

fn choose_key(path: Option<&PathBuf>, alg: Option<Alg>) -> Result<SigningKey, CliError> {
    match (path, alg) {
        (Some(path), alg) => {
            let key = SigningKey::from_pem_file(path)?;
            match alg {
                Some(alg) if alg != key.alg() => Err(CliError(format!(
                    "expected a key for {alg} (found a {} key in {}); to put another alg in \
                     the header on purpose, use --header alg='\"{alg}\"'",
                    key.alg(),
                    path.display()
                ))),
                _ => Ok(key),
            }
        }
        (None, Some(alg)) => Ok(fixtures::signing_key(alg, 1)),
        (None, None) => Err(CliError(
            "give --key PATH or --alg (EdDSA | RS256 | ES256)".into(),
        )),
    }
}

fn random_jti() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

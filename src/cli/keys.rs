//! `jagspec keys`: generate signing keys; print the JWKS of a directory of keys.

use super::CliError;
use crate::jose::{Alg, KeySet, KeyStatus, SigningKey};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a private key, write it as PKCS#8 PEM named after its kid, and rewrite the
    /// directory's jwks.json with the public keys of every key in it.
    Generate {
        /// The algorithm: EdDSA, RS256 or ES256.
        #[arg(long)]
        alg: Alg,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the JWKS (public keys only) of every PEM private key in a directory.
    Jwks {
        /// The directory.
        dir: PathBuf,
    },
}

pub(crate) fn run(cmd: KeysCommand) -> Result<ExitCode, CliError> {
    match cmd {
        KeysCommand::Generate { alg, out } => generate(alg, &out),
        KeysCommand::Jwks { dir } => {
            outln!("{}", key_set_of(&dir)?.jwks().to_json_pretty());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn generate(alg: Alg, out: &Path) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(out).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
    let key = SigningKey::generate(alg)?;
    let path = out.join(format!("{}-{}.pem", alg.file_stem(), key.kid()));
    write_private(&path, key.to_pem().secret())?;
    let jwks_path = out.join("jwks.json");
    let jwks = key_set_of(out)?.jwks();
    std::fs::write(&jwks_path, jwks.to_json_pretty() + "\n")
        .map_err(|e| CliError(format!("{}: {e}", jwks_path.display())))?;
    outln!("kid  {}", key.kid());
    outln!("key  {}", path.display());
    outln!("jwks {} ({} keys)", jwks_path.display(), jwks.keys.len());
    Ok(ExitCode::SUCCESS)
}

/// Writes a private key: never over an existing file, and readable by the owner only.
fn write_private(path: &Path, pem: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut file = crate::private_file::private_options()
        .create_new(true)
        .open(path)
        .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| CliError(format!("{}: {e}", path.display())))
}

/// Every `*.pem` private key in `dir`, in file-name order (so the JWKS is stable).
fn key_set_of(dir: &Path) -> Result<KeySet, CliError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    paths.sort();
    let mut set = KeySet::new();
    for path in paths {
        let key = SigningKey::from_pem_file(&path)?;
        set.insert(key, KeyStatus::Retired)
            .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    }
    Ok(set)
}

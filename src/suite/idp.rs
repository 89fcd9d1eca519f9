//! jagspec as the trusted enterprise IdP, for `jagspec test as`: it serves its RFC 8414
//! metadata and JWKS on a loopback URL and mints the ID-JAGs an authorization server under
//! test redeems. The keys live in a directory the user chooses, so the issuer URL and the
//! JWKS stay the same from run to run and the authorization server's trust is set up once.
//!
//! The same server publishes an *attacker's* JWKS at `/attacker/jwks.json` and a
//! self-signed certificate per attacker key at `/attacker/{alg}.pem`: keys the IdP never
//! lists in its own JWKS, for the `jku` and `x5u` injection cases (RFC 8725 §3.10: a
//! verifier must not fetch keys from a URL the token names, nor trust a key it carries).

use crate::jose::{Alg, KeySet, KeyStatus, SigningKey};
use crate::served::{ServeLimits, Served};
use axum::Router;
use axum::routing::get;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why the IdP could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The keys directory could not be read or written.
    #[error("the IdP's keys directory {path}: {reason}")]
    Keys {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error(
        "the IdP cannot listen on {addr}: {reason}. Fix: choose a free loopback port in [idp] listen"
    )]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// A running IdP: its issuer URL, its keys, and the server publishing them.
pub struct LocalIdp {
    /// The issuer identifier, `http://ADDR`: the `iss` of every ID-JAG.
    pub issuer: String,
    /// Its signing keys, one active per algorithm.
    pub keys: KeySet,
    /// The attacker's keys: the `jku` case signs with these.
    pub attacker: KeySet,
    served: Option<Served>,
}

impl std::fmt::Debug for LocalIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIdp")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A key of each algorithm that no issuer publishes: the attacker's. Generated once per
/// process (an RSA key takes a fraction of a second), shared by every target.
pub(crate) fn attacker_keys() -> &'static [SigningKey] {
    static KEYS: std::sync::LazyLock<Vec<SigningKey>> = std::sync::LazyLock::new(|| {
        Alg::ALL
            .iter()
            .filter_map(|alg| SigningKey::generate(*alg).ok())
            .map(|k| k.with_kid(format!("attacker-{}", k.alg())))
            .collect()
    });
    &KEYS
}

/// A self-signed X.509 certificate for each attacker key, as `(alg, DER, PEM)`: what the
/// `x5c` case embeds and the `x5u` case points at. `None` for an algorithm whose certificate
/// could not be made (the cases then skip with the reason).
pub(crate) fn attacker_certificates() -> &'static [(Alg, Vec<u8>, String)] {
    static CERTS: std::sync::LazyLock<Vec<(Alg, Vec<u8>, String)>> =
        std::sync::LazyLock::new(|| {
            attacker_keys()
                .iter()
                .filter_map(|k| {
                    let pair = rcgen::KeyPair::from_pem(k.to_pem().secret()).ok()?;
                    let params =
                        rcgen::CertificateParams::new(vec!["attacker.jagspec.invalid".into()])
                            .ok()?;
                    let cert = params.self_signed(&pair).ok()?;
                    Some((k.alg(), cert.der().to_vec(), cert.pem()))
                })
                .collect()
        });
    &CERTS
}

/// Loads `DIR/{eddsa,rs256,es256}.pem`, generating (and saving, mode 0600) any that is
/// missing.
///
/// # Errors
///
/// [`IdpError::Keys`] when the directory or a key file is unusable.
pub fn load_or_create_keys(dir: &Path) -> Result<KeySet, IdpError> {
    let err = |path: &Path, reason: String| IdpError::Keys {
        path: path.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    let mut keys = KeySet::new();
    for alg in Alg::ALL {
        let path = dir.join(format!("{}.pem", alg.as_str().to_ascii_lowercase()));
        let key = if path.exists() {
            SigningKey::from_pem_file(&path).map_err(|e| err(&path, e.to_string()))?
        } else {
            let key = SigningKey::generate(alg).map_err(|e| err(&path, e.to_string()))?;
            write_private(&path, key.to_pem().secret()).map_err(|e| err(&path, e))?;
            key
        };
        if key.alg() != alg {
            return Err(err(
                &path,
                format!("it holds a {} key, not {alg}", key.alg()),
            ));
        }
        keys.insert(key, KeyStatus::Active)
            .map_err(|e| err(&path, e.to_string()))?;
    }
    Ok(keys)
}

/// Writes a private key readable by its owner only, atomically.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    crate::private_file::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())
}

impl LocalIdp {
    /// Binds `addr` (loopback) and serves the metadata, the JWKS and the attacker's JWKS.
    ///
    /// # Errors
    ///
    /// [`IdpError`].
    pub async fn start(addr: &str, keys: KeySet) -> Result<Self, IdpError> {
        let listener = TcpListener::bind(addr).await.map_err(|e| IdpError::Bind {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })?;
        Self::start_on(listener, keys)
    }

    /// [`LocalIdp::start`] on a bound listener.
    ///
    /// # Errors
    ///
    /// [`IdpError::Bind`] when the listener has no address.
    pub fn start_on(listener: TcpListener, keys: KeySet) -> Result<Self, IdpError> {
        let local = listener.local_addr().map_err(|e| IdpError::Bind {
            addr: "the listener".into(),
            reason: e.to_string(),
        })?;
        let issuer = format!("http://{local}");
        let mut attacker = KeySet::new();
        for k in attacker_keys() {
            let _ = attacker.insert(k.clone(), KeyStatus::Active);
        }
        let metadata = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            // RFC 8414 requires one; it refuses every grant (jagspec mints the ID-JAGs
            // itself), so nothing is claimed that the IdP does not do.
            "token_endpoint": format!("{issuer}/token"),
            "grant_types_supported": [],
            "response_types_supported": [],
        });
        let jwks = serde_json::to_value(keys.jwks()).unwrap_or_default();
        let attacker_jwks = serde_json::to_value(attacker.jwks()).unwrap_or_default();
        let metadata = Arc::new(metadata);
        let (jwks, attacker_jwks) = (Arc::new(jwks), Arc::new(attacker_jwks));
        let router = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get({
                    let m = Arc::clone(&metadata);
                    move || async move { axum::Json((*m).clone()) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                get({
                    let m = Arc::clone(&metadata);
                    move || async move { axum::Json((*m).clone()) }
                }),
            )
            .route(
                "/token",
                axum::routing::post(|| async {
                    crate::oauth::error_response(
                        400,
                        crate::oauth::OAuthError::UnsupportedGrantType,
                        "jagspec's test IdP mints its ID-JAGs itself and grants nothing here",
                    )
                }),
            )
            .route(
                "/jwks",
                get(move || async move { axum::Json((*jwks).clone()) }),
            )
            .route(
                "/attacker/jwks.json",
                get(move || async move { axum::Json((*attacker_jwks).clone()) }),
            )
            .route(
                "/attacker/{file}",
                get(
                    |axum::extract::Path(file): axum::extract::Path<String>| async move {
                        let found = attacker_certificates().iter().find(|(alg, _, _)| {
                            file == format!("{}.pem", alg.as_str().to_ascii_lowercase())
                        });
                        match found {
                            Some((_, _, pem)) => (
                                axum::http::StatusCode::OK,
                                [("content-type", "application/pem-certificate-chain")],
                                pem.clone(),
                            ),
                            None => (
                                axum::http::StatusCode::NOT_FOUND,
                                [("content-type", "text/plain")],
                                String::new(),
                            ),
                        }
                    },
                ),
            );
        let router = crate::oauth::with_json_errors(router);
        let served = Served::start(listener, router, "jagspec's IdP", ServeLimits::default());
        Ok(Self {
            issuer,
            keys,
            attacker,
            served: Some(served),
        })
    }

    /// The attacker's JWKS URL (the `jku` case).
    pub fn attacker_jwks_url(&self) -> String {
        format!("{}/attacker/jwks.json", self.issuer)
    }

    /// Where the attacker's certificate for `alg` is served, PEM (the `x5u` case).
    pub fn attacker_certificate_url(&self, alg: Alg) -> String {
        format!(
            "{}/attacker/{}.pem",
            self.issuer,
            alg.as_str().to_ascii_lowercase()
        )
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        if let Some(s) = self.served.take() {
            s.stop().await;
        }
    }
}

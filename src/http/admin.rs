//! The issuer's admin API as an administrator calls it (docs/admin-api.md): one typed
//! client for everything jagspec does there, the suite's steps and `doctor`, `demo` and
//! `jagspec logs`. Each call names its endpoint once, sends the admin token to the one
//! URL checked by the [URL policy](super::check_url), and reads the answer through the
//! capped reader.

use super::{ReadError, UrlError, UrlUse};
use crate::audit::AuditEvent;
use crate::jose::Alg;
use crate::redact::Credentials;
use crate::types::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// The most a call reads of an answer unless it says otherwise: a registry, a key list,
/// one exporter.
pub(crate) const MAX_ADMIN_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// A client of one issuer's admin API.
#[derive(Debug, Clone)]
pub(crate) struct AdminClient {
    http: reqwest::Client,
    /// `…/admin`, without a trailing `/`.
    base: String,
    token: Secret,
    /// Where the suite remembers what a check sent and received, so its report can
    /// scrub it (the admin token, an exporter's bearer token).
    credentials: Option<Credentials>,
}

/// An answer, whatever its status: for a caller that judges it (a step's `Then`).
#[derive(Debug, Clone)]
pub(crate) struct AdminAnswer {
    /// `GET /admin/keys`, as sent: for messages.
    pub(crate) request: String,
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body as text (invalid UTF-8 replaced).
    pub(crate) text: String,
    /// `x-next-cursor`: the next page of the system log, if there is one.
    pub(crate) next_cursor: Option<String>,
}

impl AdminAnswer {
    /// The body as JSON, `Null` when it is not JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// A 2xx, or the refusal with the API's own description.
    fn success(self) -> Result<Self, AdminError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let body = self.json();
        let description = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .map_or_else(|| crate::oauth::shorten(&self.text), str::to_owned);
        Err(AdminError::Refused {
            request: self.request,
            status: self.status,
            description,
        })
    }

    /// The body as `T`.
    fn parse<T: for<'de> Deserialize<'de>>(&self, what: &'static str) -> Result<T, AdminError> {
        serde_json::from_str(&self.text).map_err(|e| AdminError::Unexpected {
            request: self.request.clone(),
            expected: what,
            reason: e.to_string(),
        })
    }
}

/// Why an admin call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// The request got no answer.
    #[error("{request}: {reason}")]
    Send {
        /// `METHOD /path`.
        request: String,
        /// The transport's causes.
        reason: String,
    },
    /// The answer was not read whole.
    #[error("{request}: {error}")]
    Read {
        /// `METHOD /path`.
        request: String,
        /// Too large, or broken off.
        error: ReadError,
    },
    /// The API refused.
    #[error("{request}: HTTP {status}: {description}")]
    Refused {
        /// `METHOD /path`.
        request: String,
        /// The HTTP status.
        status: u16,
        /// Its `error_description` (or `error`, or the body).
        description: String,
    },
    /// A 2xx whose body is not what the endpoint returns.
    #[error("{request}: the answer is not {expected}: {reason}")]
    Unexpected {
        /// `METHOD /path`.
        request: String,
        /// What it should have been.
        expected: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// `GET /admin/keys` lists no active key of the algorithm.
    #[error("the tenant has no active {0} key")]
    NoActiveKey(Alg),
}

/// One signing key, as `GET /admin/keys` lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KeyEntry {
    /// Its `kid`.
    pub(crate) kid: String,
    /// Its algorithm, as the API spells it.
    pub(crate) alg: String,
    /// `active` or `retired`.
    pub(crate) status: String,
}

/// One page of the system log.
#[derive(Debug)]
pub(crate) struct EventPage {
    /// The events, oldest first.
    pub(crate) events: Vec<AuditEvent>,
    /// The cursor of the next page, if there is one.
    pub(crate) next_cursor: Option<String>,
}

impl AdminClient {
    /// A client of the admin API at `base` (`…/admin`) with `token`, over `http`.
    ///
    /// # Errors
    ///
    /// [`UrlError`] when `base` is not a URL the token may travel to: https, or http to a
    /// loopback host.
    pub(crate) fn new(http: reqwest::Client, base: &str, token: Secret) -> Result<Self, UrlError> {
        let base = base.trim_end_matches('/');
        super::check_url(base, UrlUse::SECRET)?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token,
            credentials: None,
        })
    }

    /// The same client, remembering what it sends and receives in `credentials`.
    pub(crate) fn recording(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The URL of `path` (`/keys`, `/audit-events?…`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one call and reads at most `cap` bytes of the answer, whatever its status.
    ///
    /// # Errors
    ///
    /// [`AdminError::Send`] or [`AdminError::Read`]: no whole answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        cap: usize,
    ) -> Result<AdminAnswer, AdminError> {
        let shown = format!("{method} {}", self.url(path));
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.token.secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let unsent = |e: reqwest::Error| AdminError::Send {
            request: shown.clone(),
            reason: super::describe(&e),
        };
        let (client, request) = request.build_split();
        let request = request.map_err(unsent)?;
        if let Some(credentials) = &self.credentials {
            credentials.request(&request);
        }
        let mut response = client.execute(request).await.map_err(unsent)?;
        let status = response.status().as_u16();
        let next_cursor = response
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = super::read_capped(&mut response, cap)
            .await
            .map_err(|error| AdminError::Read {
                request: shown.clone(),
                error,
            })?;
        if let (Some(credentials), Ok(json)) =
            (&self.credentials, serde_json::from_slice::<Value>(&bytes))
        {
            credentials.received(&json);
        }
        Ok(AdminAnswer {
            request: shown,
            status,
            text: String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            next_cursor,
        })
    }

    /// [`AdminClient::send`], requiring a 2xx.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        cap: usize,
    ) -> Result<AdminAnswer, AdminError> {
        self.send(method, path, body, cap).await?.success()
    }

    /// `GET {path}`, requiring a 2xx: for a resource the typed calls below do not cover
    /// (a download, one exporter), or a caller that judges the body itself.
    ///
    /// # Errors
    ///
    /// [`AdminError`], a refusal among them.
    pub(crate) async fn get(&self, path: &str, cap: usize) -> Result<AdminAnswer, AdminError> {
        self.call(Method::GET, path, None, cap).await
    }

    /// `GET /keys`: the tenant's signing keys.
    pub(crate) async fn keys(&self) -> Result<Vec<KeyEntry>, AdminError> {
        self.call(Method::GET, "/keys", None, MAX_ADMIN_ANSWER_BYTES)
            .await?
            .parse("a list of keys")
    }

    /// The `kid` of the active key of `alg`.
    pub(crate) async fn active_key(&self, alg: Alg) -> Result<String, AdminError> {
        self.keys()
            .await?
            .into_iter()
            .find(|k| k.alg == alg.as_str() && k.status == "active")
            .map(|k| k.kid)
            .ok_or(AdminError::NoActiveKey(alg))
    }

    /// `POST /keys/{kid}/retire`.
    pub(crate) async fn retire_key(&self, kid: &str) -> Result<(), AdminError> {
        let path = format!("/keys/{}", segment(kid)) + "/retire";
        self.call(Method::POST, &path, None, MAX_ADMIN_ANSWER_BYTES)
            .await
            .map(drop)
    }

    /// `POST /keys`: a new active key of `alg`; its `kid`.
    pub(crate) async fn generate_key(&self, alg: Alg) -> Result<String, AdminError> {
        #[derive(Deserialize)]
        struct Generated {
            kid: String,
        }
        let body = json!({"alg": alg.as_str()});
        let answer = self
            .call(Method::POST, "/keys", Some(&body), MAX_ADMIN_ANSWER_BYTES)
            .await?;
        Ok(answer.parse::<Generated>("a key")?.kid)
    }

    /// `GET /resource-servers`: the registry.
    pub(crate) async fn resource_servers(&self) -> Result<Vec<Value>, AdminError> {
        self.call(
            Method::GET,
            "/resource-servers",
            None,
            MAX_ADMIN_ANSWER_BYTES,
        )
        .await?
        .parse("a list of resource servers")
    }

    /// `PATCH /resource-servers/{id}` with `changes`.
    pub(crate) async fn update_resource_server(
        &self,
        id: &str,
        changes: &Value,
    ) -> Result<(), AdminError> {
        let path = format!("/resource-servers/{}", segment(id));
        self.call(Method::PATCH, &path, Some(changes), MAX_ADMIN_ANSWER_BYTES)
            .await
            .map(drop)
    }

    /// `POST /resource-servers/{id}/disable` (the kill switch) or `…/enable`.
    pub(crate) async fn set_resource_server_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<(), AdminError> {
        let action = if enabled { "enable" } else { "disable" };
        let path = format!("/resource-servers/{}/{action}", segment(id));
        self.call(Method::POST, &path, None, MAX_ADMIN_ANSWER_BYTES)
            .await
            .map(drop)
    }

    /// `GET /exporters`: every exporter with its status.
    pub(crate) async fn exporters(&self, cap: usize) -> Result<Vec<Value>, AdminError> {
        self.call(Method::GET, "/exporters", None, cap)
            .await?
            .parse("a list of exporters")
    }

    /// `GET /audit-events?{query}`: one page of the system log, at most `cap` bytes.
    pub(crate) async fn audit_events(
        &self,
        query: &str,
        cap: usize,
    ) -> Result<EventPage, AdminError> {
        let answer = self
            .call(Method::GET, &format!("/audit-events?{query}"), None, cap)
            .await?;
        Ok(EventPage {
            events: answer.parse("an array of events")?,
            next_cursor: answer.next_cursor,
        })
    }
}

/// What an id may not carry into a path as it is: a `/`, `?` or `#` would reach another
/// endpoint, a `%` another id.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'%');

/// An id as one path segment.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_token_goes_only_over_https_or_to_loopback_and_an_id_stays_one_segment() {
        let http = super::super::client(std::time::Duration::from_secs(1));
        let token = || Secret::new("admin-token");
        assert!(AdminClient::new(http.clone(), "https://idp.example/admin/", token()).is_ok());
        assert!(AdminClient::new(http.clone(), "http://127.0.0.1:9/admin", token()).is_ok());
        assert!(matches!(
            AdminClient::new(http.clone(), "http://idp.example/admin", token()),
            Err(UrlError::InsecureHttp { .. })
        ));
        let admin = AdminClient::new(http, "http://127.0.0.1:9/admin/", token()).unwrap();
        assert_eq!(admin.url("/keys"), "http://127.0.0.1:9/admin/keys");
        assert_eq!(segment("a/../tenant?x#y%"), "a%2F..%2Ftenant%3Fx%23y%25");
        assert_eq!(segment("suite-1.kid_A"), "suite-1.kid_A");
    }
}

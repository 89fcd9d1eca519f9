//! How the suite calls a target: one client for the run, and per check the credentials it
//! sent and the tokens it received, so that its report can scrub them wherever a target
//! echoed them (the [redaction policy](crate::redact)).

use super::target::AdminAccess;
use crate::http::admin::AdminClient;
use crate::http::{ReadError, UrlError};
use crate::redact::Credentials;

/// The most the suite reads of one answer from a target (a token response, a JWKS, an MCP
/// message, one request's audit events): far more than any of them needs.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The run's HTTP client and one check's credentials. Cloning shares both.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// What this check sent and received that no report may show.
    credentials: Credentials,
}

impl Http {
    /// A client that follows no redirect (a credential goes only where it was sent) and
    /// waits at most 10 s for any answer. Build one per run: each build loads the
    /// platform's root certificates, which costs more than most checks.
    pub(crate) fn new() -> Self {
        Self {
            client: crate::http::client(std::time::Duration::from_secs(10)),
            credentials: Credentials::default(),
        }
    }

    /// The same client, remembering a new check's credentials.
    pub(crate) fn for_check(&self) -> Self {
        Self {
            client: self.client.clone(),
            credentials: Credentials::default(),
        }
    }

    /// What the check sent and received so far.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The admin API at `access`, sending through this client and remembering what it
    /// sends and receives with the check's credentials.
    ///
    /// # Errors
    ///
    /// [`UrlError`] when the admin URL is not one the token may travel to.
    pub(crate) fn admin(&self, access: &AdminAccess) -> Result<AdminClient, UrlError> {
        Ok(
            AdminClient::new(self.client.clone(), &access.url, access.token.clone())?
                .recording(self.credentials.clone()),
        )
    }

    /// A `GET` to be sent with [`Http::send`].
    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    /// A `POST` to be sent with [`Http::send`].
    pub(crate) fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// Sends `request`, first remembering the credentials its headers and form carry.
    ///
    /// # Errors
    ///
    /// reqwest's, when the request cannot be built or gets no answer.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let (client, request) = request.build_split();
        let request = request?;
        self.credentials.request(&request);
        client.execute(request).await
    }

    /// The answer's body as text (invalid UTF-8 replaced), at most `cap` bytes, remembering
    /// the tokens of a JSON answer.
    ///
    /// # Errors
    ///
    /// [`ReadError`] when the body is larger than `cap` or the connection breaks off.
    pub(crate) async fn read(
        &self,
        mut response: reqwest::Response,
        cap: usize,
    ) -> Result<String, ReadError> {
        let body = crate::http::read_capped(&mut response, cap).await?;
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
            self.credentials.received(&json);
        }
        Ok(String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

//! The one HTTP layer for what jagspec sends: how its clients are built, which URLs they
//! may be pointed at ([`url`]), and how an answer is read.
//!
//! Every answer jagspec reads comes from software it does not control, so it is read
//! through [`read_capped`]: at most a cap of bytes, announced or sent, and a connection
//! that breaks off mid-body is an error rather than a shorter body.

pub(crate) mod admin;
pub(crate) mod mcp;
mod url;

pub(crate) use url::{UrlError, UrlUse, check_url, is_loopback};

use std::time::Duration;

/// A client builder that never follows a redirect (a credential goes only where it was
/// sent) and gives up on any answer after `timeout`; for a client that adds to it.
pub(crate) fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
}

/// A client as [`builder`] makes it.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    builder(timeout)
        .build()
        // Building fails only when the TLS backend cannot start; the default client has the
        // same backend and fails the same way at its first https request.
        .unwrap_or_default()
}

/// Why an answer's body was not read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The body is larger than the cap, by its `content-length` or as it arrived.
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// The connection failed while the body was read: [`describe`]'s text.
    Broken(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { cap } => write!(f, "the answer exceeds {cap} bytes"),
            Self::Broken(e) => write!(f, "reading the answer: {e}"),
        }
    }
}

/// The answer's body, failing once it exceeds `cap` bytes instead of reading on.
///
/// # Errors
///
/// [`ReadError::TooLarge`] when the body is announced or arrives larger than `cap`;
/// [`ReadError::Broken`] when the connection fails mid-body.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ReadError::TooLarge { cap });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Broken(describe(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The answer's first `cap` bytes, for a caller that quotes an answer rather than
/// judging it whole (an exporter's SIEM): a body that streams without end cannot fill
/// memory, and what was read before the connection broke is kept, with why it broke.
pub(crate) async fn read_prefix(
    response: &mut reqwest::Response,
    cap: usize,
) -> (Vec<u8>, Option<reqwest::Error>) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == cap {
                    return (body, None);
                }
            }
            Ok(None) => return (body, None),
            Err(e) => return (body, Some(e)),
        }
    }
}

/// A transport error with its causes: reqwest's own message stops at "error sending
/// request", while the useful part (refused, reset, DNS) is in the sources.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one answer per connection: a head, then `body` in pieces.
    async fn serve(answers: Vec<(&'static str, Vec<u8>)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for (head, body) in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0_u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_whether_announced_or_streamed() {
        let chunked: Vec<u8> = (0..5)
            .flat_map(|_| format!("3e8\r\n{}\r\n", "x".repeat(1000)).into_bytes())
            .chain(b"0\r\n\r\n".iter().copied())
            .collect();
        let url = serve(vec![
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\nconnection: close\r\n\r\n",
                vec![b'x'; 5000],
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                chunked,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 4096\r\nconnection: close\r\n\r\n",
                vec![b'x'; 4096],
            ),
        ])
        .await;
        let http = client(Duration::from_secs(5));
        for _ in 0..2 {
            let mut response = http.get(&url).send().await.unwrap();
            let error = read_capped(&mut response, 4096).await.unwrap_err();
            assert!(
                matches!(error, ReadError::TooLarge { cap: 4096 }),
                "{error}"
            );
            assert_eq!(error.to_string(), "the answer exceeds 4096 bytes");
        }
        let mut response = http.get(&url).send().await.unwrap();
        assert_eq!(read_capped(&mut response, 4096).await.unwrap().len(), 4096);
    }

    #[tokio::test]
    async fn a_connection_that_breaks_off_mid_body_is_an_error_not_a_shorter_body() {
        let url = serve(vec![(
            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n",
            b"only ten b".to_vec(),
        )])
        .await;
        let mut response = client(Duration::from_secs(5))
            .get(&url)
            .send()
            .await
            .unwrap();
        let error = read_capped(&mut response, 4096).await.unwrap_err();
        assert!(matches!(error, ReadError::Broken(_)), "{error}");
    }

    #[tokio::test]
    async fn a_prefix_keeps_the_first_bytes_and_what_came_before_a_break() {
        let url = serve(vec![
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\nconnection: close\r\n\r\n",
                vec![b'x'; 5000],
            ),
            (
                "HTTP/1.1 500 Oops\r\ncontent-length: 100\r\nconnection: close\r\n\r\n",
                b"only ten b".to_vec(),
            ),
        ])
        .await;
        let http = client(Duration::from_secs(5));
        let mut response = http.get(&url).send().await.unwrap();
        let (body, error) = read_prefix(&mut response, 4096).await;
        assert_eq!((body.len(), error.is_none()), (4096, true));
        let mut response = http.get(&url).send().await.unwrap();
        let (body, error) = read_prefix(&mut response, 4096).await;
        assert_eq!(body, b"only ten b");
        assert!(error.is_some());
    }

    #[tokio::test]
    async fn a_redirect_is_never_followed() {
        let url = serve(vec![(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n",
            Vec::new(),
        )])
        .await;
        let response = client(Duration::from_secs(5))
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 302);
    }
}

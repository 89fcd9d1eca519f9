//! The access token at the role's MCP server: opened with `initialize`, and a short
//! session of `tools/list` and `tools/call`.

use super::super::http::{Http, MAX_ANSWER_BYTES};
use super::super::target::Role;
use super::{StepError, World, fail, role};
use super::{last, read_text};
use crate::http::mcp::{self, Session};
use crate::types::Secret;
use jagspec_macros::step;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[MCP_SERVER_ACCEPTS_IT, MCP_SESSION];

#[step("the access token is accepted by the role's MCP server")]
async fn mcp_server_accepts_it(world: &mut World) -> Result<(), StepError> {
    mcp_accepts(world).await
}

#[step(r"the access token calls initialize, tools\/list and tools\/call at the role's MCP server")]
async fn mcp_session(world: &mut World) -> Result<(), StepError> {
    session(world).await
}

/// The role and the last answer's access token, for a call to the role's MCP server;
/// skipped when the target does not let the suite call it.
pub(super) fn mcp_caller(world: &World) -> Result<(Role, String), StepError> {
    if !world.target.mcp_calls {
        return Err(StepError::Skip(
            "the target does not let the suite call its MCP server".into(),
        ));
    }
    let role = role(world)?;
    let token = last(world)?.body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("an access token from an earlier step", "none"))?;
    Ok((role, token))
}

/// Calls the role's resource as an MCP server (`initialize`) with the last answer's
/// access token: the token the authorization server issued must open it.
async fn mcp_accepts(world: &mut World) -> Result<(), StepError> {
    let (role, token) = mcp_caller(world)?;
    let session = Session::new(Some(Secret::new(token)));
    let body = mcp::message(Some(1), "initialize", Some(mcp::initialize_params()));
    let response = post(&world.http, &role.resource, &session, &body).await?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status == 200 {
        Ok(())
    } else {
        Err(fail(
            format!(
                "HTTP 200 from the MCP server {} with the access token",
                role.resource
            ),
            format!("HTTP {status} {challenge}"),
        ))
    }
}

/// `initialize` (and the `initialized` notification), `tools/list` and `tools/call` of the
/// first tool listed, at the role's MCP server with the last answer's access token: each
/// must be answered, so that the calls really happened.
async fn session(world: &World) -> Result<(), StepError> {
    let (role, token) = mcp_caller(world)?;
    let mut mcp = McpCaller {
        http: &world.http,
        url: &role.resource,
        session: Session::new(Some(Secret::new(token))),
    };
    let (headers, init) = mcp.call("initialize", mcp::initialize_params()).await?;
    mcp.session.initialized(&headers, &init).map_err(|e| {
        fail(
            format!("an initialize result from {} that opens a session", mcp.url),
            e.to_string(),
        )
    })?;
    mcp.notify("notifications/initialized").await?;
    let (_, list) = mcp.call("tools/list", serde_json::json!({})).await?;
    let Some(tool) = list["tools"][0]["name"].as_str() else {
        return Err(fail("a tool in the tools/list result", list.to_string()));
    };
    let (_, result) = mcp
        .call(
            "tools/call",
            serde_json::json!({"name": tool, "arguments": {"text": "jagspec"}}),
        )
        .await?;
    if result["isError"] == true {
        return Err(fail(
            format!("tools/call of `{tool}` to succeed"),
            crate::oauth::shorten(&result.to_string()),
        ));
    }
    Ok(())
}

/// One JSON-RPC message to `url`, with the session's headers.
async fn post(
    http: &Http,
    url: &str,
    session: &Session,
    body: &Value,
) -> Result<reqwest::Response, StepError> {
    let mut request = http.post(url).body(body.to_string());
    for (name, value) in session.headers() {
        request = request.header(name, value);
    }
    http.send(request)
        .await
        .map_err(|e| fail(format!("an answer from POST {url}"), e.to_string()))
}

/// JSON-RPC over MCP's streamable HTTP transport ([`crate::http::mcp`]), one POST per
/// message.
pub(super) struct McpCaller<'a> {
    http: &'a Http,
    url: &'a str,
    session: Session,
}

impl McpCaller<'_> {
    /// A request's response headers and `result`; anything else fails the step.
    async fn call(&mut self, method: &str, params: Value) -> Result<(HeaderMap, Value), StepError> {
        let id = self.session.next_id();
        let body = mcp::message(Some(id), method, Some(params));
        let mut response = post(self.http, self.url, &self.session, &body).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let expected = || {
            format!(
                "HTTP 200 with a JSON-RPC result for `{method}` at {}",
                self.url
            )
        };
        if status != 200 {
            let what = format!("POST {}", self.url);
            let text = read_text(self.http, response, MAX_ANSWER_BYTES, &what).await?;
            return Err(fail(
                expected(),
                format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
            ));
        }
        let message = mcp::read_response(&mut response, id, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| fail(expected(), format!("HTTP {status}: {e}")))?;
        // Whatever a result carries is scrubbed from the report like any other answer.
        self.http.credentials().received(&message);
        let result = mcp::result(&message, id, method)
            .map_err(|e| fail(expected(), format!("HTTP {status}: {e}")))?;
        Ok((headers, result))
    }

    /// A notification: accepted with a 2xx and no result.
    async fn notify(&mut self, method: &str) -> Result<(), StepError> {
        let body = mcp::message(None, method, None);
        let response = post(self.http, self.url, &self.session, &body).await?;
        let status = response.status().as_u16();
        let what = format!("POST {}", self.url);
        let text = read_text(self.http, response, MAX_ANSWER_BYTES, &what).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(fail(
                format!("a 2xx for the `{method}` notification at {}", self.url),
                format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
            ))
        }
    }
}

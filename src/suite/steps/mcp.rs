//! The access token at the role's MCP server: opened with `initialize`, and a short
//! session of `tools/list` and `tools/call`.

use super::super::http::{Http, MAX_ANSWER_BYTES};
use super::super::target::Role;
use super::{StepError, World, fail, role};
use super::{last, read_text};
use jagspec_macros::step;
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
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let request = world
        .http
        .post(&role.resource)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    let response = world.http.send(request).await.map_err(|e| {
        fail(
            format!("an answer from POST {}", role.resource),
            e.to_string(),
        )
    })?;
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
        token: &token,
        session: None,
        version: None,
    };
    let init = mcp
        .call(
            1,
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "jagspec", "version": env!("CARGO_PKG_VERSION")},
            }),
        )
        .await?;
    mcp.version = init["protocolVersion"].as_str().map(str::to_owned);
    mcp.notify("notifications/initialized").await?;
    let list = mcp.call(2, "tools/list", serde_json::json!({})).await?;
    let Some(tool) = list["tools"][0]["name"].as_str() else {
        return Err(fail("a tool in the tools/list result", list.to_string()));
    };
    let result = mcp
        .call(
            3,
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

/// JSON-RPC over MCP's streamable HTTP transport, one POST per message.
pub(super) struct McpCaller<'a> {
    http: &'a Http,
    url: &'a str,
    token: &'a str,
    /// `Mcp-Session-Id`, when the server gave one.
    session: Option<String>,
    /// The protocol version `initialize` agreed.
    version: Option<String>,
}

impl McpCaller<'_> {
    async fn post(&mut self, body: &Value) -> Result<(u16, String, String), StepError> {
        let mut request = self
            .http
            .post(self.url)
            .bearer_auth(self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            request = request.header("mcp-session-id", s);
        }
        if let Some(v) = &self.version {
            request = request.header("mcp-protocol-version", v);
        }
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| fail(format!("an answer from POST {}", self.url), e.to_string()))?;
        if let Some(s) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(s.to_owned());
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let what = format!("POST {}", self.url);
        let text = read_text(self.http, response, MAX_ANSWER_BYTES, &what).await?;
        Ok((status, content_type, text))
    }

    /// A request's `result`; anything else fails the step.
    async fn call(&mut self, id: u64, method: &str, params: Value) -> Result<Value, StepError> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, content_type, text) = self.post(&body).await?;
        // A server may answer as a one-event SSE stream: its last `data:` line.
        let json = if content_type.starts_with("text/event-stream") {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .next_back()
                .unwrap_or_default()
                .trim()
                .to_owned()
        } else {
            text.clone()
        };
        let answer: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        if status == 200 && answer.get("result").is_some() {
            Ok(answer["result"].clone())
        } else {
            Err(fail(
                format!(
                    "HTTP 200 with a JSON-RPC result for `{method}` at {}",
                    self.url
                ),
                format!("HTTP {status}: {}", crate::oauth::shorten(&text)),
            ))
        }
    }

    /// A notification: accepted with a 2xx and no result.
    async fn notify(&mut self, method: &str) -> Result<(), StepError> {
        let body = serde_json::json!({"jsonrpc": "2.0", "method": method});
        let (status, _, text) = self.post(&body).await?;
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

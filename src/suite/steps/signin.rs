//! The user's sign-in at the IdP: the subject token a token exchange presents.

use super::super::http::Http;
use super::super::target::{Login, Target};
use super::{Answer, StepError, World, describe, fail, post_form};
use crate::types::Secret;
use jagspec_macros::step;
use serde_json::Value;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[USER_HAS_SIGNED_IN];

#[step("the user {string} has signed in with the client")]
async fn user_has_signed_in(world: &mut World, user: String) -> Result<(), StepError> {
    sign_in(world, &user).await
}

/// The `sub` of the signed-in user's subject token: who the token is requested for.
pub(super) fn subject_sub(world: &World) -> Result<String, StepError> {
    if let Some(mint) = &world.target.mint {
        return Ok(mint.subject.clone());
    }
    world
        .id_token
        .as_ref()
        .and_then(|t| t.secret().split('.').nth(1).map(str::to_owned))
        .and_then(|p| crate::jose::b64_decode(&p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .ok_or_else(|| fail("the subject token's `sub`", "an unreadable ID token"))
}

pub(super) async fn sign_in(world: &mut World, user: &str) -> Result<(), StepError> {
    if world.target.mint.is_some() {
        // jagspec is the issuer: the ID-JAG is minted for the profile's subject.
        return Ok(());
    }
    match subject_token(&world.http, &world.target, user).await {
        Ok(token) => {
            world.id_token = Some(token);
            Ok(())
        }
        Err(SignInError::Step(e)) => Err(e),
        Err(SignInError::Refused(answer)) => {
            let actual = describe(&answer);
            world.last = Some(answer);
            Err(fail(format!("an ID token for test user `{user}`"), actual))
        }
    }
}

/// Why no subject token was obtained.
pub(crate) enum SignInError {
    /// The step's verdict (a skip for an unknown user, a failed command).
    Step(StepError),
    /// The issuer's password grant answered without an ID token.
    Refused(Answer),
}

/// A subject token (ID token) for `user`, as the target says to get one.
pub(crate) async fn subject_token(
    http: &Http,
    target: &Target,
    user: &str,
) -> Result<Secret, SignInError> {
    let Some(login) = target.users.get(user).cloned() else {
        return Err(SignInError::Step(StepError::Skip(format!(
            "the target has no test user `{user}`"
        ))));
    };
    let password = match login {
        Login::SubjectToken(token) => return Ok(token),
        Login::Command(command) => {
            return run_token_command(user, &command)
                .await
                .map_err(SignInError::Step);
        }
        Login::Password(password) => password,
    };
    let form = vec![
        ("grant_type".to_owned(), "password".to_owned()),
        ("username".to_owned(), user.to_owned()),
        ("password".to_owned(), password.secret().to_owned()),
    ];
    let client = &target.client;
    let answer = post_form(
        http,
        &target.token_endpoint,
        Some((&client.client_id, client.secret.secret())),
        &form,
    )
    .await
    .map_err(SignInError::Step)?;
    match answer.body.get("id_token").and_then(Value::as_str) {
        Some(t) if answer.status == 200 => Ok(Secret::new(t)),
        _ => Err(SignInError::Refused(answer)),
    }
}

/// Runs a profile's subject-token command: its standard output, trimmed, is the token.
/// Its arguments are not shown in a report (they may hold a password).
pub(super) async fn run_token_command(user: &str, command: &[String]) -> Result<Secret, StepError> {
    let program = command.first().cloned().unwrap_or_default();
    let failed = |why: String| {
        fail(
            format!("the subject-token command for `{user}` (`{program} …`) to print a token"),
            why,
        )
    };
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(&program)
            .args(command.iter().skip(1))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| failed("it ran for more than 30 s".into()))?
    .map_err(|e| failed(format!("it did not start: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!(
            "it exited with {}: {}",
            output.status,
            crate::oauth::shorten(stderr.trim())
        )));
    }
    if stdout.is_empty() || stdout.contains(char::is_whitespace) {
        return Err(failed(
            "its output is not one token (empty, or more than one word)".into(),
        ));
    }
    Ok(Secret::new(stdout))
}

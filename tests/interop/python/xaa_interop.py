#!/usr/bin/env python3
"""Third-party interop check for the jagspec mock ecosystem (Cross App Access / ID-JAG).

Usage: xaa_interop.py MANIFEST [--wait SECONDS]

MANIFEST is the JSON file written by `jagspec serve --manifest PATH`.

What runs, none of it jagspec code:
  * leg 1 (IdP login + RFC 8693 token exchange for an ID-JAG) with httpx2, the HTTP
    client the MCP python SDK itself uses;
  * every ID-JAG is verified with PyJWT against the issuer's JWKS (an independent JOSE
    implementation), and PyJWT is shown to refuse it with the wrong algorithm list, the
    wrong audience, the wrong issuer and a tampered payload;
  * leg 2 (RFC 7523 jwt-bearer at the MCP authorization server) and every MCP call are made
    by the official MCP python SDK: `IdentityAssertionOAuthProvider` as the httpx2 auth of a
    `ClientSession` over `streamable_http_client`.

Prints one `PASS ...` / `FAIL ...` line per check and a closing `N passed, N failed` line.
Exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx2
import jwt
from mcp import ClientSession
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPError

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_JAG_TYP = "oauth-id-jag+jwt"
REQUIRED_CLAIMS = ["iss", "sub", "aud", "client_id", "jti", "exp", "iat"]
ALL_ALGS = ["EdDSA", "RS256", "ES256"]
SCENARIO_TIMEOUT = 60.0  # a safety net against hangs, never a wait for correctness


# --------------------------------------------------------------------------- reporting


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        suffix = f" -- {detail}" if detail else ""
        print(f"{'PASS' if ok else 'FAIL'} {name}{suffix}", flush=True)
        return ok

    def equal(self, name: str, actual: Any, expected: Any) -> bool:
        if actual == expected:
            return self.check(name, True, repr(actual))
        return self.check(name, False, f"expected {expected!r}, got {actual!r}")

    def crashed(self, name: str, exc: BaseException) -> None:
        self.check(name, False, f"unexpected {describe(exc)}")


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside a (possibly nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(leaves(sub))
        return out
    return [exc]


def describe(exc: BaseException) -> str:
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaves(exc))


# --------------------------------------------------------------------------- leg 1: the IdP


@dataclass
class Exchange:
    audience: str
    resource: str
    scope: str
    status: int
    body: dict[str, Any]


class Idp:
    """Leg 1 at the reference issuer, done by hand with httpx2 (out of scope for the SDK)."""

    def __init__(self, manifest: dict[str, Any], http: httpx2.AsyncClient) -> None:
        issuer = manifest["issuer"]
        client = next(c for c in manifest["clients"] if c["name"] == "agent")
        user = next(u for u in manifest["users"] if u["name"] == "alice")
        self.token_endpoint: str = issuer["token_endpoint"]
        self.auth = (client["client_id"], client["client_secret"])
        self.user = user
        self.http = http
        self.id_token: str | None = None
        self.exchanges: list[Exchange] = []

    async def login(self) -> str:
        r = await self.http.post(
            self.token_endpoint,
            auth=self.auth,
            data={"grant_type": "password", "username": self.user["name"], "password": self.user["password"]},
        )
        r.raise_for_status()
        self.id_token = r.json()["id_token"]
        return self.id_token

    async def exchange(self, audience: str, resource: str, scope: str) -> Exchange:
        assert self.id_token is not None, "login first"
        r = await self.http.post(
            self.token_endpoint,
            auth=self.auth,
            data={
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG_TYPE,
                "audience": audience,
                "resource": resource,
                "scope": scope,
                "subject_token": self.id_token,
                "subject_token_type": ID_TOKEN_TYPE,
            },
        )
        ex = Exchange(audience, resource, scope, r.status_code, r.json())
        self.exchanges.append(ex)
        return ex

    async def id_jag(self, audience: str, resource: str, scope: str) -> str:
        ex = await self.exchange(audience, resource, scope)
        if ex.status != 200:
            raise RuntimeError(f"token exchange refused ({ex.status}): {ex.body}")
        for key, want in (("issued_token_type", ID_JAG_TYPE), ("token_type", "N_A")):
            if ex.body.get(key) != want:
                raise RuntimeError(f"token exchange response {key}={ex.body.get(key)!r}, want {want!r}")
        return ex.body["access_token"]


# --------------------------------------------------------------------------- independent JOSE


class Verifier:
    """Verifies ID-JAGs with PyJWT against the issuer's published JWKS."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.issuer: str = manifest["issuer"]["url"]
        self.jwks = jwt.PyJWKClient(manifest["issuer"]["jwks_uri"])

    def decode(
        self,
        token: str,
        algorithms: list[str],
        audience: str,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != ID_JAG_TYP:
            raise jwt.InvalidTokenError(f"header typ {header.get('typ')!r}, want {ID_JAG_TYP!r}")
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer or self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )


def tamper(token: str) -> str:
    """The same token with `sub` changed in the payload and the original signature kept."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def expect_refusal(report: Report, name: str, exc_type: type[Exception], fn: Callable[[], Any]) -> None:
    try:
        fn()
    except exc_type as exc:
        report.check(name, True, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - any other exception is a wrong refusal
        report.check(name, False, f"refused with {type(exc).__name__}: {exc}, want {exc_type.__name__}")
    else:
        report.check(name, False, f"PyJWT ACCEPTED it, want {exc_type.__name__}")


def jose_checks(report: Report, verifier: Verifier, as_: dict[str, Any], other_as: dict[str, Any], token: str) -> None:
    name, alg, aud = as_["name"], as_["alg"], as_["issuer"]
    ms = as_["mcp_servers"][0]
    header = jwt.get_unverified_header(token)
    report.equal(f"[{name}] ID-JAG header typ", header.get("typ"), ID_JAG_TYP)
    report.equal(f"[{name}] ID-JAG header alg", header.get("alg"), alg)
    try:
        claims = verifier.decode(token, [alg], aud)
    except Exception as exc:  # noqa: BLE001
        report.check(f"[{name}] PyJWT verifies the ID-JAG ({alg}, aud, iss, required claims)", False, describe(exc))
        return
    report.check(
        f"[{name}] PyJWT verifies the ID-JAG ({alg}, aud, iss, required claims)",
        True,
        f"sub={claims['sub']} client_id={claims['client_id']} scope={claims.get('scope')} jti={claims['jti']}",
    )
    report.equal(f"[{name}] ID-JAG client_id is the client at the AS", claims["client_id"], as_["client_id"])
    report.equal(f"[{name}] ID-JAG resource is the MCP server", claims.get("resource"), ms["url"])
    report.check(f"[{name}] ID-JAG exp > iat", claims["exp"] > claims["iat"], f"lifetime {claims['exp'] - claims['iat']} s")
    wrong_algs = [a for a in ALL_ALGS if a != alg]
    expect_refusal(
        report,
        f"[{name}] PyJWT refuses it with algorithms={wrong_algs}",
        jwt.InvalidAlgorithmError,
        lambda: verifier.decode(token, wrong_algs, aud),
    )
    expect_refusal(
        report,
        f"[{name}] PyJWT refuses it for the wrong audience ({other_as['name']}'s issuer)",
        jwt.InvalidAudienceError,
        lambda: verifier.decode(token, [alg], other_as["issuer"]),
    )
    expect_refusal(
        report,
        f"[{name}] PyJWT refuses it for the wrong issuer",
        jwt.InvalidIssuerError,
        lambda: verifier.decode(token, [alg], aud, issuer="https://idp.invalid"),
    )
    expect_refusal(
        report,
        f"[{name}] PyJWT refuses a tampered copy (sub changed)",
        jwt.InvalidSignatureError,
        lambda: verifier.decode(tamper(token), [alg], aud),
    )


# --------------------------------------------------------------------------- leg 2 + MCP: the SDK


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory; remembers every token set."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.history: list[OAuthToken] = []
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Seen:
    method: str
    url: str
    status: int
    www_authenticate: str | None
    form: dict[str, str] = field(default_factory=dict)
    authorization: str | None = None
    body: Any = None


class Wire:
    """An httpx2 response hook that records what the SDK sent and received (observation only)."""

    def __init__(self, as_token_endpoint: str, mcp_url: str) -> None:
        self.as_token_endpoint = as_token_endpoint
        self.mcp_url = mcp_url
        self.seen: list[Seen] = []

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        url = str(request.url)
        s = Seen(request.method, url, response.status_code, response.headers.get("WWW-Authenticate"))
        if url == self.as_token_endpoint:
            s.form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            s.authorization = request.headers.get("Authorization")
            await response.aread()
            s.body = response.json()
        elif url == self.mcp_url and response.status_code >= 400:
            await response.aread()
            s.body = response.text
        self.seen.append(s)

    def token_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.url == self.as_token_endpoint]

    def mcp_errors(self, status: int) -> list[Seen]:
        return [s for s in self.seen if s.url == self.mcp_url and s.status == status]


@dataclass
class Run:
    wire: Wire
    storage: MemoryStorage
    assertions: list[dict[str, Any]]  # (unverified) claims of every ID-JAG handed to the SDK


async def with_sdk(
    as_: dict[str, Any],
    idp: Idp,
    verifier: Verifier,
    *,
    provider_scope: str,
    id_jag_scope: str,
    auth_method: str,
    body: Callable[[ClientSession, Run], Awaitable[None]],
    verify_alg: str | None = None,
) -> Run:
    """Connect a ClientSession to the AS's first MCP server with the SDK's ID-JAG provider, run `body`."""
    ms = as_["mcp_servers"][0]
    run = Run(Wire(as_["token_endpoint"], ms["url"]), MemoryStorage(), [])

    async def assertion_provider(audience: str, resource: str) -> str:
        # A fresh ID-JAG for every redemption (they are single-use at the AS), verified
        # independently before the SDK presents it.
        token = await idp.id_jag(audience, resource, id_jag_scope)
        claims = verifier.decode(token, [verify_alg or as_["alg"]], audience)
        run.assertions.append({"audience": audience, "resource": resource, **claims})
        return token

    provider = IdentityAssertionOAuthProvider(
        server_url=ms["url"],
        storage=run.storage,
        client_id=as_["client_id"],
        client_secret=as_["client_secret"],
        issuer=as_["issuer"],
        assertion_provider=assertion_provider,
        scope=provider_scope,
        token_endpoint_auth_method=auth_method,  # type: ignore[arg-type]
    )
    with anyio.fail_after(SCENARIO_TIMEOUT):
        async with httpx2.AsyncClient(auth=provider, event_hooks={"response": [run.wire]}) as http:
            async with streamable_http_client(ms["url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await body(session, run)
    return run


def check_leg2_request(report: Report, tag: str, req: Seen, as_: dict[str, Any], auth_method: str) -> None:
    report.equal(f"{tag} leg-2 grant_type", req.form.get("grant_type"), JWT_BEARER)
    report.equal(f"{tag} leg-2 resource", req.form.get("resource"), as_["mcp_servers"][0]["url"])
    if auth_method == "client_secret_basic":
        want = "Basic " + base64.b64encode(f"{as_['client_id']}:{as_['client_secret']}".encode()).decode()
        ok = req.authorization == want and "client_secret" not in req.form
    else:
        ok = req.authorization is None and req.form.get("client_secret") == as_["client_secret"]
        ok = ok and req.form.get("client_id") == as_["client_id"]
    report.check(f"{tag} leg-2 client authentication is {auth_method}", ok, f"Authorization={'set' if req.authorization else 'absent'}, body keys={sorted(req.form)}")


async def chain(report: Report, idp: Idp, verifier: Verifier, as_: dict[str, Any], auth_method: str) -> None:
    name = as_["name"]
    ms = as_["mcp_servers"][0]
    scope = ms["scopes"][0]
    want_tools = {t["name"] for t in ms["tools"]}
    echo_scope = next(t["scope"] for t in ms["tools"] if t["name"] == "echo")
    text = f"hello from the MCP python SDK via {name} ({as_['alg']})"
    tag = f"[{name}] SDK"
    state: dict[str, Any] = {}

    async def body(session: ClientSession, run: Run) -> None:
        init = await session.initialize()
        report.check(f"{tag} initialize", True, f"server={init.server_info.name} protocol={init.protocol_version}")
        tools = await session.list_tools()
        report.equal(f"{tag} list_tools names", sorted(t.name for t in tools.tools), sorted(want_tools))
        result = await session.call_tool("echo", {"text": text})
        texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
        report.check(f"{tag} call_tool echo echoes the text", not result.is_error and texts == [text], f"is_error={result.is_error} content={texts}")
        state["structured"] = result.structured_content

    try:
        run = await with_sdk(as_, idp, verifier, provider_scope=scope, id_jag_scope=echo_scope, auth_method=auth_method, body=body)
    except BaseException as exc:  # noqa: BLE001
        report.crashed(f"{tag} end-to-end chain", exc)
        return
    structured = state.get("structured") or {}
    report.check(
        f"{tag} MCP server saw the delegated identity",
        structured.get("sub") == idp.user["sub"] and structured.get("client_id") == as_["client_id"],
        f"structured_content={structured}",
    )
    report.equal(f"{tag} assertion_provider called once, with (AS issuer, MCP resource)",
                 [(a["audience"], a["resource"]) for a in run.assertions], [(as_["issuer"], ms["url"])])
    reqs = run.wire.token_requests()
    if report.equal(f"{tag} one leg-2 token request", [(r.method, r.status) for r in reqs], [("POST", 200)]):
        check_leg2_request(report, tag, reqs[0], as_, auth_method)
        report.equal(f"{tag} leg-2 scope", reqs[0].form.get("scope"), scope)
        report.check(f"{tag} leg-2 assertion is the verified ID-JAG",
                     jwt.decode(reqs[0].form["assertion"], options={"verify_signature": False})["jti"] == run.assertions[0]["jti"])
    report.equal(f"{tag} access token scope", run.storage.tokens.scope if run.storage.tokens else None, scope)


async def step_up(report: Report, idp: Idp, verifier: Verifier, as_: dict[str, Any]) -> None:
    """Call `publish` (needs tools.write) on a session whose token carries only tools.read."""
    ms = as_["mcp_servers"][0]
    read_scope = next(t["scope"] for t in ms["tools"] if t["name"] == "echo")
    write_scope = next(t["scope"] for t in ms["tools"] if t["name"] == "publish")

    # (a) The assertion provider asks the IdP for the read scope only. The SDK's
    #     assertion_provider(audience, resource) callback is not told which scope the SDK is
    #     about to request, so on step-up it gets another read-only ID-JAG: the AS grants no
    #     more than the ID-JAG carries, and the retried call is refused again.
    tag = f"[{as_['name']}] SDK step-up, read-only ID-JAG"
    outcome: dict[str, Any] = {}

    async def narrow(session: ClientSession, run: Run) -> None:
        await session.initialize()
        await session.call_tool("echo", {"text": "before step-up"})
        try:
            result = await session.call_tool("publish", {"text": "needs write"})
            outcome["result"] = result
        except MCPError as exc:
            outcome["error"] = exc

    try:
        run = await with_sdk(as_, idp, verifier, provider_scope=read_scope, id_jag_scope=read_scope,
                             auth_method="client_secret_post", body=narrow)
    except BaseException as exc:  # noqa: BLE001
        report.crashed(f"{tag}: session", exc)
    else:
        err = outcome.get("error")
        report.check(f"{tag}: call_tool publish fails", err is not None and "result" not in outcome,
                     f"{type(err).__name__}: {err}" if err else f"returned {outcome.get('result')}")
        forbidden = run.wire.mcp_errors(403)
        report.check(
            f"{tag}: MCP server answered 403 insufficient_scope scope={write_scope} (before and after the step-up)",
            len(forbidden) == 2 and all('error="insufficient_scope"' in (s.www_authenticate or "") and f'scope="{write_scope}"' in (s.www_authenticate or "") for s in forbidden),
            f"WWW-Authenticate: {forbidden[0].www_authenticate if forbidden else None} (x{len(forbidden)})",
        )
        reqs = run.wire.token_requests()
        report.equal(f"{tag}: the SDK tried a step-up (leg-2 scopes requested)",
                     [r.form.get("scope") for r in reqs], [read_scope, f"{read_scope} {write_scope}"])
        report.equal(f"{tag}: assertion_provider called again for the step-up", len(run.assertions), 2)
        report.equal(f"{tag}: ...and the fresh ID-JAG still carries only {read_scope}",
                     [a.get("scope") for a in run.assertions], [read_scope, read_scope])
        report.equal(f"{tag}: the AS granted only what the ID-JAG carries",
                     [t.scope for t in run.storage.history], [read_scope, read_scope])

    # (b) The assertion provider asks the IdP for every scope the resource offers (alice holds
    #     tools.write); the SDK still requests only tools.read at the AS first, and its step-up
    #     then obtains tools.write with a fresh ID-JAG.
    all_scopes = " ".join(ms["scopes"])
    tag = f"[{as_['name']}] SDK step-up, ID-JAG for '{all_scopes}'"
    outcome = {}
    before = len(idp.exchanges)

    async def broad(session: ClientSession, run: Run) -> None:
        await session.initialize()
        first = await session.call_tool("echo", {"text": "before step-up"})
        outcome["first_scope"] = (first.structured_content or {}).get("scope")
        outcome["result"] = await session.call_tool("publish", {"text": "published after step-up"})

    try:
        run = await with_sdk(as_, idp, verifier, provider_scope=read_scope, id_jag_scope=all_scopes,
                             auth_method="client_secret_basic", body=broad)
    except BaseException as exc:  # noqa: BLE001
        report.crashed(f"{tag}: session", exc)
        return
    report.equal(f"{tag}: first access token scope (SDK asked the AS for {read_scope} only)", outcome.get("first_scope"), read_scope)
    result = outcome["result"]
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    report.check(f"{tag}: call_tool publish succeeds after step-up", not result.is_error and texts == ["published after step-up"],
                 f"structured_content={result.structured_content}")
    report.check(f"{tag}: publish ran with {write_scope}", write_scope in ((result.structured_content or {}).get("scope") or "").split())
    report.equal(f"{tag}: one 403 insufficient_scope, then success", len(run.wire.mcp_errors(403)), 1)
    exchanges = idp.exchanges[before:]
    report.check(f"{tag}: a second leg-1 token exchange requested {write_scope}",
                 len(exchanges) == 2 and write_scope in exchanges[1].scope.split() and exchanges[1].status == 200,
                 f"leg-1 scopes requested={[e.scope for e in exchanges]}")
    report.equal(f"{tag}: leg-2 scopes requested", [r.form.get("scope") for r in run.wire.token_requests()], [read_scope, f"{read_scope} {write_scope}"])
    report.equal(f"{tag}: access token scopes granted", [t.scope for t in run.storage.history], [read_scope, f"{read_scope} {write_scope}"])


async def legacy(report: Report, idp: Idp, verifier: Verifier, as_: dict[str, Any]) -> None:
    """The AS verifies RS256 but the issuer signs this audience's ID-JAGs with ES256."""
    name = as_["name"]
    ms = as_["mcp_servers"][0]
    scope = ms["scopes"][0]
    token = await idp.id_jag(as_["issuer"], ms["url"], scope)
    signed_with = jwt.get_unverified_header(token)["alg"]
    report.check(f"[{name}] issuer signs this ID-JAG with an alg the AS does not accept", signed_with != as_["alg"],
                 f"ID-JAG alg {signed_with}, AS verifies {as_['alg']}")
    try:
        verifier.decode(token, [signed_with], as_["issuer"])
        report.check(f"[{name}] PyJWT verifies it under its own alg ({signed_with})", True)
    except Exception as exc:  # noqa: BLE001
        report.check(f"[{name}] PyJWT verifies it under its own alg ({signed_with})", False, describe(exc))
    expect_refusal(report, f"[{name}] PyJWT refuses it with the AS's algorithms=[{as_['alg']}], as the AS does",
                   jwt.InvalidAlgorithmError, lambda: verifier.decode(token, [as_["alg"]], as_["issuer"]))

    tag = f"[{name}] SDK"
    reached: list[str] = []

    async def body(session: ClientSession, run: Run) -> None:
        await session.initialize()
        reached.append("initialized")

    try:
        await with_sdk(as_, idp, verifier, provider_scope=scope, id_jag_scope=scope, auth_method="client_secret_post",
                       body=body, verify_alg=signed_with)
        report.check(f"{tag} fails to obtain a token", False, "the session initialized")
        return
    except BaseException as exc:  # noqa: BLE001
        errors = [e for e in leaves(exc) if isinstance(e, OAuthTokenError)]
        report.check(f"{tag} fails to obtain a token (OAuthTokenError mentioning invalid_grant)",
                     bool(errors) and "invalid_grant" in str(errors[0]) and not reached, describe(exc))


async def issuer_denials(report: Report, manifest: dict[str, Any], idp: Idp) -> None:
    for as_ in manifest["authorization_servers"]:
        if as_["name"] not in ("paused", "unregistered"):
            continue
        ms = as_["mcp_servers"][0]
        ex = await idp.exchange(as_["issuer"], ms["url"], ms["scopes"][0])
        report.check(f"[{as_['name']}] issuer denies the token exchange",
                     ex.status == 400 and ex.body.get("error") in ("access_denied", "invalid_target") and "access_token" not in ex.body,
                     f"{ex.status} {ex.body}")


# --------------------------------------------------------------------------- main


def load_manifest(path: Path, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)  # polling for the file to appear, not for correctness


async def main_async(manifest: dict[str, Any]) -> Report:
    report = Report()
    servers = {a["name"]: a for a in manifest["authorization_servers"]}
    verifier = Verifier(manifest)
    async with httpx2.AsyncClient(timeout=30) as http:
        idp = Idp(manifest, http)
        await idp.login()
        report.check("[issuer] password login returns an id_token", bool(idp.id_token))

        plan = [("eddsa", "client_secret_basic"), ("rs256", "client_secret_post"), ("es256", "client_secret_basic")]
        names = [n for n, _ in plan]
        for i, (name, auth_method) in enumerate(plan):
            as_ = servers[name]
            ms = as_["mcp_servers"][0]
            try:
                token = await idp.id_jag(as_["issuer"], ms["url"], ms["scopes"][0])
            except Exception as exc:  # noqa: BLE001
                report.crashed(f"[{name}] leg-1 token exchange", exc)
                continue
            jose_checks(report, verifier, as_, servers[names[(i + 1) % len(names)]], token)
            await chain(report, idp, verifier, as_, auth_method)

        await step_up(report, idp, verifier, servers["eddsa"])
        await legacy(report, idp, verifier, servers["legacy"])
        await issuer_denials(report, manifest, idp)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the manifest to appear")
    args = parser.parse_args()
    manifest = load_manifest(args.manifest, args.wait)
    started = time.monotonic()
    try:
        report = anyio.run(main_async, manifest)
    except BaseException as exc:  # noqa: BLE001
        print(f"FAIL harness crashed -- {describe(exc)}", flush=True)
        return 2
    print(f"python checks took {time.monotonic() - started:.2f} s")
    print(f"interop: {report.passed} passed, {report.failed} failed")
    return 0 if report.failed == 0 and report.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

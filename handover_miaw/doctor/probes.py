"""The doctor's I/O: each probe observes one part of the deployment and hands the facts to a verdict.

MIAW endpoints go through the protocol library (`MiawClient`); only check 2 speaks HTTP and TLS itself,
because what it judges — name resolution, the handshake, a redirect or an HTML page where MIAW would answer
JSON — is exactly what a protocol client hides.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from handover_miaw.delivery.envelope import envelope
from handover_miaw.delivery.formats import COGNIGY_NOTIFY_PATH, build_request
from handover_miaw.delivery.guard import TargetRefusedError
from handover_miaw.doctor.miaw_verdicts import (
    CODE_SNIPPET,
    EndpointAnswer,
    TlsFacts,
    clock_verdict,
    deployment_refused,
    deployment_verdict,
    endpoint_verdict,
    misplaced_url,
    token_refused,
)
from handover_miaw.doctor.node_verdicts import delivery_verdict, identity_accepted, identity_refused, routing_verdict
from handover_miaw.doctor.report import Finding, Status
from handover_miaw.miaw import (
    AccessToken,
    EmbeddedServiceConfig,
    MiawClient,
    MiawError,
    MiawInvalidTokenError,
    MiawProtocolError,
    MiawResponseError,
)
from handover_miaw.miaw.jwt import read_claims

__all__ = ["CONFIG_PATH", "PROBES", "Context", "Probe", "message_of"]

CONFIG_PATH = "/embeddedservice/v1/embedded-service-config"
# Revoking is cleanup: it gets a short limit of its own so a slow MIAW cannot hold the report.
_REVOKE_S = 2.0


@dataclass
class Context:
    """What the probes share: the connector, the HTTP session, the MIAW client and facts found so far."""

    name: str | None
    config: dict[str, Any]
    delivery: dict[str, Any] | None
    nodes: tuple[tuple[str, dict[str, Any]], ...]
    identity_token: str | None
    session: aiohttp.ClientSession
    # The ping goes through the runtime's guarded delivery session: a name that resolves to an internal
    # address is refused before any connection, as the outbox would (delivery/guard.py).
    deliveries: aiohttp.ClientSession
    ssl_context: ssl.SSLContext
    client: MiawClient
    timeout_s: float
    secrets: list[str] = field(default_factory=list)
    deployment_config: EmbeddedServiceConfig | None = None

    @property
    def deployment(self) -> str:
        """The Embedded Service Developer Name."""
        return str(self.config["esDeveloperName"])


def message_of(body: object) -> str:
    """The human part of an error answer (MIAW's `message`), shortened."""
    text = body.get("message") if isinstance(body, dict) else body
    return str(text)[:200] if text else ""


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def _handshake(host: str, port: int, context: ssl.SSLContext) -> TlsFacts:
    _reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    try:
        certificate = writer.get_extra_info("peercert") or {}
        ssl_object = writer.get_extra_info("ssl_object")
        not_after = certificate.get("notAfter")
        days_left = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400 if not_after else None
        return TlsFacts(ssl_object.version() if ssl_object else None, not_after, days_left)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def probe_endpoint(ctx: Context) -> Finding:
    """Check 2: the host resolves, the TLS handshake succeeds with a trusted certificate, it answers as MIAW."""
    base_url = str(ctx.config["baseUrl"]).rstrip("/")
    wrong = misplaced_url(base_url, ctx.deployment)
    if wrong is not None:
        return wrong
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    snippet = CODE_SNIPPET.format(name=ctx.deployment)
    try:
        addresses = await _resolve(host, port)
    except socket.gaierror as exc:
        return Finding(
            Status.FAIL,
            f"{host} does not resolve ({exc.strerror})",
            f"copy the Url of the Code Snippet ({snippet}); check this machine's DNS",
        )
    tls: TlsFacts | None = None
    try:
        if parts.scheme == "https":
            tls = await _handshake(host, port, ctx.ssl_context)
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            Status.FAIL,
            f"TLS certificate of {host} not trusted: {exc.verify_message}",
            "Salesforce's certificates chain to a public CA: if a proxy intercepts TLS, trust its CA "
            "(SSL_CERT_FILE; --ca-file for the doctor); otherwise this is not Salesforce: copy the Url of the "
            f"Code Snippet ({snippet})",
        )
    except ssl.SSLError as exc:
        return Finding(
            Status.FAIL,
            f"TLS handshake with {host} failed ({exc.reason})",
            f"copy the Url of the Code Snippet ({snippet})",
        )
    except OSError as exc:
        return Finding(
            Status.FAIL,
            f"nothing answers at {host}:{port} ({exc.strerror or type(exc).__name__})",
            "check the Base URL's port and the network path from this machine (proxy, firewall)",
        )
    params = {"orgId": str(ctx.config["organizationId"]), "esConfigName": ctx.deployment}
    try:
        async with ctx.session.get(
            base_url + CONFIG_PATH,
            params=params,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=ctx.timeout_s),
        ) as response:
            answer = EndpointAnswer(response.status, response.content_type, response.headers.get("Location"))
    except aiohttp.ClientConnectionError as exc:
        return Finding(
            Status.FAIL,
            f"nothing answers at {host}:{port} ({type(exc).__name__})",
            "check the Base URL's port and the network path from this machine (proxy, firewall)",
        )
    return endpoint_verdict(base_url, addresses, tls, answer, ctx.deployment)


async def probe_deployment(ctx: Context) -> Finding:
    """Check 3: the deployment configuration answers for this org id and developer name."""
    try:
        config = await ctx.client.embedded_service_config()
    except MiawResponseError as exc:
        return deployment_refused(exc.status, message_of(exc.body), str(ctx.config["organizationId"]), ctx.deployment)
    ctx.deployment_config = config
    return deployment_verdict(config, ctx.deployment)


async def _revoke(ctx: Context, token: AccessToken) -> bool:
    try:
        async with asyncio.timeout(min(_REVOKE_S, ctx.timeout_s)):
            await ctx.client.revoke_token(token)
    except (MiawError, TimeoutError):
        return False
    return True


async def probe_session(ctx: Context) -> Finding:
    """Check 4: a guest token (Capabilities Version accepted), the event stream opens, the token is revoked;
    the clock against the server's `Date`."""
    started = time.time()
    try:
        token = await ctx.client.unauthenticated_access_token()
    except MiawResponseError as exc:
        return token_refused(exc.status, message_of(exc.body), str(ctx.config.get("capabilitiesVersion")))
    local = (started + time.time()) / 2
    ctx.secrets.append(token.token)
    try:
        response = await ctx.client.open_event_stream(token, token.last_event_id)
        response.close()
    except (MiawResponseError, MiawProtocolError) as exc:
        revoked = await _revoke(ctx, token)
        return Finding(
            Status.FAIL,
            f"token issued, but the event stream was refused ({exc.message} {exc.detail})".strip(),
            "check that the messaging channel is active (Setup → Messaging Settings) and the deployment published"
            + ("" if revoked else "; the token could not be revoked"),
        )
    revoked = await _revoke(ctx, token)
    # Date has one-second resolution and is truncated: the server's time is half a second later on average.
    clock = clock_verdict(None if token.server_date is None else token.server_date + 0.5 - local)
    lifetime = f", valid {(token.expires_at - local) / 60:.0f} min" if token.expires_at else ""
    done = "token revoked" if revoked else "the token could not be revoked (it expires by itself)"
    found = f"guest token issued{lifetime}; event stream opened; {done}; {clock.found}"
    return Finding(clock.status, found, clock.fix)


async def probe_routing(ctx: Context) -> Finding:
    """Check 5: routing attribute keys of every node settings file against the deployment's pre-chat fields."""
    if not ctx.nodes:
        return Finding(Status.SKIP, "no node settings given (--node-settings FILE)")
    config = ctx.deployment_config
    if config is None:
        return Finding(Status.SKIP, "not run: the deployment configuration is unknown (line 3)")
    return routing_verdict(ctx.nodes, config.pre_chat_fields, config.languages, ctx.deployment)


async def probe_identity(ctx: Context) -> Finding:
    """Check 6: a sample identity token is accepted by the authenticated-token endpoint."""
    uses = [label for label, settings in ctx.nodes if settings.get("useIdentityToken")]
    sample = ctx.identity_token
    if not sample:
        if uses:
            return Finding(
                Status.WARN,
                f"{', '.join(uses)} use(s) identity tokens, but no sample token was given",
                "give a sample identity token with --identity-token-file (API: identityToken) to check it",
            )
        return Finding(Status.SKIP, "no node uses identity tokens and no sample token was given")
    try:
        claims = read_claims(sample)
    except MiawInvalidTokenError:
        return Finding(
            Status.FAIL, "the sample identity token is not a JWT", "give a signed JWT issued by your identity provider"
        )
    if claims.is_expired(time.time()):
        return Finding(Status.FAIL, "the sample identity token has expired", "give a freshly issued identity token")
    try:
        token = await ctx.client.authenticated_access_token(sample)
    except MiawResponseError as exc:
        return identity_refused(exc.status, message_of(exc.body))
    ctx.secrets.append(token.token)
    revoked = await _revoke(ctx, token)
    return identity_accepted(token.authenticated, revoked)


async def probe_delivery(ctx: Context) -> Finding:
    """Check 7: a signed `handover.ping` to the webhook, or the Cognigy endpoint reached with its key."""
    target = ctx.delivery
    if target is None:
        return Finding(Status.SKIP, "no delivery target given")
    fmt = target.get("format")
    if fmt == "sse":
        return Finding(Status.PASS, "sse: nothing is pushed; the bot platform reads GET /v1/handovers/{id}/events")
    now = time.time()
    if fmt == "cognigy":
        url = str(target["url"]).rstrip("/") + COGNIGY_NOTIFY_PATH
        # Notify reaches a user without running the flow; this session has no user, so nobody sees it.
        body = {
            "userId": "handover-miaw-doctor",
            "sessionId": "handover-miaw-doctor",
            "URLToken": target["urlToken"],
            "text": "",
            "data": {"handover": {"eventType": "handover.ping"}},
        }
        request_kwargs: dict[str, Any] = {"json": body, "headers": {"X-API-Key": str(target["apiKey"])}}
    else:
        ping = envelope(
            id=f"dl_doctor_{int(now * 1000)}",
            type="handover.ping",
            handover_id="doctor",
            connector=ctx.name or "doctor",
            session_id="doctor",
            user_id="doctor",
            occurred_at=now,
            data={"ping": True},
        )
        request = build_request(target, ping, int(now))
        if request is None:
            return Finding(Status.SKIP, f"format {fmt!r} pushes nothing")
        url = request.url
        request_kwargs = {"data": request.body, "headers": request.headers}
    try:
        async with ctx.deliveries.post(
            url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=ctx.timeout_s), **request_kwargs
        ) as response:
            status = response.status
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, TargetRefusedError):
            return Finding(
                Status.FAIL,
                f"the delivery target {target.get('url')} resolves to an internal address, which is refused",
                "point delivery.url at a public https receiver, or allow it with HANDOVER_MIAW_DELIVERY_ALLOW",
            )
        return _unreachable(target, exc)
    except aiohttp.ClientConnectionError as exc:
        return _unreachable(target, exc)
    return delivery_verdict(str(fmt), status, str(target.get("url")))


def _unreachable(target: dict[str, Any], exc: aiohttp.ClientConnectionError) -> Finding:
    return Finding(
        Status.FAIL,
        f"the delivery target {target.get('url')} is unreachable ({type(exc).__name__})",
        "check delivery.url and that the receiver is running and reachable from the runtime",
    )


Probe = Callable[[Context], Awaitable[Finding]]

# (key, probe, the checks it needs to have passed or warned)
PROBES: tuple[tuple[str, Probe, tuple[str, ...]], ...] = (
    ("endpoint", probe_endpoint, ("config",)),
    ("deployment", probe_deployment, ("endpoint",)),
    ("session", probe_session, ("deployment",)),
    ("routing", probe_routing, ("deployment",)),
    ("identity", probe_identity, ("deployment",)),
    ("delivery", probe_delivery, ("config",)),
)

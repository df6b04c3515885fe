"""What the facts about the MIAW side mean (checks 1-4), and the fix in Salesforce's terms. Pure: no I/O.

Each function takes what a probe observed and returns a Finding; the probes (probes.py) do the talking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from handover_miaw.doctor.report import Finding, Status
from handover_miaw.problems import Problem

if TYPE_CHECKING:
    # Only a type here: importing handover_miaw.miaw at run time would bring the client (aiohttp) along.
    from handover_miaw.miaw import EmbeddedServiceConfig

__all__ = [
    "CODE_SNIPPET",
    "EndpointAnswer",
    "TlsFacts",
    "clock_verdict",
    "config_verdict",
    "deployment_refused",
    "deployment_verdict",
    "endpoint_verdict",
    "misplaced_url",
    "token_refused",
]

CODE_SNIPPET = "Setup → Embedded Service Deployments → {name} → Code Snippet"
_DEPLOYMENTS = "Setup → Embedded Service Deployments"
# A clock further off than this is worth a warning (Date has one-second resolution); past the fail
# limit token expiry is judged wrong by more than the default warning time before it (120 s).
_SKEW_WARN_S = 10.0
_SKEW_FAIL_S = 120.0

# Hosts people paste instead of the messaging (SCRT) URL: the org's My Domain, Lightning, sites.
_ORG_HOSTS = (
    ("my.salesforce.com", "the org's My Domain URL"),
    ("lightning.force.com", "the org's Lightning Experience URL"),
    ("my.site.com", "an Experience Cloud site URL"),
    ("force.com", "a Salesforce org URL"),
    ("salesforce.com", "a Salesforce URL"),
)
_FIELD_FIXES = {
    "/config/baseUrl": "copy the Url of the deployment's Code Snippet (" + CODE_SNIPPET + ")",
    "/config/organizationId": "copy the Salesforce.com Organization ID (Setup → Company Information), 00D…",
    "/config/esDeveloperName": "copy the deployment's API Name (" + _DEPLOYMENTS + ")",
    "/config/capabilitiesVersion": 'use Capabilities Version "1"',
}


def misplaced_url(base_url: str, deployment: str) -> Finding | None:
    """A ✘ when the Base URL is an org or Lightning URL instead of the messaging one; None otherwise."""
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    if host == "salesforce-scrt.com" or host.endswith(".salesforce-scrt.com"):
        return None
    for suffix, what in _ORG_HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return Finding(
                Status.FAIL,
                f"{host} is {what}, not the deployment's messaging endpoint",
                f"copy the Url of the Code Snippet ({CODE_SNIPPET.format(name=deployment)}): "
                "https://<your domain>.my.salesforce-scrt.com",
            )
    return None


def config_verdict(problems: Sequence[Problem], base_url: str | None, deployment: str) -> Finding:
    """Check 1 from the schema, format and host-policy problems found (pointers relative to the connector)."""
    if not problems:
        return Finding(Status.PASS, "valid: schema, formats and the host policy serve applies")
    details = tuple(f"{p.pointer or '/'}: {p.message}" for p in problems)
    wrong_url = misplaced_url(base_url, deployment) if base_url else None
    fixes: list[str] = [wrong_url.fix] if wrong_url is not None and wrong_url.fix else []
    for problem in problems:
        for suffix, fix in _FIELD_FIXES.items():
            if wrong_url is not None and suffix == "/config/baseUrl":
                continue
            if problem.pointer.endswith(suffix) and fix.format(name=deployment) not in fixes:
                fixes.append(fix.format(name=deployment))
    if not fixes:
        fixes.append("correct the values listed")
    return Finding(Status.FAIL, f"{len(problems)} problem(s) in the configuration", "; ".join(fixes), details)


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """The TLS handshake: protocol and certificate expiry (None for plain http)."""

    version: str | None
    not_after: str | None
    days_left: float | None


@dataclass(frozen=True, slots=True)
class EndpointAnswer:
    """How the base URL answered a deployment-configuration request."""

    status: int
    content_type: str
    location: str | None


def endpoint_verdict(
    base_url: str, addresses: Sequence[str], tls: TlsFacts | None, answer: EndpointAnswer, deployment: str
) -> Finding:
    """Check 2 once the host resolved and the handshake succeeded: does it answer as MIAW?"""
    snippet = CODE_SNIPPET.format(name=deployment)
    if 300 <= answer.status < 400:
        return Finding(
            Status.FAIL,
            f"answers with a redirect (HTTP {answer.status}) to {answer.location or '?'}: not a MIAW endpoint",
            f"copy the Url of the Code Snippet ({snippet}); MIAW never redirects",
        )
    if answer.content_type != "application/json":
        return Finding(
            Status.FAIL,
            f"answers HTTP {answer.status} with {answer.content_type or 'no content type'}, not as MIAW does (JSON)",
            f"copy the Url of the Code Snippet ({snippet}): https://<your domain>.my.salesforce-scrt.com",
        )
    where = f"resolves to {', '.join(addresses)}" if addresses else "resolves"
    if tls is None:
        return Finding(
            Status.WARN,
            f"{where}; http (loopback dev): no TLS; answers as MIAW",
            "plain http is accepted only for loopback hosts in development mode; use the https Url of the "
            f"Code Snippet ({snippet}) in production",
        )
    certificate = f"certificate valid until {tls.not_after}" if tls.not_after else "certificate valid"
    found = f"{where}; {tls.version or 'TLS'}, {certificate}; answers as MIAW"
    if tls.days_left is not None and tls.days_left < 14:
        return Finding(Status.WARN, found, f"the server's certificate expires in {tls.days_left:.0f} day(s)")
    return Finding(Status.PASS, found)


def deployment_verdict(config: EmbeddedServiceConfig, deployment: str) -> Finding:
    """Check 3 when the deployment configuration answered."""
    hidden = len(config.hidden_fields)
    found = (
        f"{deployment} answers: type {config.deployment_type or 'not stated'}, "
        f"{len(config.pre_chat_fields)} pre-chat field(s) ({hidden} hidden)"
    )
    if config.languages:
        found += f", languages {', '.join(config.languages)}"
    if config.deployment_type is not None and config.deployment_type != "api":
        return Finding(
            Status.FAIL,
            f"{deployment} is a {config.deployment_type!r} deployment, not a Custom Client (api) one",
            f"create a Custom Client deployment ({_DEPLOYMENTS} → New Deployment → Messaging for In-App and "
            "Web → Custom Client), publish it and use its API Name and Code Snippet",
        )
    return Finding(Status.PASS, found)


def deployment_refused(status: int, message: str, org_id: str, deployment: str) -> Finding:
    """Check 3 when MIAW refused the deployment configuration: tell the causes apart where its message allows.

    MIAW answers 400 for an unknown deployment (miaw-api.md §5.1); what it says for an unknown org or an
    unpublished deployment is not documented, so the message is read for hints and otherwise every
    cause is named.
    """
    text = message.lower()
    said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    publish = (
        f"publish it ({_DEPLOYMENTS} → {deployment} → Publish) and wait about 10 minutes: a new or changed "
        "deployment answers only once published"
    )
    if status >= 500:
        return Finding(Status.FAIL, f"Salesforce failed ({said})", "try again later; if it persists, ask Salesforce")
    if "publish" in text:
        return Finding(Status.FAIL, f"{deployment} is not published yet ({said})", publish)
    if "org" in text:
        return Finding(
            Status.FAIL,
            f"MIAW does not know org {org_id} ({said})",
            "copy the Salesforce.com Organization ID (Setup → Company Information) or the Code Snippet's "
            "OrganizationId, and check the Base URL belongs to that org",
        )
    if "deployment" in text or "config" in text:
        return Finding(
            Status.FAIL,
            f"no deployment named {deployment} ({said})",
            f"copy the deployment's API Name from {_DEPLOYMENTS} (case matters); if it is new, {publish}",
        )
    return Finding(
        Status.FAIL,
        f"MIAW refused org {org_id} with deployment {deployment} ({said})",
        f"check the Organization ID (Setup → Company Information), the deployment's API Name ({_DEPLOYMENTS}) "
        f"and that it is published ({publish})",
    )


def token_refused(status: int, message: str, capabilities_version: str) -> Finding:
    """Check 4 when the unauthenticated token call failed."""
    said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status >= 500 or status == 429:
        return Finding(Status.FAIL, f"no access token: Salesforce failed ({said})", "try again later")
    if "capabilit" in message.lower():
        return Finding(
            Status.FAIL,
            f"Capabilities Version {capabilities_version!r} refused ({said})",
            'set Capabilities Version to "1" in the connector',
        )
    return Finding(
        Status.FAIL,
        f"no access token ({said})",
        "check that the deployment is a published Custom Client deployment and that the messaging channel "
        "is active (Setup → Messaging Settings)",
    )


def clock_verdict(skew_s: float | None) -> Finding:
    """The clock part of check 4: how far this machine's clock is from Salesforce's `Date`."""
    if skew_s is None:
        return Finding(Status.PASS, "no Date header to compare clocks with")
    direction = "behind" if skew_s > 0 else "ahead of"
    found = f"this clock is {abs(skew_s):.0f} s {direction} Salesforce's"
    fix = (
        "synchronise this machine's clock (NTP): token expiry and the agent's warning before it are judged "
        "by it, and webhook receivers refuse signatures more than 300 s off"
    )
    if abs(skew_s) > _SKEW_FAIL_S:
        return Finding(Status.FAIL, found, fix)
    if abs(skew_s) > _SKEW_WARN_S:
        return Finding(Status.WARN, found, fix)
    return Finding(Status.PASS, f"clock within {max(abs(skew_s), 1.0):.0f} s of Salesforce's")

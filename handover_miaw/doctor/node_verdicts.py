"""What the node settings, the identity token and the delivery target's answers mean (checks 5-7), and the
fix. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from handover_miaw.doctor.report import Finding, Status

if TYPE_CHECKING:
    # Only a type here: importing handover_miaw.miaw at run time would bring the client (aiohttp) along.
    from handover_miaw.miaw import PreChatField

__all__ = [
    "SIGNATURE_RECIPE",
    "delivery_verdict",
    "identity_accepted",
    "identity_refused",
    "routing_verdict",
]

SIGNATURE_RECIPE = (
    "X-Handover-Signature is \"t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>\": recompute "
    "it over the raw request bytes (before parsing JSON) with the connector's delivery secret, compare in "
    "constant time, accept a t within 300 s of the receiver's clock (recipe: handover_miaw/delivery/envelope.py)"
)
_PRE_CHAT = "Setup → Embedded Service Deployments → {name} → Pre-Chat"
_ADD_HIDDEN = (
    "add each key as a custom parameter of the messaging channel (Setup → Messaging Settings → the channel → "
    "Custom Parameters, mapped to a variable of the Omni-Channel flow), then as a hidden field of the "
    "deployment's pre-chat form (" + _PRE_CHAT + ") and publish; or remove it from the node"
)


def _is_expression(value: object) -> bool:
    # A flow-editor expression (e.g. "{{context.language}}") is only known when the node runs.
    return isinstance(value, str) and "{{" in value


def _language_key(value: str) -> str:
    return value.strip().replace("-", "_").lower()


def _node_problems(
    label: str, settings: Mapping[str, Any], fields: Mapping[str, PreChatField], languages: Sequence[str]
) -> tuple[list[str], list[str], set[str]]:
    """(failures, warnings, which fixes apply) for one node's settings."""
    failures: list[str] = []
    warnings: list[str] = []
    fixes: set[str] = set()
    attributes = settings.get("routingAttributes") or {}
    for key, value in attributes.items():
        if key == "language":
            wanted = {_language_key(item) for item in languages}
            if wanted and not _is_expression(value) and _language_key(str(value)) not in wanted:
                failures.append(
                    f"{label}: language {value!r} is not a language of the deployment ({', '.join(languages)})"
                )
                fixes.add("language")
            continue
        field = fields.get(key)
        if field is None:
            failures.append(f"{label}: {key}: not a pre-chat field of the deployment, so MIAW drops it")
            fixes.add("hidden")
        elif not field.hidden:
            warnings.append(f"{label}: {key}: a visible pre-chat field, not a hidden one")
            fixes.add("visible")
    for field in fields.values():
        if field.required and field.name not in attributes:
            kind = "hidden" if field.hidden else "visible"
            failures.append(f"{label}: {field.name}: a required {kind} pre-chat field the node does not set")
            fixes.add("required")
    return failures, warnings, fixes


def routing_verdict(
    nodes: Sequence[tuple[str, Mapping[str, Any]]],
    fields: Sequence[PreChatField],
    languages: Sequence[str],
    deployment: str,
) -> Finding:
    """Check 5: every node's routing attribute keys against the deployment's pre-chat fields and languages."""
    by_name = {f.name: f for f in fields}
    failures: list[str] = []
    warnings: list[str] = []
    fixes: set[str] = set()
    keys = 0
    for label, settings in nodes:
        keys += len(settings.get("routingAttributes") or {})
        found_failures, found_warnings, found_fixes = _node_problems(label, settings, by_name, languages)
        failures += found_failures
        warnings += found_warnings
        fixes |= found_fixes
    pre_chat = _PRE_CHAT.format(name=deployment)
    texts = {
        "hidden": _ADD_HIDDEN.format(name=deployment),
        "required": f"set every required pre-chat field in the node's Conversation Routing Attributes, or make it "
        f"optional ({pre_chat})",
        "language": "set language to one of the deployment's languages, or add the language to the deployment "
        f"(Setup → Embedded Service Deployments → {deployment} → Languages)",
        "visible": f"make the field hidden ({pre_chat}) if the bot, not the user, fills it",
    }
    fix = "; ".join(texts[k] for k in ("hidden", "required", "language", "visible") if k in fixes) or None
    scope = f"{len(nodes)} node setting(s), {keys} routing attribute(s)"
    if failures:
        return Finding(Status.FAIL, f"{scope}: {len(failures)} problem(s)", fix, tuple(failures + warnings))
    if warnings:
        return Finding(Status.WARN, f"{scope}: {len(warnings)} warning(s)", fix, tuple(warnings))
    return Finding(Status.PASS, f"{scope}: every key is a hidden pre-chat field; required fields are set")


def identity_accepted(authenticated: bool, revoked: bool) -> Finding:
    """Check 6 when the authenticated-token endpoint answered 200."""
    if not authenticated:
        # MIAW is reported to answer a failed verification with a guest token (miaw-api.md §1.2).
        return Finding(
            Status.FAIL,
            "the identity token was not verified: Salesforce answered with a guest (anonymous) token",
            "add the key set that signs your identity tokens to User Verification (Setup → Messaging Settings → "
            "the channel → User Verification) and check the token's iss, aud, kid and exp",
        )
    tail = "; token revoked" if revoked else "; the token could not be revoked (it expires by itself)"
    return Finding(Status.PASS, "the sample identity token was accepted: verified-user token issued" + tail)


def identity_refused(status: int, message: str) -> Finding:
    """Check 6 when the authenticated-token endpoint refused the sample token."""
    said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status >= 500 or status == 429:
        return Finding(Status.FAIL, f"Salesforce failed ({said})", "try again later")
    return Finding(
        Status.FAIL,
        f"the sample identity token was refused ({said})",
        "the token must be a signed JWT (header kid; claims iss, sub, aud, exp) whose key set is configured in "
        "User Verification (Setup → Messaging Settings → the channel → User Verification)",
    )


def delivery_verdict(fmt: str, status: int, url: str) -> Finding:
    """Check 7 from the receiver's answer to a signed `handover.ping` (webhook) or a Cognigy notify call."""
    if fmt == "cognigy":
        if 200 <= status < 300:
            return Finding(Status.PASS, f"Cognigy endpoint {url} answered HTTP {status} with the API key")
        if status in (401, 403):
            return Finding(
                Status.FAIL,
                f"Cognigy refused the API key (HTTP {status})",
                "copy an API key of the Cognigy project (Cognigy → My Profile → API Keys) into delivery.apiKey",
            )
        return Finding(
            Status.FAIL,
            f"Cognigy endpoint {url} answered HTTP {status}",
            "copy the endpoint's base URL and URL token (Cognigy → Deploy → Endpoints → the REST endpoint)",
        )
    if 200 <= status < 300:
        return Finding(Status.PASS, f"signed handover.ping to {url} answered HTTP {status}")
    if status in (401, 403):
        return Finding(Status.FAIL, f"the receiver refused the signed handover.ping (HTTP {status})", SIGNATURE_RECIPE)
    if 300 <= status < 400:
        return Finding(
            Status.FAIL,
            f"{url} answered with a redirect (HTTP {status}); deliveries never follow redirects",
            "set delivery.url to the final URL",
        )
    if status in (404, 405):
        return Finding(Status.FAIL, f"no receiver at {url} (HTTP {status})", "check delivery.url")
    return Finding(
        Status.FAIL,
        f"the receiver answered HTTP {status} to a signed handover.ping",
        "answer 2xx to every delivery, including types the receiver does not handle (handover.ping)",
    )

"""The checks of a connector body beyond its schema, shared by PUT /v1/connectors/{name}, the connectors file
and the doctor: the MIAW host allow-list, the delivery target policy, control characters in values."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from handover_miaw.delivery.targets import control_character_problems
from handover_miaw.errors import SchemaViolationError
from handover_miaw.problems import Problem
from handover_miaw.settings import Settings

__all__ = ["check_connector_hosts", "check_connector_targets"]


def check_connector_hosts(settings: Settings, body: dict[str, Any], base: str = "") -> None:
    """Refuse a MIAW base URL outside the host allow-list (loopback only in development mode)."""
    host = urlsplit(body["config"]["baseUrl"]).hostname or ""
    if not settings.base_url_allowed(host):
        allowed = "loopback hosts (development mode)" if settings.insecure_dev else ", ".join(settings.allowed_hosts)
        reason = f"host {host!r} is not allowed for MIAW calls (allowed: {allowed})"
        raise SchemaViolationError([Problem(f"{base}/config/baseUrl", reason)])


def check_connector_targets(settings: Settings, body: dict[str, Any], base: str = "") -> None:
    """Refuse a delivery URL the target policy does not allow (http, an internal address) and any control
    character in a value that becomes a header or a request (a Cognigy apiKey with CR LF made every attempt
    fail); the reasons name the field, never the value."""
    problems = [Problem(f"{base}{pointer}", reason) for pointer, reason in control_character_problems(body)]
    url = body["delivery"].get("url")
    if isinstance(url, str) and not problems:
        refused = settings.delivery_policy().url_problem(url)
        if refused is not None:
            problems.append(Problem(f"{base}/delivery/url", f"the delivery URL {refused}"))
    if problems:
        raise SchemaViolationError(problems)

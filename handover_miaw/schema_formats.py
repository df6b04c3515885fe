"""Explicit checkers for the `format` values our JSON Schemas use, registered with every `schema.CompiledSchema`.

jsonschema implementations skip `format` silently unless told otherwise (and the Python one needs optional
extras for `uri`), so every format we rely on is implemented here, registered by name with the compiled
validators, and tested with values that must fail. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "FORMATS",
    "Format",
    "is_developer_name",
    "is_field_api_name",
    "is_https_url",
    "is_loopback_host",
    "is_org_id",
    "is_url_template",
]

_ORG_ID = re.compile(r"00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")
# Salesforce API names: a letter first, letters/digits/single underscores, no trailing underscore.
_DEVELOPER_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?=[A-Za-z0-9]))*")
# Field API names as routing attribute keys: the standard pre-chat fields start with one underscore
# (`_firstName`), custom fields end in `__c`; 40 characters before the suffix.
_FIELD_NAME = re.compile(r"_?[A-Za-z](?:[A-Za-z0-9]|_(?=[A-Za-z0-9]))*(?:__c)?")
_FIELD_NAME_MAX = 43
TEMPLATE_PLACEHOLDERS = frozenset({"userId", "sessionId", "urlToken"})


def is_org_id(value: str) -> bool:
    """`00D` followed by 12 or 15 letters and digits (a 15- or 18-character org id)."""
    return _ORG_ID.fullmatch(value) is not None


def is_developer_name(value: str) -> bool:
    """A Salesforce developer (API) name such as `Bot_Handover_Custom`."""
    return len(value) <= 80 and _DEVELOPER_NAME.fullmatch(value) is not None


def is_field_api_name(value: str) -> bool:
    """A field API name usable as a routing attribute key (`Brand__c`, `_email`, `language`)."""
    return len(value) <= _FIELD_NAME_MAX and _FIELD_NAME.fullmatch(value) is not None


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP addresses."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_https_url(value: str) -> bool:
    """An absolute https URL with a host and no credentials; http only for a loopback host."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        return False
    del port
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return False
    if any(ch in value for ch in " \t\r\n"):
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_host(host)


def is_url_template(value: str) -> bool:
    """Empty (not set), or an https URL whose only placeholders are {userId}, {sessionId}, {urlToken}."""
    if value == "":
        return True
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError:
        return False
    if any(name not in TEMPLATE_PLACEHOLDERS for name in names):
        return False
    return is_https_url(value.format(**dict.fromkeys(TEMPLATE_PLACEHOLDERS, "x")))


@dataclass(frozen=True, slots=True)
class Format:
    """A named format: its checker and the phrase used in error messages."""

    check: Callable[[str], bool]
    description: str


FORMATS: dict[str, Format] = {
    "salesforce-org-id": Format(is_org_id, "Salesforce organization id (00D followed by 12 or 15 letters and digits)"),
    "salesforce-developer-name": Format(
        is_developer_name, "Salesforce API name (a letter first, then letters, digits and single underscores)"
    ),
    "salesforce-field-name": Format(is_field_api_name, "Salesforce field API name (e.g. Brand__c, _email or language)"),
    "https-url": Format(is_https_url, "https URL (http is accepted only for a loopback host)"),
    "url-template": Format(
        is_url_template, "https URL template whose placeholders are {userId}, {sessionId} and {urlToken}"
    ),
}

"""Strict request-body checks: required fields, exact types, lowercase v4 UUIDs, no unknown properties.

A check is a function ``(value, path) -> None`` that raises a 400 :class:`SimulatorError` naming the
JSON path, so a client under test learns exactly which field it got wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .state import SimulatorError

__all__ = [
    "Check",
    "array",
    "bad_request",
    "boolean",
    "flat_object",
    "integer",
    "is_uuid_v4",
    "number",
    "obj",
    "one_of",
    "string",
    "uuid_v4",
    "validate",
]

Check = Callable[[Any, str], None]

_UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def bad_request(message: str, code: str = "INVALID_REQUEST") -> SimulatorError:
    """A 400 error."""
    return SimulatorError(400, code, message)


def is_uuid_v4(value: object) -> bool:
    """True for a lowercase version-4 UUID with an RFC 4122 variant nibble."""
    return isinstance(value, str) and _UUID_V4.fullmatch(value) is not None


def validate(value: Any, check: Check) -> None:
    """Run ``check`` on a whole body."""
    check(value, "$")


def string(*, allow_empty: bool = False) -> Check:
    """A JSON string (non-empty unless ``allow_empty``)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise bad_request(f"{path} must be a string.")
        if not allow_empty and not value.strip():
            raise bad_request(f"{path} must not be empty.")

    return check


def uuid_v4(message: str | None = None) -> Check:
    """A lowercase v4 UUID string."""

    def check(value: Any, path: str) -> None:
        if not is_uuid_v4(value):
            raise bad_request(message or f"{path} must be a lowercase v4 UUID.")

    return check


def boolean() -> Check:
    """A JSON boolean."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise bad_request(f"{path} must be a boolean.")

    return check


def integer(minimum: int | None = None) -> Check:
    """A JSON integer (booleans excluded), optionally at least ``minimum``."""

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{path} must be an integer.")
        if minimum is not None and value < minimum:
            raise bad_request(f"{path} must be >= {minimum}.")

    return check


def number(minimum: float = 0.0) -> Check:
    """A JSON number (booleans excluded) of at least ``minimum``."""

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"{path} must be a number.")
        if value < minimum:
            raise bad_request(f"{path} must be >= {minimum}.")

    return check


def one_of(*allowed: str) -> Check:
    """One of the given strings."""

    def check(value: Any, path: str) -> None:
        if value not in allowed:
            raise bad_request(f"{path} must be one of {', '.join(allowed)}.")

    return check


def flat_object() -> Check:
    """An object of scalar values (routing attributes)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise bad_request(f"{path} must be an object.")
        for key, item in value.items():
            if item is not None and not isinstance(item, str | int | float | bool):
                raise bad_request(f"{path}.{key} must be a string, number or boolean.")

    return check


def array(item: Check, *, min_items: int = 0) -> Check:
    """A JSON array whose items all pass ``item``."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise bad_request(f"{path} must be an array.")
        if len(value) < min_items:
            raise bad_request(f"{path} needs at least {min_items} item(s).")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")

    return check


def obj(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """An object with exactly these properties: all of ``required``, any of ``optional``, nothing else.

    An optional property sent as ``null`` counts as absent: clients often serialise unset fields that way.
    """
    optional = optional or {}

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise bad_request(f"{path} must be an object.")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            raise bad_request(f"{path}: unrecognized field(s) {', '.join(unknown)}.", "UNKNOWN_PROPERTY")
        for name, field_check in required.items():
            if name not in value or value[name] is None:
                raise bad_request(f"{path}.{name} is required.", "MISSING_FIELD")
            field_check(value[name], f"{path}.{name}")
        for name, field_check in optional.items():
            if value.get(name) is not None:
                field_check(value[name], f"{path}.{name}")

    return check

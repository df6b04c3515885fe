"""Lenient readers of JSON values decoded from Salesforce (pure; shared by `decoding` and `models`).

Every payload field may be missing, null or of an unexpected type; these return None / empty instead
of raising, so decoders read as plain field lookups.
"""

from __future__ import annotations

from typing import Any

from handover_miaw.digits import ascii_digits

__all__ = ["as_int", "as_list", "as_obj", "as_str", "first_int"]


def as_obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: object) -> str | None:
    """`value` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: object) -> int | None:
    """An integer from an int, an integral float or a digit string; None otherwise (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and ascii_digits(value):
        return int(value)
    return None


def first_int(source: dict[str, Any], *keys: str) -> int | None:
    """The first of `keys` holding an int, looking one level into an object under the key."""
    for key in keys:
        value = source.get(key)
        if isinstance(value, dict):
            value = next((value[k] for k in keys if as_int(value.get(k)) is not None), None)
        number = as_int(value)
        if number is not None:
            return number
    return None

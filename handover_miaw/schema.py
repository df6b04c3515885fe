"""Compiled JSON Schema (2020-12) validators with our explicit format checkers.

One engine serves the CLI reports and the runtime's request bodies: jsonschema-rs. It validates in
compiled code, far faster than the pure-Python jsonschema on a path every request takes, and its errors
carry the instance path needed for a precise JSON Pointer. Each schema is compiled once and cached by its owner.

Messages are for people and may be shown to any caller: a value under a `writeOnly` schema (a secret,
declared as such by the API document and the manifest) is never quoted, any other value by at most
QUOTE_CHARS characters, and objects and arrays not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from handover_miaw.problems import Problem, pointer, sort_problems
from handover_miaw.schema_formats import FORMATS

__all__ = ["MAX_DEPTH", "QUOTE_CHARS", "TOO_DEEP", "CompiledSchema", "quote"]

# An error message quotes at most this many characters of the offending value.
QUOTE_CHARS = 40
_LONGEST_MESSAGE = 300

_FORMAT_CHECKS = {name: fmt.check for name, fmt in FORMATS.items()}
# jsonschema-rs raises ValueError instead of reporting once it descends about 255 levels into an instance, while
# orjson (and Python's json) parse up to 1,024: such a document is refused with this problem at its root.
MAX_DEPTH = 250
TOO_DEEP = f"the document is nested too deeply to be checked (more than {MAX_DEPTH} levels of arrays and objects)"


def _format_name(error: jsonschema_rs.ValidationError) -> str | None:
    path = list(error.schema_path)
    if path and path[-1] == "format":
        kind = error.kind
        return str(getattr(kind, "format", "")) or None
    return None


class CompiledSchema:
    """A schema compiled once; validates documents and reports every problem with its pointer."""

    __slots__ = ("_validator", "schema")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self._validator = jsonschema_rs.Draft202012Validator(self.schema, formats=_FORMAT_CHECKS, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        """Fast path: True when the instance is valid."""
        try:
            return bool(self._validator.is_valid(instance))
        except ValueError:  # past jsonschema-rs's recursion limit (TOO_DEEP)
            return False

    def problems(self, instance: Any, *, quote_values: bool = True) -> list[Problem]:
        """Every problem of the instance, sorted by pointer; empty when valid. Without `quote_values`
        every message says "the value" instead of quoting it (for a summary that does not repeat it)."""
        try:
            if self._validator.is_valid(instance):
                return []
            errors = list(self._validator.iter_errors(instance))
        except ValueError:  # past jsonschema-rs's recursion limit
            return [Problem("", TOO_DEEP)]
        found: list[Problem] = []
        for error in errors:
            found.extend(_explain(error, self.schema, quote_values=quote_values))
        return sort_problems(found)


def _explain(
    error: jsonschema_rs.ValidationError, root: Mapping[str, Any] | None = None, *, quote_values: bool = True
) -> list[Problem]:
    """Point at the property itself for missing and unknown properties, and name formats plainly."""
    path = list(error.instance_path)
    kind = error.kind.name
    details = error.kind.as_dict()
    if kind == "required":
        prop = str(details["property"])
        return [Problem(pointer([*path, prop]), f"required property {prop!r} is missing")]
    if kind == "additionalProperties":
        return [Problem(pointer([*path, str(p)]), f"unknown property {_clip(str(p))!r}") for p in details["unexpected"]]
    if kind == "propertyNames":
        inner: jsonschema_rs.ValidationError = details["error"]
        name = str(inner.instance)
        return [Problem(pointer([*path, name]), f"property name {p.message}") for p in _explain(inner)]
    node = _schema_node(root, list(error.schema_path)[:-1])
    hidden = node.get("writeOnly") is True or not quote_values
    subject = "the value" if hidden else quote(error.instance)
    fmt = _format_name(error)
    if fmt is not None and fmt in FORMATS:
        return [Problem(pointer(path), f"{subject} is not a valid {FORMATS[fmt].description}")]
    if kind == "pattern" and isinstance(node.get("description"), str):
        return [Problem(pointer(path), f"{subject} is not allowed: {node['description']}")]
    return [Problem(pointer(path), _requote(error, subject))]


def quote(value: Any) -> str:
    """A value as an error message may show it: at most a short prefix, so that a 200 KiB text does not
    come back in its error body; objects and arrays are named, not shown (they may hold secrets)."""
    if isinstance(value, dict):
        return "the object"
    if isinstance(value, list):
        return "the array"
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


def _requote(error: jsonschema_rs.ValidationError, subject: str) -> str:
    # jsonschema-rs writes the whole instance, as compact JSON, into its message ('"abc" is shorter than
    # 16 characters'); put the short quote (or "the value" for a write-only field) in its place.
    message = str(error.message)
    rendered = json.dumps(error.instance, ensure_ascii=False, separators=(",", ":"))
    # Only at the start or the end, where jsonschema-rs puts it: `1` must not be replaced inside `10`.
    if message.startswith(rendered):
        return subject + message[len(rendered) :]
    if message.endswith(rendered):
        return message[: -len(rendered)] + subject
    if subject == "the value" or len(message) > _LONGEST_MESSAGE:
        # A wording that does not quote the instance as expected: say which check failed, show nothing.
        return f"{subject} does not satisfy the schema's {error.kind.name!r} check"
    return message


def _schema_node(root: Mapping[str, Any] | None, location: list[str | int]) -> Mapping[str, Any]:
    """The subschema at a schema path (jsonschema-rs gives it with references already resolved)."""
    node: Any = root or {}
    for step in location:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return {}
    return node if isinstance(node, Mapping) else {}

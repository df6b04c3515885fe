"""The declared fields of the manifest as typed values, and what follows from them.

Pure: parsing field declarations, JSON Schema derivation, condition evaluation and defaults. The manifest
is the only place that lists fields; everything here works from whatever it declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "NO_DEFAULT",
    "Field",
    "apply_defaults",
    "condition_holds",
    "condition_schema",
    "field_schema",
    "object_schema",
    "parse_connector_field",
    "parse_node_field",
]


class _NoDefault:
    """Marks a field without a default (None is a legitimate JSON default)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()


@dataclass(frozen=True, slots=True)
class Field:
    """One declared field, connector or node, in one shape."""

    key: str
    type: str
    label: str
    description: str = ""
    default: Any = NO_DEFAULT
    required: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    condition: Mapping[str, Any] | None = None

    @property
    def has_default(self) -> bool:
        """True when the manifest gives a default."""
        return self.default is not NO_DEFAULT

    @property
    def is_secret(self) -> bool:
        """True for fields whose values must never be logged or echoed."""
        return self.type == "secret"


def parse_connector_field(raw: Mapping[str, Any]) -> Field:
    """A connector (connection schema) field: `required` and `default` at top level."""
    return Field(
        key=raw["key"],
        type=raw["type"],
        label=raw["label"],
        description=raw.get("description", ""),
        default=raw.get("default", NO_DEFAULT),
        required=bool(raw.get("required", False)),
        params=raw.get("params", {}),
        condition=raw.get("condition"),
    )


def parse_node_field(raw: Mapping[str, Any]) -> Field:
    """A node field: `defaultValue` at top level, `required` inside params."""
    params = raw.get("params", {})
    return Field(
        key=raw["key"],
        type=raw["type"],
        label=raw["label"],
        description=raw.get("description", ""),
        default=raw.get("defaultValue", NO_DEFAULT),
        required=bool(params.get("required", False)),
        params=params,
        condition=raw.get("condition"),
    )


def _value_schema(fld: Field) -> dict[str, Any]:
    params = fld.params
    schema: dict[str, Any]
    if fld.type in ("text", "url", "secret"):
        schema = {"type": "string"}
        if fld.type == "url":
            schema["format"] = params.get("format", "https-url")
        elif "format" in params:
            schema["format"] = params["format"]
        if fld.type == "secret":
            schema["writeOnly"] = True
            schema["minLength"] = 1
        for name in ("minLength", "maxLength"):
            if name in params:
                schema[name] = params[name]
    elif fld.type == "toggle":
        schema = {"type": "boolean"}
    elif fld.type == "number":
        schema = {"type": "number"}
        if "min" in params:
            schema["minimum"] = params["min"]
        if "max" in params:
            schema["maximum"] = params["max"]
    elif fld.type == "select":
        schema = {"enum": [option["value"] for option in params.get("options", [])]}
    elif fld.type == "keyValue":
        schema = {"type": "object", "additionalProperties": {"type": "string"}}
        if "keyFormat" in params:
            schema["propertyNames"] = {"format": params["keyFormat"]}
    else:  # json: any JSON value the flow editor can hold
        schema = {}
    return schema


def field_schema(fld: Field, *, with_default: bool = True) -> dict[str, Any]:
    """The JSON Schema of one field's value, annotated with its label and description."""
    schema = _value_schema(fld)
    schema["title"] = fld.label
    if fld.description:
        schema["description"] = fld.description
    if with_default and fld.has_default:
        schema["default"] = fld.default
    return schema


def condition_schema(condition: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A schema that an object satisfies exactly when the condition holds for it.

    A missing key stands for its default, so `required` is added only when the default would not match; with
    no default it stands for "" in a condition on "" (see `condition_holds`).
    """
    if "and" in condition:
        return {"allOf": [condition_schema(c, defaults) for c in condition["and"]]}
    if "or" in condition:
        return {"anyOf": [condition_schema(c, defaults) for c in condition["or"]]}
    key, value = condition["key"], condition["value"]
    test: dict[str, Any] = {"properties": {key: {"const": value}}}
    if defaults.get(key, _absent(value)) != value:
        test["required"] = [key]
    return {"not": test} if condition.get("negate") else test


def _absent(expected: Any) -> Any:
    # A text field left empty is absent from the settings (the flow editor and the web UI both drop it), yet a
    # condition on "" means "left empty": absent must compare as "" there, or `negate` always holds.
    return "" if expected == "" else NO_DEFAULT


def condition_holds(condition: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool:
    """Evaluate a field condition against settings that already carry their defaults (the web UI's form.js
    evaluates it the same way)."""
    if condition is None:
        return True
    if "and" in condition:
        return all(condition_holds(c, values) for c in condition["and"])
    if "or" in condition:
        return any(condition_holds(c, values) for c in condition["or"])
    expected = condition["value"]
    matches = bool(values.get(condition["key"], _absent(expected)) == expected)
    return not matches if condition.get("negate") else matches


def object_schema(fields: Iterable[Field], *, title: str, schema_id: str) -> dict[str, Any]:
    """The JSON Schema of an object holding these fields: types, defaults, required and conditional required."""
    fields = list(fields)
    defaults = {f.key: f.default for f in fields if f.has_default}
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        "type": "object",
        "properties": {f.key: field_schema(f) for f in fields},
        "additionalProperties": False,
    }
    # A required field with a default is satisfied by the default, so only the others must be given.
    required = [f.key for f in fields if f.required and not f.has_default and f.condition is None]
    if required:
        schema["required"] = required
    conditional = [
        {"if": condition_schema(f.condition, defaults), "then": {"required": [f.key]}}
        for f in fields
        if f.required and not f.has_default and f.condition is not None
    ]
    if conditional:
        schema["allOf"] = conditional
    return schema


def apply_defaults(fields: Iterable[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the values with every missing field that has a default filled in."""
    out = dict(values)
    for fld in fields:
        if fld.key not in out and fld.has_default:
            out[fld.key] = fld.default
    return out

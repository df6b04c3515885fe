"""What an upload would reject beyond the manifest's schema: references, uniqueness, defaults, the icon.

Pure: works on the parsed manifest (already valid against schemas/extension.schema.json) and on the icon's
bytes; the loader does the reading.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handover_miaw.manifest.fields import Field, field_schema, parse_connector_field, parse_node_field
from handover_miaw.problems import Problem, pointer
from handover_miaw.schema import CompiledSchema

__all__ = ["ICON_SIZE", "check_icon", "check_manifest_semantics"]

ICON_SIZE = 64
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PARAMS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "options": frozenset({"select"}),
    "keyFormat": frozenset({"keyValue"}),
    "format": frozenset({"text", "url"}),
    "min": frozenset({"number"}),
    "max": frozenset({"number"}),
    "minLength": frozenset({"text", "url", "secret"}),
    "maxLength": frozenset({"text", "url", "secret"}),
}


def check_icon(data: bytes | None, declared: str) -> list[Problem]:
    """The icon must be a PNG of exactly 64x64 pixels."""
    where = pointer(["icon"])
    if data is None:
        return [Problem(where, f"icon file {declared!r} not found next to the manifest")]
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return [Problem(where, f"icon file {declared!r} is not a PNG image")]
    width, height = struct.unpack(">II", data[16:24])
    if (width, height) != (ICON_SIZE, ICON_SIZE):
        return [Problem(where, f"icon is {width}x{height} pixels; it must be {ICON_SIZE}x{ICON_SIZE}")]
    return []


def _field_problems(fields: Sequence[Field], base: list[str | int], default_name: str) -> list[Problem]:
    found: list[Problem] = []
    first_seen: dict[str, int] = {}
    by_key = {f.key: f for f in fields}
    for index, fld in enumerate(fields):
        here = [*base, index]
        if fld.key in first_seen:
            first = pointer([*base, first_seen[fld.key]])
            found.append(Problem(pointer([*here, "key"]), f"duplicate field key {fld.key!r} (first at {first})"))
        else:
            first_seen[fld.key] = index
        for name in fld.params:
            allowed = _PARAMS_BY_TYPE.get(name)
            if allowed is not None and fld.type not in allowed:
                found.append(
                    Problem(pointer([*here, "params", name]), f"{name!r} does not apply to a {fld.type} field")
                )
        if fld.type == "select" and not fld.params.get("options"):
            found.append(Problem(pointer([*here, "params"]), "a select field needs params.options"))
        low, high = fld.params.get("min"), fld.params.get("max")
        if low is not None and high is not None and low > high:
            found.append(Problem(pointer([*here, "params", "min"]), f"min {low} is greater than max {high}"))
        if fld.has_default:
            validator = CompiledSchema(field_schema(fld, with_default=False))
            found.extend(
                Problem(pointer([*here, default_name]) + p.pointer, f"default does not fit the field: {p.message}")
                for p in validator.problems(fld.default)
            )
        if fld.condition is not None:
            found.extend(_condition_problems(fld.condition, fld.key, by_key, [*here, "condition"]))
    return found


def _condition_problems(
    condition: Mapping[str, Any], owner: str, by_key: Mapping[str, Field], here: list[str | int]
) -> list[Problem]:
    for joiner in ("and", "or"):
        if joiner in condition:
            return [
                problem
                for index, child in enumerate(condition[joiner])
                for problem in _condition_problems(child, owner, by_key, [*here, joiner, index])
            ]
    key = condition["key"]
    target = by_key.get(key)
    if target is None:
        return [Problem(pointer([*here, "key"]), f"condition refers to field {key!r}, which is not declared here")]
    if key == owner:
        return [Problem(pointer([*here, "key"]), "a field's condition cannot depend on the field itself")]
    validator = CompiledSchema(field_schema(target, with_default=False))
    return [
        Problem(pointer([*here, "value"]), f"condition value does not fit field {key!r}: {p.message}")
        for p in validator.problems(condition["value"])
    ]


def _node_problems(node: Mapping[str, Any], base: list[str | int]) -> list[Problem]:
    fields = [parse_node_field(raw) for raw in node["fields"]]
    found = _field_problems(fields, [*base, "fields"], "defaultValue")
    field_keys = {f.key for f in fields}
    section_keys: dict[str, int] = {}
    placed: dict[str, str] = {}
    for s_index, section in enumerate(node["sections"]):
        here = [*base, "sections", s_index]
        if section["key"] in section_keys:
            found.append(Problem(pointer([*here, "key"]), f"duplicate section key {section['key']!r}"))
        section_keys.setdefault(section["key"], s_index)
        if section["key"] in field_keys:
            found.append(Problem(pointer([*here, "key"]), f"section key {section['key']!r} is also a field key"))
        for f_index, key in enumerate(section["fields"]):
            where = pointer([*here, "fields", f_index])
            if key not in field_keys:
                found.append(Problem(where, f"section refers to field {key!r}, which is not declared"))
            elif key in placed:
                found.append(Problem(where, f"field {key!r} is already in section {placed[key]!r}"))
            else:
                placed[key] = section["key"]
    shown: set[str] = set()
    for i_index, item in enumerate(node["form"]):
        where = pointer([*base, "form", i_index, "key"])
        key, kind = item["key"], item["type"]
        known = section_keys if kind == "section" else field_keys
        if key not in known:
            found.append(Problem(where, f"form refers to {kind} {key!r}, which is not declared"))
            continue
        if key in shown:
            found.append(Problem(where, f"form shows {kind} {key!r} twice"))
        shown.add(key)
        if kind == "field" and key in placed:
            found.append(Problem(where, f"field {key!r} is shown both alone and in section {placed[key]!r}"))
    visible = {k for k in shown if k in field_keys} | {k for k, s in placed.items() if s in shown}
    for index, fld in enumerate(fields):
        if fld.key not in visible:
            where = pointer([*base, "fields", index, "key"])
            found.append(Problem(where, f"field {fld.key!r} is not shown by the form (directly or in a section)"))
    return found


def check_manifest_semantics(manifest: Mapping[str, Any]) -> list[Problem]:
    """Every reference, uniqueness and default problem of a schema-valid manifest."""
    connector_fields = [parse_connector_field(raw) for raw in manifest["connector"]["fields"]]
    found = _field_problems(connector_fields, ["connector", "fields"], "default")
    seen_types: set[str] = set()
    for index, node in enumerate(manifest["nodes"]):
        if node["type"] in seen_types:
            found.append(Problem(pointer(["nodes", index, "type"]), f"duplicate node type {node['type']!r}"))
        seen_types.add(node["type"])
        found.extend(_node_problems(node, ["nodes", index]))
    return found


def secret_keys(fields: Iterable[Field]) -> frozenset[str]:
    """Keys of the fields declared secret."""
    return frozenset(f.key for f in fields if f.is_secret)

"""Schema messages a person can read: a write-only (secret) field's value is never quoted, any other
value at most by a short prefix, objects and arrays not at all."""

from __future__ import annotations

from typing import Any

from handover_miaw.schema import QUOTE_CHARS, CompiledSchema

SCHEMA: dict[str, Any] = {
    "$defs": {"Secret": {"type": "string", "minLength": 16, "writeOnly": True}},
    "type": "object",
    "properties": {
        "secret": {"$ref": "#/$defs/Secret"},
        "text": {"type": "string", "maxLength": 50},
        "mode": {"enum": ["a", "b"]},
        "inner": {"type": "object", "properties": {"token": {"type": "string", "writeOnly": True}}, "required": ["x"]},
        "count": {"type": "integer"},
    },
}


def _messages(instance: Any) -> dict[str, str]:
    return {p.pointer: p.message for p in CompiledSchema(SCHEMA).problems(instance)}


def test_a_write_only_value_is_never_quoted() -> None:
    for value in ("a", "short", "whsec_0123"):
        assert _messages({"secret": value}) == {"/secret": "the value is shorter than 16 characters"}


def test_a_write_only_value_of_the_wrong_type_is_not_quoted() -> None:
    assert _messages({"inner": {"x": 1, "token": 1234567}}) == {"/inner/token": 'the value is not of type "string"'}


def test_a_long_value_is_quoted_by_a_short_prefix_once() -> None:
    text = "x" * 200 * 1024
    (message,) = _messages({"text": text}).values()
    assert message == f'"{"x" * QUOTE_CHARS}…" is longer than 50 characters'


def test_short_values_are_quoted_whole() -> None:
    assert _messages({"mode": "zz", "count": "7"}) == {
        "/mode": '"zz" is not one of "a" or "b"',
        "/count": '"7" is not of type "integer"',
    }


def test_objects_are_named_not_shown() -> None:
    secret = "whsec_0123456789abcdef"
    messages = _messages({"inner": {"token": secret}, "count": {"token": secret}})
    assert messages["/count"] == 'the object is not of type "integer"'
    assert secret not in "".join(messages.values())


def test_an_unknown_long_property_name_is_clipped() -> None:
    schema = {"type": "object", "additionalProperties": False}
    (problem,) = CompiledSchema(schema).problems({"k" * 5000: 1})
    assert len(problem.message) < 100


def test_without_quoting_every_value_is_the_value() -> None:
    problems = CompiledSchema(SCHEMA).problems({"text": "x" * 60, "mode": "zz"}, quote_values=False)
    assert {p.pointer: p.message for p in problems} == {
        "/mode": 'the value is not one of "a" or "b"',
        "/text": "the value is longer than 50 characters",
    }


def test_a_short_value_is_replaced_where_it_stands_only() -> None:
    schema = {"type": "object", "properties": {"n": {"minimum": 10}, "s": {"not": {"const": "s"}}}}
    problems = CompiledSchema(schema).problems({"n": 1, "s": "s"}, quote_values=False)
    messages = {p.pointer: p.message for p in problems}
    assert messages["/n"] == "the value is less than the minimum of 10"
    assert messages["/s"] == '{"const":"s"} is not allowed for the value'

"""Field conditions on "": an absent text value is an empty one, in the evaluation and in the derived schema."""

from __future__ import annotations

from handover_miaw.manifest import Manifest
from handover_miaw.manifest.fields import apply_defaults, condition_holds, condition_schema

NOT_EMPTY = {"key": "template", "value": "", "negate": True}


def test_a_negated_condition_on_empty_text_fails_when_the_value_is_absent() -> None:
    assert not condition_holds(NOT_EMPTY, {})
    assert not condition_holds(NOT_EMPTY, {"template": ""})
    assert condition_holds(NOT_EMPTY, {"template": "https://copilot.example/{token}"})
    assert condition_holds({"key": "template", "value": ""}, {})
    # Only a condition on "" reads absent as "": absent is still not false, nor null.
    assert not condition_holds({"key": "flag", "value": False}, {})
    assert not condition_holds({"key": "flag", "value": None}, {})


def test_the_derived_schema_reads_an_absent_key_as_empty_too() -> None:
    # Absent matches "" already, so the key is not required for the test to match (and the negation to fail).
    assert condition_schema(NOT_EMPTY, {}) == {"not": {"properties": {"template": {"const": ""}}}}
    with_default = condition_schema(NOT_EMPTY, {"template": "x"})
    assert with_default["not"]["required"] == ["template"]


def test_the_copilot_routing_attribute_applies_only_once_a_template_is_set(manifest: Manifest) -> None:
    fields = {f.key: f for f in manifest.connector_fields}
    condition = fields["copilotRoutingAttribute"].condition
    assert not condition_holds(condition, apply_defaults(manifest.connector_fields, {}))
    with_template = {"copilotUrlTemplate": "https://copilot.example/{token}"}
    assert condition_holds(condition, apply_defaults(manifest.connector_fields, with_template))

"""The one rule for connector names: ASCII only, whatever `str.isalnum` would let through."""

from __future__ import annotations

import pytest

from handover_miaw.names import CONNECTOR_NAME_RULE, connector_name_problem


@pytest.mark.parametrize("name", ["acme", "a", "0", "acme-eu_2", "a" * 63])
def test_valid_names(name: str) -> None:
    assert connector_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    ["", "Acme", "café", "\u0661", "\uff11", "a b", "-acme", "_acme", "acme\n", "a" * 64, "ǆ", "a.b", "a/b"],
)
def test_invalid_names_get_the_rule(name: str) -> None:
    assert connector_name_problem(name) == CONNECTOR_NAME_RULE
    assert "ASCII" in CONNECTOR_NAME_RULE


def test_a_non_string_is_not_a_name() -> None:
    assert connector_name_problem(12) == CONNECTOR_NAME_RULE

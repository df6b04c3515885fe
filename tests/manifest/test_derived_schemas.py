"""The schemas derived from the manifest's fields: types, defaults, required, conditions, formats."""

from __future__ import annotations

from typing import Any

from handover_miaw.manifest import Manifest
from handover_miaw.manifest.fields import condition_holds


def test_connector_schema_lists_exactly_the_declared_fields(manifest: Manifest) -> None:
    declared = [f.key for f in manifest.connector_fields]
    assert list(manifest.connector_schema["properties"]) == declared
    assert manifest.connector_schema["required"] == ["baseUrl", "organizationId", "esDeveloperName"]


def test_valid_connector_config_has_no_problem(manifest: Manifest, connector_config: dict[str, Any]) -> None:
    assert manifest.connector_validator.problems(connector_config) == []


def test_connector_defaults_are_applied(manifest: Manifest, connector_config: dict[str, Any]) -> None:
    del connector_config["capabilitiesVersion"], connector_config["forwardEvents"]
    assert manifest.connector_validator.problems(connector_config) == []
    filled = manifest.connector_with_defaults(connector_config)
    assert filled["capabilitiesVersion"] == "1"
    assert filled["forwardEvents"] is False


def test_bad_connector_config_reports_every_field(manifest: Manifest) -> None:
    problems = manifest.connector_validator.problems(
        {"baseUrl": "http://acme.example.com", "organizationId": "00Dshort", "forwardEvents": "yes", "extra": 1}
    )
    by_pointer = {p.pointer: p.message for p in problems}
    assert set(by_pointer) == {"/baseUrl", "/organizationId", "/forwardEvents", "/extra", "/esDeveloperName"}
    assert "https URL" in by_pointer["/baseUrl"]
    assert "organization id" in by_pointer["/organizationId"]
    assert "unknown property" in by_pointer["/extra"]
    assert "missing" in by_pointer["/esDeveloperName"]


def test_node_defaults_match_the_issue(manifest: Manifest) -> None:
    settings = manifest.node_with_defaults({})
    assert settings["sendTranscript"] is False
    assert settings["routingAttributes"] == {}
    assert settings["useIdentityToken"] is False
    assert settings["userConnectsMessage"] is True
    assert settings["userDisconnectsMessage"] is True
    assert settings["endOnParticipantChange"] is False


def test_identity_token_is_required_only_when_the_toggle_is_on(manifest: Manifest) -> None:
    assert manifest.node_validator.problems({}) == []
    assert manifest.node_validator.problems({"useIdentityToken": False}) == []
    problems = manifest.node_validator.problems({"useIdentityToken": True})
    assert [p.pointer for p in problems] == ["/identityToken"]
    assert manifest.node_validator.problems({"useIdentityToken": True, "identityToken": "eyJ.x.y"}) == []


def test_routing_attribute_keys_must_be_field_api_names(manifest: Manifest) -> None:
    ok = {"routingAttributes": {"Brand__c": "acme", "_email": "a@b.c", "language": "en_US"}}
    assert manifest.node_validator.problems(ok) == []
    problems = manifest.node_validator.problems({"routingAttributes": {"bad key": "x", "Brand__c": 3}})
    assert {p.pointer for p in problems} == {"/routingAttributes/bad key", "/routingAttributes/Brand__c"}


def test_identity_token_is_declared_secret(manifest: Manifest) -> None:
    assert "identityToken" in manifest.secret_keys


def test_condition_holds_single_negated_and_nested() -> None:
    values = {"a": True, "b": "x"}
    assert condition_holds({"key": "a", "value": True}, values)
    assert not condition_holds({"key": "a", "value": True, "negate": True}, values)
    assert condition_holds({"and": [{"key": "a", "value": True}, {"key": "b", "value": "x"}]}, values)
    assert not condition_holds({"and": [{"key": "a", "value": True}, {"key": "b", "value": "y"}]}, values)
    assert condition_holds({"or": [{"key": "a", "value": False}, {"key": "b", "value": "x"}]}, values)
    assert condition_holds(None, values)

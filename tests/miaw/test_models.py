"""Parsing REST bodies into typed results."""

from __future__ import annotations

import pytest

from handover_miaw.miaw.errors import MiawProtocolError
from handover_miaw.miaw.events import MessageEvent
from handover_miaw.miaw.models import (
    ChoiceListValue,
    parse_access_token,
    parse_conversation_entries,
    parse_embedded_service_config,
    parse_routing_status,
)

from .fixtures import load
from .test_jwt import make_jwt

ANON = "v2/iamessage/ANON/5d1c3a4e"
AUTH = "v2/iamessage/AUTH/Keyset/uid:ann"


def test_guest_token() -> None:
    jwt = make_jwt({"sub": ANON, "exp": 1732503600})
    token = parse_access_token(
        {
            "accessToken": jwt,
            "lastEventId": "2147867834",
            "deploymentType": "api",
            "context": {"endUser": {"subject": ANON}, "configuration": load("embedded_service_config.json")},
        }
    )
    assert (token.token, token.last_event_id, token.subject) == (jwt, "2147867834", ANON)
    assert token.expires_at == 1732503600.0
    assert token.authenticated is False
    assert token.deployment_type == "api"
    assert token.config is not None
    assert token.config.name == "Bot_Handover_Custom"
    assert token.is_expired(1732503600.0)
    assert not token.is_expired(1732503599.0)
    assert jwt not in repr(token)


def test_verified_user_token_and_subject_fallback_to_jwt() -> None:
    token = parse_access_token({"accessToken": make_jwt({"sub": AUTH, "exp": 1}), "lastEventId": 12})
    assert (token.subject, token.authenticated, token.last_event_id) == (AUTH, True, "12")
    assert token.config is None


def test_non_jwt_token_has_unknown_expiry() -> None:
    token = parse_access_token({"accessToken": "opaque", "context": {"endUser": {"subject": ANON}}})
    assert (token.expires_at, token.subject) == (None, ANON)
    assert not token.is_expired(1e12)


@pytest.mark.parametrize("body", [None, {}, {"accessToken": ""}, {"accessToken": 5}, []])
def test_token_body_without_token(body: object) -> None:
    with pytest.raises(MiawProtocolError):
        parse_access_token(body)


def test_embedded_service_config_prechat_fields() -> None:
    config = parse_embedded_service_config(load("embedded_service_config.json"))
    assert config.auth_mode == "Unauth"
    assert config.pre_chat_display_context == "Conversation"
    assert [f.name for f in config.pre_chat_fields] == [
        "_firstName",
        "_email",
        "Topic__c",
        "Bot_Summary",
        "Bot_Session_Id",
    ]
    assert [f.name for f in config.hidden_fields] == ["Bot_Summary", "Bot_Session_Id"]
    email = config.pre_chat_fields[1]
    assert (email.type, email.required, email.hidden, email.label) == ("Email", True, False, "Email")
    assert config.pre_chat_fields[2].choices == (
        ChoiceListValue("0Ml5e0000000001", "Refund"),
        ChoiceListValue("0Ml5e0000000002", "Delivery"),
    )


def test_embedded_service_config_type_languages_and_hidden_field_list() -> None:
    body = {
        "embeddedServiceConfig": {
            "deploymentType": "api",
            "languages": [{"language": "en_US", "isDefault": True}, "de", {"code": "fr"}, 7],
            # A newer web bootstrap lists hidden fields apart from the visible ones.
            "forms": [{"formFields": [{"name": "_email", "order": 1}], "hiddenFormFields": [{"name": "Order__c"}]}],
        }
    }
    config = parse_embedded_service_config(body)
    assert config.deployment_type == "api"
    assert config.languages == ("en_US", "de", "fr")
    assert [(f.name, f.hidden) for f in config.pre_chat_fields] == [("_email", False), ("Order__c", True)]


def test_token_answer_carries_the_servers_date() -> None:
    jwt = make_jwt({"sub": ANON, "exp": 1732503600})
    token = parse_access_token({"accessToken": jwt}, "Mon, 25 Nov 2024 03:00:00 GMT")
    assert token.server_date == 1732503600.0
    assert parse_access_token({"accessToken": jwt}, "not a date").server_date is None


def test_embedded_service_config_without_forms() -> None:
    config = parse_embedded_service_config({"embeddedServiceConfig": {"name": "x", "forms": "nope"}})
    assert (config.name, config.pre_chat_fields, config.pre_chat_display_context) == ("x", (), None)


def test_routing_status() -> None:
    status = parse_routing_status({"routingStatus": "ROUTED"})
    assert (status.status, status.routed) == ("ROUTED", True)
    assert parse_routing_status({}).status is None


def test_conversation_entries() -> None:
    page = parse_conversation_entries(load("list_entries.json"), "c1")
    assert len(page.events) == 4
    assert isinstance(page.events[1], MessageEvent)
    with pytest.raises(MiawProtocolError):
        parse_conversation_entries({"entries": []}, "c1")

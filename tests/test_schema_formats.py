"""Each format checker accepts what Salesforce accepts and refuses the rest."""

from __future__ import annotations

import pytest

from handover_miaw.schema_formats import (
    is_developer_name,
    is_field_api_name,
    is_https_url,
    is_org_id,
    is_url_template,
)


@pytest.mark.parametrize("value", ["00D5e000000AbCd", "00D5e000000AbCdEAA", "00D000000000001"])
def test_org_id_accepts_15_and_18_characters(value: str) -> None:
    assert is_org_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00D5e000000AbC",
        "00D5e000000AbCdE",
        "005e0000000AbCd",
        "00d5e000000AbCd",
        "00D5e000000Ab-d",
        " 00D5e000000AbCd",
    ],
)
def test_org_id_refuses_wrong_prefix_length_or_characters(value: str) -> None:
    assert not is_org_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "https://acme.my.salesforce-scrt.com",
        "https://acme.my.salesforce-scrt.com/",
        "http://127.0.0.1:8089",
        "http://localhost:8089",
        "http://[::1]:8089",
    ],
)
def test_https_url_accepts_https_and_loopback_http(value: str) -> None:
    assert is_https_url(value)


@pytest.mark.parametrize(
    "value",
    [
        "http://acme.my.salesforce-scrt.com",
        "http://10.0.0.1:8089",
        "ftp://acme.example.com",
        "https://",
        "acme.my.salesforce-scrt.com",
        "https://user:pw@acme.my.salesforce-scrt.com",
        "https://acme.example.com:99999",
        "https://acme .example.com",
    ],
)
def test_https_url_refuses_plain_http_credentials_and_garbage(value: str) -> None:
    assert not is_https_url(value)


@pytest.mark.parametrize("value", ["Brand__c", "_firstName", "_email", "language", "Bot_Summary", "copilotUrl"])
def test_field_api_name_accepts_salesforce_names(value: str) -> None:
    assert is_field_api_name(value)


@pytest.mark.parametrize("value", ["", "1abc", "bad key", "a__b", "trailing_", "__c", "Brand__x", "a-b", "x" * 44])
def test_field_api_name_refuses_invalid_names(value: str) -> None:
    assert not is_field_api_name(value)


@pytest.mark.parametrize("value", ["Bot_Handover_Custom", "A", "a1_b2"])
def test_developer_name_accepts(value: str) -> None:
    assert is_developer_name(value)


@pytest.mark.parametrize("value", ["", "_Bot", "Bot__Custom", "Bot_", "Bot Custom", "x" * 81])
def test_developer_name_refuses(value: str) -> None:
    assert not is_developer_name(value)


def test_url_template_accepts_known_placeholders_and_empty() -> None:
    assert is_url_template("")
    assert is_url_template("https://copilot.example.com/ws?u={userId}&s={sessionId}&t={urlToken}")


@pytest.mark.parametrize(
    "value", ["https://x.example.com/{unknown}", "http://x.example.com/{userId}", "https://x.example.com/{userId"]
)
def test_url_template_refuses_unknown_placeholders_http_and_broken_braces(value: str) -> None:
    assert not is_url_template(value)

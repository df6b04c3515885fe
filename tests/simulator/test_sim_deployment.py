"""The deployment knobs (type, published, pre-chat fields, languages) and a skewed `Date`, over HTTP."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from .simhelpers import DEPLOYMENT, ORG, Api

CONFIG = "/embeddedservice/v1/embedded-service-config"


async def config_answer(api: Api) -> tuple[int, dict[str, Any]]:
    resp = await api.client.get(CONFIG, params={"orgId": ORG, "esConfigName": DEPLOYMENT})
    return resp.status, await resp.json()


async def test_the_configuration_answers_with_the_deployment_as_set(api: Api) -> None:
    fields = [{"name": "Order__c", "hidden": True, "required": True}, {"name": "_email", "type": "Email"}]
    resp = await api.control(
        "/deployment", {"deploymentType": "embedded_messaging", "preChatFields": fields, "languages": ["de", "en_US"]}
    )
    assert resp.status == 200
    status, body = await config_answer(api)
    assert status == 200
    config = body["embeddedServiceConfig"]
    assert config["deploymentType"] == "embedded_messaging"
    assert config["forms"][0]["formFields"] == [
        {"name": "Order__c", "order": 1, "required": True, "isHidden": True, "type": "Text"},
        {"name": "_email", "order": 2, "required": False, "isHidden": False, "type": "Email"},
    ]
    assert config["languages"] == [{"language": "de", "isDefault": True}, {"language": "en_US", "isDefault": False}]
    assert (await api.token_response())["deploymentType"] == "embedded_messaging"
    shown = await (await api.control("/deployment", method="GET")).json()
    assert shown["preChatFields"][1] == {"name": "_email", "type": "Email", "required": False, "hidden": False}


async def test_an_unpublished_deployment_refuses_configuration_and_tokens(api: Api) -> None:
    assert (await api.control("/deployment", {"published": False})).status == 200
    status, body = await config_answer(api)
    assert status == 400
    assert body["code"] == "DEPLOYMENT_NOT_PUBLISHED"
    body_token = {"orgId": ORG, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"}
    resp = await api.client.post("/iamessage/api/v2/authorization/unauthenticated/access-token", json=body_token)
    assert resp.status == 400


@pytest.mark.parametrize(
    "body",
    [{"published": "no"}, {"preChatFields": [{"type": "Text"}]}, {"languages": "en_US"}, {"other": 1}],
)
async def test_deployment_knobs_are_checked(api: Api, body: dict[str, Any]) -> None:
    resp = await api.control("/deployment", body)
    assert resp.status == 400


async def test_a_skewed_clock_shows_in_the_date_of_miaw_answers_only(api: Api) -> None:
    assert (await api.control("/faults/clock-skew", {"seconds": 3600})).status == 200
    resp = await api.client.get(CONFIG, params={"orgId": ORG, "esConfigName": DEPLOYMENT})
    assert parsedate_to_datetime(resp.headers["Date"]).timestamp() - time.time() > 3500
    control = await api.control("/status", method="GET")
    assert abs(parsedate_to_datetime(control.headers["Date"]).timestamp() - time.time()) < 60
    await api.control("/faults", method="DELETE")
    resp = await api.client.get(CONFIG, params={"orgId": ORG, "esConfigName": DEPLOYMENT})
    assert abs(parsedate_to_datetime(resp.headers["Date"]).timestamp() - time.time()) < 60

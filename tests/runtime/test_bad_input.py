"""Bad input to every endpoint: the documented status and error body, and no stored state changed."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from aiohttp import FormData

from .conftest import API_KEY, Bot, Factory


@pytest.fixture
async def acme(bot: Bot) -> Bot:
    await bot.connector()
    return bot


async def _snapshot(bot: Bot) -> tuple[Any, Any]:
    handovers = await (await bot.api.get("/v1/handovers")).json()
    connectors = await (await bot.api.get("/v1/connectors")).json()
    return handovers, connectors


def _error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/handovers"),
        ("PUT", "/v1/connectors/other"),
        ("POST", "/v1/handovers/ho_00000000000000000000000000000000/messages"),
    ],
)
async def test_malformed_json_is_400(acme: Bot, method: str, path: str) -> None:
    before = await _snapshot(acme)
    response = await acme.api.request(
        method, path, data=b'{"connector": "acme",', headers={"Content-Type": "application/json"}
    )
    assert response.status in (400, 404)
    error = _error(await response.json())
    if response.status == 400:
        assert error["code"] == "malformed_request"
        assert "not valid JSON" in error["message"]
    assert await _snapshot(acme) == before


async def test_schema_violations_name_every_field(acme: Bot) -> None:
    before = await _snapshot(acme)
    response = await acme.api.post(
        "/v1/handovers",
        json={"connector": "acme", "sessionId": "", "settings": {"sendTranscript": "yes", "bogus": 1}, "extra": True},
    )
    assert response.status == 422
    error = _error(await response.json())
    assert error["code"] == "schema_violation"
    pointers = {p["pointer"] for p in error["problems"]}
    assert pointers == {"/sessionId", "/userId", "/settings/sendTranscript", "/settings/bogus", "/extra"}
    assert await _snapshot(acme) == before


async def test_bad_connector_config_is_422_with_pointers(acme: Bot) -> None:
    before = await _snapshot(acme)
    body = {
        "config": {"baseUrl": "http://acme.example.com", "organizationId": "00Dbad", "esDeveloperName": "x"},
        "delivery": {"format": "webhook", "url": "https://hooks.example.com/x"},
    }
    response = await acme.api.put("/v1/connectors/acme", json=body)
    assert response.status == 422
    pointers = {p["pointer"] for p in _error(await response.json())["problems"]}
    assert pointers == {"/config/baseUrl", "/config/organizationId", "/delivery/secret"}
    assert await _snapshot(acme) == before


async def test_base_url_outside_the_allow_list_is_refused(start_runtime: Factory, bot: Bot) -> None:
    strict = await start_runtime(insecure_dev=False)
    body = {
        "config": {"baseUrl": "https://evil.example.com", "organizationId": "00D000000000001", "esDeveloperName": "B"},
        "delivery": {"format": "sse"},
    }
    response = await strict.put("/v1/connectors/x", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status == 422
    (problem,) = _error(await response.json())["problems"]
    assert problem["pointer"] == "/config/baseUrl"
    assert "not allowed" in problem["message"]
    body["config"]["baseUrl"] = "https://acme.my.salesforce-scrt.com"
    ok = await strict.put("/v1/connectors/x", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status == 201


async def test_unknown_connector_and_handover_are_404(acme: Bot) -> None:
    response = await acme.api.post("/v1/handovers", json={"connector": "nope", "sessionId": "s", "userId": "u"})
    assert response.status == 404
    assert _error(await response.json())["pointer"] == "/connector"
    for path in ("/v1/handovers/ho_00000000000000000000000000000000", "/v1/handovers/not-an-id", "/v1/connectors/nope"):
        response = await acme.api.get(path)
        assert response.status == 404
        assert _error(await response.json())["code"] == "not_found"


async def test_ended_handover_is_409(acme: Bot) -> None:
    handover = await acme.start()
    hid = handover["id"]
    assert (await acme.api.delete(f"/v1/handovers/{hid}")).status == 200
    for path, body in (
        (f"/v1/handovers/{hid}/messages", {"id": "m", "text": "x"}),
        (f"/v1/handovers/{hid}/typing", {"typing": True}),
    ):
        response = await acme.api.post(path, json=body)
        assert response.status == 409
        assert _error(await response.json())["code"] == "state_conflict"
    assert (await acme.api.delete(f"/v1/handovers/{hid}")).status == 409
    assert acme.sim.conversation(handover["conversationId"]).end_user_messages == []


async def test_oversized_body_is_413(acme: Bot) -> None:
    before = await _snapshot(acme)
    huge = {"connector": "acme", "sessionId": "s", "userId": "u", "context": {"x": "y" * (2 * 1024 * 1024)}}
    body = io.BytesIO(orjson.dumps(huge))
    response = await acme.api.post("/v1/handovers", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert _error(await response.json())["code"] == "payload_too_large"
    assert await _snapshot(acme) == before


async def test_api_key_required_outside_dev_mode(start_runtime: Factory, bot: Bot) -> None:
    strict = await start_runtime(insecure_dev=False)
    for headers in ({}, {"Authorization": "Bearer wrong-key-123456"}, {"Authorization": API_KEY}):
        response = await strict.get("/v1/connectors", headers=headers)
        assert response.status == 401
        assert _error(await response.json()) == {"code": "unauthorized", "message": "a valid API key is required"}
    assert (await strict.get("/v1/connectors", headers={"Authorization": f"Bearer {API_KEY}"})).status == 200
    assert (await strict.get("/healthz")).status == 200
    assert (await strict.get("/v1/openapi.json")).status == 200


async def test_files_type_and_size_are_checked_before_miaw(acme: Bot) -> None:
    handover = await acme.start()
    hid, cid = handover["id"], handover["conversationId"]
    url = f"/v1/handovers/{hid}/files"
    form = FormData()
    form.add_field("file", b"MZ\x90\x00", filename="x.exe", content_type="application/x-msdownload")
    response = await acme.api.post(url, data=form)
    assert response.status == 415
    assert _error(await response.json())["code"] == "unsupported_media_type"
    form = FormData()
    form.add_field("file", io.BytesIO(b"x" * (5 * 1024 * 1024 + 1)), filename="big.pdf", content_type="application/pdf")
    response = await acme.api.post(url, data=form)
    assert response.status == 413
    assert not [c for c in acme.sim.calls if c.endpoint == "send_file"]
    form = FormData()
    form.add_field("file", b"%PDF-1.4 tiny", filename="receipt.pdf", content_type="application/pdf")
    form.add_field("text", "my receipt")
    form.add_field("id", "f1")
    response = await acme.api.post(url, data=form)
    assert response.status == 202, await response.text()
    (received,) = acme.sim.conversation(cid).end_user_messages
    assert (received.file_name, received.mime_type, received.text) == ("receipt.pdf", "application/pdf", "my receipt")


async def test_ops_endpoints(acme: Bot) -> None:
    assert (await acme.api.get("/healthz")).status == 200
    assert (await (await acme.api.get("/readyz")).json())["status"] == "ready"
    await acme.start()
    metrics = await (await acme.api.get("/metrics")).text()
    assert 'handover_miaw_handovers{state="queued"} 1.0' in metrics
    assert 'handover_miaw_miaw_calls_total{endpoint="create_conversation",status="201"} 1.0' in metrics
    document = await (await acme.api.get("/v1/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["NodeSettings"]["properties"]["sendTranscript"]["type"] == "boolean"
    manifest = await (await acme.api.get("/v1/manifest")).json()
    assert manifest["manifest"]["name"] == "handover-miaw"
    assert "baseUrl" in manifest["schemas"]["connectorConfig"]["properties"]

"""What a caller can count on from the API: JSON bodies only as JSON, one timestamp format, a repeated
message answered after the end, an ended handover that still names its agent, queue figures that end
with the queue, a bounded number of readers per event stream, and a start refused with a short key."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import orjson
import pytest
from aiohttp import FormData

from handover_miaw.api import create_app
from handover_miaw.settings import Settings
from tests.waiting import wait_for

from .conftest import Bot

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HID = "ho_00000000000000000000000000000000"


@pytest.fixture
async def acme(bot: Bot) -> Bot:
    await bot.connector()
    return bot


def _json_operations(bot: Bot, hid: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("PUT", "/v1/connectors/other", {"config": {}, "delivery": {"format": "sse"}}),
        ("POST", "/v1/handovers", {"connector": "acme", "sessionId": "form", "userId": "u"}),
        ("POST", f"/v1/handovers/{hid}/messages", {"id": "m1", "text": "hi"}),
        ("POST", f"/v1/handovers/{hid}/typing", {"typing": True}),
        ("POST", f"/v1/handovers/{hid}/presence", {"status": "connected"}),
        ("POST", f"/v1/handovers/{hid}/identity", {"identityToken": "x.y.z"}),
    ]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
        "application/json; charset=latin-1",
        "application/jsonp",
    ],
)
async def test_json_endpoints_refuse_other_content_types_with_415(acme: Bot, content_type: str | None) -> None:
    handover = await acme.start()
    before = await (await acme.api.get("/v1/handovers")).json()
    for method, path, body in _json_operations(acme, handover["id"]):
        headers = {"Content-Type": content_type} if content_type else {}
        # skip_auto_headers: without it aiohttp adds `application/octet-stream` when no type is given.
        response = await acme.api.request(
            method, path, data=orjson.dumps(body), headers=headers, skip_auto_headers=["Content-Type"]
        )
        assert response.status == 415, (path, await response.text())
        error = (await response.json())["error"]
        assert error["code"] == "unsupported_media_type"
        assert error["pointer"] == "/Content-Type"
        assert "application/json" in error["message"]
        if content_type is not None:  # the header as sent: a refused charset is named, not hidden
            assert repr(content_type) in error["message"]
    assert await (await acme.api.get("/v1/handovers")).json() == before
    assert acme.sim.conversation(handover["conversationId"]).end_user_messages == []


@pytest.mark.parametrize("depth", [255, 256, 1000])
async def test_a_body_nested_past_the_validators_limit_is_a_422_at_its_root(acme: Bot, depth: int) -> None:
    # orjson parses 1,024 levels, jsonschema-rs gives up past about 255 with a ValueError: that was a 500.
    handover = await acme.start()
    nested = "[" * depth + "]" * depth
    for method, path, _ in _json_operations(acme, handover["id"]):
        body = b'{"id": "m1", "text": ' + nested.encode() + b"}"
        response = await acme.api.request(method, path, data=body, headers={"Content-Type": "application/json"})
        assert response.status == 422, (path, depth, await response.text())
        error = (await response.json())["error"]
        assert error["code"] == "schema_violation", error
    assert acme.sim.conversation(handover["conversationId"]).end_user_messages == []


@pytest.mark.parametrize("depth", [251, 300, 1000])
async def test_a_start_whose_context_nests_past_the_limit_is_a_422_and_starts_nothing(acme: Bot, depth: int) -> None:
    # The schema does not descend into a free-form context, and orjson writes about 254 levels: the start
    # failed where it was stored (a 500), its session held.
    context = "[" * (depth - 1) + "]" * (depth - 1)
    body = b'{"connector": "acme", "sessionId": "deep", "userId": "u", "context": {"x": ' + context.encode() + b"}}"
    response = await acme.api.post("/v1/handovers", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert (error["code"], error["pointer"]) == ("schema_violation", "")
    assert (await (await acme.api.get("/v1/handovers")).json())["handovers"] == []
    shallow = {"connector": "acme", "sessionId": "deep", "userId": "u", "context": {"x": [[["fine"]]]}}
    assert (await acme.api.post("/v1/handovers", json=shallow)).status == 201


async def test_a_form_post_from_a_web_page_starts_nothing(acme: Bot) -> None:
    form = FormData({"connector": "acme", "sessionId": "csrf", "userId": "u"})
    response = await acme.api.post("/v1/handovers", data=form)
    assert response.status == 415
    assert (await (await acme.api.get("/v1/handovers")).json())["handovers"] == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.handover+json"]
)
async def test_json_with_a_charset_or_a_json_suffix_is_accepted(acme: Bot, content_type: str) -> None:
    body = {"connector": "acme", "sessionId": "s-json", "userId": "u"}
    response = await acme.api.post("/v1/handovers", data=orjson.dumps(body), headers={"Content-Type": content_type})
    assert response.status == 201, await response.text()


async def test_a_sent_message_id_answers_200_after_the_end_and_a_new_one_409(acme: Bot) -> None:
    handover = await acme.start()
    hid = handover["id"]
    first = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "hello"})
    assert first.status == 202
    sent = await first.json()
    form = FormData()
    form.add_field("id", "f1")
    form.add_field("file", b"%PDF-1.4 tiny", filename="r.pdf", content_type="application/pdf")
    filed = await acme.api.post(f"/v1/handovers/{hid}/files", data=form)
    assert filed.status == 202
    assert (await acme.api.delete(f"/v1/handovers/{hid}")).status == 200
    again = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "hello"})
    assert again.status == 200
    assert await again.json() == sent
    form = FormData()
    form.add_field("id", "f1")
    form.add_field("file", b"%PDF-1.4 tiny", filename="r.pdf", content_type="application/pdf")
    filed_again = await acme.api.post(f"/v1/handovers/{hid}/files", data=form)
    assert filed_again.status == 200
    assert (await filed_again.json())["id"] == "f1"
    new = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m2", "text": "late"})
    assert new.status == 409
    assert (await new.json())["error"]["code"] == "state_conflict"
    texts = [m.text for m in acme.sim.conversation(handover["conversationId"]).end_user_messages]
    assert texts.count("hello") == 1


async def test_every_time_the_api_gives_is_iso_8601_utc(acme: Bot) -> None:
    handover = await acme.start()
    hid, cid = handover["id"], handover["conversationId"]
    await acme.sim.accept(cid, "Maria")
    await acme.sim.end_session(cid)
    await acme.wait_state(hid, "ended")
    await wait_for(lambda: bool(acme.receiver.of_type("handover.ended", hid)), "the end delivered")
    handovers = (await (await acme.api.get("/v1/handovers")).json())["handovers"]
    connectors = (await (await acme.api.get("/v1/connectors")).json())["connectors"]
    deliveries = (await (await acme.api.get("/v1/deliveries")).json())["deliveries"]
    times = [h[k] for h in handovers for k in ("createdAt", "updatedAt", "endedAt")]
    times += [c["updatedAt"] for c in connectors] + [d["createdAt"] for d in deliveries]
    times += [d["deliveredAt"] for d in deliveries if d["state"] == "delivered"]
    times += [d["occurredAt"] for d in acme.receiver.deliveries]
    calls = (await (await acme.api.get(f"/v1/handovers/{hid}/calls")).json())["calls"]
    times += [c["at"] for c in calls]  # epoch seconds, a float, until the field audit of this round
    assert len(times) >= 3 + 1 + 2 * 2 + 2 + 1
    assert all(isinstance(t, str) and ISO_UTC.fullmatch(t) for t in times), times


async def test_an_ended_handover_names_its_agent_and_an_active_one_has_no_queue_figures(acme: Bot) -> None:
    handover = await acme.start()
    hid, cid = handover["id"], handover["conversationId"]
    await acme.sim.route(cid, queue_position=2, estimated_wait_s=90)
    await wait_for(lambda: "queue" in acme.receiver.statuses(hid), "the queue status")
    queued = await acme.handover(hid)
    assert (queued["queuePosition"], queued["estimatedWaitSeconds"]) == (2, 90)
    await acme.sim.accept(cid, "Maria")
    active = await acme.wait_state(hid, "active")
    assert (active["queuePosition"], active["estimatedWaitSeconds"]) == (None, None)
    assert active["agent"] == {"name": "Maria"}
    await acme.sim.end_session(cid)
    ended = await acme.wait_state(hid, "ended")
    assert ended["endReason"] == "agent_ended"
    assert ended["agent"] == {"name": "Maria"}


@pytest.mark.parametrize("keys", ["abc", "a-long-enough-key-0123456789abcdef,short"])
async def test_an_api_key_under_32_characters_refuses_the_start(keys: str, tmp_path: Any) -> None:
    command = [sys.executable, "-m", "handover_miaw", "serve", "--api-keys", keys, "--data-dir", str(tmp_path / "d")]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"}
    )
    async with asyncio.timeout(30):
        _, stderr = await proc.communicate()
    assert proc.returncode == 2
    message = stderr.decode()
    assert "at least 32" in message
    for key in keys.split(","):
        assert key not in message
    assert not (tmp_path / "d").exists()
    with pytest.raises(ValueError, match="at least 32"):
        create_app(Settings(api_keys=tuple(keys.split(","))))

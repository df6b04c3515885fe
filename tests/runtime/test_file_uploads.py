"""A file upload's parts as the API document states them: files and messages share one id space (a file sent
under a message's id, or another file's, is a 409, not a "sent" that never reached the agent), the `id` and
`text` parts are checked like a message's, and a file name in Latin-1 or with a control character is taken or
refused before MIAW, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import FormData

from .conftest import Bot


@pytest.fixture
async def acme(bot: Bot) -> Bot:
    await bot.connector()
    return bot


def _file(data: bytes = b"%PDF-1.4 tiny", name: str = "receipt.pdf", **parts: str) -> FormData:
    form = FormData()
    form.add_field("file", data, filename=name, content_type="application/pdf")
    for key, value in parts.items():
        form.add_field(key, value)
    return form


def _raw(disposition: bytes, *parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte for byte (aiohttp's FormData would encode the name properly)."""
    body = b'--B\r\nContent-Disposition: form-data; name="file"; ' + disposition
    body += b"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 tiny\r\n"
    for name, value in parts:
        body += b'--B\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
    return body + b"--B--\r\n", {"Content-Type": "multipart/form-data; boundary=B"}


async def _error(response: Any, status: int, pointer: str) -> str:
    assert response.status == status, await response.text()
    error = (await response.json())["error"]
    assert error["pointer"] == pointer, error
    return str(error["code"])


async def test_files_and_messages_share_one_id_space(acme: Bot) -> None:
    handover = await acme.start()
    hid, cid = handover["id"], handover["conversationId"]
    files, messages = f"/v1/handovers/{hid}/files", f"/v1/handovers/{hid}/messages"
    assert (await acme.api.post(messages, json={"id": "m1", "text": "hello"})).status == 202
    assert await _error(await acme.api.post(files, data=_file(id="m1")), 409, "/id") == "id_conflict"
    assert (await acme.api.post(files, data=_file(id="f1"))).status == 202
    assert await _error(await acme.api.post(messages, json={"id": "f1", "text": "hi"}), 409, "/text") == "id_conflict"
    other = _file(b"%PDF-1.4 another", id="f1")
    assert await _error(await acme.api.post(files, data=other), 409, "/id") == "id_conflict"
    renamed = _file(name="other.pdf", id="f1")
    assert await _error(await acme.api.post(files, data=renamed), 409, "/id") == "id_conflict"
    retried = await acme.api.post(files, data=_file(id="f1"))  # the same file again: answered, not sent
    assert retried.status == 200, await retried.text()
    received = acme.sim.conversation(cid).end_user_messages
    assert [(m.text, m.file_name) for m in received] == [("hello", None), (None, "receipt.pdf")]


@pytest.mark.parametrize(
    ("part", "value", "pointer"),
    [
        (b"id", b"", "/id"),
        (b"id", b"x" * 201, "/id"),
        (b"id", b"\xff\xfe", "/id"),
        (b"text", "é".encode() * 1001, "/text"),
        (b"text", b"\xc3", "/text"),
    ],
)
async def test_the_id_and_text_parts_are_checked_before_miaw(
    acme: Bot, part: bytes, value: bytes, pointer: str
) -> None:
    handover = await acme.start()
    body, headers = _raw(b'filename="receipt.pdf"', (part, value))
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/files", data=body, headers=headers)
    assert await _error(response, 422, pointer) == "schema_violation"
    assert not [c for c in acme.sim.calls if c.endpoint == "send_file"]


@pytest.mark.parametrize(
    "disposition",
    [b'filename="r\xc3\xa9sum\xc3\xa9.pdf"', b'filename="r\xe9sum\xe9.pdf"', b"filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"],
    ids=["utf-8", "latin-1", "rfc-5987"],
)
async def test_a_file_name_beyond_ascii_reaches_the_agent_as_written(acme: Bot, disposition: bytes) -> None:
    # Latin-1 was a 500; every name beyond ASCII reached MIAW percent-encoded ("r%C3%A9sum%C3%A9.pdf").
    handover = await acme.start()
    body, headers = _raw(disposition)
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/files", data=body, headers=headers)
    assert response.status == 202, await response.text()
    (received,) = acme.sim.conversation(handover["conversationId"]).end_user_messages
    assert received.file_name == "résumé.pdf"


@pytest.mark.parametrize(
    "disposition",
    [
        b"filename*=UTF-8''a%00b.pdf",
        b"filename*=UTF-8''a%0D%0Ab.pdf",
        b'filename="' + b"a" * 256 + b'"',
        b"filename*=unicode-escape''%5Cud800.pdf",  # a lone surrogate, through a charset the client names
    ],
)
async def test_a_file_name_miaw_cannot_carry_is_a_422_at_file(acme: Bot, disposition: bytes) -> None:
    handover = await acme.start()
    body, headers = _raw(disposition)
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/files", data=body, headers=headers)
    assert await _error(response, 422, "/file") == "schema_violation"
    assert not [c for c in acme.sim.calls if c.endpoint == "send_file"]


async def test_a_file_sent_while_a_message_of_its_id_is_in_flight_is_a_conflict(acme: Bot) -> None:
    # Files went around the in-flight check: both used the id's derived MIAW id, MIAW dropped the second as a
    # repeat, and the file was answered "sent".
    handover = await acme.start()
    hid, cid = handover["id"], handover["conversationId"]
    acme.sim.faults.add_latency("send_message", 0.2)  # the message is still in flight when the file arrives
    acme.sim.faults.add_latency("send_file", 0.2)
    message = acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "x1", "text": "hello"})
    file = acme.api.post(f"/v1/handovers/{hid}/files", data=_file(id="x1"))
    sent, clash = await asyncio.gather(message, file)
    assert sent.status == 202
    assert await _error(clash, 409, "/id") == "id_conflict"
    files = [
        acme.api.post(f"/v1/handovers/{hid}/files", data=_file(b"%PDF-1.4 " + bytes([n]), id="f2")) for n in (1, 2)
    ]
    answers = sorted([response.status for response in await asyncio.gather(*files)])
    assert answers == [202, 409]
    received = acme.sim.conversation(cid).end_user_messages
    assert [(m.text, m.file_name) for m in received] == [("hello", None), (None, "receipt.pdf")]

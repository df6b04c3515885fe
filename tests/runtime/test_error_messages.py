"""Error bodies a person can read and that carry no secret: a secret field's value is never quoted (and
no ordinary word is mangled by redaction), a long value is quoted by a short prefix only."""

from __future__ import annotations

import orjson
import pytest

from handover_miaw.api.middleware import error_response
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.errors import SchemaViolationError
from handover_miaw.logs import REDACTED
from handover_miaw.manifest import Manifest
from handover_miaw.schema import QUOTE_CHARS

from .conftest import Bot, connector_body


@pytest.mark.parametrize("secret", ["a", "short", "whsec_short1"])
async def test_a_too_short_webhook_secret_is_named_not_quoted(bot: Bot, secret: str) -> None:
    body = connector_body(bot.sim_url, bot.receiver)
    body["delivery"]["secret"] = secret
    response = await bot.api.put("/v1/connectors/acme", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["message"] == "/delivery/secret: the value is shorter than 16 characters"
    assert error["problems"] == [{"pointer": "/delivery/secret", "message": "the value is shorter than 16 characters"}]
    assert REDACTED not in error["message"]


def test_a_200_kib_text_gives_a_small_error_body(manifest: Manifest) -> None:
    # Through the validator and the error renderer the API uses (end to end below, with a body that one
    # network read carries whole).
    with pytest.raises(SchemaViolationError) as caught:
        ApiDocument(manifest).validate("sendMessage", {"id": "m1", "text": "t" * 200 * 1024})
    exc = caught.value
    response = error_response(exc.status, exc.code, exc.message, problems=[p.as_dict() for p in exc.problems])
    assert isinstance(response.body, bytes)
    assert len(response.body) < 512, len(response.body)
    assert response.body.count(b"t" * QUOTE_CHARS) == 1, response.body
    assert orjson.loads(response.body)["error"]["message"] == "/text: the value is longer than 10000 characters"


async def test_a_long_text_is_quoted_by_a_short_prefix(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    text = "t" * 30_000
    response = await bot.api.post(f"/v1/handovers/{handover['id']}/messages", json={"id": "m1", "text": text})
    assert response.status == 422
    raw = await response.read()
    assert len(raw) < 1024, len(raw)
    error = orjson.loads(raw)["error"]
    (problem,) = error["problems"]
    assert problem["pointer"] == "/text"
    assert problem["message"].startswith(f'"{"t" * QUOTE_CHARS}…" is longer than')
    assert raw.count(b"t" * QUOTE_CHARS) == 1

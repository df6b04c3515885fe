"""An integer past 64 bits in a JSON body is refused at its pointer: orjson reads it as the nearest float,
and a start's free-form `context` stored 123456789012345678901234567890 as 1.2345678901234568e+29 without a
word. What 64 bits hold, and long digit runs inside strings, go through exactly."""

from __future__ import annotations

from handover_miaw.api.app_keys import HANDOVERS

from .conftest import Bot


async def _start(bot: Bot, context: str) -> tuple[int, dict[str, object]]:
    body = b'{"connector": "acme", "sessionId": "s1", "userId": "u1", "context": ' + context.encode() + b"}"
    response = await bot.api.post("/v1/handovers", data=body, headers={"Content-Type": "application/json"})
    return response.status, await response.json()


async def test_an_integer_past_64_bits_is_refused_at_its_pointer(bot: Bot) -> None:
    await bot.connector()
    for literal in ("123456789012345678901234567890", "18446744073709551616", "-9223372036854775809"):
        status, body = await _start(bot, '{"order": {"ids": [1, ' + literal + "]}}")
        assert status == 422, body
        error = body["error"]
        assert isinstance(error, dict)
        assert error["problems"] == [
            {
                "pointer": "/context/order/ids/1",
                "message": "an integer past 64 bits cannot be kept exactly: send it as a string",
            }
        ]
    handovers = await (await bot.api.get("/v1/handovers")).json()
    assert handovers["handovers"] == []


async def test_what_64_bits_hold_and_digits_in_strings_are_kept_exactly(bot: Bot) -> None:
    await bot.connector()
    context = '{"max": 18446744073709551615, "min": -9223372036854775808, "ref": "123456789012345678901234567890"}'
    status, body = await _start(bot, context)
    assert status == 201, body
    stored = await bot.api.app[HANDOVERS].store.get_handover(str(body["id"]))
    assert stored is not None
    assert stored.context == {
        "max": 18446744073709551615,
        "min": -9223372036854775808,
        "ref": "123456789012345678901234567890",
    }


async def test_a_float_as_sent_is_kept_beside_long_digits(bot: Bot) -> None:
    # Only an integer literal is refused: 1e30 is a float as the client wrote it.
    await bot.connector()
    status, body = await _start(bot, '{"x": 1e30, "ref": "1234567890123456789"}')
    assert status == 201, body

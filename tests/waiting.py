"""Waiting on a condition in tests: poll it on the event loop until it holds, or fail naming what was awaited.

Tests synchronise on conditions, never on sleeps: a sleep is either too short on a loaded machine (a flaky
test) or longer than needed everywhere else.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

POLL_S = 0.02


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], what: str, seconds: float = 5.0) -> None:
    """Wait until `condition()` is true; AssertionError naming `what` after `seconds`.

    `condition` may be a plain function (state in this process) or a coroutine function (state asked over
    the network or from a store); it is evaluated every POLL_S seconds.
    """

    async def holds() -> bool:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    try:
        async with asyncio.timeout(seconds):
            while not await holds():
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:g} s waiting for {what}") from None

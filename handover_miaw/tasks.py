"""Stopping a background task for good (standard library only)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop"]

# How long one cancel is given before it is taken as lost and sent again.
RECANCEL_S = 0.5


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, cancelling it again while it runs on; raise what it failed
    with (ending cancelled is not a failure).

    One cancel is not always enough: on Python 3.11 `asyncio.wait_for` drops a cancel that arrives as the
    operation it waits for completes (fixed in 3.12), and redis-py sends every command through it (its default
    socket_timeout is 5 s since 8.0). A loop cancelled just as its Redis command was sent took the reply and
    went on, and the shutdown awaiting it never finished. Waiting through `asyncio.wait` also leaves a cancel
    of the caller to the caller, which `suppress(CancelledError)` around `await task` swallowed.
    """
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=RECANCEL_S)
        if not task.done():
            task.cancel()
    if not task.cancelled():
        task.result()

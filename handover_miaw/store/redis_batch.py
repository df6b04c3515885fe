"""The calls of one script made in the same turn of the event loop, sent to Redis together.

Fan-in on Redis paid redis-py's cost per command (a pool checkout, a write and a read, their timeouts)
once per agent event: the events of many handovers arrive in the same turn of the loop, and each stored
its event with an EVALSHA of its own. Those calls now share one pipeline (one write, one read). Each is
still its own EVALSHA: each script runs atomically and answers (or fails) on its own, as it did alone;
only the round trip is shared. A lone call is sent as it was before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["ScriptBatch"]

Args = Sequence[str | int | float]


class ScriptBatch:
    """Runs a registered script for many callers, the calls of one loop turn in one pipeline."""

    def __init__(self, client: Callable[[], redis.asyncio.Redis], script: Callable[[], AsyncScript]) -> None:
        """`client` and `script` are asked at every send (the store's: its client raises once it is closed,
        and its scripts are registered anew on each open)."""
        self._client = client
        self._script = script
        self._queued: list[tuple[Args, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # referenced until done, so none is collected

    async def run(self, args: Args) -> Any:
        """The script's reply to `args` (its ARGV; no KEYS), or what it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            # The task starts on the next turn, after every caller woken in this one has queued its call.
            task = loop.create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._queued.append((args, future))
        return await future

    async def _send(self) -> None:
        # A caller cancelled before the send is not sent, as a lone command would not have been.
        batch = [(args, future) for args, future in self._queued if not future.done()]
        self._queued = []
        try:
            await self._send_batch(batch)
        finally:  # this task cancelled (the loop closing): its callers stop waiting too
            for _, future in batch:
                future.cancel()

    async def _send_batch(self, batch: list[tuple[Args, asyncio.Future[Any]]]) -> None:
        try:
            client, script = self._client(), self._script()
        except Exception as exc:  # the store closed meanwhile
            for _, future in batch:
                _settle(future, exc=exc)
            return
        if len(batch) == 1:
            await self._alone(script, *batch[0])
            return
        if not batch:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.evalsha(script.sha, 0, *args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for _, future in batch:
                _settle(future, exc=exc)
            return
        for (args, future), reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError):  # the server lost its scripts: a lone call loads it again
                await self._alone(script, args, future)
            elif isinstance(reply, Exception):
                _settle(future, exc=reply)
            else:
                _settle(future, reply)

    @staticmethod
    async def _alone(script: AsyncScript, args: Args, future: asyncio.Future[Any]) -> None:
        try:
            reply = await script(args=list(args))
        except Exception as exc:
            _settle(future, exc=exc)
        else:
            _settle(future, reply)


def _settle(future: asyncio.Future[Any], reply: Any = None, *, exc: BaseException | None = None) -> None:
    """Hand a caller its reply or error, unless it stopped waiting (cancelled meanwhile)."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(reply)

"""The stream's read deadline: as asyncio.timeout around each read, with one timer per connection.

Time passing is what is under test here, so the tests let it pass (with margins far above the loop's
timer precision); they assert which outcome a read has, never how long it took.
"""

from __future__ import annotations

import asyncio
from typing import cast

import aiohttp
import pytest

from handover_miaw.miaw.stream_liveness import ReadDeadline

TIMEOUT = 0.5


class Chunks:
    """A stream body whose chunks the test hands out, later or at once."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.reading = asyncio.Event()

    async def readany(self) -> bytes:
        self.reading.set()
        return await self.queue.get()

    def later(self, seconds: float, chunk: bytes) -> None:
        asyncio.get_running_loop().call_later(seconds, self.queue.put_nowait, chunk)

    def content(self) -> aiohttp.StreamReader:
        return cast(aiohttp.StreamReader, self)


async def test_a_read_without_a_chunk_within_the_timeout_raises_timeout_error() -> None:
    chunks = Chunks()
    deadline = ReadDeadline(TIMEOUT / 5)
    chunks.queue.put_nowait(b"first")
    assert await deadline.read(chunks.content()) == b"first"
    with pytest.raises(TimeoutError):
        await deadline.read(chunks.content())
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    deadline.close()


async def test_each_read_has_its_own_deadline_and_time_between_reads_does_not_count() -> None:
    chunks = Chunks()
    deadline = ReadDeadline(TIMEOUT)
    chunks.later(0.02, b"one")
    assert await deadline.read(chunks.content()) == b"one"
    # Handling the chunk takes longer than the timeout: the timer fires between reads, and is disarmed.
    await asyncio.sleep(TIMEOUT * 1.5)
    chunks.later(0.02, b"two")
    assert await deadline.read(chunks.content()) == b"two"
    # The timer armed for the third read fires during the fourth, which started later: it gets its own.
    chunks.later(0.02, b"three")
    assert await deadline.read(chunks.content()) == b"three"
    await asyncio.sleep(TIMEOUT * 0.4)
    chunks.later(TIMEOUT * 0.8, b"four")  # past the third read's deadline, well within the fourth's
    assert await deadline.read(chunks.content()) == b"four"
    deadline.close()


async def test_a_cancel_from_outside_stays_a_cancel() -> None:
    chunks = Chunks()

    async def reader() -> bytes:
        deadline = ReadDeadline(TIMEOUT)
        try:
            return await deadline.read(chunks.content())
        finally:
            deadline.close()

    task = asyncio.ensure_future(reader())
    await chunks.reading.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

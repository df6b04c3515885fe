"""The event stream's liveness check: a read that waits `timeout` seconds for a chunk raises TimeoutError.

It is `asyncio.timeout(timeout)` around each read, and the stream's hot path took it that way, but that
arms and cancels a timer per read (about 13 µs per agent event at fan-in). Here one timer serves the
connection: it is armed for the read in progress, and when it fires for a read that has since completed it
is moved to the deadline of the read in progress then (or armed again by the next read), so a busy stream
re-arms it about once per `timeout` instead of once per chunk. As with asyncio.timeout, the deadline is
counted from the start of each read; time spent handling a chunk does not count.
"""

from __future__ import annotations

import asyncio

import aiohttp

__all__ = ["ReadDeadline"]


class ReadDeadline:
    """Times out the reads of one connection, made one at a time by the task that creates it."""

    def __init__(self, timeout: float) -> None:
        """`timeout`: how long one read may wait for a chunk."""
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("ReadDeadline needs a task")
        self._task = task
        self._reads = 0  # reads started; the current one's number while one is in progress
        self._reading = False
        self._started = 0.0
        self._armed_for = -1  # the read the timer's deadline belongs to
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def read(self, content: aiohttp.StreamReader) -> bytes:
        """The next chunk (b"" at the end of the stream); TimeoutError when none came within the timeout."""
        self._reads += 1
        self._reading = True
        self._started = self._loop.time()
        if self._timer is None:
            self._arm()
        cancelling = self._task.cancelling()
        try:
            return await content.readany()
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                # As asyncio.timeout: a cancel of our own becomes TimeoutError, one from outside stays.
                if self._task.uncancel() <= cancelling:
                    raise TimeoutError from None
            raise
        finally:
            self._reading = False

    def close(self) -> None:
        """Stop the timer (the connection is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        self._armed_for = self._reads
        self._timer = self._loop.call_at(self._started + self._timeout, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if not self._reading:
            return  # between reads: the next one arms it
        if self._armed_for != self._reads:
            self._arm()  # a later read: its own deadline
            return
        self._expired = True
        self._task.cancel()

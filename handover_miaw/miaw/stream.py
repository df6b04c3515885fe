"""One live MIAW event subscription: reconnects, resumes, catches up, renews the token.

The stream is per token subject (MIAW sends all of the subject's conversations down one stream), so
the order at handover start is token -> stream -> create conversation -> send: open the stream serving the
conversation id before creating the conversation, and no early event is missed.

Delivery contract: `on_event(event)` is awaited *before* the cursor (`last_event_id`) advances and
before the entry id is recorded as seen, so the owner can persist the event (and `event.event_id`,
the cursor after it) before the stream moves on. If `on_event` raises, the event is not acknowledged:
the stream reconnects after the usual backoff from the last acknowledged cursor (and catches up), so the
event is offered again; after `consumer_attempts` failures in a row without one event taken, it ends as
FAILED. A store that is briefly unreachable or saturated thus delays events instead of ending the
conversation, and an event the owner can never take still ends the stream. Pings, duplicates
(by entry identifier) and events of conversations the stream does not serve are never delivered.

Liveness and recovery: a read timeout (`heartbeat_timeout`) is the liveness check, since MIAW pings
regularly. A drop, a stall, a 5xx, a 429 or a connection error all lead to a reconnect after a capped,
jittered backoff, resuming from the last event id with fresh headers. Whether MIAW replays events
missed while disconnected is not documented, so after every reconnect each served conversation is
read back through list-entries and whatever was not seen yet is delivered (deduplicated by entry id).

Tokens: a 401 while the token's `exp` has not passed is answered with a continuation token (reported
through `on_token`, so the owner uses it for REST calls too) and the stream goes on; a 401 once `exp`
has passed, or a second 401 right after a renewal, ends the stream as TOKEN_EXPIRED.

Sessions: streams need a ClientSession without aiohttp's default connection limit (100: stream number
101 waits silently for a free connection) and without its default 300 s total timeout (which kills
every stream after five minutes). Use `stream_session()`, or a MiawClient that made its own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self

import aiohttp

from handover_miaw.tasks import stop

from ._transport import stream_session, translate_errors
from .client import MiawClient
from .decoding import decode_sse_event
from .errors import MiawAuthError, MiawError, MiawRateLimitedError, MiawTokenExpiredError
from .events import MiawEvent, PingEvent, UnrecognisedEvent
from .models import AccessToken
from .retry import DEFAULT_RECONNECT_POLICY, ReconnectPolicy, reconnect_delay
from .sse import ServerSentEvent, SSEParser
from .stream_catch_up import catch_up, missed_entries
from .stream_liveness import ReadDeadline
from .stream_status import SeenIds, StreamState, StreamStatus, announces_expiry, describe_error, final_state

__all__ = ["EventStream", "SeenIds", "StreamState", "StreamStatus", "stream_session"]

_log = logging.getLogger(__name__)


class _ConsumerError(Exception):
    """An owner callback (on_event, on_token) raised; the cause is the owner's exception."""


OnEvent = Callable[[MiawEvent], Awaitable[None]]
OnState = Callable[[StreamStatus], Awaitable[None]]
OnToken = Callable[[AccessToken], Awaitable[None]]
# (SSE event type, data) -> True when the owner would take the event without acting on it.
Skip = Callable[[str, str], bool]


class EventStream:
    """The event subscription of one access token, serving the conversation ids given at construction.

    Use as `async with EventStream(...) as stream:` or `start()` / `aclose()`; the task is named and
    owned here. `last_event_id` and `seen_entry_ids` (a restart's resume state) may be given at start.
    """

    def __init__(
        self,
        client: MiawClient,
        token: AccessToken,
        *,
        on_event: OnEvent,
        on_state: OnState | None = None,
        on_token: OnToken | None = None,
        skip: Skip | None = None,
        conversation_ids: Iterable[str] = (),
        last_event_id: str | None = None,
        seen_entry_ids: Iterable[str] = (),
        session: aiohttp.ClientSession | None = None,
        heartbeat_timeout: float = 90.0,
        reconnect_policy: ReconnectPolicy = DEFAULT_RECONNECT_POLICY,
        catch_up_pages: int = 10,
        seen_capacity: int = 10_000,
        consumer_attempts: int = 10,
        name: str = "miaw-stream",
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._token = token
        self._on_event = on_event
        self._on_state = on_state
        self._on_token = on_token
        self._skip = skip
        self._conversations = frozenset(conversation_ids)
        seen = list(seen_entry_ids)
        # Resuming a stored stream: catch up on the first connect too, not only on reconnects.
        self._catch_up_next = last_event_id is not None or bool(seen)
        self._last_event_id = last_event_id or token.last_event_id
        self._seen = SeenIds(seen_capacity, seen)
        self._newest: dict[str, int] = {}
        self._session = session
        self._heartbeat_timeout = heartbeat_timeout
        self._reconnect_policy = reconnect_policy
        self._catch_up_pages = catch_up_pages
        self._catch_up_at: float | None = None  # when a failed catch-up is tried again (loop time)
        # Conversations owed a catch-up since the newest timestamp then delivered live (stream_catch_up).
        self._owed_since: dict[str, int] = {}
        self._catch_up_failures = 0
        self._rand = rand
        self.name = name
        self._had_traffic = False
        self._consumed = False  # the owner took at least one event on the current connection
        self._consumer_attempts = consumer_attempts
        self._renewed = False  # a continuation token was taken since the last accepted connection
        self._task: asyncio.Task[StreamStatus] | None = None
        self._connected = asyncio.Event()
        self._status = StreamStatus(StreamState.CONNECTING)

    # --- owner API --------------------------------------------------------------------------------

    @property
    def token(self) -> AccessToken:
        """The token in use (renewed tokens replace it)."""
        return self._token

    @property
    def last_event_id(self) -> str | None:
        """The cursor: id of the last event handled (delivered, or skipped as not ours)."""
        return self._last_event_id

    @property
    def seen_entry_ids(self) -> tuple[str, ...]:
        """Entry ids delivered so far (bounded), for the owner to persist with the cursor."""
        return self._seen.snapshot()

    @property
    def status(self) -> StreamStatus:
        """The latest state."""
        return self._status

    def set_token(self, token: AccessToken) -> None:
        """Use `token` from the next connection attempt on (the owner renewed it itself)."""
        self._token = token

    def start(self) -> None:
        """Start the named background task (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"miaw-stream:{self.name}")

    async def wait_connected(self) -> bool:
        """Wait until the stream is connected (True) or has ended (False).

        While MIAW is unreachable this keeps waiting (the stream keeps retrying): bound it with a timeout.
        """
        if self._task is None:
            raise RuntimeError("stream not started")
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        return self._connected.is_set()

    async def wait(self) -> StreamStatus:
        """Wait for the stream to end (TOKEN_EXPIRED, FAILED, or CLOSED by `aclose`); the final status.

        Cancelling the wait does not cancel the stream.
        """
        if self._task is None:
            raise RuntimeError("stream not started")
        # asyncio.wait neither cancels the task when this wait is cancelled nor raises when it is.
        await asyncio.wait({self._task})
        if self._task.cancelled():
            return StreamStatus(StreamState.CLOSED)
        return self._task.result()

    async def aclose(self) -> None:
        """Cancel the task and wait for it; reports CLOSED unless the stream had already ended. Idempotent."""
        task = self._task
        if task is None:
            return
        current = asyncio.current_task()
        if current is not None and current is task:
            # Called from a callback inside the stream: cancelling is all that can be done here.
            current.cancel()
            return
        # A cancel landing in a redis-py call of the owner's callback was seen lost: stop cancels until the
        # task has ended. What the task failed with was reported through the stream's status already.
        with contextlib.suppress(Exception):
            await stop(task)
        if not self._status.final:
            await self._report(StreamStatus(StreamState.CLOSED))

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the loop ---------------------------------------------------------------------------------

    async def _report(self, status: StreamStatus) -> None:
        self._status = status
        if self._on_state is None:
            return
        try:
            await self._on_state(status)
        except Exception:
            # State reports are informational; a failing observer must not take the stream down.
            _log.exception("miaw.stream_state_callback_failed", extra={"stream": self.name})

    async def _end(self, state: StreamState, error: BaseException | None) -> StreamStatus:
        status = StreamStatus(state, error=error)
        _log.warning(
            "miaw.stream_ended", extra={"stream": self.name, "state": state.value, "error": describe_error(error)}
        )
        await self._report(status)
        return status

    async def _run(self) -> StreamStatus:
        failures = 0
        refused = 0  # events the owner failed to take in a row
        await self._report(StreamStatus(StreamState.CONNECTING))
        while True:
            outcome = await self._connection()
            if (
                isinstance(outcome, MiawAuthError)
                and not isinstance(outcome, MiawTokenExpiredError)
                and not self._renewed
            ):
                outcome = await self._renewal()
                if outcome is None:
                    continue
            if isinstance(outcome, _ConsumerError):
                refused = 1 if self._consumed else refused + 1
                final = StreamState.FAILED if refused >= self._consumer_attempts else None
            else:
                final = final_state(outcome)
            if final is not None:
                if final is StreamState.FAILED and not isinstance(outcome, MiawError | _ConsumerError):
                    _log.error("miaw.stream_bug", exc_info=outcome, extra={"stream": self.name})
                error = outcome.__cause__ if isinstance(outcome, _ConsumerError) else outcome
                return await self._end(final, error)
            # A connection that carried a whole event was healthy: the backoff starts over, unless the owner is
            # what failed (traffic flowed, but it is not keeping up: back off from it).
            failures = refused if isinstance(outcome, _ConsumerError) else 1 if self._had_traffic else failures + 1
            delay = reconnect_delay(failures, self._reconnect_policy, self._rand)
            if isinstance(outcome, MiawRateLimitedError) and outcome.retry_after is not None:
                delay = max(delay, min(outcome.retry_after, self._reconnect_policy.max_delay))
            _log.info(
                "miaw.stream_reconnect_scheduled",
                extra={"stream": self.name, "failures": failures, "delay": delay, "error": describe_error(outcome)},
            )
            await self._report(StreamStatus(StreamState.RECONNECTING, failures, delay, outcome))
            await asyncio.sleep(delay)

    async def _connection(self) -> Exception | None:
        """Run one connection; return what ended it (None: the server closed the stream)."""
        try:
            await self._connect_and_read()
        except Exception as exc:
            return exc
        finally:
            self._connected.clear()
        return None

    async def _renewal(self) -> Exception | None:
        """Take a continuation token; None when renewed, else what failed."""
        try:
            token = await self._client.continuation_token(self._token)
        except Exception as exc:
            return exc  # a transport failure here does not use up the renewal: the next 401 retries it
        self._token, self._renewed = token, True
        _log.info("miaw.stream_token_renewed", extra={"stream": self.name})
        if self._on_token is not None:
            try:
                await self._on_token(token)
            except Exception as exc:
                consumer_error = _ConsumerError()
                consumer_error.__cause__ = exc
                return consumer_error
        return None

    async def _connect_and_read(self) -> None:
        self._had_traffic = False
        self._consumed = False
        response = await self._client.open_event_stream(self._token, self._last_event_id, session=self._session)
        async with response:
            # Accepted: a later 401 may be answered with a continuation token again.
            self._renewed = False
            self._connected.set()
            _log.info("miaw.stream_connected", extra={"stream": self.name})
            await self._report(StreamStatus(StreamState.CONNECTED))
            if self._catch_up_next:
                await self._catch_up()
            # Every later connection is a reconnect: something may have been missed in between.
            self._catch_up_next = True
            parser = SSEParser()
            deadline = ReadDeadline(self._heartbeat_timeout)
            try:
                while True:
                    with translate_errors("sse", self._heartbeat_timeout):
                        chunk = await deadline.read(response.content)
                    if not chunk:
                        return  # the server ended the stream
                    if self._catch_up_at is not None and asyncio.get_running_loop().time() >= self._catch_up_at:
                        await self._catch_up()
                    for sse in parser.feed(chunk):
                        # Whole events, not bytes: a connection that only sent a comment, or one endless
                        # line, before it closed reset the backoff, and reconnected every second for good.
                        self._had_traffic = True
                        if sse.oversized:
                            await self._past_oversized(sse)
                            continue
                        if self._skipped(sse):
                            continue
                        await self._handle(decode_sse_event(sse.event, sse.data, sse.id or None))
            finally:
                deadline.close()

    def _skipped(self, sse: ServerSentEvent) -> bool:
        """Settle an event the owner said it would take without acting on, undecoded: only the cursor moves.
        Not remembered as seen: a catch-up meeting it again hands it to the owner, which ignores it again."""
        if self._skip is None or not self._skip(sse.event, sse.data) or announces_expiry(sse.data):
            return False
        self._consumed = True
        if sse.id:
            self._last_event_id = sse.id
        return True

    async def _handle(self, event: MiawEvent) -> None:
        if isinstance(event, UnrecognisedEvent) and announces_expiry(event.data):
            # Seen from MIAW as a raw text event before the stream ends; decide as for a 401.
            expired = self._token.is_expired(self._client.now())
            error = MiawTokenExpiredError if expired else MiawAuthError
            raise error(status=401, body=event.data, detail="sse: token expiry announced on the stream")
        conversation_id = event.conversation_id
        if (
            not isinstance(event, PingEvent)
            and conversation_id in self._conversations
            and (event.entry_id is None or event.entry_id not in self._seen)
        ):
            try:
                await self._on_event(event)
            except Exception as exc:
                raise _ConsumerError from exc
            self._consumed = True
            if event.entry_id is not None:
                self._seen.add(event.entry_id)
            if conversation_id is not None and event.timestamp is not None:
                self._newest[conversation_id] = max(self._newest.get(conversation_id, 0), event.timestamp)
        # Pings carry the previous id; events of other conversations are settled by skipping them.
        if event.event_id is not None:
            self._last_event_id = event.event_id

    async def _catch_up(self) -> None:
        """Deliver the entries of every served conversation not seen yet (stream_catch_up); while one is owed
        (its walk failed), try again later as the live events are read, after a backoff as between reconnects."""
        for conversation_id in sorted(self._conversations):
            walk = missed_entries(
                self._client, self._token, conversation_id, seen=self._seen, newest=self._newest.get(conversation_id),
                pages=self._catch_up_pages, floor=self._owed_since.get(conversation_id),
            )  # fmt: skip
            missed = await catch_up(walk, conversation_id, stream=self.name)
            if missed is None:
                self._owed_since.setdefault(conversation_id, self._newest.get(conversation_id, 0))
                continue
            for event in missed:
                await self._handle(event)
            self._owed_since.pop(conversation_id, None)
        self._catch_up_failures = self._catch_up_failures + 1 if self._owed_since else 0
        delay = reconnect_delay(self._catch_up_failures, self._reconnect_policy, self._rand)
        self._catch_up_at = asyncio.get_running_loop().time() + delay if self._owed_since else None

    async def _past_oversized(self, sse: ServerSentEvent) -> None:
        """An event too large to read (sse.DEFAULT_MAX_EVENT_CHARS) is passed, its id moving the cursor, and
        what it held is read from the entry list: failing on it, the stream met it again at every reconnect."""
        _log.warning("miaw.stream_event_oversized", extra={"stream": self.name, "event_id": sse.id, "type": sse.event})
        if sse.id:
            self._last_event_id = sse.id
        for conversation_id in self._conversations:  # whose it was is unknown: it was not read
            self._owed_since.setdefault(conversation_id, self._newest.get(conversation_id, 0))
        await self._catch_up()

"""EventStream against the simulator over loopback: delivery, drops, catch-up, tokens, liveness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from handover_miaw.handovers.machine import skippable_raw_event
from handover_miaw.miaw import (
    AccessToken,
    EventStream,
    MessageEvent,
    MiawAuthError,
    MiawBadRequestError,
    MiawClient,
    MiawEvent,
    MiawTimeoutError,
    MiawTokenExpiredError,
    ParticipantChangedEvent,
    QueuePositionEvent,
    RoutingResultEvent,
    RoutingWorkResultEvent,
    SessionStatusChangedEvent,
    StreamState,
    TypingEvent,
)
from handover_miaw.miaw.models import parse_access_token
from handover_miaw.miaw.sse import DEFAULT_MAX_EVENT_CHARS
from handover_miaw.simulator import Simulator, SimulatorConfig

from .conftest import DEPLOYMENT, FAST_RECONNECT
from .helpers import FakeClock, Recorder
from .test_jwt import make_jwt

StreamFactory = Callable[..., EventStream]
CID = "5a8f3c1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
async def make_stream(client: MiawClient, token: AccessToken, recorder: Recorder) -> AsyncIterator[StreamFactory]:
    """Builds started streams wired to `recorder`, serving CID; closes them all at teardown."""
    streams: list[EventStream] = []

    def make(**kwargs: Any) -> EventStream:
        options: dict[str, Any] = {
            "on_event": recorder.on_event,
            "on_state": recorder.on_state,
            "on_token": recorder.on_token,
            "heartbeat_timeout": 2.0,
            "reconnect_policy": FAST_RECONNECT,
            "rand": lambda: 0.5,
            "name": f"test-{len(streams)}",
            "conversation_ids": [CID],
        }
        options.update(kwargs)
        stream = EventStream(client, options.pop("token", token), **options)
        stream.start()
        streams.append(stream)
        return stream

    yield make
    for stream in streams:
        await stream.aclose()


async def open_conversation(client: MiawClient, stream: EventStream) -> str:
    """token -> stream -> create: the stream serves CID before that conversation exists."""
    assert await stream.wait_connected()
    await client.create_conversation(stream.token, CID)
    return CID


async def test_delivers_every_event_type(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    sent = await client.send_message(stream.token, cid, "I need a human")
    await sim.route(cid, queue_position=2, estimated_wait_s=30)
    await sim.accept(cid, "Maria")
    await sim.typing(cid, True)
    reply = await sim.send_text(cid, "Hi, I'm Maria", agent="Maria")
    await sim.end_session(cid)
    await recorder.wait_for(
        lambda: any(isinstance(e, SessionStatusChangedEvent) and e.status == "Ended" for e in recorder.events)
    )
    kinds = {type(e) for e in recorder.events}
    assert {
        MessageEvent,
        RoutingResultEvent,
        QueuePositionEvent,
        RoutingWorkResultEvent,
        ParticipantChangedEvent,
        SessionStatusChangedEvent,
        TypingEvent,
    } <= kinds
    assert recorder.texts("EndUser") == ["I need a human"]
    assert recorder.texts("Agent") == ["Hi, I'm Maria"]
    assert [e.entry_id for e in recorder.events if isinstance(e, MessageEvent)] == [sent.message_id, reply]
    assert all(e.conversation_id == cid for e in recorder.events)
    queue = next(e for e in recorder.events if isinstance(e, QueuePositionEvent))
    assert queue.position == 2
    assert stream.last_event_id == recorder.events[-1].event_id
    assert recorder.states[:2] == [
        s for s in recorder.states[:2] if s.state in (StreamState.CONNECTING, StreamState.CONNECTED)
    ]


async def test_events_the_owner_skips_move_the_cursor_undecoded(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    skipped: list[str] = []
    echoed = asyncio.Event()

    def skip(event_type: str, data: str) -> bool:
        if skippable_raw_event(event_type, data):
            skipped.append(data)
            echoed.set()
            return True
        return False

    stream = make_stream(skip=skip)
    cid = await open_conversation(client, stream)
    await sim.accept(cid, "Maria")
    await client.send_message(stream.token, cid, "I need a human")
    await sim.send_text(cid, "Hi, I'm Maria", agent="Maria")
    await recorder.wait_for(lambda: recorder.texts("Agent") == ["Hi, I'm Maria"])
    assert recorder.texts("EndUser") == []
    assert len(skipped) == 1
    assert "I need a human" in skipped[0]
    agent_cursor = stream.last_event_id
    assert agent_cursor == recorder.events[-1].event_id
    echoed.clear()
    await client.send_message(stream.token, cid, "thanks")
    async with asyncio.timeout(5):
        await echoed.wait()
    assert stream.last_event_id is not None
    assert stream.last_event_id != agent_cursor
    assert recorder.texts("EndUser") == []


async def test_other_conversations_are_filtered(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    other = await client.create_conversation(stream.token)  # same subject, not served
    await sim.route(other)
    await sim.route(cid)
    await recorder.wait_for(lambda: any(isinstance(e, QueuePositionEvent) for e in recorder.events))
    assert {e.conversation_id for e in recorder.events} == {cid}
    await sim.queue_position(other, 5)
    await sim.queue_position(cid, 3)
    # One stream carries both conversations in order: once cid's update is here, other's has passed.
    await recorder.wait_for(lambda: any(isinstance(e, QueuePositionEvent) and e.position == 3 for e in recorder.events))
    positions = [(e.conversation_id, e.position) for e in recorder.events if isinstance(e, QueuePositionEvent)]
    assert positions == [(cid, 1), (cid, 3)]


@pytest.fixture
def sim_config() -> SimulatorConfig:
    # Replay off: a reconnect with Last-Event-ID replays nothing, so only catch-up can save an entry.
    return SimulatorConfig(ping_interval_s=0.05, max_file_bytes=1024, replay_on_reconnect=False)


async def test_survives_20_drops_in_a_row_without_losing_or_repeating(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    await sim.route(cid)
    await sim.accept(cid, "Maria")
    await recorder.wait_for(lambda: any(isinstance(e, ParticipantChangedEvent) for e in recorder.events))
    sim.drop_streams(every_n_events=1)
    expected: list[str] = []
    for burst in range(20):
        # The first message ends the connection; the second is published while it is down.
        expected += [
            await sim.send_text(cid, f"{burst}a", agent="Maria"),
            await sim.send_text(cid, f"{burst}b", agent="Maria"),
        ]
        want = len(expected)
        await recorder.wait_for(lambda: len(recorder.texts()) == want)  # noqa: B023 - awaited in this iteration
    delivered = [e.entry_id for e in recorder.events if isinstance(e, MessageEvent)]
    assert delivered == expected
    ids = [e.entry_id for e in recorder.events]
    assert len(ids) == len(set(ids))
    assert recorder.count(StreamState.RECONNECTING) >= 20


async def test_duplicated_events_are_delivered_once(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    sim.duplicate_next_events(3)
    await sim.route(cid)
    await sim.accept(cid)
    last = await sim.send_text(cid, "hello", agent="Maria")
    await recorder.wait_for(lambda: any(e.entry_id == last for e in recorder.events))
    ids = [e.entry_id for e in recorder.events]
    assert len(ids) == len(set(ids))


async def test_restart_resumes_from_stored_cursor_and_seen_ids(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    first = make_stream()
    cid = await open_conversation(client, first)
    seen_message = await sim.send_text(cid, "before the restart", agent="Maria")
    await recorder.wait_for(lambda: any(e.entry_id == seen_message for e in recorder.events))
    cursor, seen = first.last_event_id, first.seen_entry_ids
    await first.aclose()
    missed = await sim.send_text(cid, "while nobody listened", agent="Maria")
    restarted = Recorder()
    make_stream(
        on_event=restarted.on_event,
        on_state=restarted.on_state,
        conversation_ids=[cid],
        last_event_id=cursor,
        seen_entry_ids=seen,
    )
    await restarted.wait_for(lambda: any(e.entry_id == missed for e in restarted.events))
    assert [e.entry_id for e in restarted.events] == [missed]


async def test_401_mid_stream_is_answered_with_a_continuation_token(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory, token: AccessToken
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    sim.fail_next("sse", 401)
    sim.drop_streams()
    await recorder.wait_for(lambda: len(recorder.tokens) == 1)
    renewed = recorder.tokens[0]
    assert renewed.token != token.token
    assert renewed.subject == token.subject
    assert stream.token == renewed
    message = await sim.send_text(cid, "still here", agent="Maria")
    await recorder.wait_for(lambda: any(e.entry_id == message for e in recorder.events))
    assert stream.status.state is StreamState.CONNECTED
    # The renewed token works for REST calls too.
    await client.send_message(stream.token, cid, "thanks")


async def test_expired_token_ends_the_stream(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory, clock: FakeClock
) -> None:
    stream = make_stream()
    await open_conversation(client, stream)
    assert stream.token.expires_at is not None
    clock.now = stream.token.expires_at + 1  # the simulator ends the stream at its next ping
    final = await asyncio.wait_for(stream.wait(), 5)
    assert final.state is StreamState.TOKEN_EXPIRED
    assert isinstance(final.error, MiawTokenExpiredError)
    assert recorder.states[-1] == final
    assert recorder.tokens == []  # no continuation attempted once exp has passed


async def test_token_rejected_after_renewal_ends_the_stream(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    await open_conversation(client, stream)
    sim.expire_tokens()  # server-side only: our clock says exp has not passed
    final = await asyncio.wait_for(stream.wait(), 5)
    assert final.state is StreamState.TOKEN_EXPIRED
    assert isinstance(final.error, MiawAuthError)
    assert [c.status for c in sim.calls if c.endpoint == "continuation_token"] == [401]


async def test_heartbeat_timeout_reconnects(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream(heartbeat_timeout=0.2)
    cid = await open_conversation(client, stream)
    sim.stop_heartbeat(True)
    await recorder.wait_for(
        lambda: any(
            s.state is StreamState.RECONNECTING and isinstance(s.error, MiawTimeoutError) for s in recorder.states
        )
    )
    sim.stop_heartbeat(False)
    message = await sim.send_text(cid, "after the stall", agent="Maria")
    await recorder.wait_for(lambda: any(e.entry_id == message for e in recorder.events))


async def test_server_errors_on_reconnect_are_retried(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    cid = await open_conversation(client, stream)
    sim.fail_next("sse", 503, count=3)
    sim.drop_streams()
    await recorder.wait_for(lambda: recorder.count(StreamState.CONNECTED) == 2)
    failures = [s.failures for s in recorder.states if s.state is StreamState.RECONNECTING]
    assert failures == [1, 2, 3, 4]
    message = await sim.send_text(cid, "back", agent="Maria")
    await recorder.wait_for(lambda: any(e.entry_id == message for e in recorder.events))


async def test_org_mismatch_fails_without_retrying(
    base_url: str, sim: Simulator, recorder: Recorder, token: AccessToken, clock: FakeClock
) -> None:
    async with MiawClient(base_url, "00D000000000999", DEPLOYMENT, clock=clock) as wrong_org:
        stream = EventStream(wrong_org, token, on_event=recorder.on_event, on_state=recorder.on_state)
        async with stream:
            final = await asyncio.wait_for(stream.wait(), 5)
    assert final.state is StreamState.FAILED
    assert isinstance(final.error, MiawBadRequestError)
    assert await stream.wait_connected() is False
    assert recorder.states[-1] == final  # aclose() after the end reports nothing more


async def test_a_consumer_that_never_takes_the_event_ends_the_stream_before_the_cursor_moves(
    client: MiawClient, sim: Simulator, make_stream: StreamFactory, recorder: Recorder
) -> None:
    offered: list[str | None] = []

    async def refuse(event: MiawEvent) -> None:
        offered.append(event.entry_id)
        raise RuntimeError("store down")

    stream = make_stream(on_event=refuse, consumer_attempts=3)
    cid = await open_conversation(client, stream)
    before = stream.last_event_id
    message = await sim.send_text(cid, "lost?", agent="Maria")
    final = await asyncio.wait_for(stream.wait(), 5)
    assert final.state is StreamState.FAILED
    assert isinstance(final.error, RuntimeError)
    assert offered == [message] * 3, "offered again after each reconnect, then given up"
    assert stream.last_event_id == before
    assert stream.seen_entry_ids == ()


async def test_a_consumer_that_fails_for_a_while_gets_every_event_once(
    client: MiawClient, sim: Simulator, make_stream: StreamFactory, recorder: Recorder
) -> None:
    outage = [RuntimeError("store down")] * 2

    async def flaky(event: MiawEvent) -> None:
        if outage:
            raise outage.pop()
        await recorder.on_event(event)

    stream = make_stream(on_event=flaky)
    cid = await open_conversation(client, stream)
    sent = [await sim.send_text(cid, f"m{i}", agent="Maria") for i in range(3)]
    await recorder.wait_for(lambda: [e.entry_id for e in recorder.events if isinstance(e, MessageEvent)] == sent)
    assert stream.status.state is StreamState.CONNECTED
    failures = [s.failures for s in recorder.states if s.state is StreamState.RECONNECTING]
    assert failures == [1, 2], "backs off from a consumer that keeps failing"
    await sim.send_text(cid, "after", agent="Maria")
    await recorder.wait_for(lambda: sum(isinstance(e, MessageEvent) for e in recorder.events) == 4)


async def test_aclose_stops_cleanly(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    stream = make_stream()
    await open_conversation(client, stream)
    task_names = {t.get_name() for t in asyncio.all_tasks()}
    assert "miaw-stream:test-0" in task_names
    waiter = asyncio.create_task(stream.wait())
    await stream.aclose()
    assert (await waiter).state is StreamState.CLOSED
    assert recorder.states[-1].state is StreamState.CLOSED
    assert "miaw-stream:test-0" not in {t.get_name() for t in asyncio.all_tasks()}
    await stream.aclose()  # idempotent
    assert recorder.count(StreamState.CLOSED) == 1


@pytest.mark.parametrize("exp_passed", [False, True])
async def test_jwt_expired_text_on_the_stream(aiohttp_server: Any, clock: FakeClock, exp_passed: bool) -> None:
    """MIAW has been seen to announce expiry as a raw text event; the simulator cannot produce that."""
    continuation_calls: list[str] = []

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: error\ndata: Jwt is expired\n\n")
        return response

    async def continuation(request: web.Request) -> web.Response:
        continuation_calls.append(request.headers["Authorization"])
        return web.json_response({"message": "Jwt is expired"}, status=401)

    app = web.Application()
    app.router.add_get("/eventrouter/v1/sse", sse)
    app.router.add_get("/iamessage/api/v2/authorization/continuation-access-token", continuation)
    server = await aiohttp_server(app)
    exp = clock.now - 1 if exp_passed else clock.now + 600
    token = parse_access_token({"accessToken": make_jwt({"sub": "s", "exp": exp}), "lastEventId": "5"})
    recorder = Recorder()
    async with MiawClient(str(server.make_url("")), "00D000000000001", DEPLOYMENT, clock=clock) as client:
        stream = EventStream(client, token, on_event=recorder.on_event, reconnect_policy=FAST_RECONNECT)
        async with stream:
            final = await asyncio.wait_for(stream.wait(), 5)
    assert final.state is StreamState.TOKEN_EXPIRED
    assert isinstance(final.error, MiawTokenExpiredError) is exp_passed
    assert len(continuation_calls) == (0 if exp_passed else 1)
    assert recorder.events == []


@pytest.mark.parametrize("char", ["x", "é", "\u2028"], ids=["ascii", "two-byte", "three-byte"])
async def test_an_event_too_large_for_the_stream_is_read_from_the_entry_list_and_the_stream_goes_on(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory, char: str
) -> None:
    # An event over the parser's limit failed the connection, and the reconnect met it again from the same
    # Last-Event-ID: the stream reconnected about once a second for good, and what followed came only from
    # each reconnect's catch-up.
    stream = make_stream()
    cid = await open_conversation(client, stream)
    await sim.accept(cid, "Maria")
    big = char * (DEFAULT_MAX_EVENT_CHARS + 1)
    await sim.send_text(cid, "before", agent="Maria")
    await sim.send_text(cid, big, agent="Maria")
    await sim.send_text(cid, "after", agent="Maria")
    await recorder.wait_for(lambda: "after" in recorder.texts("Agent"))
    assert recorder.texts("Agent") == ["before", big, "after"]
    # The connection carried on: what comes next arrives live, with its event id (caught-up entries have none).
    await sim.send_text(cid, "later", agent="Maria")
    await recorder.wait_for(lambda: "later" in recorder.texts("Agent"))
    assert recorder.events[-1].event_id is not None
    assert recorder.count(StreamState.RECONNECTING) == 0


async def test_a_catch_up_that_keeps_failing_does_not_stop_the_live_events(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A catch-up failure failed the connection before its first read, and every reconnect catches up first:
    # a failure that lasted (list-entries down, a page too large to read) kept the stream from its live events.
    stream = make_stream()
    cid = await open_conversation(client, stream)
    await sim.accept(cid, "Maria")
    sim.fail_next("list_entries", 500, count=1000)
    big = "x" * (DEFAULT_MAX_EVENT_CHARS + 1)
    await sim.send_text(cid, big, agent="Maria")
    await sim.send_text(cid, "after", agent="Maria")
    await recorder.wait_for(lambda: "after" in recorder.texts("Agent"))
    assert recorder.texts("Agent") == ["after"]
    assert recorder.count(StreamState.RECONNECTING) == 0
    assert any(r.getMessage() == "miaw.stream_catch_up_failed" for r in caplog.records)
    # The catch-up is tried again while the stream reads (after a backoff, at the next chunk: a ping here):
    # once list-entries answers again, it delivers what the stream could not read, on the same connection.
    sim.reset_faults()
    await recorder.wait_for(lambda: big in recorder.texts("Agent"))
    assert recorder.texts("Agent") == ["after", big]
    assert recorder.count(StreamState.RECONNECTING) == 0


async def test_what_a_failed_catch_up_owed_is_found_however_many_live_entries_came_after_it(
    client: MiawClient, sim: Simulator, recorder: Recorder, make_stream: StreamFactory
) -> None:
    # The walk stopped at the first page holding an entry already seen: right after a reconnect, but a catch-up
    # tried again once live entries went on found what it owed only among the newest page (50) of them.
    stream = make_stream()
    cid = await open_conversation(client, stream)
    await sim.accept(cid, "Maria")
    sim.fail_next("list_entries", 500, count=1000)
    big = "x" * (DEFAULT_MAX_EVENT_CHARS + 1)
    await sim.send_text(cid, big, agent="Maria")
    after = [f"after-{n}" for n in range(120)]
    for text in after:
        await sim.send_text(cid, text, agent="Maria")
    await recorder.wait_for(lambda: after[-1] in recorder.texts("Agent"))
    sim.reset_faults()
    await recorder.wait_for(lambda: big in recorder.texts("Agent"))
    assert recorder.texts("Agent") == [*after, big]
    assert recorder.count(StreamState.RECONNECTING) == 0

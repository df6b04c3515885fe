"""The simulator's pure parts, without a network: validation, tokens, the event hub, the clock."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.simulator import SimulatorError
from handover_miaw.simulator.hub import EventHub, StoredEvent
from handover_miaw.simulator.state import Store
from handover_miaw.simulator.tokens import TokenError, TokenIssuer
from handover_miaw.simulator.validation import is_uuid_v4, obj, string, uuid_v4, validate

from .simhelpers import FakeClock


@given(st.uuids(version=4))
def test_every_lowercase_v4_uuid_is_accepted_and_uppercase_is_not(value: uuid.UUID) -> None:
    assert is_uuid_v4(str(value))
    assert not is_uuid_v4(str(value).upper())


@given(st.uuids().filter(lambda u: u.version != 4))
def test_other_uuid_versions_are_refused(value: uuid.UUID) -> None:
    assert not is_uuid_v4(str(value))


def test_validation_errors_name_the_path() -> None:
    check = obj({"message": obj({"id": uuid_v4()})}, {"note": string()})
    with pytest.raises(SimulatorError) as missing:
        validate({"message": {}}, check)
    assert missing.value.message == "$.message.id is required."
    with pytest.raises(SimulatorError) as unknown:
        validate({"message": {"id": str(uuid.uuid4())}, "x": 1}, check)
    assert unknown.value.code == "UNKNOWN_PROPERTY"
    validate({"message": {"id": str(uuid.uuid4())}, "note": None}, check)


def test_tokens_expire_with_the_clock_and_on_demand() -> None:
    clock = FakeClock()
    issuer = TokenIssuer(10, clock)
    token = issuer.mint("v2/iamessage/ANON/x", "00D000000000001")
    assert issuer.verify(token).subject == "v2/iamessage/ANON/x"
    clock.now += 10
    with pytest.raises(TokenError):
        issuer.verify(token)
    clock.now -= 5
    issuer.expire_all()
    with pytest.raises(TokenError):
        issuer.verify(token)


def _event(hub: EventHub, subject: str) -> StoredEvent:
    event_id = hub.next_id()
    return StoredEvent(event_id, subject, "X", b"%d" % event_id)


def test_hub_replays_only_newer_events_of_the_subject() -> None:
    hub = EventHub()
    for subject in ("a", "b", "a", "a"):
        hub.publish(_event(hub, subject))
    subscription, backlog = hub.subscribe("a", after_id=1)
    assert [e.id for e in backlog] == [3, 4]
    hub.publish(_event(hub, "b"))
    hub.publish(_event(hub, "a"), twice=True)
    assert [subscription.queue.get_nowait() for _ in range(2)] == [_stored(6, "a")] * 2
    assert subscription.queue.empty()
    assert hub.subscribe("a", after_id=None)[1] == []


def _stored(event_id: int, subject: str) -> StoredEvent:
    return StoredEvent(event_id, subject, "X", b"%d" % event_id)


def test_store_clock_never_repeats_or_goes_back() -> None:
    clock = FakeClock()
    store = Store(clock)
    first = store.now_ms()
    clock.now -= 1
    assert store.now_ms() == first + 1
    assert store.now_ms() == first + 2

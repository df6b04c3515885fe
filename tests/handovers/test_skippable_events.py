"""The raw echo check (`machine.skippable_raw_event`): whatever it skips undecoded is skippable decoded, on every
recorded MIAW event and on each of them re-sent by every sender role; the end user's echo is skipped and an
agent's message never is."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.handovers.machine import AGENT_ROLES, skippable, skippable_raw_event
from handover_miaw.miaw.decoding import decode_sse_event
from tests.miaw.fixtures import FIXTURES, load

SSE_FIXTURES = sorted(p.stem.removeprefix("sse_") for p in FIXTURES.glob("sse_*.json"))
ROLES = [*sorted(AGENT_ROLES), "EndUser", "System", None]


def _recorded(name: str) -> tuple[str, Any]:
    recorded = load(f"sse_{name}.json")
    return recorded["event"], recorded["data"]


def _as_sent_by(data: Any, role: str | None) -> Any:
    """The recorded event with its entry's sender role replaced (None: no role at all)."""
    if not isinstance(data, dict) or not isinstance(data.get("conversationEntry"), dict):
        return data
    sender = dict(data["conversationEntry"].get("sender") or {})
    sender.pop("role", None)
    if role is not None:
        sender["role"] = role
    return {**data, "conversationEntry": {**data["conversationEntry"], "sender": sender}}


def _wire(data: Any) -> str:
    return data if isinstance(data, str) else orjson.dumps(data).decode()


def _agrees(event_type: str, data: str) -> None:
    """A skip is only ever right: skipped implies the decoded event is skippable."""
    if skippable_raw_event(event_type, data):
        assert skippable(decode_sse_event(event_type, data, "1")), data


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", SSE_FIXTURES)
def test_a_skipped_event_is_inert_on_every_fixture_and_role(name: str, role: str | None) -> None:
    event_type, data = _recorded(name)
    wire = _wire(_as_sent_by(data, role))
    _agrees(event_type, wire)
    is_message = event_type == "CONVERSATION_MESSAGE"
    if is_message and role in AGENT_ROLES:
        assert not skippable_raw_event(event_type, wire)
        assert not skippable(decode_sse_event(event_type, wire, "1"))
    if is_message and role == "EndUser":
        assert skippable_raw_event(event_type, wire), "the end user's echo is skipped"


@pytest.mark.parametrize("name", [n for n in SSE_FIXTURES if n.startswith("message_")])
def test_the_recorded_agent_messages_are_never_skipped(name: str) -> None:
    event_type, data = _recorded(name)
    assert not skippable(decode_sse_event(event_type, _wire(data), "1"))
    assert not skippable_raw_event(event_type, _wire(data))


def test_an_agent_role_spelled_with_an_escape_is_decoded_in_full() -> None:
    event_type, data = _recorded("message_text")
    wire = _wire(_as_sent_by(data, "Agent")).replace('"role":"Agent"', '"role":"\\u0041gent"')
    assert decode_sse_event(event_type, wire, "1").sender_role == "Agent"
    assert not skippable_raw_event(event_type, wire)


def test_an_echo_quoting_an_agent_role_is_decoded_in_full() -> None:
    event_type, data = _recorded("message_text")
    echo = _as_sent_by(data, "EndUser")
    echo["conversationEntry"]["senderDisplayName"] = "Agent"
    assert not skippable_raw_event(event_type, _wire(echo))


@given(role=st.text(max_size=12), text=st.text(max_size=40), name=st.text(max_size=12))
def test_any_role_text_and_name(role: str, text: str, name: str) -> None:
    event_type, data = _recorded("message_text")
    echo = _as_sent_by(data, role)
    payload = orjson.loads(echo["conversationEntry"]["entryPayload"])
    payload["abstractMessage"]["staticContent"]["text"] = text
    echo["conversationEntry"]["entryPayload"] = orjson.dumps(payload).decode()
    echo["conversationEntry"]["senderDisplayName"] = name
    _agrees(event_type, _wire(echo))

"""Decoding SSE events and list-entries entries into typed events."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.miaw.decoding import decode_entry, decode_sse_event
from handover_miaw.miaw.events import (
    AcknowledgementEvent,
    Attachment,
    ChoiceOption,
    ConversationClosedEvent,
    MessageEvent,
    MiawEvent,
    ParticipantChange,
    ParticipantChangedEvent,
    PingEvent,
    QueuePositionEvent,
    RoutingResultEvent,
    RoutingWorkResultEvent,
    SessionStatusChangedEvent,
    TypingEvent,
    UnrecognisedEvent,
)

from .fixtures import load, sse

CID = "3f0c2a8e-7b1d-4c55-9a10-2d6f8e1b4c07"


def decode(name: str) -> MiawEvent:
    return decode_sse_event(*sse(name))


def test_agent_text_message() -> None:
    event = decode("message_text")
    assert event == MessageEvent(
        conversation_id=CID,
        entry_id="9a8b7c6d-0000-4e00-8000-123456789abc",
        event_id="2147868001",
        sender_role="Agent",
        sender_name="Maria",
        sender_subject="0055e000001XyZ",
        client_timestamp=1732500000000,
        transcripted_timestamp=1732500000100,
        message_id="9a8b7c6d-0000-4e00-8000-123456789abc",
        message_type="StaticContentMessage",
        format_type="Text",
        text="Hi Ann, I can help.",
    )
    assert event.timestamp == 1732500000100


def test_choices_message() -> None:
    event = decode("message_choices")
    assert isinstance(event, MessageEvent)
    assert (event.message_type, event.format_type, event.text) == ("ChoicesMessage", "Buttons", "Which order?")
    assert event.choices == (ChoiceOption("opt-1042", "Order 1042"), ChoiceOption("opt-1043", "Order 1043"))


def test_attachment_message() -> None:
    event = decode("message_attachment")
    assert isinstance(event, MessageEvent)
    assert event.format_type == "Attachments"
    assert event.text == "Here is the label"
    assert event.attachments == (
        Attachment(
            "069000000000001",
            "return-label.pdf",
            "application/pdf",
            "https://example.my.salesforce-scrt.com/files/069000000000001",
        ),
    )


def test_participant_changed() -> None:
    event = decode("participant_changed")
    assert isinstance(event, ParticipantChangedEvent)
    assert event.changes == (ParticipantChange("add", "Agent", "Maria", "0055e000001XyZ"),)
    assert event.sender_role == "System"


def test_routing_result() -> None:
    event = decode("routing_result")
    assert isinstance(event, RoutingResultEvent)
    assert (event.routing_type, event.failure_type, event.failed) == ("Initial", "None", False)
    assert event.estimated_wait_s == 120
    assert event.queue_position is None
    assert event.record_id == "0Mw5e000000AbC"


def test_routing_result_failed_transfer() -> None:
    event = decode("routing_result_failed")
    assert isinstance(event, RoutingResultEvent)
    assert (event.routing_type, event.failure_type, event.failed) == ("Transfer", "RoutingError", True)
    assert event.failure_reason == "No agents available"
    assert event.error_messages == ("No agents available",)
    # -1 with isEWTRequested false means "no estimate".
    assert event.estimated_wait_s is None


def test_routing_work_result() -> None:
    event = decode("routing_work_result")
    assert isinstance(event, RoutingWorkResultEvent)
    assert event.work_type == "Accepted"
    assert event.parent_entry_id == "7e2f0000-0000-4e00-8000-0000000000c1"


def test_queue_position() -> None:
    event = decode("queue_position")
    assert isinstance(event, QueuePositionEvent)
    assert event.position == 3


@pytest.mark.parametrize(
    "data",
    [
        {"conversationId": CID, "conversationEntry": {"entryPayload": '{"queuePosition": 4}'}},
        {"conversationId": CID, "conversationEntry": {"entryPayload": '{"position": 4}'}},
        {"conversationId": CID, "conversationEntry": {"entryPayload": '{"queuePosition": {"position": 4}}'}},
        {"conversationId": CID, "conversationEntry": {"entryPayload": {"queuePosition": "4"}}},
        {"conversationId": CID, "queuePosition": 4},
        {"conversationId": CID, "conversationEntry": {"queuePosition": 4}},
        {"conversationId": CID, "queuePosition": {"queuePosition": 4}},
    ],
)
def test_queue_position_shapes(data: dict[str, Any]) -> None:
    event = decode_sse_event("CONVERSATION_QUEUE_POSITION", orjson.dumps(data).decode(), "9")
    assert isinstance(event, QueuePositionEvent)
    assert (event.position, event.conversation_id) == (4, CID)


@pytest.mark.parametrize(("name", "started"), [("typing_started", True), ("typing_stopped", False)])
def test_typing(name: str, started: bool) -> None:
    event = decode(name)
    assert isinstance(event, TypingEvent)
    assert event.started is started
    assert (event.sender_role, event.sender_name) == ("Agent", "Maria")


@pytest.mark.parametrize(("name", "kind"), [("delivery_acknowledgement", "delivery"), ("read_acknowledgement", "read")])
def test_acknowledgements(name: str, kind: str) -> None:
    event = decode(name)
    assert isinstance(event, AcknowledgementEvent)
    assert event.kind == kind
    assert event.acknowledged_entry_id == "b6d1e0f2-41c9-4e3a-8f57-0c9a2e6d7b11"
    assert event.acknowledged_at is not None


def test_session_status_changed() -> None:
    event = decode("session_status_changed")
    assert isinstance(event, SessionStatusChangedEvent)
    assert (event.status, event.previous_status, event.ended_by_role) == ("Ended", "Active", "Agent")


def test_close_conversation() -> None:
    event = decode("close_conversation")
    assert isinstance(event, ConversationClosedEvent)
    assert event.conversation_id == CID
    assert event.sender_role == "EndUser"


def test_close_conversation_without_entry() -> None:
    event = decode_sse_event("CONVERSATION_CLOSE_CONVERSATION", orjson.dumps({"conversationId": CID}).decode())
    assert event == ConversationClosedEvent(conversation_id=CID)


def test_ping() -> None:
    assert decode("ping") == PingEvent()
    assert decode_sse_event("ping", "0", "77") == PingEvent(event_id="77")


def test_list_entries_entries_have_payload_objects() -> None:
    entries = load("list_entries.json")["conversationEntries"]
    events = [decode_entry(entry, CID) for entry in entries]
    assert [type(e) for e in events] == [
        SessionStatusChangedEvent,
        MessageEvent,
        ParticipantChangedEvent,
        RoutingResultEvent,
    ]
    assert all(e.conversation_id == CID and e.event_id is None for e in events)
    # The same entry decodes the same way from SSE and from list-entries (only the cursor differs).
    assert dataclasses.replace(events[1], event_id="2147868001", server_received_timestamp=None) == decode(
        "message_text"
    )


def test_list_entry_with_string_payload() -> None:
    entry = load("list_entries.json")["conversationEntries"][1]
    entry["entryPayload"] = orjson.dumps(entry["entryPayload"]).decode()
    event = decode_entry(entry, CID)
    assert isinstance(event, MessageEvent)
    assert event.text == "Hi Ann, I can help."


@pytest.mark.parametrize(
    ("event_type", "data", "reason"),
    [
        ("CONVERSATION_STREAMING_TOKEN", '{"conversationId": "c"}', "unknown event type"),
        ("CONVERSATION_MESSAGE", "Jwt is expired", "data is not JSON"),
        ("CONVERSATION_MESSAGE", "[1, 2]", "data is not an object"),
        ("CONVERSATION_MESSAGE", '{"conversationEntry": {"entryPayload": "{oops"}}', "entryPayload is not JSON"),
        ("CONVERSATION_MESSAGE", '{"conversationEntry": {"entryPayload": "[1]"}}', "entryPayload is not an object"),
    ],
)
def test_unrecognised(event_type: str, data: str, reason: str) -> None:
    event = decode_sse_event(event_type, data, "12")
    assert isinstance(event, UnrecognisedEvent)
    assert (event.event_type, event.data, event.reason, event.event_id) == (event_type, data, reason, "12")


def test_unrecognised_keeps_conversation_and_entry_ids() -> None:
    data = {"conversationId": CID, "conversationEntry": {"identifier": "e1", "entryType": "ProgressIndicator"}}
    event = decode_sse_event("CONVERSATION_PROGRESS_INDICATOR", orjson.dumps(data).decode())
    assert isinstance(event, UnrecognisedEvent)
    assert (event.conversation_id, event.entry_id) == (CID, "e1")


def test_wrong_field_types_are_tolerated() -> None:
    payload = {"abstractMessage": {"staticContent": {"text": 5, "attachments": "no"}, "choices": []}}
    data = {
        "conversationId": 7,
        "conversationEntry": {
            "identifier": ["x"],
            "clientTimestamp": True,
            "entryPayload": orjson.dumps(payload).decode(),
        },
    }
    event = decode_sse_event("CONVERSATION_MESSAGE", orjson.dumps(data).decode())
    assert event == MessageEvent()


def test_events_are_immutable() -> None:
    event = decode("message_text")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.conversation_id = "changed"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=25,
)
event_types = st.sampled_from(
    [
        "CONVERSATION_MESSAGE",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_ROUTING_RESULT",
        "CONVERSATION_ROUTING_WORK_RESULT",
        "CONVERSATION_QUEUE_POSITION",
        "CONVERSATION_TYPING_STARTED_INDICATOR",
        "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
        "CONVERSATION_CLOSE_CONVERSATION",
        "CONVERSATION_SESSION_STATUS_CHANGED",
        "ping",
        "other",
    ]
) | st.text(max_size=30)
entry_keys = st.sampled_from(
    ["identifier", "entryType", "sender", "senderDisplayName", "clientTimestamp", "relatedRecords", "entryPayload"]
)


@given(event_types, st.text(max_size=200), st.none() | st.text(max_size=10))
def test_sse_decoder_never_raises_on_strings(event_type: str, data: str, event_id: str | None) -> None:
    assert isinstance(decode_sse_event(event_type, data, event_id), MiawEvent)


@given(event_types, json_values, st.dictionaries(entry_keys, json_values, max_size=7), json_values)
def test_sse_decoder_never_raises_on_json(event_type: str, top: Any, entry: dict[str, Any], payload: Any) -> None:
    entry = {**entry, "entryPayload": orjson.dumps(payload).decode()} if "entryPayload" not in entry else entry
    for data in (top, {"conversationId": CID, "conversationEntry": entry}):
        assert isinstance(decode_sse_event(event_type, orjson.dumps(data).decode(), "1"), MiawEvent)


@given(json_values | st.dictionaries(entry_keys, json_values, max_size=7), st.none() | st.text(max_size=10))
def test_entry_decoder_never_raises(entry: Any, conversation_id: str | None) -> None:
    assert isinstance(decode_entry(entry, conversation_id), MiawEvent)


def _with_attachment_url(url: object) -> str:
    payload = {
        "abstractMessage": {
            "staticContent": {
                "formatType": "Attachments",
                "attachments": [{"id": "069", "name": "a.pdf", "mimeType": "application/pdf", "url": url}],
            }
        }
    }
    data = {"conversationId": "c", "conversationEntry": {"entryPayload": orjson.dumps(payload).decode()}}
    return orjson.dumps(data).decode()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/x",
        "/files/069",
        "https://",
        "http://[::1/x",
        "https://example.com/a b",
        "https://example.com/\x7f",
    ],
)
def test_an_attachment_url_that_is_not_absolute_http_is_dropped(url: str) -> None:
    event = decode_sse_event("CONVERSATION_MESSAGE", _with_attachment_url(url))
    assert isinstance(event, MessageEvent)
    assert event.attachments == (Attachment("069", "a.pdf", "application/pdf", None),)


@pytest.mark.parametrize(
    "url", ["https://example.my.salesforce-scrt.com/files/069?sig=a%20b", "HTTP://127.0.0.1:8080/f", "https://[::1]/f"]
)
def test_an_absolute_http_attachment_url_is_kept_as_sent(url: str) -> None:
    event = decode_sse_event("CONVERSATION_MESSAGE", _with_attachment_url(url))
    assert isinstance(event, MessageEvent)
    assert event.attachments[0].url == url

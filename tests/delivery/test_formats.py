"""Each delivery format's request, built from one envelope: URL, headers, body and (webhook) signature."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from handover_miaw.delivery.envelope import SIGNATURE_HEADER, SignatureError, envelope, verify
from handover_miaw.delivery.formats import COGNIGY_INJECT_PATH, COGNIGY_NOTIFY_PATH, build_request

NOW = 1_700_000_000
SECRET = "whsec_0123456789abcdef"
WEBHOOK = {"format": "webhook", "url": "https://bot.example.com/hooks/handover?x=1", "secret": SECRET}
COGNIGY = {
    "format": "cognigy",
    "url": "https://endpoint.example.com/abc123/",
    "apiKey": "cognigy-api-key-1",
    "urlToken": "url-token-1",
}


def _envelope(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return envelope(
        id="dl_1",
        type=kind,
        handover_id="h1",
        connector="acme",
        session_id="s1",
        user_id="u1",
        occurred_at=NOW - 2,
        data=data,
    )


def test_webhook_posts_the_envelope_signed_at_the_attempt() -> None:
    env = _envelope("agent.message", {"text": "Hello", "agentName": "Maria"})
    request = build_request(WEBHOOK, env, NOW)
    assert request is not None
    assert request.url == WEBHOOK["url"]  # as configured: query kept, nothing appended
    assert orjson.loads(request.body) == env
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Handover-Delivery"] == "dl_1"
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith(f"t={NOW},v1=")
    verify(SECRET, request.body, signature, now=NOW)  # raises unless it signs these exact bytes
    with pytest.raises(SignatureError):
        verify("whsec_another", request.body, signature, now=NOW)
    with pytest.raises(SignatureError):
        verify(SECRET, request.body.replace(b"Hello", b"Hellp"), signature, now=NOW)


def test_a_retried_webhook_is_signed_afresh_with_the_same_body() -> None:
    env = _envelope("handover.status", {"status": "queue"})
    first, later = build_request(WEBHOOK, env, NOW), build_request(WEBHOOK, env, NOW + 600)
    assert first is not None
    assert later is not None
    assert later.body == first.body
    assert later.headers["X-Handover-Delivery"] == first.headers["X-Handover-Delivery"]
    assert later.headers[SIGNATURE_HEADER].startswith(f"t={NOW + 600},")
    verify(SECRET, later.body, later.headers[SIGNATURE_HEADER], now=NOW + 600)
    with pytest.raises(SignatureError):  # the first attempt's signature is outside the replay window by then
        verify(SECRET, first.body, first.headers[SIGNATURE_HEADER], now=NOW + 600)


def test_cognigy_agent_messages_go_to_notify_with_the_text() -> None:
    data = {"text": "Hello from Maria", "agentName": "Maria"}
    request = build_request(COGNIGY, _envelope("agent.message", data), NOW)
    assert request is not None
    assert request.url == "https://endpoint.example.com/abc123" + COGNIGY_NOTIFY_PATH  # one slash between
    assert request.headers == {"Content-Type": "application/json", "X-API-Key": "cognigy-api-key-1"}
    assert SIGNATURE_HEADER not in request.headers
    assert orjson.loads(request.body) == {
        "userId": "u1",
        "sessionId": "s1",
        "URLToken": "url-token-1",
        "text": "Hello from Maria",
        "data": {"handover": {"eventType": "agent.message", "deliveryId": "dl_1", **data}},
    }


def test_cognigy_message_without_text_sends_an_empty_text() -> None:
    request = build_request(COGNIGY, _envelope("agent.message", {"attachments": [{"name": "a.pdf"}]}), NOW)
    assert request is not None
    body = orjson.loads(request.body)
    assert body["text"] == ""
    assert body["data"]["handover"]["attachments"] == [{"name": "a.pdf"}]


@pytest.mark.parametrize(
    ("kind", "data", "status"),
    [
        ("handover.status", {"status": "queue", "position": 2}, "queue"),
        ("handover.status", {"status": "active", "agentName": "Maria"}, "active"),
        ("handover.ended", {"status": "completed", "reason": "agent_ended"}, "ended"),
    ],
)
def test_cognigy_status_and_end_go_to_inject_without_text(kind: str, data: dict[str, Any], status: str) -> None:
    request = build_request(COGNIGY, _envelope(kind, data), NOW)
    assert request is not None
    assert request.url == "https://endpoint.example.com/abc123" + COGNIGY_INJECT_PATH
    assert request.headers["X-API-Key"] == "cognigy-api-key-1"
    body = orjson.loads(request.body)
    assert (body["userId"], body["sessionId"], body["URLToken"], body["text"]) == ("u1", "s1", "url-token-1", "")
    assert body["data"] == {"handover": {"status": status, "eventType": kind, "deliveryId": "dl_1", "data": data}}


def test_sse_pushes_nothing() -> None:
    """The bot platform pulls sse deliveries from GET /v1/handovers/{id}/events."""
    assert build_request({"format": "sse"}, _envelope("agent.message", {"text": "x"}), NOW) is None


def test_an_unknown_format_is_an_error_not_a_pull_format() -> None:
    with pytest.raises(ValueError, match="unknown delivery format 'carrier-pigeon'"):
        build_request({"format": "carrier-pigeon"}, _envelope("agent.message", {"text": "x"}), NOW)

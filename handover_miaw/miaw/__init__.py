"""Salesforce MIAW (Messaging for In-App and Web) v2 custom-client protocol library.

Speaks the protocol and nothing else: it imports nothing from the rest of handover_miaw.

- `client.MiawClient`: one async method per REST endpoint, typed results and errors, retries.
- `stream.EventStream`: one live event subscription (reconnect, resume, catch-up, token renewal).
- Pure parts, usable without an event loop: `errors`, `jwt`, `retry`, `sse`, `events`, `decoding`,
  `models`.

Names are re-exported lazily (PEP 562): importing a pure module, or this package for one, does not load the
client's aiohttp; the first use of `MiawClient` does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import CallObserver, MiawClient, stream_session
    from .decoding import decode_entry, decode_sse_event
    from .errors import (
        MiawAuthError,
        MiawBadRequestError,
        MiawConnectionError,
        MiawError,
        MiawForbiddenError,
        MiawInvalidTokenError,
        MiawNoSessionError,
        MiawNotFoundError,
        MiawPayloadTooLargeError,
        MiawProtocolError,
        MiawRateLimitedError,
        MiawResponseError,
        MiawServerError,
        MiawTimeoutError,
        MiawTokenExpiredError,
        MiawTransportError,
        MiawUnsupportedMediaTypeError,
    )
    from .events import (
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
    from .models import (
        AccessToken,
        ConversationEntries,
        EmbeddedServiceConfig,
        PreChatField,
        RoutingStatus,
        SentMessage,
    )
    from .retry import ReconnectPolicy, RetryPolicy
    from .stream import EventStream, StreamState, StreamStatus

__all__ = [
    "AccessToken",
    "AcknowledgementEvent",
    "Attachment",
    "CallObserver",
    "ChoiceOption",
    "ConversationClosedEvent",
    "ConversationEntries",
    "EmbeddedServiceConfig",
    "EventStream",
    "MessageEvent",
    "MiawAuthError",
    "MiawBadRequestError",
    "MiawClient",
    "MiawConnectionError",
    "MiawError",
    "MiawEvent",
    "MiawForbiddenError",
    "MiawInvalidTokenError",
    "MiawNoSessionError",
    "MiawNotFoundError",
    "MiawPayloadTooLargeError",
    "MiawProtocolError",
    "MiawRateLimitedError",
    "MiawResponseError",
    "MiawServerError",
    "MiawTimeoutError",
    "MiawTokenExpiredError",
    "MiawTransportError",
    "MiawUnsupportedMediaTypeError",
    "ParticipantChange",
    "ParticipantChangedEvent",
    "PingEvent",
    "PreChatField",
    "QueuePositionEvent",
    "ReconnectPolicy",
    "RetryPolicy",
    "RoutingResultEvent",
    "RoutingStatus",
    "RoutingWorkResultEvent",
    "SentMessage",
    "SessionStatusChangedEvent",
    "StreamState",
    "StreamStatus",
    "TypingEvent",
    "UnrecognisedEvent",
    "decode_entry",
    "decode_sse_event",
    "stream_session",
]

# The module defining each exported name, for the lazy lookup below.
_SOURCES = {
    "client": ("CallObserver", "MiawClient", "stream_session"),
    "decoding": ("decode_entry", "decode_sse_event"),
    "errors": (
        "MiawAuthError",
        "MiawBadRequestError",
        "MiawConnectionError",
        "MiawError",
        "MiawForbiddenError",
        "MiawInvalidTokenError",
        "MiawNoSessionError",
        "MiawNotFoundError",
        "MiawPayloadTooLargeError",
        "MiawProtocolError",
        "MiawRateLimitedError",
        "MiawResponseError",
        "MiawServerError",
        "MiawTimeoutError",
        "MiawTokenExpiredError",
        "MiawTransportError",
        "MiawUnsupportedMediaTypeError",
    ),
    "events": (
        "AcknowledgementEvent",
        "Attachment",
        "ChoiceOption",
        "ConversationClosedEvent",
        "MessageEvent",
        "MiawEvent",
        "ParticipantChange",
        "ParticipantChangedEvent",
        "PingEvent",
        "QueuePositionEvent",
        "RoutingResultEvent",
        "RoutingWorkResultEvent",
        "SessionStatusChangedEvent",
        "TypingEvent",
        "UnrecognisedEvent",
    ),
    "models": (
        "AccessToken",
        "ConversationEntries",
        "EmbeddedServiceConfig",
        "PreChatField",
        "RoutingStatus",
        "SentMessage",
    ),
    "retry": ("ReconnectPolicy", "RetryPolicy"),
    "stream": ("EventStream", "StreamState", "StreamStatus"),
}
_SOURCE = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    """An exported name, imported from its module at first use and kept."""
    source = _SOURCE.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's own names and every lazily exported one."""
    return sorted({*globals(), *__all__})

"""Salesforce MIAW (Messaging for In-App and Web) v2 custom-client protocol library.

Speaks the protocol and nothing else: it imports nothing from the rest of handover_miaw.

- `client.MiawClient`: one async method per REST endpoint, typed results and errors, retries.
- `stream.EventStream`: one live event subscription (reconnect, resume, catch-up, token renewal).
- Pure parts, usable without an event loop: `errors`, `jwt`, `retry`, `sse`, `events`, `decoding`,
  `models`.
"""

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

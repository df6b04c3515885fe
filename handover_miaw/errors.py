"""The runtime's error hierarchy; the API maps each `code` to an HTTP status.

    HandoverError(code, message)                 user-facing message, stable code
    ├── InputError                               the caller sent something wrong
    │   ├── MalformedRequestError      400       not JSON, not an object, bad multipart
    │   ├── SchemaViolationError       422       fails the OpenAPI / manifest schema (problems listed)
    │   ├── InvalidNameError           422       a name in the path breaks its rule (names.py)
    │   ├── PayloadTooLargeError       413       over the size limit
    │   ├── BodyStalledError           408       the body stopped arriving (the connection is closed)
    │   └── UnsupportedMediaTypeError  415       a body that is not JSON, a file type MIAW rejects
    ├── NotFoundError                  404       unknown connector or handover
    ├── TooManyRequestsError           429       a per-handover limit is reached (e.g. /events readers)
    ├── StateConflictError             409       e.g. a message to an ended handover
    │   └── IdConflictError            409       a message id already used for another text
    └── UpstreamError                            MIAW could not do it
        ├── UpstreamRefusedError       502       MIAW answered with an error
        └── UpstreamUnavailableError   503       MIAW did not answer (timeout, connection, 5xx after retries)

MIAW's own errors (handover_miaw.miaw.errors) are translated into UpstreamError at the service boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

from handover_miaw.problems import Problem

__all__ = [
    "BodyStalledError",
    "HandoverError",
    "IdConflictError",
    "InputError",
    "InvalidNameError",
    "MalformedRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "SchemaViolationError",
    "StateConflictError",
    "TooManyRequestsError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "UpstreamRefusedError",
    "UpstreamUnavailableError",
]


class HandoverError(Exception):
    """Base of every runtime error: a stable code, an HTTP status and a message safe to show."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, pointer: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer


class InputError(HandoverError):
    """The caller sent something wrong."""

    code = "invalid_request"
    status = 400


class BodyStalledError(InputError):
    """No byte of the request body arrived for the idle limit; the connection is closed after the answer."""

    code = "request_timeout"
    status = 408


class MalformedRequestError(InputError):
    """The body is not JSON, not an object, or not readable."""

    code = "malformed_request"
    status = 400


class SchemaViolationError(InputError):
    """The body does not match its schema; every problem is listed."""

    code = "schema_violation"
    status = 422

    def __init__(self, problems: Sequence[Problem], *, summary: str | None = None) -> None:
        # `summary` is the first problem's reason without the value it may quote, so a 422 body quotes
        # an offending value once (in `problems`), not twice.
        first = problems[0]
        super().__init__(f"{first.pointer or '/'}: {summary or first.message}", pointer=first.pointer)
        self.problems = list(problems)


class InvalidNameError(InputError):
    """A name given in the path (a connector being created) breaks the naming rule."""

    code = "invalid_name"
    status = 422


class PayloadTooLargeError(InputError):
    """The body or file is over its size limit."""

    code = "payload_too_large"
    status = 413


class UnsupportedMediaTypeError(InputError):
    """A body of a type that is not accepted: anything but JSON where JSON is expected, a file type MIAW refuses."""

    code = "unsupported_media_type"
    status = 415


class NotFoundError(HandoverError):
    """An unknown connector or handover."""

    code = "not_found"
    status = 404


class TooManyRequestsError(HandoverError):
    """A limit on concurrent use is reached (e.g. readers of one handover's event stream)."""

    code = "too_many_requests"
    status = 429


class StateConflictError(HandoverError):
    """The request does not fit the resource's state (e.g. the handover has ended)."""

    code = "state_conflict"
    status = 409


class IdConflictError(StateConflictError):
    """A caller's message id that was already used for a different text: the id names one message."""

    code = "id_conflict"


class UpstreamError(HandoverError):
    """MIAW could not do what was asked."""

    code = "upstream_error"
    status = 502


class UpstreamRefusedError(UpstreamError):
    """MIAW answered with an error."""

    code = "upstream_refused"
    status = 502


class UpstreamUnavailableError(UpstreamError):
    """MIAW did not answer in time, or kept failing."""

    code = "upstream_unavailable"
    status = 503

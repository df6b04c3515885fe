"""Errors raised by the MIAW protocol library.

One hierarchy, split by the question a caller asks first: *did Salesforce answer at all?*

    MiawError(code, message, detail)
    ├── MiawTransportError                 no answer
    │   ├── MiawTimeoutError               (also a builtin TimeoutError)
    │   └── MiawConnectionError            refused, reset, dropped, truncated body
    ├── MiawResponseError(status, body)    answered with an error
    │   ├── MiawBadRequestError            400
    │   ├── MiawAuthError                  401
    │   │   └── MiawTokenExpiredError      401 and the token's `exp` has passed
    │   ├── MiawForbiddenError             403 (conversation closed)
    │   ├── MiawNotFoundError              404
    │   ├── MiawPayloadTooLargeError       413
    │   ├── MiawUnsupportedMediaTypeError  415
    │   ├── MiawNoSessionError             417 (no active messaging session)
    │   ├── MiawRateLimitedError           429, carries retry_after
    │   └── MiawServerError                5xx
    └── MiawProtocolError                  answered, but the answer makes no sense
        └── MiawInvalidTokenError          a token that is not a readable JWT

`code` is stable (an API maps it to its own status); `message` is safe to show a user; `detail` is
internal context for logs. No error ever carries an access token: the client redacts it from `detail`.
"""

from __future__ import annotations

__all__ = [
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
    "error_for_status",
]


class MiawError(Exception):
    """Base of every MIAW error: a stable `code`, a user-facing `message`, internal `detail`."""

    code = "miaw.error"
    default_message = "The Salesforce messaging service failed."

    def __init__(self, message: str | None = None, *, detail: str = "") -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


class MiawTransportError(MiawError):
    """Salesforce did not answer: nothing is known about whether the request took effect."""

    code = "miaw.transport"
    default_message = "The Salesforce messaging service could not be reached."


class MiawTimeoutError(MiawTransportError, TimeoutError):
    """No complete answer within the time allowed."""

    code = "miaw.timeout"
    default_message = "The Salesforce messaging service did not answer in time."


class MiawConnectionError(MiawTransportError):
    """The connection failed, was reset, or ended before the whole answer arrived."""

    code = "miaw.connection"
    default_message = "The connection to the Salesforce messaging service failed."


class MiawResponseError(MiawError):
    """Salesforce answered with an error status; `body` is its (parsed when JSON) body."""

    code = "miaw.unexpected_status"
    default_message = "The Salesforce messaging service answered with an unexpected status."

    def __init__(self, message: str | None = None, *, status: int, body: object = None, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.status = status
        self.body = body


class MiawBadRequestError(MiawResponseError):
    """400: the request was refused as invalid."""

    code = "miaw.bad_request"
    default_message = "Salesforce refused the request as invalid."


class MiawAuthError(MiawResponseError):
    """401: the access token is missing, invalid or no longer accepted."""

    code = "miaw.unauthorized"
    default_message = "Salesforce did not accept the access token."


class MiawTokenExpiredError(MiawAuthError):
    """401 for a token whose `exp` has passed: only a new conversation can continue."""

    code = "miaw.token_expired"
    default_message = "The Salesforce access token has expired."


class MiawForbiddenError(MiawResponseError):
    """403: seen when posting into a closed conversation."""

    code = "miaw.forbidden"
    default_message = "Salesforce refused the request; the conversation may be closed."


class MiawNotFoundError(MiawResponseError):
    """404: unknown conversation or path."""

    code = "miaw.not_found"
    default_message = "Salesforce does not know this conversation."


class MiawPayloadTooLargeError(MiawResponseError):
    """413: the file is too large."""

    code = "miaw.payload_too_large"
    default_message = "The file is too large for Salesforce."


class MiawUnsupportedMediaTypeError(MiawResponseError):
    """415: the file type is not accepted."""

    code = "miaw.unsupported_media_type"
    default_message = "Salesforce does not accept this file type."


class MiawNoSessionError(MiawResponseError):
    """417: the conversation has no active messaging session."""

    code = "miaw.no_session"
    default_message = "The conversation has no active messaging session."


class MiawRateLimitedError(MiawResponseError):
    """429: too many requests; `retry_after` is the server's Retry-After in seconds, when it sent one."""

    code = "miaw.rate_limited"
    default_message = "Salesforce is rate limiting requests."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int = 429,
        body: object = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, detail=detail)
        self.retry_after = retry_after


class MiawServerError(MiawResponseError):
    """5xx: Salesforce failed."""

    code = "miaw.server_error"
    default_message = "The Salesforce messaging service failed."


class MiawProtocolError(MiawError):
    """The answer could not be understood (not JSON, a required field missing, an oversized event)."""

    code = "miaw.protocol"
    default_message = "The Salesforce messaging service sent an answer that could not be understood."


class MiawInvalidTokenError(MiawProtocolError):
    """A token that is not a readable JWT (three base64url parts, a JSON object in the middle)."""

    code = "miaw.invalid_token"
    default_message = "The access token is not a readable JWT."


_BY_STATUS: dict[int, type[MiawResponseError]] = {
    400: MiawBadRequestError,
    401: MiawAuthError,
    403: MiawForbiddenError,
    404: MiawNotFoundError,
    413: MiawPayloadTooLargeError,
    415: MiawUnsupportedMediaTypeError,
    417: MiawNoSessionError,
}


def error_for_status(
    status: int, body: object = None, *, detail: str = "", retry_after: float | None = None
) -> MiawResponseError:
    """Build the error for an error status (401 is plain MiawAuthError; the client decides on expiry)."""
    if status == 429:
        return MiawRateLimitedError(body=body, detail=detail, retry_after=retry_after)
    if status >= 500:
        return MiawServerError(status=status, body=body, detail=detail)
    cls = _BY_STATUS.get(status, MiawResponseError)
    return cls(status=status, body=body, detail=detail)

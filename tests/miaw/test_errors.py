"""The error hierarchy: classes, codes, status mapping."""

from __future__ import annotations

import pytest

from handover_miaw.miaw import errors as e


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, e.MiawBadRequestError, "miaw.bad_request"),
        (401, e.MiawAuthError, "miaw.unauthorized"),
        (403, e.MiawForbiddenError, "miaw.forbidden"),
        (404, e.MiawNotFoundError, "miaw.not_found"),
        (409, e.MiawResponseError, "miaw.unexpected_status"),
        (413, e.MiawPayloadTooLargeError, "miaw.payload_too_large"),
        (415, e.MiawUnsupportedMediaTypeError, "miaw.unsupported_media_type"),
        (417, e.MiawNoSessionError, "miaw.no_session"),
        (429, e.MiawRateLimitedError, "miaw.rate_limited"),
        (500, e.MiawServerError, "miaw.server_error"),
        (503, e.MiawServerError, "miaw.server_error"),
        (302, e.MiawResponseError, "miaw.unexpected_status"),
    ],
)
def test_error_for_status(status: int, cls: type[e.MiawResponseError], code: str) -> None:
    error = e.error_for_status(status, {"message": "m"}, detail="d")
    assert type(error) is cls
    assert error.code == code
    assert error.status == status
    assert error.body == {"message": "m"}
    assert isinstance(error, e.MiawResponseError)
    assert not isinstance(error, e.MiawTransportError)


def test_rate_limited_carries_retry_after() -> None:
    error = e.error_for_status(429, None, retry_after=7.0)
    assert isinstance(error, e.MiawRateLimitedError)
    assert error.retry_after == 7.0


def test_transport_errors_are_no_answer() -> None:
    timeout = e.MiawTimeoutError(detail="x")
    assert isinstance(timeout, TimeoutError)
    assert isinstance(timeout, e.MiawTransportError)
    assert isinstance(e.MiawConnectionError(), e.MiawTransportError)
    assert timeout.code == "miaw.timeout"


def test_token_expired_is_an_auth_error() -> None:
    error = e.MiawTokenExpiredError(status=401)
    assert isinstance(error, e.MiawAuthError)
    assert error.code == "miaw.token_expired"


def test_message_is_separate_from_detail() -> None:
    error = e.MiawNotFoundError(status=404, detail="routing_status: HTTP 404")
    assert error.message == "Salesforce does not know this conversation."
    assert error.detail == "routing_status: HTTP 404"
    assert str(error) == "Salesforce does not know this conversation. (routing_status: HTTP 404)"


def test_codes_are_unique() -> None:
    classes = [getattr(e, name) for name in e.__all__ if name.startswith("Miaw")]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))

"""The HTTP server's own lines: a request the client broke is a warning without its bytes; anything else
aiohttp logs keeps its level and traceback."""

from __future__ import annotations

import logging
import sys

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, TransferEncodingError

from handover_miaw.api.server_log import SERVER_LOGGER


def _record(level: int, msg: str, args: tuple[object, ...], exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        exc_info = sys.exc_info()
    return SERVER_LOGGER.makeRecord(SERVER_LOGGER.name, level, __file__, 1, msg, args, exc_info)


def _passed(record: logging.LogRecord) -> bool:
    return all(f.filter(record) for f in SERVER_LOGGER.filters)  # type: ignore[union-attr]


def _wrapped() -> web.RequestPayloadError:
    """What aiohttp's reader raises when a body's framing breaks after its head: the parse error as cause."""
    try:
        try:
            raise TransferEncodingError("zz secret-in-the-body")
        except TransferEncodingError as cause:
            raise web.RequestPayloadError("Response payload is not completed") from cause
    except web.RequestPayloadError as exc:
        return exc


@pytest.mark.parametrize(
    ("msg", "args", "exc", "expected"),
    [
        ("Error handling request from %s", ("10.0.0.7",), BadHttpMessage("zz secret-in-the-body"),
         "http.malformed_request from 10.0.0.7: BadHttpMessage (400)"),
        ("Unhandled exception", (), _wrapped(), "http.malformed_request from -: TransferEncodingError (400)"),
    ],
)  # fmt: skip
def test_a_request_the_client_broke_is_a_warning_without_its_bytes(
    msg: str, args: tuple[object, ...], exc: BaseException, expected: str
) -> None:
    record = _record(logging.ERROR, msg, args, exc)
    assert _passed(record)
    assert (record.levelno, record.levelname, record.getMessage()) == (logging.WARNING, "WARNING", expected)
    assert record.exc_info is None
    assert "secret-in-the-body" not in record.getMessage()


def test_anything_else_keeps_its_level_and_traceback() -> None:
    server_fault = _record(logging.ERROR, "Unhandled exception", (), RuntimeError("a bug of ours"))
    assert _passed(server_fault)
    assert server_fault.levelno == logging.ERROR
    assert server_fault.exc_info is not None
    # aiohttp logs a bad method (non-HTTP bytes on the port) at debug level on purpose: it stays there.
    probe = _record(logging.DEBUG, "Error handling request from %s", ("10.0.0.7",), BadHttpMethod("\x16\x03"))
    assert _passed(probe)
    assert probe.levelno == logging.DEBUG
    assert probe.exc_info is not None


def test_a_warning_is_dropped_under_a_level_set_above_warnings() -> None:
    previous = SERVER_LOGGER.level
    SERVER_LOGGER.setLevel(logging.ERROR)
    try:
        record = _record(logging.ERROR, "Error handling request from %s", ("10.0.0.7",), BadHttpMessage("x"))
        assert not _passed(record)
    finally:
        SERVER_LOGGER.setLevel(previous)

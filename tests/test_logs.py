"""Secrets never reach a rendered log line: checked on the real output of the configured pipeline."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from handover_miaw import logs
from handover_miaw.api.access_log import AccessLogger
from handover_miaw.logs import MIN_SECRET_LENGTH, REDACTED, SecretRegistry, configure_logging, secrets

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"
API_KEY = "hm_live_5f2b8c1d9e7a4b3c"


def test_sensitive_keys_are_redacted(log_output: io.StringIO) -> None:
    structlog.get_logger("t").info("miaw.token", accessToken=TOKEN, headers={"Authorization": f"Bearer {TOKEN}"})
    line = log_output.getvalue()
    assert TOKEN not in line
    assert line.count(REDACTED) == 2


def test_registered_values_are_redacted_anywhere(log_output: io.StringIO) -> None:
    secrets.add(API_KEY)
    structlog.get_logger("t").info(f"request with key {API_KEY}", detail=[f"x{API_KEY}y"])
    line = log_output.getvalue()
    assert API_KEY not in line
    assert "request with key [REDACTED]" in line


def test_stdlib_records_and_tracebacks_are_redacted(log_output: io.StringIO) -> None:
    secrets.add(TOKEN)
    logging.getLogger("aiohttp.access").warning("GET /sse?token=%s", TOKEN)
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        structlog.get_logger("t").exception("boom")
    text = log_output.getvalue()
    assert TOKEN not in text
    assert "failed with [REDACTED]" in text


def test_stdlib_extra_fields_are_rendered_and_redacted(log_output: io.StringIO) -> None:
    secrets.add(TOKEN)
    logging.getLogger("handover_miaw.miaw.stream").warning(
        "miaw.stream_ended", extra={"stream": "ho_1", "state": "failed", "error": f"401 for {TOKEN}"}
    )
    record = json.loads(log_output.getvalue())
    assert (record["event"], record["stream"], record["state"]) == ("miaw.stream_ended", "ho_1", "failed")
    assert record["error"] == f"401 for {REDACTED}"


def test_manifest_secret_keys_are_redacted(log_output: io.StringIO) -> None:
    secrets.add_keys(["myCustomSecretField"])
    structlog.get_logger("t").info("settings", settings={"myCustomSecretField": "abc", "sendTranscript": True})
    line = log_output.getvalue()
    assert '"abc"' not in line
    assert '"sendTranscript": true' in line


def test_discarded_values_are_forgotten_and_others_still_redacted(log_output: io.StringIO) -> None:
    first, second = "first-secret-value-123", "second-secret-value-456"
    secrets.add(first, second)
    size = len(secrets)
    secrets.discard(first, "never-registered-value")
    assert len(secrets) == size - 1
    structlog.get_logger("t").info(f"{first} {second}")
    line = log_output.getvalue()
    assert first in line
    assert second not in line


def test_short_values_never_rewrite_ordinary_words(log_output: io.StringIO) -> None:
    # A too-short webhook secret ("a") once turned "characters" into "ch[REDACTED]r[REDACTED]cters".
    short = ["a", "short", "ch", "x" * (MIN_SECRET_LENGTH - 1)]
    secrets.add(*short)
    structlog.get_logger("t").info("connector.refused", reason="/delivery/secret: is shorter than 16 characters")
    record = json.loads(log_output.getvalue())
    assert record["reason"] == "/delivery/secret: is shorter than 16 characters"
    assert not any(value in secrets for value in short)


def test_a_value_of_the_threshold_length_is_redacted(log_output: io.StringIO) -> None:
    value = "k" * MIN_SECRET_LENGTH
    secrets.add(value)
    try:
        structlog.get_logger("t").info("call", detail=f"key={value}")
    finally:
        secrets.discard(value)  # the registry is the process's own: leave no value behind for other tests
    assert json.loads(log_output.getvalue())["detail"] == f"key={REDACTED}"


class _Probe(dict[str, str]):
    """A field value that tells whether anything read it."""

    reads = 0

    def items(self) -> Any:
        _Probe.reads += 1
        return super().items()


def test_a_line_below_the_level_is_dropped_before_any_processor_reads_it() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", json=True, stream=stream)
    try:
        _Probe.reads = 0
        structlog.get_logger("t").debug("below", detail=_Probe(a="b"))
        structlog.get_logger("t").info("below", detail=_Probe(a="b"))
        assert _Probe.reads == 0
        structlog.get_logger("t").warning("at", detail=_Probe(a="b"))
        assert _Probe.reads == 1
        assert stream.getvalue().count("\n") == 1
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


def _access_lines(log_output: io.StringIO, path: str) -> list[dict[str, Any]]:
    """The access line of one request, written by aiohttp's AccessLogger and by the runtime's."""
    request = make_mocked_request("POST", path, headers={"User-Agent": "bot/1.0", "Referer": "https://example.org/"})
    response = web.Response(status=202, body=b'{"ok": true}')
    logger = logging.getLogger("aiohttp.access")
    for kind in (web.AccessLogger, AccessLogger):
        kind(logger, web.AccessLogger.LOG_FORMAT).log(request, response, 0.25)
    return [json.loads(line) for line in log_output.getvalue().splitlines()]


def test_the_runtime_access_line_has_aiohttp_fields_and_is_redacted(log_output: io.StringIO) -> None:
    secrets.add(TOKEN)
    theirs, ours = _access_lines(log_output, f"/v1/handovers/h1/messages?token={TOKEN}")
    assert TOKEN not in log_output.getvalue()
    assert ours["first_request_line"] == f"POST /v1/handovers/h1/messages?token={REDACTED} HTTP/1.1"
    assert ours["request_header"] == {"Referer": "https://example.org/", "User-Agent": "bot/1.0"}
    assert list(ours) == list(theirs)
    assert ours["timestamp"].endswith("Z")
    for line in (ours, theirs):
        del line["timestamp"]  # each stamped as it was written
    assert ours == theirs


def test_a_secret_in_a_header_of_the_access_line_is_redacted_in_every_field(log_output: io.StringIO) -> None:
    # The line is redacted field by field only when its message holds a secret: this one's is in a header.
    secrets.add(TOKEN)
    request = make_mocked_request("GET", "/healthz", headers={"User-Agent": f"bot/{TOKEN}", "Referer": "-"})
    AccessLogger(logging.getLogger("aiohttp.access"), "").log(request, web.Response(status=200), 0.01)
    line = json.loads(log_output.getvalue())
    assert TOKEN not in log_output.getvalue()
    assert line["request_header"]["User-Agent"] == f"bot/{REDACTED}"
    assert line["event"].endswith(f'"bot/{REDACTED}"')


def test_an_access_field_under_a_key_declared_secret_is_redacted(
    log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = SecretRegistry()
    monkeypatch.setattr(logs, "secrets", registry)
    _access_lines(log_output, "/v1/handovers/h0/messages")  # the line's shape seen before the key is declared
    log_output.truncate(0)
    log_output.seek(0)
    registry.add_keys(["Referer"])
    theirs, ours = _access_lines(log_output, "/v1/handovers/h1/messages")
    assert ours["request_header"] == {"Referer": REDACTED, "User-Agent": "bot/1.0"}
    del ours["timestamp"], theirs["timestamp"]
    assert ours == theirs


def test_the_runtime_access_line_on_a_terminal_is_rendered_by_the_console_renderer() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    try:
        request = make_mocked_request("GET", "/healthz")
        AccessLogger(logging.getLogger("aiohttp.access"), "").log(request, web.Response(status=200), 0.01)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    text = stream.getvalue()
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert not text.lstrip().startswith("{")


def _raise_with_a_secret_in_scope() -> None:
    held = {"accessToken": TOKEN}  # a local variable, as a handover record holding its token would be
    raise RuntimeError(f"failed with {len(held)} field(s)")


def test_an_exception_on_a_terminal_is_rendered_as_text_and_redacted() -> None:
    # The console renderer formatted exceptions itself, after redaction: with rich installed, every frame's
    # local variables too (a record and its token).
    secrets.add(TOKEN)
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    try:
        try:
            _raise_with_a_secret_in_scope()
        except RuntimeError:
            structlog.get_logger("t").exception("handover.failed", detail=f"token {TOKEN}")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "RuntimeError: failed with 1 field(s)" in text
    assert "_raise_with_a_secret_in_scope" in text
    assert TOKEN not in text
    assert f"token {REDACTED}" in text


def test_an_exception_passed_outside_its_except_block_keeps_its_traceback(log_output: io.StringIO) -> None:
    try:
        _raise_with_a_secret_in_scope()
    except RuntimeError as caught:
        error = caught
    logging.getLogger("handover_miaw.miaw.stream").error("miaw.stream_bug", exc_info=error)
    line = json.loads(log_output.getvalue())
    assert "RuntimeError: failed with 1 field(s)" in line["exception"]


def test_a_warning_goes_through_the_redacted_log() -> None:
    # aiohttp warns of a malformed Content-Disposition with the client's bytes in the message.
    import warnings

    secrets.add(TOKEN)
    stream = io.StringIO()
    logging.captureWarnings(False)  # as a fresh process: pytest's own warning capture was set up around the test
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("INFO", json=True, stream=stream)
        try:
            warnings.warn(f"BadContentDispositionParam: filename*=utf-8''{TOKEN}.txt", UserWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
            logging.getLogger().handlers.clear()
            structlog.reset_defaults()
    line = json.loads(stream.getvalue())
    assert line["logger"] == "py.warnings"
    assert TOKEN not in stream.getvalue()
    assert REDACTED in line["event"]


def test_a_line_that_cannot_be_written_is_reported_without_its_text() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise ValueError(f"cannot show {TOKEN}")

    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        logging.getLogger("t").warning("value %s with %s", Unprintable(), TOKEN)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    text = stream.getvalue()
    assert TOKEN not in text
    assert "--- a WARNING line of t could not be written: ValueError" in text

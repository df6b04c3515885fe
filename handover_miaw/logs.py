"""Logging, configured once at the entry point: structlog, JSON when not a TTY, secrets redacted.

Secrets are declared, not guessed: fields the manifest types `secret`, a fixed list of sensitive names
(access token, Authorization, API key, webhook secret) and every secret value registered at run time
(API keys at start, webhook secrets as connectors load, access tokens as MIAW issues them) are replaced
in every log line, whichever logger wrote it — the standard library's records (aiohttp's) go through the
same processors.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import orjson
import structlog

from handover_miaw.timestamps import iso_utc_micros

__all__ = [
    "DELIVERY_SECRETS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SecretRegistry",
    "configure_logging",
    "redact_processor",
    "secrets",
]

REDACTED = "[REDACTED]"
# Values are registered for redaction by value only from this length on: a short one ("a", "short")
# would rewrite the middle of ordinary words in every line ("ch[REDACTED]racters"). Real tokens and keys
# are far longer (webhook secrets >= 16, access tokens hundreds); a short value under a secret key is
# still redacted by its key.
MIN_SECRET_LENGTH = 8
SENSITIVE_KEYS = frozenset(
    name.lower()
    for name in (
        "accessToken",
        "access_token",
        "authorization",
        "apiKey",
        "api_key",
        "x-api-key",
        "secret",
        "webhookSecret",
        "webhook_secret",
        "identityToken",
        "identity_token",
        "customerIdentityToken",
        "urlToken",
        "password",
        "token",
    )
)

# Tuples of field names whose verdict any_secret_key keeps: a few line shapes, never one per line.
_KEY_VERDICTS = 64

# The delivery target fields whose values are secret (registered as each connector is stored).
DELIVERY_SECRETS = ("secret", "apiKey", "urlToken")


class SecretRegistry:
    """Secret values seen at run time, and the keys declared secret by the manifest."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._keys: set[str] = set(SENSITIVE_KEYS)
        self._lock = threading.Lock()
        # (-length, value), longest first, so a secret that contains another is redacted whole, and
        # `scrub_text` skips by bisection every secret longer than the text (most log values are short
        # ids; access tokens are long). Scanning every secret for every string made each log line cost
        # O(live handovers), so starting one slowed down as handovers piled up (`python -m bench concurrency`).
        self._sorted: list[tuple[int, str]] = []
        self._ordered: tuple[tuple[int, str], ...] = ()
        # any_secret_key's answers, per tuple of names; forgotten when keys are added.
        self._key_verdicts: dict[tuple[str, ...], bool] = {}

    def add(self, *values: str | None) -> None:
        """Register secret values so they never appear in a log line."""
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
                    self._values.add(value)
                    bisect.insort(self._sorted, (-len(value), value))
            self._ordered = tuple(self._sorted)

    def add_supplied(self, value: str | None) -> None:
        """Register a token an API caller supplied (an identity token), if it is shaped like one (a JWT: its
        header is base64url JSON, so it starts with `eyJ`). Anything else a caller sends is not registered:
        `handover` sent as an identity token was redacted from every later line of the process, logger
        names and events included. Values under secret keys are redacted by their key either way."""
        if value is not None and value.startswith("eyJ") and value.count(".") >= 2:
            self.add(value)

    def discard(self, *values: str | None) -> None:
        """Forget secret values that are no longer in use (an ended handover's tokens), so the registry
        does not grow for the life of the process. Key-based redaction still covers them."""
        with self._lock:
            for value in values:
                if value and value in self._values:
                    self._values.discard(value)
                    del self._sorted[bisect.bisect_left(self._sorted, (-len(value), value))]
            self._ordered = tuple(self._sorted)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def add_keys(self, keys: Iterable[str]) -> None:
        """Register field names whose values are secret (the manifest's `secret` fields)."""
        with self._lock:
            self._keys.update(k.lower() for k in keys)
            self._key_verdicts = {}

    def is_secret_key(self, key: str) -> bool:
        """True when a value under this key must be redacted."""
        return key.lower() in self._keys

    def any_secret_key(self, keys: tuple[str, ...]) -> bool:
        """True when one of these field names is secret; remembered per tuple, for lines that always carry
        the same fields (the access line)."""
        verdicts = self._key_verdicts  # replaced, not cleared, by add_keys: a verdict never outlives its keys
        verdict = verdicts.get(keys)
        if verdict is None:
            verdict = any(self.is_secret_key(key) for key in keys)
            if len(verdicts) < _KEY_VERDICTS:
                verdicts[keys] = verdict
        return verdict

    def scrub_text(self, text: str) -> str:
        """Replace every registered secret value inside a string."""
        ordered = self._ordered
        for index in range(bisect.bisect_left(ordered, (-len(text),)), len(ordered)):
            value = ordered[index][1]
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def scrub(self, value: Any, key: str | None = None) -> Any:
        """Redact a value recursively: by key name, then by registered secret values."""
        if key is not None and self.is_secret_key(key) and value not in (None, "", False):
            return REDACTED
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub_text(f"{type(value).__name__}: {value}")
        return value


secrets = SecretRegistry()


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of the event, including the rendered exception."""
    # exc_info passes as it is: scrubbed into a list, structlog took it for a flag and rendered whatever
    # exception was being handled instead (none, for one logged outside an except block). Its rendered text
    # is scrubbed after formatting (_scrub_rendered).
    return {key: value if key == "exc_info" else secrets.scrub(value, key) for key, value in event_dict.items()}


def _scrub_rendered(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Tracebacks are rendered into text by an earlier processor; scrub that text too.
    if "exception" in event_dict and isinstance(event_dict["exception"], str):
        event_dict["exception"] = secrets.scrub_text(event_dict["exception"])
    return event_dict


# The fields of aiohttp's default access line (`%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`), as its
# AccessLogger and api.access_log pass them in `extra`.
_ACCESS_FIELDS = (
    "remote_address",
    "request_start_time",
    "first_request_line",
    "response_status",
    "response_size",
    "request_header",
)


class _JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """The JSON formatter, with a short way for access lines: the same keys in the same order (event, level,
    logger, timestamp, the access fields) and the same redaction, without copying the record and running the
    chain for foreign records, which cost a visible share of the CPU of each request `serve` answers; rendered
    by orjson, so without the spaces the other lines have after `:` and `,`."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        if record.name != "aiohttp.access" or "first_request_line" not in fields or record.exc_info:
            return super().format(record)
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": iso_utc_micros(record.created),
        }
        event.update((name, fields[name]) for name in _ACCESS_FIELDS if name in fields)
        try:
            if not _needs_redaction(event):
                return orjson.dumps(event).decode()
            return orjson.dumps(redact_processor(None, "", event)).decode()
        except orjson.JSONEncodeError:
            # Header bytes that are not UTF-8 reach the line as lone surrogates, which orjson refuses: the
            # logging module then printed the raw line (a key in its query unredacted) and dropped it.
            return super().format(record)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stream handler, saying of a line it could not write only which logger's it was: the logging
    module's own report prints the record's message and arguments, unredacted."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        with contextlib.suppress(Exception):  # the stream itself failed: nowhere is left to say so
            self.stream.write(f"--- a {record.levelname} line of {record.name} could not be written: "
                              f"{type(error).__name__} (its text is not shown: it may hold a secret)\n")  # fmt: skip


def _needs_redaction(access: dict[str, Any]) -> bool:
    """Whether redacting an access line could change it, decided with one scan of its message instead of
    one per field (redacting every field was the larger part of the line's cost). The message is the
    rendered line, so a field value found inside it holds no secret when the message holds none; any other
    value is scanned on its own. A secret anywhere, or a key declared secret, sends the line through the
    full redaction, as every other line goes."""
    message = access["event"]
    if secrets.scrub_text(message) != message:
        return True
    names: list[str] = [*access]
    for value in access.values():
        if isinstance(value, dict):
            names.extend(value)
        for item in value.values() if isinstance(value, dict) else (value,):
            if isinstance(item, str):
                if item not in message and secrets.scrub_text(item) != item:
                    return True
            elif not isinstance(item, int | float | None):
                return True  # a shape this check does not walk: the full redaction does
    return secrets.any_secret_key(tuple(names))


def configure_logging(level: str = "INFO", *, json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog and the standard library once; JSON unless writing to a terminal."""
    stream = stream or sys.stderr
    as_json = json if json is not None else not stream.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
    ]
    # Exceptions are rendered to text, then scrubbed, on a terminal too: the console renderer formatted them
    # itself after redaction, with each frame's local variables when rich is installed (records with tokens).
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback)
    )
    tail: list[Any] = [structlog.processors.format_exc_info, _scrub_rendered]
    structlog.configure(
        # filter_by_level first: a line below the level is dropped before the chain runs (time stamp,
        # redaction of every field), not after it; the outbox's debug line per delivery was a visible share
        # of the runtime's fan-in CPU even at WARNING.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    # The protocol layer logs through the standard library with its fields in `extra` (it depends on
    # nothing of ours); ExtraAdder puts them on the line, ahead of redaction.
    foreign = [*shared[:-1], structlog.stdlib.ExtraAdder(), redact_processor]
    formatter = (_JsonFormatter if as_json else structlog.stdlib.ProcessorFormatter)(
        foreign_pre_chain=foreign,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
    )
    # No line shows the thread, process or process name a record carries, and gathering them costs a
    # getpid system call and two lookups per line (the standard library's documented switches for it).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = _Handler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Warnings (aiohttp warns of a malformed Content-Disposition, quoting the client's bytes) go through the
    # same redaction instead of straight to stderr.
    logging.captureWarnings(True)

"""A small, pure, incremental Server-Sent Events parser (WHATWG HTML, "Parsing an event stream").

Feed it bytes as they arrive; it returns the events completed by those bytes. No I/O, no event loop.

Why hand-written: aiohttp-sse-client (0.2.1, and its fork 0.3.0) was measured here to strip every
leading space of a data line (the spec strips exactly one), merge events on CR-only line endings, fail
on an event over 512 KiB, mutate the caller's headers dict, and end the stream with an exception
instead of reconnecting on an abrupt drop, a 5xx, a stall, or a server that is down at reconnect time.
The MIAW connector needs its own reconnect loop anyway (a stored cursor, fresh headers per attempt for a
renewed token, jittered backoff, a read timeout as liveness check, typed 4xx errors), so the only part
worth reusing would have been the parser, and that is the part that was wrong. The loop lives in
`stream.py`; this module is the parser only.

Spec points implemented (each has a test): UTF-8 decoding across chunk boundaries (invalid bytes become
U+FFFD) with one leading BOM dropped; CRLF, LF and CR line endings, including a CRLF split between
chunks; `:` comments; exactly one space stripped after the colon; a line without a colon is a field
with an empty value; `data` lines joined by LF; `id` containing NUL ignored; `retry` only when all ASCII
digits; an event without data is not dispatched; the last event id persists across events; an
unterminated event at end of stream is discarded (the caller simply stops feeding).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from handover_miaw.digits import ascii_digits

__all__ = ["DEFAULT_MAX_EVENT_CHARS", "SSEParser", "ServerSentEvent"]

_LINE_END = re.compile(r"\r\n|\r|\n")

# Far above any MIAW entry (a few KiB) and above the 512 KiB case a test pins; bounds memory
# against a server that never ends a line.
DEFAULT_MAX_EVENT_CHARS = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event. `id` is the stream's last event id at dispatch ('' if none yet)."""

    event: str
    data: str
    id: str
    retry: int | None
    oversized: bool = False
    """The event grew past `max_event_chars`: its data was dropped (`data` is empty), its id kept."""


class SSEParser:
    """Incremental parser. `last_event_id` and `retry` (ms) reflect everything fed so far."""

    def __init__(self, *, max_event_chars: int = DEFAULT_MAX_EVENT_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_event_chars = max_event_chars
        self._at_stream_start = True
        self._pending_cr = False
        self._line_parts: list[str] = []
        self._line_chars = 0
        self._skip_line = False  # the rest of an oversized line is dropped up to its end
        self._oversized = False  # the event being read grew too large: its data is dropped up to its end
        self._data: list[str] = []
        self._data_chars = 0
        self._event_type = ""
        self._last_event_id = ""
        self._retry: int | None = None

    @property
    def last_event_id(self) -> str:
        """The last event id buffer: what a reconnect sends as Last-Event-ID."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds, if the server set one."""
        return self._retry

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse `chunk` and return the events it completed.

        An event that grows past `max_event_chars` is dispatched without its data, marked `oversized`
        (memory stays bounded, and the stream moves past it instead of failing on it at every reconnect).
        """
        text = self._decoder.decode(chunk)
        if self._at_stream_start and text:
            self._at_stream_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        events: list[ServerSentEvent] = []
        start = 0
        if self._pending_cr and text:
            # A CR ended the previous chunk: an LF starting this one belongs to that CRLF.
            self._pending_cr = False
            if text[0] == "\n":
                start = 1
        if "\r" not in text:
            # LF alone ends lines (as MIAW's stream does): str.split instead of the regex and one join per
            # line, for half the parser's cost per event.
            lines = text[start:].split("\n") if start else text.split("\n")
            tail = lines.pop()
            if lines:
                if self._skip_line:  # the first line ends the dropped one: nothing of it is read
                    self._skip_line = False
                    lines.pop(0)
                if self._line_parts:
                    lines[0] = "".join(self._line_parts) + lines[0]
                    self._line_parts.clear()
                    self._line_chars = 0
                for line in lines:
                    self._process_line(line, events)
            if tail and not self._skip_line:
                self._line_parts.append(tail)
                self._line_chars += len(tail)
                self._check_size()
            return events
        for match in _LINE_END.finditer(text, start):
            if self._skip_line:
                self._skip_line = False
            else:
                self._line_parts.append(text[start : match.start()])
                line = "".join(self._line_parts)
                self._line_parts.clear()
                self._line_chars = 0
                self._process_line(line, events)
            start = match.end()
            if match.group() == "\r" and start == len(text):
                self._pending_cr = True
        if start < len(text) and not self._skip_line:
            self._line_parts.append(text[start:])
            self._line_chars += len(text) - start
            self._check_size()
        return events

    def _check_size(self) -> None:
        """Past the limit, drop the line being read up to its end and, unless that line is no data line (a
        comment, an unknown field), what the event holds: a long comment spanning reads cost the next event
        its data."""
        if self._line_chars + self._data_chars <= self._max_event_chars:
            return
        if self._line_parts:
            head = ""
            for part in self._line_parts:
                head += part[:5]
                if len(head) >= 5:
                    break
            # A line cut by the read inside its field name ("da") may still be a data line: taken for one.
            data_line = "data:".startswith(head[:5])
            self._line_parts.clear()
            self._line_chars = 0
            self._skip_line = True
            if not data_line:
                return
        self._oversized = True
        self._data, self._data_chars = [], 0

    def _process_line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            if not self._oversized:
                self._data.append(value)
                self._data_chars += len(value) + 1
                self._check_size()
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\x00" not in value:
                self._last_event_id = value
        elif field == "retry" and ascii_digits(value):
            self._retry = int(value)
        # Any other field name is ignored, as the spec says.

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        data, event_type, oversized = self._data, self._event_type, self._oversized
        self._data, self._data_chars, self._event_type, self._oversized = [], 0, "", False
        if not data and not oversized:
            return
        events.append(
            ServerSentEvent(
                event=event_type or "message",
                data="\n".join(data),
                id=self._last_event_id,
                retry=self._retry,
                oversized=oversized,
            )
        )

"""Node settings → MIAW request values. Pure: routing attributes, language, transcript, Copilot link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from handover_miaw.handovers.node_settings import NodeSettings

__all__ = [
    "TRANSCRIPT_LIMIT",
    "conversation_language",
    "copilot_url",
    "routing_attributes",
    "transcript_messages",
]

TRANSCRIPT_LIMIT = 3000
_SPEAKERS = {"user": "User", "bot": "Bot", "agent": "Agent"}


def conversation_language(settings: NodeSettings, requested: str | None) -> str | None:
    """The `language` routing attribute wins over the request's language."""
    return settings.routing_attributes.get("language") or requested


def routing_attributes(settings: NodeSettings, *, copilot: tuple[str, str] | None = None) -> dict[str, str]:
    """The routing attributes sent to MIAW: the node's pairs (minus `language`, which MIAW takes as its own
    parameter) plus the Copilot link under its configured attribute name."""
    attributes = {k: v for k, v in settings.routing_attributes.items() if k != "language"}
    if copilot is not None:
        name, url = copilot
        attributes[name] = url
    return attributes


def copilot_url(template: str, *, user_id: str, session_id: str, url_token: str) -> str:
    """Fill the Copilot URL template; values are percent-encoded so they cannot change the URL's shape."""
    values = {"userId": user_id, "sessionId": session_id, "urlToken": url_token}
    return template.format(**{key: quote(value, safe="") for key, value in values.items()})


def _transcript_lines(transcript: Sequence[Mapping[str, Any]]) -> list[str]:
    # Stable sort: turns with equal (or missing) timestamps keep the order the platform gave them.
    ordered = sorted(enumerate(transcript), key=lambda pair: (str(pair[1].get("timestamp") or ""), pair[0]))
    lines = []
    for _, turn in ordered:
        text = " ".join(str(turn.get("text", "")).split())
        if text:
            lines.append(f"{_SPEAKERS.get(str(turn.get('source')), 'Bot')}: {text}")
    return lines


def _split_line(line: str, limit: int) -> list[str]:
    """Split one over-long line at spaces; a single word longer than the limit is cut (nothing else fits)."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def transcript_messages(transcript: Sequence[Mapping[str, Any]], limit: int = TRANSCRIPT_LIMIT) -> list[str]:
    """The transcript as agent-readable messages: one line per turn naming who spoke, oldest first,
    each message at most `limit` characters, split between lines or else between words."""
    messages: list[str] = []
    current = ""
    for line in _transcript_lines(transcript):
        for piece in _split_line(line, limit) if len(line) > limit else [line]:
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages

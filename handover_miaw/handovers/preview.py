"""What Salesforce will receive for a node's settings and a transcript. Pure: the same mapping functions
the start of a handover calls (handovers/start.py), so the preview cannot drift from what is sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handover_miaw.handovers.mapping import conversation_language, routing_attributes, transcript_messages
from handover_miaw.handovers.node_settings import NodeSettings

__all__ = ["preview"]


def preview(
    settings: Mapping[str, Any], transcript: Sequence[Mapping[str, Any]], language: str | None = None
) -> dict[str, Any]:
    """The conversation-create values and the transcript messages, for settings that carry their defaults.

    The Copilot link is left out: it needs a connector and a per-handover URL token.
    """
    node = NodeSettings.of(settings)
    conversation: dict[str, Any] = {}
    attributes = routing_attributes(node)
    if attributes:
        conversation["routingAttributes"] = attributes
    if chosen := conversation_language(node, language):
        conversation["language"] = chosen
    messages = transcript_messages(transcript) if node.send_transcript else []
    return {"conversation": conversation, "transcriptMessages": messages}

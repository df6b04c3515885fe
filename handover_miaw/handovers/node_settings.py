"""The Handover node's "Salesforce MIAW Settings" as one typed view, read once per use from the stored
settings (which carry the manifest's defaults from the start on). Pure.

Every key the manifest declares for the node has an attribute here, and nothing else
(tests/handovers/test_node_settings.py holds the two against each other), so a field added to the manifest
without its meaning in the runtime fails a test instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MANIFEST_KEYS", "NodeSettings"]

# Attribute name → the manifest field key it is read from.
MANIFEST_KEYS = {
    "send_transcript": "sendTranscript",
    "routing_attributes": "routingAttributes",
    "use_identity_token": "useIdentityToken",
    "identity_token": "identityToken",
    "user_connects_message": "userConnectsMessage",
    "user_connects_text": "userConnectsText",
    "user_disconnects_message": "userDisconnectsMessage",
    "user_disconnects_text": "userDisconnectsText",
    "end_on_participant_change": "endOnParticipantChange",
}


def _text(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What the node's settings ask of a handover."""

    send_transcript: bool = False
    routing_attributes: dict[str, str] = field(default_factory=dict)
    use_identity_token: bool = False
    identity_token: str | None = None
    user_connects_message: bool = False
    user_connects_text: str | None = None
    user_disconnects_message: bool = False
    user_disconnects_text: str | None = None
    end_on_participant_change: bool = False

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> NodeSettings:
        """The view of a handover's stored settings."""
        attributes = settings.get("routingAttributes") or {}
        return cls(
            send_transcript=bool(settings.get("sendTranscript")),
            routing_attributes={str(k): str(v) for k, v in attributes.items()},
            use_identity_token=bool(settings.get("useIdentityToken")),
            identity_token=_text(settings.get("identityToken")),
            user_connects_message=bool(settings.get("userConnectsMessage")),
            user_connects_text=_text(settings.get("userConnectsText")),
            user_disconnects_message=bool(settings.get("userDisconnectsMessage")),
            user_disconnects_text=_text(settings.get("userDisconnectsText")),
            end_on_participant_change=bool(settings.get("endOnParticipantChange")),
        )

    @staticmethod
    def ends_on_participant_change(settings: Mapping[str, Any]) -> bool:
        """The one setting every transition needs (`of(settings).end_on_participant_change`), read alone:
        building the whole view per agent event was 2% of fan-in's CPU."""
        return bool(settings.get("endOnParticipantChange"))

    def presence_notice(self, connected: bool) -> str | None:
        """The text the agent gets when the user comes back or leaves; None when the node does not ask for it."""
        if connected:
            return self.user_connects_text if self.user_connects_message else None
        return self.user_disconnects_text if self.user_disconnects_message else None

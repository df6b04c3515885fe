"""The typed view of the node's settings against the manifest that declares them."""

from __future__ import annotations

from dataclasses import fields

from handover_miaw.handovers.node_settings import MANIFEST_KEYS, NodeSettings
from handover_miaw.manifest import load_manifest


def test_every_node_field_of_the_manifest_has_an_attribute_and_no_attribute_is_made_up() -> None:
    declared = {f.key for f in load_manifest().node_fields if f.type != "section"}
    assert set(MANIFEST_KEYS.values()) == declared
    assert set(MANIFEST_KEYS) == {f.name for f in fields(NodeSettings)}


def test_the_view_of_settings_with_the_manifest_defaults() -> None:
    node = NodeSettings.of(load_manifest().node_with_defaults({"routingAttributes": {"Brand__c": 7}}))
    assert node.routing_attributes == {"Brand__c": "7"}
    assert (node.send_transcript, node.use_identity_token, node.identity_token) == (False, False, None)
    assert node.presence_notice(True) == "The user is back in the conversation."
    assert node.presence_notice(False) == "The user has left the conversation."


def test_each_attribute_reads_its_own_key() -> None:
    stored = {
        "sendTranscript": True,
        "useIdentityToken": True,
        "identityToken": "eyJ.x.y",
        "userConnectsMessage": False,
        "userConnectsText": "back",
        "userDisconnectsMessage": True,
        "userDisconnectsText": "gone",
        "endOnParticipantChange": True,
    }
    node = NodeSettings.of(stored)
    assert (node.send_transcript, node.use_identity_token, node.end_on_participant_change) == (True, True, True)
    assert node.identity_token == "eyJ.x.y"
    assert node.presence_notice(True) is None  # switched off: the text alone does not send it
    assert node.presence_notice(False) == "gone"


def test_the_setting_read_per_transition_alone_agrees_with_the_view() -> None:
    for stored in ({}, {"endOnParticipantChange": True}, {"endOnParticipantChange": False}, {"sendTranscript": True}):
        assert NodeSettings.ends_on_participant_change(stored) is NodeSettings.of(stored).end_on_participant_change

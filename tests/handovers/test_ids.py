"""Identifiers the runtime makes: derived message ids are stable, lowercase version-4 UUIDs."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from handover_miaw.handovers.ids import derived_message_id, new_handover_id, new_miaw_id


@pytest.mark.parametrize(
    "parts",
    [("ho_0123", "user", "m-1"), ("ho_" + "f" * 32, "transcript", "17"), ("x",), ("ho_1", "notice", "queued")],
)
def test_derived_id_is_the_stamped_hash(parts: tuple[str, ...]) -> None:
    # The spelling a stored id was made with before must not change: a re-send after an upgrade reuses it.
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()[:16]
    assert derived_message_id(*parts) == str(uuid.UUID(bytes=digest, version=4))


def test_derived_ids_are_v4_and_tell_parts_apart() -> None:
    ids = {derived_message_id("ho_1", "user", str(n)) for n in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == value  # lowercase, hyphenated
    assert derived_message_id("a", "bc") != derived_message_id("ab", "c")


def test_new_ids() -> None:
    assert uuid.UUID(new_miaw_id()).version == 4
    handover_id = new_handover_id()
    assert handover_id.startswith("ho_")
    assert len(handover_id) == 35

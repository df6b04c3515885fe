"""A page cursor is read only in the form an engine writes it (a handovers cursor whose time part Python's
float() took but Redis did not, `1_0` or Arabic-Indic digits, was a 500 on Redis; SQLite read it as a
position it never issued), and every cursor an engine does write is read back, however its score is spelled."""

from __future__ import annotations

import pytest

from handover_miaw.store import Store
from handover_miaw.store.records import ConnectorRecord
from tests.store.factories import T0, handover

# Shaped as each engine's cursor (`score:order:id` on Redis, `created_at:rowid` on SQLite) but for the score.
NOT_ISSUED = [
    "1_0:0123456789abcdef:h1",
    "\u0661:0123456789abcdef:h1",
    " 1:0123456789abcdef:h1",
    "1.:0123456789abcdef:h1",
    "0x10:0123456789abcdef:h1",
    "1_0:1",
    "\u0661:1",
    "\uff11:1",
    " 1:1",
    "infinity:1",
]


@pytest.mark.parametrize("cursor", NOT_ISSUED)
async def test_a_handover_cursor_with_a_score_no_engine_writes_is_a_value_error(store: Store, cursor: str) -> None:
    await store.create_handover(handover("h1"))
    with pytest.raises(ValueError, match="not a handover cursor"):
        await store.handovers_page(None, 10, cursor)


async def test_every_cursor_an_engine_writes_is_read_back(store: Store) -> None:
    # Scores Redis writes with an exponent, with 17 digits or negative, and Python's repr of each.
    times = [-5.0, 1e-7, 0.1, 1 / 3, T0 + 0.123, 2.0**60, 1e20, 1e300]
    for n, created_at in enumerate(times):
        await store.create_handover(handover(f"h{n}", created_at=created_at))
    found, after = [], None
    while True:
        page = await store.handovers_page(None, 1, after)
        found.extend(h.id for h in page.items)
        if page.next is None:
            break
        after = page.next
    assert found == [f"h{n}" for n in reversed(range(len(times)))]


@pytest.mark.parametrize("cursor", ["", "\x00", "Acme", "a b", "caf\u00e9", "a" * 64])
async def test_a_connector_cursor_that_is_no_connector_name_is_a_value_error(
    store: Store, cursor: str
) -> None:
    await store.put_connector(ConnectorRecord("acme", {"baseUrl": "https://x"}, {"format": "sse"}, T0))
    with pytest.raises(ValueError, match="not a connector cursor"):
        await store.connectors_page(10, cursor)

"""Cursor paging on every list: every item found once across pages, in a stable order, on both engines."""

from __future__ import annotations

import pytest

from handover_miaw.store import Store
from handover_miaw.store.records import ConnectorRecord, DeliveryState, HandoverState, Page
from tests.store.factories import T0, Clock, handover, new_delivery


async def _all_pages(read: object, limit: int) -> tuple[list[object], int]:
    """Follow the cursors to the end; (items, pages read)."""
    items: list[object] = []
    after: str | None = None
    pages = 0
    while True:
        page: Page[object] = await read(limit, after)  # type: ignore[operator]
        items.extend(page.items)
        pages += 1
        assert len(page.items) <= limit
        if page.next is None:
            return items, pages
        after = page.next


async def test_113_dead_deliveries_are_all_found_across_pages(store: Store) -> None:
    for n in range(12):
        await store.create_handover(handover(f"h{n}"))
    ids = []
    for n in range(113):
        delivery_id = f"d{n:03d}"
        await store.record_event(f"h{n % 12}", f"e{n}", {}, [new_delivery(delivery_id, f"h{n % 12}")])
        await store.mark_dead(delivery_id, "gave up")
        ids.append(delivery_id)
    await store.record_event("h0", "live", {}, [new_delivery("still-pending", "h0")])

    found, pages = await _all_pages(lambda limit, after: store.deliveries_page(DeliveryState.DEAD, limit, after), 50)
    assert [d.id for d in found] == ids  # type: ignore[attr-defined]
    assert pages == 3
    assert await store.count_deliveries(DeliveryState.DEAD) == 113
    everything, _ = await _all_pages(lambda limit, after: store.deliveries_page(None, limit, after), 20)
    assert [d.id for d in everything] == [*ids, "still-pending"]  # type: ignore[attr-defined]

    assert await store.redrive("d112", T0)
    assert await store.count_deliveries(DeliveryState.DEAD) == 112


async def test_handover_pages_are_newest_first_and_stable_under_inserts(store: Store, clock: Clock) -> None:
    # Ties on created_at (same clock tick) are the hard case for a cursor.
    for n in range(23):
        await store.create_handover(handover(f"h{n:02d}", created_at=T0 + n // 5))
    await store.update_handover("h03", {"state": HandoverState.ENDED})
    expected = [h.id for h in await store.list_handovers(limit=100)]
    assert len(expected) == 23

    first = await store.handovers_page(None, 7)
    await store.create_handover(handover("newcomer", created_at=T0 + 100))  # before the first page: not seen
    await store.create_handover(handover("h99", created_at=T0))  # a tie with older ones, inserted later
    found, _ = await _all_pages(lambda limit, after: store.handovers_page(None, limit, after or first.next), 7)
    ids = [h.id for h in [*first.items, *found]]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i != "h99"] == expected
    assert "newcomer" not in ids

    ended, _ = await _all_pages(lambda limit, after: store.handovers_page("ended", limit, after), 1)
    assert [h.id for h in ended] == ["h03"]  # type: ignore[attr-defined]


async def test_connector_pages_are_by_name(store: Store) -> None:
    names = [f"c{n:02d}" for n in range(11)]
    for name in reversed(names):
        await store.put_connector(ConnectorRecord(name, {"baseUrl": "https://x"}, {"format": "sse"}, T0))
    found, pages = await _all_pages(store.connectors_page, 4)
    assert [c.name for c in found] == names  # type: ignore[attr-defined]
    assert pages == 3


@pytest.mark.parametrize("cursor", ["", "x", "1.5", "nan:1", "-1", "1" * 19, "1e400:00000000000000000001:h"])
async def test_a_cursor_the_engine_did_not_make_is_a_value_error(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        await store.deliveries_page(None, 10, cursor)
    with pytest.raises(ValueError, match="cursor"):
        await store.handovers_page(None, 10, cursor)

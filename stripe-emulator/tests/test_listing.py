"""Pagination of long lists: every page is right across the store's read batches."""

from __future__ import annotations

import stripe

from stripe_emulator import EmulatorServer
from stripe_emulator.store import Store

# More than two of Store.iter_all's batches of 100.
CUSTOMERS = 230


def test_event_pages_walk_a_long_log_forwards_and_backwards(emulator: EmulatorServer) -> None:
    for n in range(CUSTOMERS):
        stripe.Customer.create(email=f"c{n}@example.com")
    newest_first = [
        e.id for e in stripe.Event.list(type="customer.created", limit=100).auto_paging_iter()
    ]
    assert len(newest_first) == CUSTOMERS == len(set(newest_first))
    stored = [
        e["id"] for e in emulator.emulator.store.all("event") if e["type"] == "customer.created"
    ]
    assert newest_first == stored  # same order as the whole list read at once

    middle = newest_first[149]
    after = stripe.Event.list(type="customer.created", starting_after=middle, limit=100)
    assert [e.id for e in after.data] == newest_first[150:]
    assert after.has_more is False
    before = stripe.Event.list(type="customer.created", ending_before=middle, limit=100)
    assert [e.id for e in before.data] == newest_first[49:149]
    assert before.has_more is True
    first = stripe.Event.list(limit=3)
    assert len(first.data) == 3
    assert first.has_more is True


def test_iter_all_matches_all_across_equal_timestamps() -> None:
    store = Store(":memory:")
    for n in range(250):
        # Three creation seconds only: the keyset must break ties by insertion order.
        store.put({"id": f"obj_{n:03d}", "object": "thing", "created": 1_000 + n % 3})
    store.put({"id": "obj_gone", "object": "thing", "created": 1_001}, deleted=True)
    assert [o["id"] for o in store.iter_all("thing", batch=7)] == [
        o["id"] for o in store.all("thing")
    ]
    assert len(list(store.iter_all("thing", include_deleted=True))) == 251

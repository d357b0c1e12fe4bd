"""The per-event shortcuts of the pipeline: one read of the customer, one statement for the lock."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from djstripe.models import Customer

from subscriptions.models import MirrorWatermark
from subscriptions.webhooks.customers import customer_lookups_shared, customer_shared
from tests.billing_helpers import mirror_customer
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _customer_reads(queries: CaptureQueriesContext) -> int:
    return sum('FROM "djstripe_customer"' in q["sql"] for q in queries.captured_queries)


def test_a_customer_is_read_once_per_block_and_a_saved_row_replaces_it() -> None:
    customer = mirror_customer(make_user())
    with transaction.atomic(), customer_lookups_shared():
        with CaptureQueriesContext(connection) as queries:
            first = Customer._get_or_retrieve(id=customer.id)
            again, created = Customer._get_or_create_from_stripe_object(
                {"customer": customer.id}, "customer"
            )
            by_event = Customer._get_or_retrieve(id=customer.id)
        assert _customer_reads(queries) == 1
        assert again is first
        assert by_event is first
        assert created is False
        # A sync of the customer writes its row: from then on the saved row is shared.
        fresh = Customer.objects.get(id=customer.id)
        fresh.email = "new@example.com"
        fresh.save()
        assert customer_shared(customer.id) is fresh
        assert Customer._get_or_retrieve(id=customer.id).email == "new@example.com"
    # Outside the block nothing is shared: every lookup reads the database.
    assert customer_shared(customer.id) is None
    with CaptureQueriesContext(connection) as queries:
        Customer._get_or_retrieve(id=customer.id)
        Customer._get_or_retrieve(id=customer.id)
    assert _customer_reads(queries) == 2


def test_a_new_customer_row_is_not_shared_before_its_lookup_returns() -> None:
    """post_save of a new row may run in a savepoint that still rolls back."""
    user = make_user()
    with transaction.atomic(), customer_lookups_shared():
        customer = mirror_customer(user)
        assert customer_shared(customer.id) is None
        assert Customer._get_or_retrieve(id=customer.id) == customer
        assert customer_shared(customer.id) == customer
        customer.delete()
        assert customer_shared(customer.id) is None


def test_the_watermark_lock_is_one_statement_that_creates_or_returns_the_row() -> None:
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            created = MirrorWatermark.objects.locked("in_lock1")
        assert len(queries.captured_queries) == 1
        assert (created.event_created, created.event_id) == (MirrorWatermark.NONE, "")
        created.event_created, created.event_id = 1_800_000_000, "evt_1"
        created.save()
        again = MirrorWatermark.objects.locked("in_lock1")
    # The existing row comes back as it is (the upsert writes nothing of it).
    assert (again.pk, again.event_created, again.event_id) == (created.pk, 1_800_000_000, "evt_1")
    assert MirrorWatermark.objects.filter(object_id="in_lock1").count() == 1

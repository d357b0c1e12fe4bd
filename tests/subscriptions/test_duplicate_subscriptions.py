"""One live subscription per customer: Checkout expires other tabs, the pipeline cancels the rest.

Two paths: opening a Checkout expires the customer's other open sessions (the
two-tabs race), and a second live subscription that still appears (API,
dashboard, a race) is canceled by the webhook pipeline under one rule, with a
refund, a record, a staff alert and a user notification, each exactly once.
"""

from __future__ import annotations

import itertools
import random
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from djstripe.models import Customer

from notifications.models import Notification, StaffAlert
from subscriptions import services
from subscriptions.models import DuplicateSubscription, StripeEvent
from subscriptions.webhooks import duplicates
from tests.billing_helpers import access_now, tpath
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import _clear_faults, settled, wait_for

pytestmark = [pytest.mark.integration]


def _checkout(client: Client, price: str) -> str:
    response = client.post(tpath(client, "/billing/checkout/"), {"price": price})
    assert response.status_code == 303, response.content[:300]
    return str(response["Location"])


def _subscriptions(customer_id: str, status: str = "all") -> list[Any]:
    page = services.stripe_client().v1.subscriptions.list(
        {"customer": customer_id, "status": status, "limit": 100}
    )
    return list(page.data)


def _lookup_key(sub: Any) -> str:
    return str(sub["items"].data[0].price.lookup_key)


# --- Checkout: the last tab opened is the only one that can be paid ----------------------


@pytest.mark.django_db
def test_two_tabs_only_the_last_checkout_can_be_paid(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    starter_tab = _checkout(client, "starter_monthly")
    pro_tab = _checkout(client, "pro_monthly")  # both open before either is paid

    status, result = billing.complete_checkout(starter_tab)
    assert status == 400, result
    assert result["error"]["code"] == "checkout_session_not_open"
    assert result["error"]["session"]["status"] == "expired"

    status, result = billing.complete_checkout(pro_tab)
    assert status == 200, result
    redirect = urlsplit(result["redirect_url"])
    client.get(f"{redirect.path}?{redirect.query}")  # the success page syncs it

    customer_id = Customer.objects.get(subscriber__personal_for=user).id
    assert [_lookup_key(s) for s in _subscriptions(customer_id)] == ["pro_monthly"]
    assert access_now(user).plan_key == "pro"
    page = client.get(tpath(client, "/billing/")).content.decode()
    assert "Pro" in page
    assert "Starter" not in page


@pytest.mark.django_db
def test_going_back_to_the_first_tab_gives_a_fresh_checkout(
    client: Client, billing: Billing
) -> None:
    """Starter, then Pro, then Starter again: the replayed Starter session had expired."""
    user = make_user()
    client.force_login(user)
    first_starter = _checkout(client, "starter_monthly")
    pro_tab = _checkout(client, "pro_monthly")
    again = _checkout(client, "starter_monthly")

    assert billing.session_id(again) != billing.session_id(first_starter)
    status, result = billing.complete_checkout(pro_tab)
    assert status == 400, result
    assert result["error"]["session"]["status"] == "expired"
    status, result = billing.complete_checkout(again, card=None)
    assert status == 200, result
    customer_id = Customer.objects.get(subscriber__personal_for=user).id
    assert [_lookup_key(s) for s in _subscriptions(customer_id)] == ["starter_monthly"]


# --- The rule --------------------------------------------------------------------------------


def _sub(sub_id: str, *, status: str, amount: int, interval: str, created: int) -> dict[str, Any]:
    price = {"unit_amount": amount, "recurring": {"interval": interval, "interval_count": 1}}
    return {
        "id": sub_id,
        "status": status,
        "created": created,
        "items": {"data": [{"price": price, "quantity": 1}]},
    }


def test_the_kept_subscription_does_not_depend_on_the_order_seen() -> None:
    subs = [
        _sub("sub_starter_trial", status="trialing", amount=900, interval="month", created=100),
        _sub("sub_pro_new", status="active", amount=2900, interval="month", created=300),
        _sub("sub_pro_old", status="active", amount=2900, interval="month", created=200),
        _sub("sub_pro_yearly_cheaper", status="active", amount=29000, interval="year", created=50),
        _sub("sub_pro_unpaid", status="past_due", amount=99000, interval="month", created=10),
    ]
    winners = {
        min(order, key=duplicates.subscription_keeper_key)["id"]
        for order in itertools.permutations(subs)
    }
    # Good standing first, then the most per year (2900 x 12 > 29000), then the oldest.
    assert winners == {"sub_pro_old"}


# --- The pipeline: a duplicate that still appears is canceled once ----------------------------


def _staff_user() -> None:
    make_user(is_staff=True)  # the staff alert email goes to active staff users


def _attach_card(customer_id: str) -> str:
    pm = services.stripe_client().v1.payment_methods.attach(
        "pm_card_visa", {"customer": customer_id}
    )
    return str(pm.id)


def _price_id(lookup_key: str) -> str:
    return services.price_for_checkout(lookup_key=lookup_key).id


@pytest.mark.django_db(transaction=True)
def test_more_valuable_duplicate_made_through_the_api_replaces_the_trial(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    """The tester's state: Starter trialing and Pro active. Pro stays; the trial goes."""
    _staff_user()
    user = make_user()
    client.force_login(user)
    client.get(live_billing.subscribe(client, "starter_monthly", card=None))
    wait_for(settled(live_billing), what="starter checkout")
    customer_id = Customer.objects.get(subscriber__personal_for=user).id

    stripe = services.stripe_client()
    pro = stripe.v1.subscriptions.create(
        {
            "customer": customer_id,
            "items": [{"price": _price_id("pro_monthly")}],
            "default_payment_method": _attach_card(customer_id),
        }
    )
    wait_for(settled(live_billing), what="duplicate resolution")

    live = _subscriptions(customer_id, status="active") + _subscriptions(customer_id, "trialing")
    assert [s.id for s in live] == [pro.id]
    starter = next(s for s in _subscriptions(customer_id) if s.id != pro.id)
    assert starter.status == "canceled"
    assert not stripe.v1.refunds.list({"limit": 100}).data  # a trial: nothing was paid

    row = DuplicateSubscription.objects.get()
    assert (row.kept_subscription_id, row.canceled_subscription_id) == (pro.id, starter.id)
    assert (row.status_before, row.refunded_amount) == ("trialing", 0)
    access = access_now(user)
    assert (access.plan_key, access.status) == ("pro", "active")
    page = client.get(tpath(client, "/billing/")).content.decode()
    assert "Pro" in page

    notes = Notification.objects.filter(user=user, kind=Notification.Kind.DUPLICATE_CANCELED)
    assert [n.title for n in notes] == ["We canceled your duplicate Starter subscription"]
    assert "kept Pro" in notes[0].body
    assert "will not be charged" in notes[0].body
    # The canceled trial says nothing of its own ("ended" would be wrong: Pro goes on).
    assert not Notification.objects.filter(
        user=user, kind=Notification.Kind.SUBSCRIPTION_ENDED
    ).exists()
    alert = StaffAlert.objects.get(event_type=StaffAlert.DUPLICATE_EVENT_TYPE)
    assert (alert.object_id, alert.customer_id) == (starter.id, customer_id)
    wait_for(
        lambda: (
            StaffAlert.objects.filter(pk=alert.pk, emailed_at__isnull=False).exists()
            and not notes.filter(emailed_at__isnull=True).exists()
        ),
        what="the staff alert and the user's notification emailed",
    )


@pytest.mark.django_db(transaction=True)
def test_paid_duplicate_is_refunded_and_resolved_once_under_redelivery(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    _staff_user()
    status, result = live_billing.helper(
        "/_emulator/faults/delivery", {"duplicate": True, "shuffle_window_ms": 300}
    )
    assert status == 200, result
    user = make_user()
    client.force_login(user)
    client.get(live_billing.subscribe(client, "pro_monthly"))
    customer_id = Customer.objects.get(subscriber__personal_for=user).id
    stripe = services.stripe_client()
    starter = stripe.v1.subscriptions.create(
        {
            "customer": customer_id,
            "items": [{"price": _price_id("starter_monthly")}],
            "default_payment_method": _attach_card(customer_id),
        }
    )
    assert starter.status == "active"  # $9 charged
    wait_for(settled(live_billing), what="duplicate resolution")

    # Stripe delivers every event once more, in a shuffled order.
    for event in StripeEvent.objects.order_by("?"):
        status, _ = live_billing.helper(f"/_emulator/events/{event.stripe_id}/resend", {})
        assert status == 200
    wait_for(settled(live_billing), what="redeliveries")
    _clear_faults(live_billing)

    subs = {s.id: s for s in _subscriptions(customer_id)}
    assert subs[starter.id].status == "canceled"
    (pro,) = [s for s in subs.values() if s.id != starter.id]
    assert pro.status == "active"
    deleted = [
        e
        for e in stripe.v1.events.list({"type": "customer.subscription.deleted", "limit": 100}).data
        if e.data.object.id == starter.id
    ]
    assert len(deleted) == 1  # canceled once

    refunds = stripe.v1.refunds.list({"limit": 100}).data
    assert len(refunds) == 1
    # Canceled seconds after it started: the unused part is (almost) all of the $9.
    assert 890 <= refunds[0].amount <= 900
    assert refunds[0].reason == "duplicate"
    charge = stripe.v1.charges.retrieve(str(refunds[0].charge))
    assert charge.amount == 900

    row = DuplicateSubscription.objects.get()
    assert (row.canceled_subscription_id, row.kept_subscription_id) == (starter.id, pro.id)
    assert (row.refund_id, row.refunded_amount) == (refunds[0].id, refunds[0].amount)
    notes = Notification.objects.filter(user=user, kind=Notification.Kind.DUPLICATE_CANCELED)
    assert notes.count() == 1
    assert "on its way back to your card" in notes[0].body
    assert StaffAlert.objects.filter(event_type=StaffAlert.DUPLICATE_EVENT_TYPE).count() == 1
    kinds = sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))
    # Welcome to Pro, two receipts ($29 and the $9 now refunded), the duplicate: each once,
    # and no "welcome" or "ended" for the duplicate.
    assert kinds == sorted(
        [
            Notification.Kind.SUBSCRIPTION_STARTED,
            Notification.Kind.PAYMENT_SUCCEEDED,
            Notification.Kind.PAYMENT_SUCCEEDED,
            Notification.Kind.DUPLICATE_CANCELED,
        ]
    )
    assert access_now(user).plan_key == "pro"


@pytest.mark.django_db
def test_resolving_again_for_other_events_changes_nothing(
    client: Client, billing: Billing, django_capture_on_commit_callbacks: Any
) -> None:
    """Every event of the customer runs the check; only the first one acts."""
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly"))
    customer_id = Customer.objects.get(subscriber__personal_for=user).id
    stripe = services.stripe_client()
    starter = stripe.v1.subscriptions.create(
        {
            "customer": customer_id,
            "items": [{"price": _price_id("starter_monthly")}],
            "default_payment_method": _attach_card(customer_id),
        }
    )
    events = [f"evt_test_{i}" for i in range(4)]
    random.shuffle(events)
    resolved = [
        duplicates.subscription_duplicates_resolve(customer_id=customer_id, stripe_event_id=e)
        for e in events
    ]
    assert [len(r) for r in resolved] == [1, 0, 0, 0]
    assert stripe.v1.subscriptions.retrieve(starter.id).status == "canceled"
    assert len(stripe.v1.refunds.list({"limit": 100}).data) == 1
    assert Notification.objects.filter(kind=Notification.Kind.DUPLICATE_CANCELED).count() == 1
    assert StaffAlert.objects.filter(event_type=StaffAlert.DUPLICATE_EVENT_TYPE).count() == 1

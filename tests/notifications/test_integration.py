"""The real pipeline: emulator webhooks -> intake -> Celery worker -> notifications + emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from djstripe.models import Customer

from notifications.models import Notification
from subscriptions.models import StripeEvent
from subscriptions.services import stripe_client
from subscriptions.services import test_clock_advance as advance_clock
from tests.billing_helpers import access_now, personal_team
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, live_billing
from tests.subscriptions.test_webhook_pipeline import _subscribe, settled, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

__all__ = ["live_billing"]  # a fixture shared with the billing tests

Kind = Notification.Kind


def test_subscription_lifecycle_notifies_each_step_once(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    def settle(what: str) -> None:
        wait_for(settled(live_billing), what=what)

    user = _subscribe(client, live_billing, "pro_monthly")
    settle("checkout")
    stripe = stripe_client()
    customer = Customer.objects.get(subscriber__personal_for=user)
    subscription = stripe.v1.subscriptions.list({"customer": customer.id}).data[0]
    prices = {p.lookup_key: p.id for p in stripe.v1.prices.list({"limit": 100}).data}

    stripe.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})
    settle("cancel at period end")
    stripe.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": False})
    settle("resume")
    item_id = subscription["items"].data[0].id
    stripe.v1.subscriptions.update(
        subscription.id, {"items": [{"id": item_id, "price": prices["starter_monthly"]}]}
    )
    settle("plan change")
    stripe.v1.subscriptions.cancel(subscription.id)
    settle("cancel")

    def kinds() -> list[tuple[str, str]]:
        rows = Notification.objects.filter(user=user).order_by("created", "id")
        return list(rows.values_list("kind", "title"))

    expected = [
        (Kind.SUBSCRIPTION_STARTED, "Welcome to Pro"),
        (Kind.PAYMENT_SUCCEEDED, "Receipt: $29 paid"),
        (Kind.CANCELLATION_SCHEDULED, "Your subscription is canceled"),
        (Kind.SUBSCRIPTION_RESUMED, "Your subscription will continue"),
        (Kind.PLAN_CHANGED, "Your plan changed from Pro to Starter"),
        (Kind.SUBSCRIPTION_ENDED, "Your Starter subscription has ended"),
    ]
    # Receipts and the start may arrive in either order.
    assert sorted(kinds()) == sorted(expected)
    wait_for(
        lambda: not Notification.objects.filter(user=user, emailed_at__isnull=True).exists(),
        what="every notification emailed by the worker",
    )

    # Stripe delivering everything again changes nothing.
    for event in StripeEvent.objects.all():
        status, _ = live_billing.helper(f"/_emulator/events/{event.stripe_id}/resend", {})
        assert status == 200
    settle("resends")
    assert sorted(kinds()) == sorted(expected)


def test_card_less_trial_that_ends_is_told_only_that_it_ended(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    """The clock jumps past the trial end: trial_will_end and the cancellation come
    together, and the user must not read that the subscription continues."""
    user = make_user()
    client.force_login(user)
    client.get(live_billing.subscribe(client, "starter_monthly", card=None))
    wait_for(settled(live_billing), what="checkout")
    trial_end = access_now(user).trial_end
    assert trial_end is not None

    advance_clock(team=personal_team(user), to=trial_end + timedelta(minutes=1))
    wait_for(settled(live_billing), what="trial end")

    types = set(StripeEvent.objects.values_list("type", flat=True))
    assert {"customer.subscription.trial_will_end", "customer.subscription.deleted"} <= types
    notes = list(Notification.objects.filter(user=user).values_list("kind", "title", "body"))
    kinds = [kind for kind, _, _ in notes]
    assert kinds.count(Kind.SUBSCRIPTION_ENDED) == 1, notes
    assert not any("regular price" in body for _, _, body in notes), notes

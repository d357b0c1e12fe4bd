"""Dunning through the real pipeline: emulator test clock -> webhooks -> Celery worker.

A yearly Pro subscription renews on a card that always fails. With the
emulator's default retry settings (retries 3, 5 and 7 days apart, then cancel)
and BILLING_PAYMENT_ATTEMPTS = 4, the team is told: the renewal is coming, the
payment failed (with the next retry), the final notice before the last attempt,
and that the subscription ended for non-payment. Stripe redelivering every
event changes nothing. A second run recovers the invoice by a retry after the
card is fixed, which the health page counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from djstripe.models import Customer

from notifications.models import Notification
from subscriptions.models import RecoveredInvoice, StripeEvent
from subscriptions.services import stripe_client
from subscriptions.services import test_clock_advance as advance_clock
from tests.billing_helpers import access_now, personal_team
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, live_billing
from tests.subscriptions.test_webhook_pipeline import settled, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

__all__ = ["live_billing"]

Kind = Notification.Kind


def _switch_card(user: Any, card: str) -> None:
    """The default card changes through the API (no payment is attempted by it)."""
    stripe = stripe_client()
    customer = Customer.objects.get(subscriber=personal_team(user))
    pm = stripe.v1.payment_methods.attach(card, {"customer": customer.id})
    stripe.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = stripe.v1.subscriptions.list({"customer": customer.id}).data[0]
    stripe.v1.subscriptions.update(sub.id, {"default_payment_method": pm.id})


def _advance(billing: Billing, user: Any, to: datetime, what: str) -> None:
    advance_clock(team=personal_team(user), to=to)
    wait_for(settled(billing), timeout=90, what=what)


def _kinds(user: Any) -> list[str]:
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_each_dunning_occasion_is_told_once_under_redelivery(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user = make_user()
    client.force_login(user)
    client.get(live_billing.subscribe(client, "pro_yearly"))
    wait_for(settled(live_billing), what="checkout")
    renewal = access_now(user).current_period_end
    assert renewal is not None
    _switch_card(user, "pm_card_chargeCustomerFail")

    _advance(live_billing, user, renewal - timedelta(days=2), "invoice.upcoming")
    [upcoming] = Notification.objects.filter(user=user, kind=Kind.UPCOMING_RENEWAL)
    assert upcoming.title.startswith("Your Pro plan renews on ")

    _advance(live_billing, user, renewal + timedelta(hours=2), "first failure")
    [failed] = Notification.objects.filter(user=user, kind=Kind.PAYMENT_FAILED)
    assert failed.data["next_payment_attempt"]
    assert "We will try again on" in failed.body
    assert access_now(user).status == "past_due"

    _advance(live_billing, user, renewal + timedelta(days=3, hours=3), "second failure")
    _advance(live_billing, user, renewal + timedelta(days=8, hours=4), "third failure")
    [final] = Notification.objects.filter(user=user, kind=Kind.FINAL_NOTICE)
    assert "last payment attempt" in final.title
    _advance(live_billing, user, renewal + timedelta(days=15, hours=5), "last failure")
    ended = Notification.objects.get(user=user, kind=Kind.SUBSCRIPTION_ENDED)
    assert "could not collect payment" in ended.title
    assert access_now(user).plan_key == "free"

    expected = sorted(
        [
            Kind.SUBSCRIPTION_STARTED,
            Kind.PAYMENT_SUCCEEDED,
            Kind.UPCOMING_RENEWAL,
            Kind.PAYMENT_FAILED,  # attempt 1
            Kind.PAYMENT_FAILED,  # attempt 2
            Kind.FINAL_NOTICE,  # attempt 3: one attempt left
            Kind.PAYMENT_FAILED,  # attempt 4, the last
            Kind.SUBSCRIPTION_ENDED,
        ]
    )
    assert _kinds(user) == expected
    wait_for(
        lambda: not Notification.objects.filter(user=user, emailed_at__isnull=True).exists(),
        what="every notification emailed by the worker",
    )

    # Stripe delivering everything again tells nobody anything twice.
    for event in StripeEvent.objects.all():
        status, _ = live_billing.helper(f"/_emulator/events/{event.stripe_id}/resend", {})
        assert status == 200
    wait_for(settled(live_billing), what="resends")
    assert _kinds(user) == expected


def test_a_retry_after_the_card_is_fixed_counts_as_recovered(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user = make_user()
    client.force_login(user)
    client.get(live_billing.subscribe(client, "pro_monthly"))
    wait_for(settled(live_billing), what="checkout")
    renewal = access_now(user).current_period_end
    assert renewal is not None
    _switch_card(user, "pm_card_chargeCustomerFail")
    _advance(live_billing, user, renewal + timedelta(hours=2), "failure")
    assert access_now(user).status == "past_due"

    _switch_card(user, "pm_card_visa")  # nothing is paid until Stripe's next retry
    assert access_now(user).status == "past_due"
    _advance(live_billing, user, renewal + timedelta(days=3, hours=3), "retry")
    assert access_now(user).status == "active"
    [recovered] = RecoveredInvoice.objects.all()
    assert recovered.method == RecoveredInvoice.Method.RETRY
    assert recovered.amount == 2900

    staff = make_user(is_staff=True)
    client.force_login(staff)
    health = client.get("/staff/billing-health/").content.decode()
    assert 'data-recovered="retry"' in health

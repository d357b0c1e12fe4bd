"""Plan changes, cancellation, resume and dunning, through the emulator's portal and clock.

Portal actions reach the app as webhooks; until the webhook pipeline lands,
these tests call ``customer_sync_all`` where the pipeline would sync.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from djstripe.models import Subscription

from subscriptions import services
from tests.billing_helpers import access_now, personal_team, tpath
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, HostedPage

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _subscribed(client: Client, billing: Billing, price: str, **kwargs: Any) -> Any:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, price, **kwargs))
    return user


def _portal(client: Client, flow: str | None = None) -> HostedPage:
    response = client.post(tpath(client, "/billing/portal/"), {"flow": flow} if flow else {})
    assert response.status_code == 303
    return HostedPage(response["Location"])


def _period_end(user: Any) -> Any:
    access = access_now(user)
    assert access.current_period_end is not None
    return access.current_period_end


def test_downgrade_and_upgrade_in_portal_change_features(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing, "pro_monthly")
    assert access_now(user).has("api_access")

    page = _portal(client).link("Update plan")
    starter = services.price_for_checkout(lookup_key="starter_monthly")
    confirm = page.submit("Continue", price=starter.id)
    assert "Starter" in confirm.html
    confirm.submit("Confirm")
    services.customer_sync_all(team=personal_team(user))

    access = access_now(user)
    assert access.plan_key == "starter"
    assert not access.has("api_access")
    assert access.has("exports")
    assert access.quota("projects") == 5

    # The unused part of Pro is credited on the next invoice as a proration.
    client_stripe = services.stripe_client()
    customer_id = Subscription.objects.get(customer__subscriber__personal_for=user).customer_id
    pending = client_stripe.v1.invoice_items.list({"customer": customer_id, "pending": True})
    # Changed seconds after subscribing: almost the whole period is credited and charged.
    credits = [item.amount for item in pending.data if item.amount < 0]
    charges = [item.amount for item in pending.data if item.amount > 0]
    assert len(credits) == 1
    assert -2900 <= credits[0] <= -2890
    assert len(charges) == 1
    assert 890 <= charges[0] <= 900

    _portal(client).link("Update plan").submit(
        "Continue", price=services.price_for_checkout(lookup_key="pro_monthly").id
    ).submit("Confirm")
    services.customer_sync_all(team=personal_team(user))
    assert access_now(user).has("api_access")


def test_cancel_at_period_end_keeps_access_until_the_end(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing, "pro_monthly")
    page = _portal(client, "subscription_cancel")
    page.submit("Cancel plan", reason="too_expensive")
    services.customer_sync_all(team=personal_team(user))

    access = access_now(user)
    assert access.cancel_at_period_end
    assert access.has_access
    assert access.reason == "canceling"
    billing_page = client.get(tpath(client, "/billing/"))
    assert b"Resume subscription" in billing_page.content

    services.test_clock_advance(team=personal_team(user), to=_period_end(user) + timedelta(hours=2))
    access = access_now(user)
    assert access.status == "canceled"
    assert not access.has_access
    assert access.plan_key == "free"


def test_resume_removes_the_scheduled_cancellation(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing, "pro_monthly")
    _portal(client, "subscription_cancel").submit("Cancel plan")
    services.customer_sync_all(team=personal_team(user))
    assert access_now(user).cancel_at_period_end

    response = client.post(tpath(client, "/billing/resume/"))
    assert response.status_code == 302
    access = access_now(user)
    assert not access.cancel_at_period_end
    stripe_sub = services.stripe_client().v1.subscriptions.retrieve(access.subscription_id or "")
    assert stripe_sub.cancel_at_period_end is False


def test_failed_renewal_past_due_grace_then_lockout(
    client: Client, billing: Billing, settings: Any
) -> None:
    settings.BILLING_PAST_DUE_GRACE_DAYS = 3
    user = _subscribed(client, billing, "pro_monthly")
    # The customer switches to a card that attaches but can never be charged.
    _portal(client, "payment_method_update").submit(
        "Save payment method",
        card_number="4000000000000341",
        card_expiry="12 / 34",
        card_cvc="123",
        cardholder_name="Jo Doe",
    )
    renewal = _period_end(user)
    services.test_clock_advance(team=personal_team(user), to=renewal + timedelta(hours=2))
    access = access_now(user)
    assert access.status == "past_due"
    assert access.has_access  # inside the grace period
    assert access.in_grace
    assert b"Update payment method" in client.get(tpath(client, "/billing/")).content

    services.test_clock_advance(team=personal_team(user), to=renewal + timedelta(days=3, hours=3))
    access = access_now(user)
    assert not access.has_access
    assert access.plan_key == "free"
    assert access.status in ("past_due", "unpaid", "canceled")


def test_three_d_secure_then_authenticated_is_active(client: Client, billing: Billing) -> None:
    user = make_user()
    client.force_login(user)
    response = client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"})
    status, result = billing.complete_checkout(response["Location"], card="4000002760003184")
    assert status == 200
    assert result["status"] == "requires_action"
    assert access_now(user).plan_key == "free"

    session_id = billing.session_id(response["Location"])
    status, result = billing.helper(
        f"/_emulator/checkout/sessions/{session_id}/authenticate", {"succeed": True}
    )
    assert status == 200, result
    client.get(tpath(client, f"/billing/success/?session_id={session_id}"))
    access = access_now(user)
    assert access.status == "active"
    assert access.has("api_access")


def test_dev_time_machine_moves_the_clock(client: Client, billing: Billing, settings: Any) -> None:
    settings.DEBUG = True
    user = _subscribed(client, billing, "starter_monthly", card=None)
    page = client.get(tpath(client, "/dev/billing/"))
    assert page.status_code == 200
    assert b"To trial end" in page.content
    trial_end = access_now(user).trial_end
    assert trial_end is not None
    response = client.post(tpath(client, "/dev/billing/"), {"step": "trial_end"})
    assert response.status_code == 302
    # No card and end_behavior=cancel: the trial ends without payment, so it is canceled.
    access = access_now(user)
    assert access.status == "canceled"
    assert access.plan_key == "free"


def test_portal_return_shows_the_cancellation_before_any_webhook(
    client: Client, billing: Billing
) -> None:
    # The billing fixture's webhooks go nowhere: only the return itself can bring the news.
    user = _subscribed(client, billing, "pro_monthly")
    before = client.get(tpath(client, "/billing/")).content.decode()
    assert "Cancel subscription" in before

    done = _portal(client, "subscription_cancel").submit("Cancel plan", reason="too_expensive")
    assert done.left_to is not None, done.html[:500]
    returned = urlsplit(done.left_to)
    page = client.get(f"{returned.path}?{returned.query}", follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Resume subscription" in text
    assert "Cancel subscription" not in text
    assert "Renews on" not in text
    # Once per user in a short window: coming back again does not call Stripe again.
    assert services.portal_return_sync(team=personal_team(user)) is False


def test_portal_outage_is_a_503_logged_once(
    client: Client, billing: Billing, caplog: pytest.LogCaptureFixture
) -> None:
    """One line per event: ours, with the cause; not a second one from django.request."""
    _subscribed(client, billing, "pro_monthly")
    status, _ = billing.helper(
        "/_emulator/faults/api",
        {"mode": "503", "count": 10, "route": "^/v1/billing_portal/sessions"},
    )
    assert status == 200
    with caplog.at_level("INFO"):
        response = client.post(tpath(client, "/billing/portal/"))
    assert response.status_code == 503
    errors = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [r.name for r in errors] == ["subscriptions.views"], [r.getMessage() for r in errors]
    assert "portal session failed for team" in errors[0].getMessage()
    assert "Injected fault" in errors[0].getMessage()  # the cause, from Stripe

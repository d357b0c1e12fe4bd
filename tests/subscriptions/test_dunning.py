"""Dunning against the emulator over HTTP: pay now, cancel with a reason and the
retention offer, card-expiry notices, recovered revenue on the health page, and the
past-due banner (whose warm path costs no query)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from djstripe.models import Customer, PaymentMethod

from notifications.models import Notification
from notifications.services import cards_expiring_notify
from saas.context_processors import _billing_banner
from subscriptions import services
from subscriptions.access.access import access_for
from subscriptions.dunning import selectors as dunning_selectors
from subscriptions.models import RecoveredInvoice, RetentionOffer
from teams.models import Membership
from tests.billing_helpers import access_now, give_plan, personal_team, tpath, turl
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, HostedPage

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _subscribed(client: Client, billing: Billing, price: str = "pro_monthly") -> Any:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, price))
    return user


def _past_due(client: Client, billing: Billing) -> Any:
    """A Pro subscriber whose renewal failed: the card attaches but every charge fails."""
    user = _subscribed(client, billing)
    response = client.post(tpath(client, "/billing/portal/"), {"flow": "payment_method_update"})
    HostedPage(response["Location"]).submit(
        "Save payment method",
        card_number="4000000000000341",
        card_expiry="12 / 34",
        card_cvc="123",
        cardholder_name="Jo Doe",
    )
    renewal = access_now(user).current_period_end
    assert renewal is not None
    services.test_clock_advance(team=personal_team(user), to=renewal + timedelta(hours=2))
    assert access_now(user).status == "past_due"
    return user


def _use_card(user: Any, card: str) -> str:
    """The customer's card changes outside the app (an API call, not the portal's
    page, which would also pay the overdue invoice); the mirror follows."""
    stripe = services.stripe_client()
    customer = Customer.objects.get(subscriber=personal_team(user))
    pm = stripe.v1.payment_methods.attach(card, {"customer": customer.id})
    stripe.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub_id = access_now(user).subscription_id or ""
    stripe.v1.subscriptions.update(sub_id, {"default_payment_method": pm.id})
    services.customer_sync_all(team=personal_team(user))
    Customer.sync_from_stripe_data(stripe.v1.customers.retrieve(customer.id))
    PaymentMethod.sync_from_stripe_data(pm)
    return pm.id


def test_pay_now_declined_then_paid_with_the_new_card_restores_access_at_once(
    client: Client, billing: Billing
) -> None:
    user = _past_due(client, billing)
    invoice = dunning_selectors.open_invoice_for_team(team=personal_team(user))
    assert invoice is not None
    billing_page = client.get(tpath(client, "/billing/")).content.decode()
    assert "Pay $29 now" in billing_page
    assert invoice.hosted_invoice_url in billing_page  # the fallback is on the page

    # The saved card still declines: a clear message, the invoice stays open.
    response = client.post(tpath(client, "/billing/pay/"), follow=True)
    page = response.content.decode()
    assert "Your card was declined" in page
    assert "Pay with another card on the invoice page" in page
    assert access_now(user).status == "past_due"

    _use_card(user, "pm_card_visa")
    response = client.post(tpath(client, "/billing/pay/"))
    assert response.status_code == 302
    access = access_now(user)  # no webhook was delivered: the mirror was updated in place
    assert access.status == "active"
    assert access.has("api_access")
    paid = services.stripe_client().v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid"
    recovered = RecoveredInvoice.objects.get(invoice_id=invoice.id)
    assert recovered.method == RecoveredInvoice.Method.IN_APP
    assert recovered.amount == 2900

    # A second click (or a late double submit) finds nothing to pay and pays nothing.
    response = client.post(tpath(client, "/billing/pay/"), follow=True)
    assert b"There is no open invoice to pay." in response.content
    charges = services.stripe_client().v1.charges.list({"customer": recovered.customer_id})
    assert sum(1 for c in charges.data if c.status == "succeeded" and c.amount == 2900) == 2

    staff = make_user(is_staff=True)
    client.force_login(staff)
    health = client.get("/staff/billing-health/").content.decode()
    assert 'data-recovered="in_app"' in health
    assert "Pay now in the app" in health


def test_pay_now_needing_3d_secure_goes_to_the_hosted_invoice_page(
    client: Client, billing: Billing
) -> None:
    user = _past_due(client, billing)
    _use_card(user, "pm_card_authenticationRequired")
    invoice = dunning_selectors.open_invoice_for_team(team=personal_team(user))
    assert invoice is not None
    response = client.post(tpath(client, "/billing/pay/"))
    assert response.status_code == 303
    assert response["Location"] == invoice.hosted_invoice_url


def test_pay_now_is_for_owners_and_admins_of_the_team(client: Client, billing: Billing) -> None:
    owner = _subscribed(client, billing)
    member, stranger = make_user(), make_user()
    Membership.objects.create(team=personal_team(owner), user=member, role=Membership.Role.MEMBER)
    url = turl(owner, "billing_pay")
    client.force_login(member)
    assert client.post(url).status_code == 403
    client.force_login(stranger)
    assert client.post(url).status_code == 404
    client.force_login(owner)
    response = client.post(url, follow=True)  # nothing is due
    assert b"There is no open invoice to pay." in response.content
    client.logout()
    assert Client(enforce_csrf_checks=True).post(url).status_code in (302, 403)


def test_cancel_page_offers_the_retention_coupon_once(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing)
    page = client.get(tpath(client, "/billing/cancel/")).content.decode()
    assert 'data-retention-offer="retention_25_3m"' in page
    assert "Why are you canceling?" in page

    response = client.post(tpath(client, "/billing/cancel/"), {"action": "accept_offer"})
    assert response.status_code == 302
    sub_id = access_now(user).subscription_id or ""
    stripe_sub = services.stripe_client().v1.subscriptions.retrieve(
        sub_id, {"expand": ["discounts"]}
    )
    # Since basil a discount names its coupon under `source`.
    coupons = [getattr(d, "source").coupon for d in stripe_sub.discounts]  # noqa: B009
    assert coupons == ["retention_25_3m"]
    assert stripe_sub.cancel_at_period_end is False
    assert RetentionOffer.objects.get(subscription_id=sub_id).outcome == "accepted"

    # Offered once: the page now only asks why, and accepting again is refused.
    page = client.get(tpath(client, "/billing/cancel/")).content.decode()
    assert "data-retention-offer" not in page
    response = client.post(
        tpath(client, "/billing/cancel/"), {"action": "accept_offer"}, follow=True
    )
    assert b"This offer is no longer available." in response.content


def test_cancel_with_a_reason_sends_it_to_stripe(client: Client, billing: Billing) -> None:
    user = _subscribed(client, billing)
    response = client.post(
        tpath(client, "/billing/cancel/"),
        {"action": "cancel", "feedback": "too_expensive", "comment": "Budget cuts"},
    )
    assert response.status_code == 302
    access = access_now(user)
    assert access.cancel_at_period_end  # mirrored at once
    assert access.has_access
    stripe_sub = services.stripe_client().v1.subscriptions.retrieve(access.subscription_id or "")
    assert stripe_sub.cancel_at_period_end is True
    details = stripe_sub.cancellation_details
    assert details is not None
    assert details.feedback == "too_expensive"
    assert details.comment == "Budget cuts"
    # Declining the offer spent it.
    offer = RetentionOffer.objects.get(subscription_id=access.subscription_id)
    assert offer.outcome == "declined"
    assert b"Resume subscription" in client.get(tpath(client, "/billing/")).content


def test_cancel_without_a_known_reason_is_refused_and_changes_nothing(
    client: Client, billing: Billing
) -> None:
    user = _subscribed(client, billing)
    response = client.post(
        tpath(client, "/billing/cancel/"), {"action": "cancel", "feedback": "because"}
    )
    assert response.status_code == 400
    assert b"Choose a reason from the list." in response.content
    sub_id = access_now(user).subscription_id or ""
    assert services.stripe_client().v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert not RetentionOffer.objects.exists()


def test_card_expiring_next_month_is_told_once_per_card(
    client: Client, billing: Billing, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    user = _subscribed(client, billing)
    team = personal_team(user)
    now = services.test_clock_now(team=team) or datetime.now(tz=UTC)
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    stripe = services.stripe_client()
    pm = stripe.v1.payment_methods.create(
        {
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": next_month.month,
                "exp_year": next_month.year,
                "cvc": "123",
            },
        }
    )
    _use_card(user, pm.id)
    mail.outbox.clear()
    assert cards_expiring_notify(now=now) == 1
    assert cards_expiring_notify(now=now) == 0  # the beat runs daily: still one
    [note] = Notification.objects.filter(user=user, kind=Notification.Kind.CARD_EXPIRING)
    assert note.title == "Your Visa card ending in 4242 expires next month"
    assert f"{next_month.month:02d}/{next_month.year}" in note.body
    # Next month's run (the card now expires this month) says nothing more.
    assert cards_expiring_notify(now=next_month + timedelta(days=2)) == 0


def test_past_due_banner_on_other_pages_for_owners_and_admins_only(client: Client) -> None:
    owner, member = make_user(), make_user()
    team = personal_team(owner)
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
    give_plan(owner, status="past_due")
    client.force_login(owner)
    page = client.get(turl(owner, "project_list")).content.decode()
    assert 'data-billing-banner="past_due"' in page
    assert turl(owner, "billing_pay") in page
    assert "data-billing-banner" not in client.get(turl(owner, "billing")).content.decode()
    client.force_login(member)
    page = client.get(turl(owner, "project_list")).content.decode()
    assert "data-billing-banner" not in page


def test_banner_costs_no_query_when_access_is_warm(
    django_assert_num_queries: Any,
) -> None:
    user = make_user()
    give_plan(user, status="past_due")
    team = personal_team(user)
    membership = Membership.objects.select_related("team").get(team=team, user=user)
    request = RequestFactory().get("/")
    request.user = user
    request.team_current = lambda: team  # type: ignore[attr-defined]
    request.membership = membership  # type: ignore[attr-defined]
    access_for(team)  # warm
    request.access = access_for(team)  # type: ignore[attr-defined]
    with django_assert_num_queries(0):
        banner = _billing_banner(request)
    assert banner is not None
    assert banner.status == "past_due"

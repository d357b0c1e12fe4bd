"""Which notifications each Stripe event creates, exactly once, and which emails go out."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core import mail
from django.utils.formats import date_format

from notifications import services
from notifications.models import Notification, NotificationPreferences
from tests.billing_helpers import give_plan, mirror_customer, personal_team
from tests.factories import make_user
from tests.notifications import payloads
from tests.notifications.conftest import Deliver, html_of

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


def _date(ts: int) -> str:
    return date_format(datetime.fromtimestamp(ts, tz=UTC), "DATE_FORMAT")


def _kinds(notifications: list[Notification]) -> list[str]:
    return [n.kind for n in notifications]


# --- Subscription lifecycle ---------------------------------------------------------


def test_notify_subscription_created_active_is_started(deliver: Deliver) -> None:
    user = make_user()
    [n] = deliver(user, "customer.subscription.created", payloads.subscription(status="active"))
    assert n.kind == Kind.SUBSCRIPTION_STARTED
    assert n.title == "Welcome to Starter"
    # The billing page of the team the subscription is for (here the user's own).
    assert n.link == f"https://app.example.com/t/{personal_team(user).slug}/billing/"
    assert n.team == personal_team(user)
    assert n.user == user
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert mail.outbox[0].subject == "[Acme SaaS] Welcome to Starter"


def test_notify_subscription_created_trialing_mentions_trial_end(deliver: Deliver) -> None:
    trial_end = payloads.NOW + 14 * payloads.DAY
    sub = payloads.subscription(status="trialing", trial_start=payloads.NOW, trial_end=trial_end)
    [n] = deliver(make_user(), "customer.subscription.created", sub)
    assert n.kind == Kind.SUBSCRIPTION_STARTED
    assert n.title == "Your Starter trial has started"
    assert _date(trial_end) in n.body


def test_notify_subscription_created_incomplete_waits_for_activation(deliver: Deliver) -> None:
    user = make_user()
    incomplete = payloads.subscription(status="incomplete")
    assert deliver(user, "customer.subscription.created", incomplete) == []

    active = payloads.subscription(status="active")
    [n] = deliver(user, "customer.subscription.updated", active, {"status": "incomplete"})
    assert n.kind == Kind.SUBSCRIPTION_STARTED
    assert len(mail.outbox) == 1


def test_notify_trial_conversion_and_renewal_are_silent(deliver: Deliver) -> None:
    user = make_user()
    sub = payloads.subscription(status="active")
    # trialing -> active at trial end: the receipt covers it.
    assert deliver(user, "customer.subscription.updated", sub, {"status": "trialing"}) == []
    # Renewal: previous items differ only in their periods.
    before = payloads.subscription(period_end=payloads.NOW)
    renewal_previous = {"items": payloads.items_of(before), "latest_invoice": "in_old"}
    assert deliver(user, "customer.subscription.updated", sub, renewal_previous) == []
    assert mail.outbox == []


def test_notify_trial_will_end_has_the_date(deliver: Deliver) -> None:
    trial_end = payloads.NOW + 3 * payloads.DAY
    sub = payloads.subscription(status="trialing", trial_start=payloads.NOW, trial_end=trial_end)
    [n] = deliver(make_user(), "customer.subscription.trial_will_end", sub)
    assert n.kind == Kind.TRIAL_ENDING
    assert n.title == f"Your trial ends on {_date(trial_end)}"
    assert n.data["trial_end"] == trial_end
    assert "regular price" in n.body


def test_notify_trial_will_end_when_cancelled_says_it_ends(deliver: Deliver) -> None:
    trial_end = payloads.NOW + 3 * payloads.DAY
    sub = payloads.subscription(
        status="trialing", trial_end=trial_end, cancel_at_period_end=True, cancel_at=trial_end
    )
    [n] = deliver(make_user(), "customer.subscription.trial_will_end", sub)
    assert "subscription ends with it" in n.body


def test_notify_trial_will_end_after_trial_already_ended_is_silent(deliver: Deliver) -> None:
    sub = payloads.subscription(status="active", trial_end=payloads.NOW)
    assert deliver(make_user(), "customer.subscription.trial_will_end", sub) == []


def _card_less_trial(user: Any, *, missing_payment_method: str) -> dict[str, Any]:
    """A trial_will_end payload for a mirrored customer without any payment method."""
    customer = mirror_customer(user)
    return payloads.subscription(
        status="trialing",
        customer=customer.id,
        trial_start=payloads.NOW,
        trial_end=payloads.NOW + 3 * payloads.DAY,
        default_payment_method=None,
        default_source=None,
        trial_settings={"end_behavior": {"missing_payment_method": missing_payment_method}},
    )


@pytest.mark.parametrize(
    ("missing_payment_method", "outcome"),
    [
        ("cancel", "your subscription ends with the trial unless you add one"),
        ("pause", "your subscription is paused when the trial ends unless you add one"),
        ("create_invoice", "your first invoice is due then"),
    ],
)
def test_notify_trial_will_end_without_payment_method_says_what_will_happen(
    deliver: Deliver, missing_payment_method: str, outcome: str
) -> None:
    user = make_user()
    sub = _card_less_trial(user, missing_payment_method=missing_payment_method)
    [n] = deliver(user, "customer.subscription.trial_will_end", sub)
    assert outcome in n.body
    assert "regular price" not in n.body


def test_notify_trial_will_end_with_a_customer_default_card_continues(deliver: Deliver) -> None:
    user = make_user()
    sub = _card_less_trial(user, missing_payment_method="cancel")
    customer = mirror_customer(user)
    customer.stripe_data["invoice_settings"] = {"default_payment_method": "pm_card_visa"}
    customer.save(update_fields=["stripe_data"])
    [n] = deliver(user, "customer.subscription.trial_will_end", sub)
    assert "continues at the regular price" in n.body


def test_notify_trial_will_end_after_the_card_less_trial_ended_is_silent(
    deliver: Deliver,
) -> None:
    """The event arrives with (or after) the cancellation: only "has ended" is true."""
    user = make_user()
    mirrored = give_plan(user, lookup_key="starter_monthly", status="canceled")
    sub = _card_less_trial(user, missing_payment_method="cancel")
    sub["id"] = mirrored.id
    assert deliver(user, "customer.subscription.trial_will_end", sub) == []
    ended = {**sub, "status": "canceled", "ended_at": payloads.NOW}
    [n] = deliver(user, "customer.subscription.deleted", ended)
    assert n.kind == Kind.SUBSCRIPTION_ENDED


def test_notify_plan_changed_names_old_and_new_plan(deliver: Deliver) -> None:
    old = payloads.subscription(lookup_key="starter_monthly")
    new = payloads.subscription(lookup_key="pro_monthly")
    [n] = deliver(make_user(), "customer.subscription.updated", new, {"items": old["items"]})
    assert n.kind == Kind.PLAN_CHANGED
    assert n.title == "Your plan changed from Starter to Pro"
    assert n.data == {"subscription": "sub_test", "old_plan": "Starter", "new_plan": "Pro"}


def test_notify_plan_changed_interval_only_names_the_intervals(deliver: Deliver) -> None:
    old = payloads.subscription(lookup_key="pro_monthly")
    new = payloads.subscription(lookup_key="pro_yearly")
    new["items"]["data"][0]["price"]["recurring"]["interval"] = "year"
    [n] = deliver(make_user(), "customer.subscription.updated", new, {"items": old["items"]})
    assert n.title == "Your plan changed from Pro (monthly) to Pro (yearly)"


def test_notify_plan_changed_falls_back_to_nickname(deliver: Deliver) -> None:
    old = payloads.subscription(lookup_key=None)
    old["items"]["data"][0]["price"].update(id="price_legacy", nickname="Legacy")
    new = payloads.subscription(lookup_key="pro_monthly")
    [n] = deliver(make_user(), "customer.subscription.updated", new, {"items": old["items"]})
    assert n.title == "Your plan changed from Legacy to Pro"


def test_notify_cancel_at_period_end_is_scheduled_cancellation(deliver: Deliver) -> None:
    period_end = payloads.NOW + 20 * payloads.DAY
    sub = payloads.subscription(
        period_end=period_end, cancel_at_period_end=True, canceled_at=payloads.NOW
    )
    previous = {"cancel_at_period_end": False, "canceled_at": None}
    [n] = deliver(make_user(), "customer.subscription.updated", sub, previous)
    assert n.kind == Kind.CANCELLATION_SCHEDULED
    assert _date(period_end) in n.body
    assert "Starter" in n.body
    assert n.data["access_ends"] == period_end


def test_notify_scheduled_cancellation_says_canceled_as_stripe_spells_it(
    deliver: Deliver, client: Any
) -> None:
    user = make_user()
    sub = payloads.subscription(cancel_at_period_end=True, canceled_at=payloads.NOW)
    previous = {"cancel_at_period_end": False, "canceled_at": None}
    [n] = deliver(user, "customer.subscription.updated", sub, previous)
    assert n.title == "Your subscription is canceled"
    [message] = mail.outbox
    client.force_login(user)
    in_app = client.get("/notifications/").content.decode()
    for text in (message.subject, message.body, html_of(message), in_app):
        assert "canceled" in text
        assert "cancelled" not in text.lower()


def test_notify_cancel_at_set_uses_cancel_at(deliver: Deliver) -> None:
    cancel_at = payloads.NOW + 5 * payloads.DAY
    sub = payloads.subscription(cancel_at=cancel_at, cancel_at_period_end=True)
    # The portal may set both at once: still one notification.
    previous = {"cancel_at": None, "cancel_at_period_end": False}
    [n] = deliver(make_user(), "customer.subscription.updated", sub, previous)
    assert n.kind == Kind.CANCELLATION_SCHEDULED
    assert _date(cancel_at) in n.body


def test_notify_uncancel_is_resumed(deliver: Deliver) -> None:
    sub = payloads.subscription(cancel_at_period_end=False)
    previous = {"cancel_at_period_end": True, "canceled_at": payloads.NOW}
    [n] = deliver(make_user(), "customer.subscription.updated", sub, previous)
    assert n.kind == Kind.SUBSCRIPTION_RESUMED
    assert "Starter renews as usual" in n.body


def test_notify_cancel_at_cleared_is_resumed(deliver: Deliver) -> None:
    previous = {"cancel_at": payloads.NOW + payloads.DAY}
    [n] = deliver(make_user(), "customer.subscription.updated", payloads.subscription(), previous)
    assert n.kind == Kind.SUBSCRIPTION_RESUMED


def test_notify_subscription_resumed_event_from_pause(deliver: Deliver) -> None:
    [n] = deliver(make_user(), "customer.subscription.resumed", payloads.subscription())
    assert n.kind == Kind.SUBSCRIPTION_RESUMED
    assert n.title == "Your subscription is active again"


def test_notify_plan_change_with_uncancel_gives_both(deliver: Deliver) -> None:
    old = payloads.subscription(lookup_key="starter_monthly")
    new = payloads.subscription(lookup_key="pro_monthly")
    previous = {"items": old["items"], "cancel_at_period_end": True}
    notifications = deliver(make_user(), "customer.subscription.updated", new, previous)
    assert sorted(_kinds(notifications)) == [Kind.PLAN_CHANGED, Kind.SUBSCRIPTION_RESUMED]
    assert len(mail.outbox) == 2


def test_notify_subscription_deleted_is_ended(deliver: Deliver) -> None:
    sub = payloads.subscription(status="canceled", ended_at=payloads.NOW, canceled_at=payloads.NOW)
    [n] = deliver(make_user(), "customer.subscription.deleted", sub)
    assert n.kind == Kind.SUBSCRIPTION_ENDED
    assert n.title == "Your Starter subscription has ended"
    assert n.link == "https://app.example.com/pricing/"


def test_notify_never_started_subscription_ending_is_silent(deliver: Deliver) -> None:
    user = make_user()
    expired = payloads.subscription(status="incomplete_expired", ended_at=payloads.NOW)
    assert deliver(user, "customer.subscription.deleted", expired) == []
    previous = {"status": "incomplete"}
    assert deliver(user, "customer.subscription.updated", expired, previous) == []


def test_notify_unrelated_event_is_silent(deliver: Deliver) -> None:
    assert deliver(make_user(), "invoice.finalized", payloads.invoice(status="open")) == []
    assert deliver(make_user(), "customer.updated", {"id": "cus_test"}) == []


# --- Invoices -------------------------------------------------------------------------


def test_notify_invoice_paid_is_a_receipt_with_links(deliver: Deliver) -> None:
    user = make_user()
    [n] = deliver(user, "invoice.paid", payloads.invoice(amount_due=2900))
    assert n.kind == Kind.PAYMENT_SUCCEEDED
    assert n.title == "Receipt: $29 paid"
    assert "ACME-0001" in n.body
    assert n.link == "https://invoice.stripe.com/i/acct_test/in_test"
    assert n.data["invoice_pdf"] == "https://pay.stripe.com/invoice/acct_test/in_test/pdf"
    assert n.data["subscription"] == "sub_test"

    [email] = mail.outbox
    html = html_of(email)
    for body in (email.body, html):
        assert "$29" in body
        assert "https://invoice.stripe.com/i/acct_test/in_test" in body
        assert "https://pay.stripe.com/invoice/acct_test/in_test/pdf" in body
        assert "Acme SaaS" in body
    assert "#4f46e5" in html


def test_notify_invoice_paid_formats_other_currencies(deliver: Deliver) -> None:
    [n] = deliver(make_user(), "invoice.paid", payloads.invoice(amount_due=999, currency="eur"))
    assert n.title == "Receipt: €9.99 paid"


def test_notify_zero_invoice_gives_no_receipt(deliver: Deliver) -> None:
    zero = payloads.invoice(amount_due=0, billing_reason="subscription_create")
    assert deliver(make_user(), "invoice.paid", zero) == []
    assert mail.outbox == []


def test_notify_invoice_payment_failed_links_billing_and_next_retry(deliver: Deliver) -> None:
    next_attempt = payloads.NOW + 3 * payloads.DAY
    failed = payloads.invoice(status="open", amount_due=2900, next_payment_attempt=next_attempt)
    user = make_user()
    [n] = deliver(user, "invoice.payment_failed", failed)
    billing_url = f"https://app.example.com/t/{personal_team(user).slug}/billing/"
    assert n.kind == Kind.PAYMENT_FAILED
    assert n.link == billing_url
    assert "$29" in n.body
    assert _date(next_attempt) in n.body
    [email] = mail.outbox
    assert f"Update payment method: {billing_url}" in email.body


def test_notify_invoice_payment_failed_without_retry(deliver: Deliver) -> None:
    failed = payloads.invoice(status="open", next_payment_attempt=None)
    [n] = deliver(make_user(), "invoice.payment_failed", failed)
    assert "try again" not in n.body


def test_notify_first_payment_failed_does_not_talk_of_keeping_a_plan(deliver: Deliver) -> None:
    failed = payloads.invoice(status="open", billing_reason="subscription_create")
    [n] = deliver(make_user(), "invoice.payment_failed", failed)
    assert "new subscription" in n.body
    assert "keep your plan" not in n.body


def test_notify_payment_action_required_links_hosted_invoice(deliver: Deliver) -> None:
    invoice = payloads.invoice(status="open", amount_due=2900)
    [n] = deliver(make_user(), "invoice.payment_action_required", invoice)
    assert n.kind == Kind.PAYMENT_ACTION_REQUIRED
    assert n.link == "https://invoice.stripe.com/i/acct_test/in_test"
    assert "3-D Secure" in n.body
    assert len(mail.outbox) == 1


# --- Exactly once -----------------------------------------------------------------------


def test_notify_duplicate_event_creates_and_sends_once(deliver: Deliver) -> None:
    user = make_user()
    invoice = payloads.invoice()
    first = deliver(user, "invoice.paid", invoice, event_id="evt_dup")
    again = deliver(user, "invoice.paid", invoice, event_id="evt_dup")
    assert len(first) == 1
    assert again == []
    assert Notification.objects.filter(user=user).count() == 1
    assert len(mail.outbox) == 1


def test_notify_same_kind_from_another_event_is_new(deliver: Deliver) -> None:
    """A retry that fails again is a new occasion (the invoice's attempt_count grew)."""
    user = make_user()
    deliver(user, "invoice.payment_failed", payloads.invoice(status="open"), event_id="evt_1")
    retry = payloads.invoice(status="open", attempt_count=2)
    deliver(user, "invoice.payment_failed", retry, event_id="evt_2")
    assert Notification.objects.filter(user=user, kind=Kind.PAYMENT_FAILED).count() == 2
    assert len(mail.outbox) == 2


def test_notify_email_waits_for_commit(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
    user = make_user()
    with django_capture_on_commit_callbacks() as callbacks:
        services.notify_from_stripe_event(
            team_id=personal_team(user).pk,
            event_id="evt_commit",
            event_type="invoice.paid",
            obj=payloads.invoice(),
            previous=None,
        )
        assert mail.outbox == []
    # One email task, enqueued only when the transaction commits.
    assert len(callbacks) == 1
    assert mail.outbox == []


# --- Preferences --------------------------------------------------------------------------


def test_notify_receipts_off_skips_receipt_but_not_payment_problems(deliver: Deliver) -> None:
    user = make_user()
    NotificationPreferences.objects.create(user=user, email_receipts=False)
    [receipt] = deliver(user, "invoice.paid", payloads.invoice())
    [failed] = deliver(user, "invoice.payment_failed", payloads.invoice(status="open"))
    [action] = deliver(user, "invoice.payment_action_required", payloads.invoice(status="open"))

    # In-app the receipt is still there; only its email is skipped.
    receipt.refresh_from_db()
    assert receipt.emailed_at is None
    assert [m.subject for m in mail.outbox] == [
        "[Acme SaaS] Your payment failed",
        "[Acme SaaS] Confirm your payment",
    ]
    failed.refresh_from_db()
    action.refresh_from_db()
    assert failed.emailed_at is not None
    assert action.emailed_at is not None


def test_notify_receipts_turned_off_after_queueing_are_not_sent() -> None:
    user = make_user()
    [receipt] = services.notify_from_stripe_event(
        team_id=personal_team(user).pk,
        event_id="evt_r",
        event_type="invoice.paid",
        obj=payloads.invoice(),
        previous=None,
    )
    services.notification_preferences_update(user=user, email_receipts=False)
    assert services.notification_email_send(notification_id=receipt.pk) == "receipts_off"
    assert mail.outbox == []


def test_notify_inactive_user_gets_no_email(deliver: Deliver) -> None:
    user = make_user(is_active=False)
    [n] = deliver(user, "invoice.payment_failed", payloads.invoice(status="open"))
    assert mail.outbox == []
    n.refresh_from_db()
    assert n.emailed_at is None

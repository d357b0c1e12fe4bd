"""Dunning notifications: one per occasion, however often Stripe says it, each switchable.

The service runs as the processing task runs it (real database, emails sent by
eagerly run Celery tasks on commit); payloads have the dahlia shapes. The
emulator-driven runs of the same occasions are in test_dunning_integration.py.
"""

from __future__ import annotations

import time

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

from notifications.models import Notification
from teams.models import Membership
from tests.billing_helpers import give_plan, personal_team
from tests.email_helpers import assert_branded_email
from tests.factories import make_user
from tests.notifications import payloads
from tests.notifications.conftest import Deliver

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
DAY = 86400


@pytest.fixture(autouse=True)
def four_attempts(settings: SettingsWrapper, eager_celery: None) -> None:
    settings.BILLING_PAYMENT_ATTEMPTS = 4
    # After the package's eager_celery fixture, which sets SITE_URL to app.example.com.
    settings.SITE_NAME = "Brightbill"
    settings.SITE_URL = "https://app.brightbill.test"


def _failed(attempt: int, *, next_attempt: int | None) -> dict[str, object]:
    return payloads.invoice(
        status="open", amount_due=2900, attempt_count=attempt, next_payment_attempt=next_attempt
    )


def test_payment_failed_names_the_next_retry_once_per_attempt(deliver: Deliver) -> None:
    user = make_user(email="ann@mail.test")
    retry_at = int(time.time()) + 3 * DAY
    deliver(user, "invoice.payment_failed", _failed(1, next_attempt=retry_at), event_id="evt_a")
    # Stripe can send one failed attempt as two events: still one notice.
    deliver(user, "invoice.payment_failed", _failed(1, next_attempt=retry_at), event_id="evt_b")
    [note] = Notification.objects.filter(user=user)
    assert note.kind == Kind.PAYMENT_FAILED
    assert note.data["next_payment_attempt"] == retry_at
    assert "We will try again on" in note.body
    [message] = mail.outbox
    link = f"https://app.brightbill.test/t/{personal_team(user).slug}/billing/"
    text, html = assert_branded_email(message, link=link)
    assert "$29" in text
    assert "$29" in html


def test_final_notice_before_the_last_attempt(deliver: Deliver) -> None:
    """With 4 attempts in all, the failure of the 3rd leaves one: the final notice."""
    user = make_user(email="bo@mail.test")
    last_at = int(time.time()) + 7 * DAY
    deliver(user, "invoice.payment_failed", _failed(2, next_attempt=last_at - 5 * DAY))
    deliver(user, "invoice.payment_failed", _failed(3, next_attempt=last_at), event_id="evt_3")
    deliver(user, "invoice.payment_failed", _failed(3, next_attempt=last_at), event_id="evt_3b")
    kinds = list(
        Notification.objects.filter(user=user).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == [Kind.PAYMENT_FAILED, Kind.FINAL_NOTICE]
    final = Notification.objects.get(user=user, kind=Kind.FINAL_NOTICE)
    assert final.title.startswith("Final notice: last payment attempt on ")
    assert "your subscription ends" in final.body
    assert len(mail.outbox) == 2
    text, html = assert_branded_email(mail.outbox[1])
    assert "Pay now or update your card" in text
    assert "Pay now or update your card" in html
    # The hosted invoice page is the other way to pay.
    assert "https://invoice.stripe.com/i/acct_test/in_test" in text
    assert 'href="https://invoice.stripe.com/i/acct_test/in_test"' in html


def test_the_last_failure_sends_no_final_notice(deliver: Deliver) -> None:
    """No attempt left (next_payment_attempt null): the ending speaks, not a final notice."""
    user = make_user(email="user1@mail.test")
    deliver(user, "invoice.payment_failed", _failed(4, next_attempt=None))
    assert list(Notification.objects.values_list("kind", flat=True)) == [Kind.PAYMENT_FAILED]


def test_action_required_links_the_hosted_invoice_page_once(deliver: Deliver) -> None:
    user = make_user(email="user2@mail.test")
    invoice = payloads.invoice(status="open", attempt_count=1)
    deliver(user, "invoice.payment_action_required", invoice, event_id="evt_x")
    deliver(user, "invoice.payment_action_required", invoice, event_id="evt_y")
    [note] = Notification.objects.filter(user=user)
    assert note.link == "https://invoice.stripe.com/i/acct_test/in_test"
    [message] = mail.outbox
    assert_branded_email(message, link="https://invoice.stripe.com/i/acct_test/in_test")


def test_subscription_ended_for_non_payment(deliver: Deliver) -> None:
    user = make_user(email="user3@mail.test")
    ended = payloads.subscription(
        status="canceled",
        cancellation_details={"reason": "payment_failed", "feedback": None, "comment": None},
    )
    deliver(user, "customer.subscription.deleted", ended, event_id="evt_1")
    deliver(user, "customer.subscription.deleted", ended, event_id="evt_2")
    [note] = Notification.objects.filter(user=user)
    assert note.kind == Kind.SUBSCRIPTION_ENDED
    assert "could not collect payment" in note.title
    assert note.data["reason"] == "payment_failed"
    [message] = mail.outbox
    assert_branded_email(message, link="https://app.brightbill.test/pricing/")


def test_a_canceled_subscription_is_not_told_it_was_unpaid(deliver: Deliver) -> None:
    user = make_user(email="user4@mail.test")
    ended = payloads.subscription(
        status="canceled",
        cancellation_details={"reason": "cancellation_requested", "feedback": "unused"},
    )
    [note] = deliver(user, "customer.subscription.deleted", ended)
    assert "could not collect payment" not in note.title


def _upcoming(sub_id: str, renews: int) -> dict[str, object]:
    preview = payloads.invoice(status="draft", amount_due=29000, billing_reason="upcoming")
    preview.pop("id")
    preview["parent"]["subscription_details"]["subscription"] = sub_id
    preview["lines"] = {
        "object": "list",
        "data": [{"period": {"start": renews, "end": renews + 365 * DAY}}],
    }
    return preview


def test_yearly_renewal_is_announced_once(deliver: Deliver) -> None:
    user = make_user(email="user5@mail.test")
    renews = int(time.time()) + 3 * DAY
    sub = give_plan(user, lookup_key="pro_yearly", unit_amount=29000, interval="year")
    deliver(user, "invoice.upcoming", _upcoming(sub.id, renews), event_id="evt_1")
    deliver(user, "invoice.upcoming", _upcoming(sub.id, renews), event_id="evt_2")
    [note] = Notification.objects.filter(user=user)
    assert note.kind == Kind.UPCOMING_RENEWAL
    assert note.title.startswith("Your Pro plan renews on ")
    assert "$290" in note.body
    [message] = mail.outbox
    assert_branded_email(message)


def test_monthly_renewals_are_not_announced(deliver: Deliver) -> None:
    user = make_user(email="user6@mail.test")
    sub = give_plan(user, lookup_key="pro_monthly", unit_amount=2900, interval="month")
    assert deliver(user, "invoice.upcoming", _upcoming(sub.id, int(time.time()) + DAY)) == []


@pytest.mark.parametrize(
    ("occasion", "event_type", "obj"),
    [
        ("payment_failed", "invoice.payment_failed", _failed(1, next_attempt=None)),
        ("final_notice", "invoice.payment_failed", _failed(3, next_attempt=2_000_000_000)),
        (
            "payment_action_required",
            "invoice.payment_action_required",
            payloads.invoice(status="open"),
        ),
        (
            "subscription_ended_unpaid",
            "customer.subscription.deleted",
            payloads.subscription(
                status="canceled", cancellation_details={"reason": "payment_failed"}
            ),
        ),
    ],
)
def test_each_occasion_can_be_turned_off(
    deliver: Deliver,
    settings: SettingsWrapper,
    occasion: str,
    event_type: str,
    obj: dict[str, object],
) -> None:
    settings.BILLING_EMAILS = {**settings.BILLING_EMAILS, occasion: False}
    user = make_user(email="user7@mail.test")
    assert deliver(user, event_type, obj) == []
    assert mail.outbox == []


def test_owners_and_admins_are_told_members_are_not(deliver: Deliver) -> None:
    owner = make_user(email="owner@mail.test")
    admin, member = make_user(email="admin@mail.test"), make_user(email="member@mail.test")
    team = personal_team(owner)
    Membership.objects.create(team=team, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
    deliver(owner, "invoice.payment_failed", _failed(3, next_attempt=2_000_000_000))
    told = set(Notification.objects.values_list("user__email", flat=True))
    assert told == {"owner@mail.test", "admin@mail.test"}

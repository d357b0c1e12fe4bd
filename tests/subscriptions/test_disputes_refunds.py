"""Disputes and staff refunds end to end: the emulator (stock SDK over HTTP) delivers
webhooks to a live server of the app, a real Celery worker processes them, staff act
in the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from djstripe.models import Customer, Dispute

from accounts.models import User
from notifications.models import Notification, StaffAlert
from notifications.services import dispute_deadline_reminders_send
from subscriptions.disputes import disputes
from subscriptions.models import StaffRefund, StripeEvent
from subscriptions.services import stripe_client
from subscriptions.services import test_clock_advance as advance_clock
from tests.billing_helpers import personal_team
from tests.conftest import WorkerProcess
from tests.factories import make_user
from tests.subscriptions.conftest import Billing, live_billing
from tests.subscriptions.test_webhook_pipeline import settled, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

__all__ = ["live_billing"]

DISPUTE_CARD = "4000000000000259"  # Stripe's test card: the charge succeeds, then a chargeback
REFUND_ADD = "/admin/subscriptions/staffrefund/add/"


def _subscriber(client: Client, billing: Billing, card: str) -> tuple[User, Customer]:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly", card=card))
    wait_for(settled(billing), what="checkout events processed")
    customer = Customer.objects.get(subscriber=personal_team(user))
    return user, customer


def _staff() -> Client:
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    return staff


def _dispute_alerts(dispute_id: str, event_type: str) -> int:
    return StaffAlert.objects.filter(object_id=dispute_id, event_type=event_type).count()


def test_dispute_from_test_card_is_shown_alerted_once_reminded_once_and_won(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user, customer = _subscriber(client, live_billing, DISPUTE_CARD)
    team = personal_team(user)
    wait_for(lambda: Dispute.objects.exists(), what="the dispute mirrored")
    [row] = disputes.disputes_open()
    assert (row.customer_id, row.team_name, row.reason, row.status) == (
        customer.id,
        team.name,
        "fraudulent",
        "needs_response",
    )
    assert row.amount > 0
    assert row.due_by is not None
    assert row.evidence_url == f"{live_billing.url}/dashboard/objects/{row.id}"

    staff = _staff()
    page = staff.get("/staff/billing-health/").content.decode()
    section = page[page.index('data-section="open-disputes"') :]
    assert f'data-dispute="{row.id}"' in section
    assert team.name in section
    assert "fraudulent" in section
    assert row.due_by.strftime("%Y-%m-%d %H:%M") in section
    assert row.evidence_url in section
    admin_list = staff.get("/admin/djstripe/dispute/").content.decode()
    assert row.id in admin_list
    assert "Submit evidence" in admin_list
    assert _dispute_alerts(row.id, "charge.dispute.created") == 1

    # Stripe delivers every event again: nobody is alerted twice.
    for event_id in StripeEvent.objects.values_list("stripe_id", flat=True):
        status, _ = live_billing.helper(f"/_emulator/events/{event_id}/resend", {})
        assert status == 200
    wait_for(settled(live_billing), what="redeliveries")
    assert _dispute_alerts(row.id, "charge.dispute.created") == 1

    # The daily reminder: nothing 4 days before the deadline, once inside 3 days, then never.
    deadline_type = StaffAlert.DEADLINE_EVENT_TYPE
    assert dispute_deadline_reminders_send(now=row.due_by - timedelta(days=4)) == 0
    assert dispute_deadline_reminders_send(now=row.due_by - timedelta(days=3)) == 1
    assert dispute_deadline_reminders_send(now=row.due_by - timedelta(days=2)) == 0
    assert _dispute_alerts(row.id, deadline_type) == 1
    wait_for(
        lambda: StaffAlert.objects.filter(
            event_type=deadline_type, emailed_at__isnull=False
        ).exists(),
        what="the reminder emailed by the worker",
    )

    # Staff submit winning evidence from the admin: Stripe closes it as won.
    form = staff.get(f"/admin/djstripe/dispute/{row.id}/evidence/")
    assert form.status_code == 200
    response = staff.post(
        f"/admin/djstripe/dispute/{row.id}/evidence/", {"text": "winning_evidence"}
    )
    assert response.status_code == 302
    wait_for(settled(live_billing), what="dispute closed")
    assert Dispute.objects.get(id=row.id).status == "won"
    assert disputes.disputes_open() == []
    closed = StaffAlert.objects.get(object_id=row.id, event_type="charge.dispute.closed")
    assert closed.status == "won"
    # A won dispute changes nothing for the team: nobody there is told.
    assert not Notification.objects.filter(user=user, kind=Notification.Kind.DISPUTE_LOST).exists()
    assert "No open disputes." in staff.get("/staff/billing-health/").content.decode()


def _request_key(html: str) -> str:
    match = re.search(r'name="request_key" value="([0-9a-f]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def test_partial_refund_from_admin_credits_the_invoice_once_and_tells_the_team(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    user, customer = _subscriber(client, live_billing, "4242424242424242")
    stripe = stripe_client()
    [charge] = stripe.v1.charges.list({"customer": customer.id}).data
    staff = _staff()
    form = staff.get(f"{REFUND_ADD}?charge={charge.id}").content.decode()
    post = {
        "charge": charge.id,
        "amount": "10.00",
        "reason": "requested_by_customer",
        "request_key": _request_key(form),
    }
    first = staff.post(REFUND_ADD, post, follow=True)
    assert f"Refunded $10 of {charge.id}" in first.content.decode()
    # The same form submitted again (a double click, a reload): no second refund.
    again = staff.post(REFUND_ADD, post, follow=True)
    assert "already submitted" in again.content.decode()

    [row] = StaffRefund.objects.all()
    assert (row.amount, row.currency, row.reason, row.status) == (
        1000,
        "usd",
        "requested_by_customer",
        StaffRefund.Status.SUCCEEDED,
    )
    assert row.requested_by is not None
    assert row.requested_by.is_staff
    assert row.team == personal_team(user)
    [refund] = stripe.v1.refunds.list({"charge": charge.id}).data
    assert (refund.id, refund.amount, refund.reason) == (
        row.stripe_refund_id,
        1000,
        "requested_by_customer",
    )
    [note] = stripe.v1.credit_notes.list({"invoice": row.invoice_id}).data
    assert note.id == row.credit_note_id
    assert note.amount == 1000
    assert [r.refund for r in note.refunds] == [refund.id]
    assert stripe.v1.charges.retrieve(charge.id).amount_refunded == 1000

    wait_for(
        lambda: Notification.objects.filter(
            kind=Notification.Kind.REFUND_ISSUED, emailed_at__isnull=False
        ).exists(),
        what="the refund email sent by the worker",
    )
    [told] = Notification.objects.filter(kind=Notification.Kind.REFUND_ISSUED)
    assert told.user == user
    assert "$10" in told.title

    # More than is left: a clear error, nothing refunded, nothing recorded.
    remaining = charge.amount - 1000
    too_much = {**post, "amount": f"{charge.amount / 100:.2f}", "request_key": "f" * 32}
    response = staff.post(REFUND_ADD, too_much)
    assert response.status_code == 200
    text = response.content.decode()
    assert f"At most ${remaining / 100:g} of charge {charge.id} can still be refunded" in text
    assert StaffRefund.objects.count() == 1
    assert len(stripe.v1.refunds.list({"charge": charge.id}).data) == 1


def test_refund_that_settles_later_is_recorded_when_stripe_says_so(
    client: Client, live_billing: Billing, celery_worker_process: WorkerProcess
) -> None:
    # Stripe's asynchronous refund test card: refunds start pending and succeed later.
    user, customer = _subscriber(client, live_billing, "4000000000007726")
    [charge] = stripe_client().v1.charges.list({"customer": customer.id}).data
    staff = _staff()
    form = staff.get(f"{REFUND_ADD}?charge={charge.id}").content.decode()
    post = {
        "charge": charge.id,
        "amount": "5.00",
        "reason": "duplicate",
        "request_key": _request_key(form),
    }
    assert staff.post(REFUND_ADD, post).status_code == 302
    [row] = StaffRefund.objects.all()
    assert row.status == StaffRefund.Status.PROCESSING
    # The emulator settles asynchronous refunds at the customer's next billing pass.
    advance_clock(team=personal_team(user), to=timezone.now() + timedelta(hours=2))
    wait_for(settled(live_billing), what="refund.updated processed")
    row.refresh_from_db()
    assert row.status == StaffRefund.Status.SUCCEEDED
    assert StripeEvent.objects.filter(type="refund.updated").exists()

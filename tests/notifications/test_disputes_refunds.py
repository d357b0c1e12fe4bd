"""What customers and staff are told about refunds and disputes (tasks run in-process)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

from notifications import services
from notifications.models import Notification, StaffAlert
from subscriptions.models import StaffRefund
from tests.billing_helpers import personal_team
from tests.email_helpers import assert_branded_email
from tests.factories import make_user

from . import payloads
from .conftest import Deliver, html_of

pytestmark = pytest.mark.django_db

CaptureOnCommit = Callable[..., AbstractContextManager[Any]]


def _refund(**fields: Any) -> StaffRefund:
    user = make_user(email="owner@example.org")
    team = personal_team(user)
    values: dict[str, Any] = {
        "request_key": "k1",
        "team": team,
        "customer_id": "cus_test",
        "charge_id": "ch_test",
        "invoice_id": "in_test",
        "amount": 1050,
        "currency": "usd",
        "reason": StaffRefund.Reason.REQUESTED_BY_CUSTOMER,
        "status": StaffRefund.Status.SUCCEEDED,
        "stripe_refund_id": "re_test",
        "credit_note_id": "cn_test",
    }
    return StaffRefund.objects.create(**{**values, **fields})


def test_refund_email_tells_the_team_the_amount_and_the_reason_once(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.SITE_URL = "https://app.brightbill.test"
    refund = _refund()
    with django_capture_on_commit_callbacks(execute=True):
        assert len(services.notify_refund_issued(refund=refund)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notify_refund_issued(refund=refund) == []  # told once
    [email] = mail.outbox
    assert email.to == ["owner@example.org"]
    assert email.subject.endswith("We refunded $10.50")
    text, html = assert_branded_email(email)
    for body in (text, html):
        assert "$10.50" in body
        assert "as you requested" in body
        assert "credit note" in body
    [notification] = Notification.objects.filter(kind=Notification.Kind.REFUND_ISSUED)
    assert notification.data["credit_note"] == "cn_test"
    assert notification.emailed_at is not None


def test_refund_without_a_team_tells_nobody() -> None:
    refund = _refund(team=None, request_key="k2", stripe_refund_id="re_2")
    assert services.notify_refund_issued(refund=refund) == []
    assert mail.outbox == []


def test_lost_dispute_tells_the_team_and_won_one_does_not(deliver: Deliver) -> None:
    user = make_user()
    assert deliver(user, "charge.dispute.closed", payloads.dispute(status="won")) == []
    [lost] = deliver(user, "charge.dispute.closed", payloads.dispute(status="lost"))
    assert lost.kind == Notification.Kind.DISPUTE_LOST
    assert lost.title == "A payment of $29 was reversed"
    [email] = mail.outbox
    assert "$29" in email.body


def test_dispute_alert_links_to_where_evidence_is_submitted_and_shows_the_deadline(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    settings.STRIPE_EMULATOR = False
    due = int(datetime(2026, 12, 20, 23, 59, tzinfo=UTC).timestamp())
    obj = payloads.dispute(status="needs_response", evidence_details={"due_by": due})
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_staff_from_stripe_event(
            event_id="evt_1", event_type="charge.dispute.created", obj=obj
        )
        # The same dispute announced again under another event id: one alert per dispute.
        services.notify_staff_from_stripe_event(
            event_id="evt_2", event_type="charge.dispute.created", obj=obj
        )
    [alert] = StaffAlert.objects.all()
    assert alert.due_by == datetime(2026, 12, 20, 23, 59, tzinfo=UTC)
    [email] = mail.outbox
    for body in (email.body, html_of(email)):
        assert "https://dashboard.stripe.com/test/disputes/dp_test" in body
        assert "Submit evidence" in body
        assert "Evidence due by" in body


def test_deadline_reminder_email(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    alert = StaffAlert.objects.create(
        stripe_event_id="deadline:dp_test",
        event_type=StaffAlert.DEADLINE_EVENT_TYPE,
        object_id="dp_test",
        charge_id="ch_test",
        amount=2900,
        currency="usd",
        reason="fraudulent",
        status="needs_response",
        due_by=datetime(2026, 12, 20, 23, 59, tzinfo=UTC) + timedelta(0),
    )
    assert services.staff_alert_email_send(alert_id=alert.pk) == "sent"
    [email] = mail.outbox
    assert email.subject.startswith("[Acme SaaS] Dispute dp_test on ch_test: evidence due by")
    assert "Dispute evidence is due soon" in email.body

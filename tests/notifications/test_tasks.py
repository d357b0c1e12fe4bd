"""Email tasks: retried on SMTP errors, sent once, and the staff alerts for disputes/refunds."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from notifications import selectors, services
from notifications.models import Notification, NotificationPreferences, StaffAlert
from notifications.tasks import (
    notification_email_send_task,
    notification_emails_requeue_task,
    staff_alert_email_send_task,
)
from subscriptions.disputes.disputes import dispute_evidence_url
from tests.billing_helpers import personal_team
from tests.factories import make_user
from tests.notifications import payloads
from tests.notifications.conftest import Deliver, html_of

pytestmark = pytest.mark.django_db

CaptureOnCommit = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def eager_retries() -> None:
    """Eager tasks re-run themselves on retry only when errors do not propagate
    (``eager_celery`` restores the setting)."""
    from saas.celery import app

    app.conf.task_eager_propagates = False


@pytest.fixture
def flaky_smtp(monkeypatch: pytest.MonkeyPatch, eager_retries: None) -> list[int]:
    """The mail server drops the connection on the first attempt only."""
    attempts: list[int] = []
    send = locmem.EmailBackend.send_messages

    def send_messages(self: locmem.EmailBackend, messages: Any) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
        return send(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", send_messages)
    return attempts


def test_email_task_retries_smtp_error_and_sends_once(
    deliver: Deliver, flaky_smtp: list[int]
) -> None:
    [n] = deliver(make_user(), "invoice.payment_failed", payloads.invoice(status="open"))
    assert len(flaky_smtp) == 2
    assert len(mail.outbox) == 1
    n.refresh_from_db()
    assert n.emailed_at is not None


def test_email_task_gives_up_after_max_retries(
    monkeypatch: pytest.MonkeyPatch, eager_retries: None
) -> None:
    attempts: list[int] = []

    def refuse(self: locmem.EmailBackend, messages: Any) -> int:
        attempts.append(1)
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse)
    [n] = services.notify_from_stripe_event(
        team_id=personal_team(make_user()).pk,
        event_id="evt_down",
        event_type="invoice.payment_failed",
        obj=payloads.invoice(status="open"),
        previous=None,
    )
    result = notification_email_send_task.apply(args=[n.pk])
    assert result.state == "FAILURE"
    assert isinstance(result.result, ConnectionRefusedError)
    assert len(attempts) == 1 + 5  # first try + max_retries
    n.refresh_from_db()
    assert n.emailed_at is None  # a later replay can still send it


def test_email_task_is_idempotent() -> None:
    [n] = services.notify_from_stripe_event(
        team_id=personal_team(make_user()).pk,
        event_id="evt_twice",
        event_type="customer.subscription.deleted",
        obj=payloads.subscription(status="canceled"),
        previous=None,
    )
    assert notification_email_send_task.apply(args=[n.pk]).get() == "sent"
    assert notification_email_send_task.apply(args=[n.pk]).get() == "already_sent"
    assert len(mail.outbox) == 1


def test_email_task_for_a_deleted_notification_is_a_no_op() -> None:
    assert notification_email_send_task.apply(args=[999_999]).get() == "missing"


def test_email_is_multipart_in_the_site_style(deliver: Deliver) -> None:
    user = make_user(name="Ada")
    trial_end = payloads.NOW + 3 * payloads.DAY
    sub = payloads.subscription(status="trialing", trial_end=trial_end)
    deliver(user, "customer.subscription.trial_will_end", sub)
    [email] = mail.outbox
    assert email.from_email
    assert email.body.startswith("Hi Ada,")
    billing_url = f"https://app.example.com/t/{personal_team(user).slug}/billing/"
    assert f"Review billing: {billing_url}" in email.body
    html = html_of(email)
    assert f'href="{billing_url}"' in html
    assert "https://app.example.com/notifications/" in html
    assert "<script" not in html


# --- Staff alerts ---------------------------------------------------------------------------


def _staff(
    capture: CaptureOnCommit, event_type: str, obj: dict[str, Any], event_id: str = "evt_staff"
) -> bool:
    with capture(execute=True):
        return services.notify_staff_from_stripe_event(
            event_id=event_id, event_type=event_type, obj=obj
        )


def test_staff_dispute_created_emails_configured_staff_once(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@example.com", "ops@example.com"]
    capture = django_capture_on_commit_callbacks
    assert _staff(capture, "charge.dispute.created", payloads.dispute()) is True
    assert _staff(capture, "charge.dispute.created", payloads.dispute()) is False

    assert StaffAlert.objects.count() == 1
    [email] = mail.outbox
    assert email.to == ["billing@example.com", "ops@example.com"]
    assert email.subject == "[Acme SaaS] Dispute opened on ch_test ($29)"
    for body in (email.body, html_of(email)):
        assert "ch_test" in body
        assert "dp_test" in body
        assert "$29" in body
        assert "fraudulent" in body
        assert "warning_needs_response" in body
        assert dispute_evidence_url("dp_test") in body  # where evidence is submitted


def test_staff_dispute_closed_reports_the_outcome(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    _staff(
        django_capture_on_commit_callbacks, "charge.dispute.closed", payloads.dispute(status="lost")
    )
    [email] = mail.outbox
    assert email.subject == "[Acme SaaS] Dispute closed on ch_test: lost"


def test_staff_refund_falls_back_to_active_staff_users(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = []
    make_user(email="staff@example.com", is_staff=True)
    make_user(email="gone@example.com", is_staff=True, is_active=False)
    make_user(email="customer@example.com")
    charge = payloads.refunded_charge(amount=2900, amount_refunded=1000)
    assert _staff(django_capture_on_commit_callbacks, "charge.refunded", charge) is True

    alert = StaffAlert.objects.get()
    assert (alert.charge_id, alert.amount, alert.customer_id) == ("ch_test", 1000, "cus_test")
    assert (alert.reason, alert.status) == ("requested_by_customer", "partially_refunded")
    [email] = mail.outbox
    assert email.to == ["staff@example.com"]
    assert email.subject == "[Acme SaaS] Refund on ch_test: $10 refunded in total"
    alert.refresh_from_db()
    assert alert.emailed_at is not None


def test_staff_alert_without_recipients_stays_unsent(
    django_capture_on_commit_callbacks: CaptureOnCommit, settings: SettingsWrapper
) -> None:
    settings.BILLING_STAFF_EMAILS = []
    _staff(django_capture_on_commit_callbacks, "charge.refunded", payloads.refunded_charge())
    alert = StaffAlert.objects.get()
    assert alert.emailed_at is None
    assert mail.outbox == []
    # Once someone is configured, a re-run sends it.
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    assert staff_alert_email_send_task.apply(args=[alert.pk]).get() == "sent"
    assert len(mail.outbox) == 1


def test_staff_ignores_other_events(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    assert _staff(django_capture_on_commit_callbacks, "charge.succeeded", {"id": "ch_x"}) is False
    assert StaffAlert.objects.count() == 0


def test_staff_alert_email_retries_smtp_error(
    django_capture_on_commit_callbacks: CaptureOnCommit,
    settings: SettingsWrapper,
    flaky_smtp: list[int],
) -> None:
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    _staff(django_capture_on_commit_callbacks, "charge.dispute.created", payloads.dispute())
    assert len(flaky_smtp) == 2
    assert len(mail.outbox) == 1


def test_user_notifications_and_staff_alerts_are_separate() -> None:
    """A dispute is for staff only: the user's service makes nothing of it."""
    assert (
        services.notify_from_stripe_event(
            team_id=personal_team(make_user()).pk,
            event_id="evt_dp",
            event_type="charge.dispute.created",
            obj=payloads.dispute(),
            previous=None,
        )
        == []
    )
    assert Notification.objects.count() == 0


# --- Catch-up for lost enqueues --------------------------------------------------------


def _age(model: type[Notification] | type[StaffAlert], pk: int, minutes: int) -> None:
    model.objects.filter(pk=pk).update(created=timezone.now() - timedelta(minutes=minutes))


def test_requeue_sends_emails_whose_enqueue_was_lost(settings: SettingsWrapper) -> None:
    """No on-commit ran (as if the broker was down): the sweep sends them, once."""
    settings.BILLING_STAFF_EMAILS = ["billing@example.com"]
    user = make_user()
    receipts_off = make_user()
    NotificationPreferences.objects.create(user=receipts_off, email_receipts=False)

    def notify(who: Any, event_id: str, event_type: str, obj: dict[str, Any]) -> int:
        [n] = services.notify_from_stripe_event(
            team_id=personal_team(who).pk,
            event_id=event_id,
            event_type=event_type,
            obj=obj,
            previous=None,
        )
        return n.pk

    lost = notify(user, "evt_lost", "invoice.payment_failed", payloads.invoice(status="open"))
    fresh = notify(user, "evt_fresh", "invoice.paid", payloads.invoice())
    too_old = notify(user, "evt_old", "invoice.paid", payloads.invoice())
    unwanted = notify(receipts_off, "evt_off", "invoice.paid", payloads.invoice())
    services.notify_staff_from_stripe_event(
        event_id="evt_dp", event_type="charge.dispute.created", obj=payloads.dispute()
    )
    _age(Notification, lost, 30)
    _age(Notification, too_old, 3 * 24 * 60)
    _age(Notification, unwanted, 30)
    _age(StaffAlert, StaffAlert.objects.get().pk, 30)
    assert mail.outbox == []

    assert notification_emails_requeue_task.apply().get() == 2
    assert sorted(m.subject for m in mail.outbox) == [
        "[Acme SaaS] Dispute opened on ch_test ($29)",
        "[Acme SaaS] Your payment failed",
    ]
    assert Notification.objects.get(pk=lost).emailed_at is not None
    assert Notification.objects.get(pk=fresh).emailed_at is None  # its task may still be queued
    # Sent rows are no longer pending.
    assert services.notification_emails_requeue() == 0


def test_broker_outage_does_not_fail_the_caller(
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OSError("Error 111 connecting to redis")

    monkeypatch.setattr(notification_email_send_task, "delay", broker_down)
    with django_capture_on_commit_callbacks() as callbacks:
        services.notify_from_stripe_event(
            team_id=personal_team(make_user()).pk,
            event_id="evt_broker",
            event_type="invoice.payment_failed",
            obj=payloads.invoice(status="open"),
            previous=None,
        )
    # Registered as robust: Django logs a failing callback instead of raising it.
    from django.db import connection

    robust = [entry[-1] for entry in connection.run_on_commit]  # (savepoints, func, robust)
    assert len(callbacks) == 1
    assert robust == [True]


def test_staff_alerts_recent_newest_first() -> None:
    for i in range(3):
        services.notify_staff_from_stripe_event(
            event_id=f"evt_r{i}", event_type="charge.refunded", obj=payloads.refunded_charge()
        )
    recent = selectors.staff_alerts_recent(limit=2)
    assert [a.stripe_event_id for a in recent] == ["evt_r2", "evt_r1"]

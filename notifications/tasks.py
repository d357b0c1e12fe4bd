"""Notification emails, sent after the transaction that created the row commits."""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task

from . import services

# OSError covers refused connections and timeouts to the mail server.
EMAIL_RETRY: dict[str, Any] = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}


@shared_task(bind=True, name="notifications.notification_email_send", **EMAIL_RETRY)
def notification_email_send_task(self: Any, notification_id: int) -> str:
    """Email one notification; a no-op if it was already emailed or is not wanted."""
    return services.notification_email_send(notification_id=notification_id)


@shared_task(bind=True, name="notifications.staff_alert_email_send", **EMAIL_RETRY)
def staff_alert_email_send_task(self: Any, alert_id: int) -> str:
    """Email staff about one dispute or refund; a no-op once sent."""
    return services.staff_alert_email_send(alert_id=alert_id)


@shared_task(name="notifications.notification_emails_requeue")
def notification_emails_requeue_task() -> int:
    """Beat, every few minutes: enqueue emails whose on-commit enqueue was lost."""
    return services.notification_emails_requeue()


@shared_task(name="notifications.dispute_deadline_reminders")
def dispute_deadline_reminders_task() -> int:
    """Beat, daily: remind staff of disputes whose evidence is due within three days."""
    return services.dispute_deadline_reminders_send()


@shared_task(name="notifications.cards_expiring_notify")
def cards_expiring_notify_task() -> int:
    """Beat, daily: tell teams whose default card expires next month (once per card)."""
    return services.cards_expiring_notify()

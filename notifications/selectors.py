"""Reads for notifications: always scoped to one user."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.models import User

from .models import Notification, NotificationPreferences, StaffAlert

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


def notifications_for(*, user: User) -> QuerySet[Notification]:
    """A user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created", "-id")


def notifications_unread(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True)


def notification_unread_count(*, user: User | AnonymousUser) -> int:
    """One COUNT on the partial unread index; 0 for anonymous users, without a query."""
    if not isinstance(user, User):
        return 0
    return notifications_unread(user=user).count()


def notification_preferences_get(*, user: User) -> NotificationPreferences:
    """The user's saved preferences, or unsaved defaults (a read never writes)."""
    preferences = NotificationPreferences.objects.filter(user=user).first()
    return preferences or NotificationPreferences(user=user)


def billing_staff_emails() -> list[str]:
    """BILLING_STAFF_EMAILS, or else every active staff user's address."""
    configured = [e for e in getattr(settings, "BILLING_STAFF_EMAILS", []) if e]
    if configured:
        return configured
    return list(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )


def notification_emails_pending(
    *, after: datetime, before: datetime
) -> QuerySet[Notification, int]:
    """Ids of notifications created in the window that should have been emailed and were not
    (receipts of users who turned them off and inactive users are not pending)."""
    receipts_off = Q(kind=Notification.Kind.PAYMENT_SUCCEEDED) & Q(
        user__notification_preferences__email_receipts=False
    )
    return (
        Notification.objects.filter(
            emailed_at__isnull=True, created__gte=after, created__lt=before, user__is_active=True
        )
        .exclude(receipts_off)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def staff_alert_emails_pending(*, after: datetime, before: datetime) -> QuerySet[StaffAlert, int]:
    return (
        StaffAlert.objects.filter(emailed_at__isnull=True, created__gte=after, created__lt=before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def staff_alerts_recent(*, limit: int = 10) -> list[StaffAlert]:
    """The latest disputes and refunds, for staff pages such as the billing health page."""
    return list(StaffAlert.objects.order_by("-created", "-id")[:limit])

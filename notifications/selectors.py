"""Reads for notifications: always scoped to one user."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User

from .models import Notification, NotificationPreferences


def notifications_for(*, user: Any) -> QuerySet[Notification]:
    """A user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created", "-id")


def notifications_unread(*, user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True)


def notification_unread_count(*, user: Any) -> int:
    """One COUNT on the partial unread index; 0 for anonymous users, without a query."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return notifications_unread(user=user).count()


def notification_preferences_get(*, user: Any) -> NotificationPreferences:
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

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from subscriptions.signals import seats_drift_fixed, subscription_duplicates_canceled

        from . import receivers

        subscription_duplicates_canceled.connect(
            receivers.on_subscription_duplicates_canceled,
            dispatch_uid="notifications.on_subscription_duplicates_canceled",
        )
        seats_drift_fixed.connect(
            receivers.on_seats_drift_fixed, dispatch_uid="notifications.on_seats_drift_fixed"
        )

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from subscriptions import signals
        from usage.signals import usage_threshold_reached

        from . import receivers

        # Each billing signal and its receiver; the billing domain never imports this app.
        for signal, receiver in (
            (
                signals.subscription_duplicates_canceled,
                receivers.on_subscription_duplicates_canceled,
            ),
            (signals.billing_event_processed, receivers.on_billing_event_processed),
            (signals.staff_billing_event_processed, receivers.on_staff_billing_event_processed),
            (signals.staff_refund_issued, receivers.on_staff_refund_issued),
            (usage_threshold_reached, receivers.on_usage_threshold_reached),
        ):
            signal.connect(receiver, dispatch_uid=f"notifications.{receiver.__name__}")

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _usage_section() -> dict[str, Any]:
    from subscriptions.catalog import get_catalog

    from .selectors import usage_health

    return {"health": usage_health(), "currency": get_catalog().currency}


def _credits_section() -> dict[str, Any]:
    from subscriptions.catalog import get_catalog

    from .credit_selectors import credits_health

    return {"health": credits_health(), "currency": get_catalog().currency}


class UsageConfig(AppConfig):
    """Usage-based billing: units recorded per team, reported to Stripe Billing Meters;
    prepaid credits bought once and spent."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "usage"
    verbose_name = _("Usage")

    def ready(self) -> None:
        from subscriptions.reports.sections import health_section_register
        from subscriptions.signals import billing_event_processed

        from .credits import on_billing_event_processed

        # Credit purchases are granted and refunds reversed from the webhook pipeline.
        billing_event_processed.connect(on_billing_event_processed, dispatch_uid="usage.credits")
        health_section_register(
            key="usage", template="usage/_health_card.html", context=_usage_section, order=10
        )
        health_section_register(
            key="credits", template="usage/_credits_health_card.html", context=_credits_section,
            order=20,
        )  # fmt: skip

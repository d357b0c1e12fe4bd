from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    """Usage-based billing: units recorded per team, reported to Stripe Billing Meters."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "usage"
    verbose_name = _("Usage")

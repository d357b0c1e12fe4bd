"""System checks of the deployment that belong to no app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def stripe_emulator_in_production(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Production settings register this only when STRIPE_EMULATOR_IN_PRODUCTION lets
    a staging site run on the emulator: it keeps saying so in every `check`."""
    if not getattr(settings, "STRIPE_EMULATOR", False):
        return []
    return [
        checks.Warning(
            f"Billing goes to the offline Stripe emulator at {settings.STRIPE_API_BASE}: "
            "no real payment is taken.",
            hint="Fine for staging. For production set STRIPE_SECRET_KEY and remove "
            "STRIPE_EMULATOR_IN_PRODUCTION.",
            id="saas.W001",
        )
    ]

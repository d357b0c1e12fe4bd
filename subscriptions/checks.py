"""System checks that stop a misconfigured deployment from taking money."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

_LIVE_PREFIXES = ("sk_live_", "rk_live_")
_TEST_PREFIXES = ("sk_test_", "rk_test_")


@checks.register(checks.Tags.security)
def stripe_key_matches_mode(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A live key needs STRIPE_LIVE_MODE=true, and live mode needs a live key."""
    key: str = getattr(settings, "STRIPE_SECRET_KEY", "") or ""
    live_mode: bool = bool(getattr(settings, "STRIPE_LIVE_MODE", False))
    errors: list[checks.CheckMessage] = []
    if key.startswith(_LIVE_PREFIXES) and not live_mode:
        errors.append(
            checks.Error(
                "STRIPE_SECRET_KEY is a live key but STRIPE_LIVE_MODE is not true.",
                hint="Use a sk_test_ key, or set STRIPE_LIVE_MODE=true to charge real cards.",
                id="subscriptions.E001",
            )
        )
    if live_mode and not key.startswith(_LIVE_PREFIXES):
        errors.append(
            checks.Error(
                "STRIPE_LIVE_MODE is true but STRIPE_SECRET_KEY is not a live key.",
                hint="Set STRIPE_SECRET_KEY to your sk_live_ (or rk_live_) key.",
                id="subscriptions.E002",
            )
        )
    if key and not key.startswith(_LIVE_PREFIXES + _TEST_PREFIXES):
        errors.append(
            checks.Error(
                "STRIPE_SECRET_KEY does not look like a Stripe secret key.",
                hint="It starts with sk_test_, sk_live_, rk_test_ or rk_live_.",
                id="subscriptions.E003",
            )
        )
    return errors


@checks.register()
def dispute_access_is_known(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """BILLING_DISPUTE_ACCESS is one of the policies the access check knows."""
    from .access.policy import DISPUTE_ACCESS_CHOICES

    value = getattr(settings, "BILLING_DISPUTE_ACCESS", "unchanged")
    if value in DISPUTE_ACCESS_CHOICES:
        return []
    return [
        checks.Error(
            f"BILLING_DISPUTE_ACCESS is {value!r}.",
            hint=f"Use one of: {', '.join(DISPUTE_ACCESS_CHOICES)}.",
            id="subscriptions.E004",
        )
    ]


PAUSE_BEHAVIORS = ("void", "keep_as_draft")


@checks.register()
def billing_pause_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """BILLING_PAUSE_BEHAVIOR and BILLING_PAUSED_ACCESS take one of their documented values."""
    from .access.policy import PAUSED_ACCESS_CHOICES

    errors: list[checks.CheckMessage] = []
    behavior = getattr(settings, "BILLING_PAUSE_BEHAVIOR", "void")
    if behavior not in PAUSE_BEHAVIORS:
        errors.append(
            checks.Error(
                f"BILLING_PAUSE_BEHAVIOR is {behavior!r}.",
                hint="Use void or keep_as_draft (Stripe's pause_collection[behavior]).",
                id="subscriptions.E005",
            )
        )
    access = getattr(settings, "BILLING_PAUSED_ACCESS", "free")
    if access not in PAUSED_ACCESS_CHOICES:
        errors.append(
            checks.Error(
                f"BILLING_PAUSED_ACCESS is {access!r}.",
                hint="Use free (the free tier while paused) or plan (keep the plan).",
                id="subscriptions.E006",
            )
        )
    return errors

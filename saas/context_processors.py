"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "STRIPE_EMULATOR": settings.STRIPE_EMULATOR,
        # The account menu links to connected accounts only when a provider is on.
        "SOCIAL_LOGIN": bool(settings.SOCIALACCOUNT_PROVIDERS),
    }

"""What every email the product sends shares: the branding context and the subject.

The layouts are ``templates/email/base.html`` and ``templates/email/base.txt``;
allauth's emails (through ``accounts.adapter.AccountAdapter``) and the billing
notifications (``notifications.services``) both render on them with this context.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


def email_context() -> dict[str, Any]:
    """The site name and public address, read from settings at send time."""
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        # The address as people read it in a footer: app.example.com, not https://...
        "SITE_HOST": urlsplit(settings.SITE_URL).netloc or settings.SITE_URL,
    }


def email_subject(subject: str) -> str:
    """``[Site name] subject``: one prefix for allauth's and our emails."""
    return f"[{settings.SITE_NAME}] {subject}"

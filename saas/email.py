"""What every email the product sends shares: the branding context and the subject.

The layouts are ``templates/email/base.html`` and ``templates/email/base.txt``;
allauth's emails (through ``accounts.adapter.AccountAdapter``) and the billing
notifications (``notifications.services``) both render on them with this context.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


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


def email_message_build(
    *, template_prefix: str, subject: str, to: list[str], context: dict[str, Any]
) -> EmailMultiAlternatives:
    """A text email with its HTML alternative, from ``<prefix>.txt`` and ``<prefix>.html``
    (both on the shared layouts), with the site's subject prefix and from address."""
    context = {**email_context(), **context}
    message = EmailMultiAlternatives(
        subject=email_subject(subject),
        body=render_to_string(f"{template_prefix}.txt", context).strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string(f"{template_prefix}.html", context), "text/html")
    return message

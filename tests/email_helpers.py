"""What every email the product sends must show, checked on ``mail.outbox`` messages."""

from __future__ import annotations

from html import escape

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives


def assert_branded_email(message: EmailMessage, *, link: str = "") -> tuple[str, str]:
    """Subject prefix, from address, a text part and an HTML part that both carry the
    site name, the site URL and ``link``. Returns (text, html)."""
    assert message.subject.startswith(f"[{settings.SITE_NAME}] "), message.subject
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert isinstance(message, EmailMultiAlternatives), "no HTML part"
    assert message.content_subtype == "plain"
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    text, html = str(message.body), str(html)
    assert text.strip()
    assert "<html" not in text
    assert html.lstrip().startswith("<!DOCTYPE html>")
    for body in (text, html):
        assert "{%" not in body
        assert "{{" not in body
    for body, url in ((text, settings.SITE_URL), (html, f'href="{settings.SITE_URL}"')):
        assert settings.SITE_NAME in body
        assert url in body
        assert "example.com" not in body, "Django's default Site leaks into the email"
    if link:
        assert link in text
        assert f'href="{escape(link)}"' in html
    return text, html

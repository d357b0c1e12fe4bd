"""allauth hooks for this project."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

from saas.email import email_context, email_subject

# The links allauth puts into its emails' context (absolute URLs).
EMAIL_LINK_KEYS = ("activate_url", "password_reset_url", "signup_url")


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # allauth renders <prefix>_message.txt and, when present, <prefix>_message.html;
        # ours (templates/account/email/, templates/mfa/email/) sit on the shared layout,
        # which needs the site's name and address even outside a request (no context
        # processors then).
        context = {**email_context(), **context}
        # allauth builds these from the request's host; emails link to the public SITE_URL.
        for key in EMAIL_LINK_KEYS:
            if isinstance(context.get(key), str):
                context[key] = self._public(context[key])
        super().send_mail(template_prefix, email, context)

    def format_email_subject(self, subject: str) -> str:
        return email_subject(subject)

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        # Links in emails use the public SITE_URL, not whatever host the request hit.
        url: str = super().get_email_confirmation_url(request, emailconfirmation)
        return self._public(url)

    def get_reset_password_from_key_url(self, key: str) -> str:
        url: str = super().get_reset_password_from_key_url(key)
        return self._public(url)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # What a visitor started before signing in (an invitation, a plan) goes on after it.
        # The apps that own those steps name them in LOGIN_CONTINUATIONS, in order; this
        # app sits below them and imports none of them.
        for path in settings.LOGIN_CONTINUATIONS:
            continuation: Callable[[HttpRequest], str | None] = import_string(path)
            url = continuation(request)
            if url:
                return url
        default: str = super().get_login_redirect_url(request)
        return default

    def _public(self, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{settings.SITE_URL}{path}"

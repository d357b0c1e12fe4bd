"""allauth hooks for this project."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        # Links in emails use the public SITE_URL, not whatever host the request hit.
        url: str = super().get_email_confirmation_url(request, emailconfirmation)
        return self._public(url)

    def get_reset_password_from_key_url(self, key: str) -> str:
        url: str = super().get_reset_password_from_key_url(key)
        return self._public(url)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # A visitor who picked a plan before signing up goes on to checkout for it.
        from django.urls import reverse
        from django.utils.http import urlencode

        from subscriptions.views import PENDING_PRICE_SESSION_KEY

        pending = request.session.get(PENDING_PRICE_SESSION_KEY)
        if pending:
            return f"{reverse('billing_checkout')}?{urlencode({'price': pending})}"
        url: str = super().get_login_redirect_url(request)
        return url

    def _public(self, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{settings.SITE_URL}{path}"

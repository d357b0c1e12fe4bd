"""allauth hooks for this project."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest

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
        # A visitor who picked a plan before signing up goes on to checkout for it.
        from django.urls import reverse
        from django.utils.http import urlencode

        from subscriptions.services import PENDING_PRICE_SESSION_KEY
        from teams.receivers import PENDING_INVITATION_SESSION_KEY

        # An invitation followed before signing up: back to it (accepted on verification,
        # or accepted there once logged in with the invited address).
        invitation_token = request.session.get(PENDING_INVITATION_SESSION_KEY)
        if invitation_token:
            return reverse("team_invitation", kwargs={"token": invitation_token})
        pending = request.session.get(PENDING_PRICE_SESSION_KEY)
        if pending:
            # The team-less checkout URL continues on the user's current (personal) team.
            return f"{reverse('billing_checkout')}?{urlencode({'price': pending})}"
        url: str = super().get_login_redirect_url(request)
        return url

    def _public(self, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{settings.SITE_URL}{path}"

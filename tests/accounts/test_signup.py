"""Signup, verification, login and password reset through allauth's real views."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _link_in(body: str) -> str:
    match = re.search(r"https?://[^\s]+", body)
    assert match, f"no link in email body: {body!r}"
    return match.group(0)


def test_signup_verification_then_login(client: Client) -> None:
    response = client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="new@example.com")
    assert not EmailAddress.objects.get(user=user).verified

    # Mandatory verification: signing up does not log in, so the app asks for a login.
    response = client.get(reverse("app_home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    confirm_url = _link_in(str(message.body))
    assert confirm_url.startswith("http://127.0.0.1:8000/accounts/confirm-email/")

    path = confirm_url.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200  # confirmation page, no state change on GET
    assert not EmailAddress.objects.get(user=user).verified
    response = client.post(path)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    client.logout()
    response = client.post(
        reverse("account_login"), {"login": "new@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    page = client.get(reverse("app_home"), follow=True)  # to the personal team's app
    assert page.status_code == 200
    assert page.redirect_chain[-1][0].startswith("/t/")
    assert b"new@example.com" in page.content


def test_login_refused_until_email_verified(client: Client) -> None:
    user = make_user(verified=False)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    # allauth sends a fresh verification mail instead of logging in.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1


def test_unverified_session_cannot_open_verified_pages(client: Client) -> None:
    user = make_user(verified=False)
    client.force_login(user)
    response = client.get(reverse("app_home"), follow=True)
    # verified_email_required renders the "verify your email" page instead.
    assert response.status_code == 200
    templates = [t.name for t in response.templates]
    assert "account/verified_email_required.html" in templates
    assert "app/home.html" not in templates


def test_verified_user_reaches_app(client: Client) -> None:
    user = make_user()
    client.force_login(user)
    response = client.get(reverse("app_home"), follow=True)
    assert response.status_code == 200
    assert "app/home.html" in [t.name for t in response.templates]


def test_password_reset_email_and_new_password(client: Client) -> None:
    user = make_user()
    response = client.post(reverse("account_reset_password"), {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    reset_url = _link_in(str(mail.outbox[0].body))
    path = reset_url.removeprefix("http://127.0.0.1:8000")
    # allauth redirects the key URL to a session-bound form URL.
    response = client.get(path, follow=True)
    assert response.status_code == 200
    form_path = response.redirect_chain[-1][0] if response.redirect_chain else path
    new_password = "a different, long passphrase"
    response = client.post(form_path, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_password_reset_for_unknown_email_sends_nothing_revealing(client: Client) -> None:
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302  # same answer as for a known address
    # allauth tells the address that it has no account; there is no reset key to use.
    assert all("/accounts/password/reset/key/" not in str(m.body) for m in mail.outbox)
    assert not User.objects.filter(email="nobody@example.com").exists()

"""allauth's emails, sent through its real views, are branded on the shared layout."""

from __future__ import annotations

import re
from pathlib import Path

import allauth
import pytest
from allauth.account.adapter import get_adapter
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.template import engines
from django.test import Client, RequestFactory
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.services import site_sync_from_settings
from tests.email_helpers import assert_branded_email
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ALLAUTH_TEMPLATES = Path(allauth.__file__).parent / "templates"
ALLAUTH_EMAILS = sorted(
    str(path.relative_to(ALLAUTH_TEMPLATES)).removesuffix("_message.txt")
    for path in ALLAUTH_TEMPLATES.glob("*/email/*_message.txt")
    # allauth.account, allauth.mfa; not allauth.socialaccount, which is not installed.
    if apps.is_installed(f"allauth.{path.parts[-3]}")
    # An email has a subject; base_message.txt is a layout.
    and path.with_name(path.name.replace("_message.txt", "_subject.txt")).exists()
)


@pytest.fixture(autouse=True)
def brand(settings: SettingsWrapper) -> None:
    """Another name and address than the defaults: the emails read them at send time."""
    settings.SITE_NAME = "Brightbill"
    settings.SITE_URL = "https://app.brightbill.test"
    site_sync_from_settings()


def _link(text: str, path_prefix: str) -> str:
    match = re.search(rf"{re.escape(settings.SITE_URL + path_prefix)}\S+", text)
    assert match, f"no {path_prefix} link in {text!r}"
    return match.group(0)


def test_signup_sends_branded_confirmation(client: Client) -> None:
    client.post(
        reverse("account_signup"),
        {"email": "new@mail.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    [message] = mail.outbox
    assert message.to == ["new@mail.test"]
    link = _link(str(message.body), "/accounts/confirm-email/")
    text, html = assert_branded_email(message, link=link)
    assert message.subject == "[Brightbill] Please Confirm Your Email Address"
    assert "Hello from Brightbill!" in text
    assert "app.brightbill.test" in text  # allauth's own sentence names current_site.domain
    assert "new@mail.test was entered on Brightbill" in html


def test_password_reset_form_sends_branded_reset_link(client: Client) -> None:
    user = make_user(email="dana@mail.test")
    client.post(reverse("account_reset_password"), {"email": user.email})
    [message] = mail.outbox
    link = _link(str(message.body), "/accounts/password/reset/key/")
    assert_branded_email(message, link=link)
    assert message.subject == "[Brightbill] Password Reset Email"


def test_password_reset_for_unknown_address_is_branded(client: Client) -> None:
    client.post(reverse("account_reset_password"), {"email": "nobody@mail.test"})
    [message] = mail.outbox
    assert_branded_email(message, link=f"{settings.SITE_URL}/accounts/signup/")
    assert message.subject == "[Brightbill] Unknown Account"


def test_signup_with_a_taken_address_is_branded(client: Client) -> None:
    make_user(email="taken@mail.test")
    client.post(
        reverse("account_signup"),
        {"email": "taken@mail.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    [message] = mail.outbox
    assert_branded_email(message, link=f"{settings.SITE_URL}/accounts/password/reset/")
    assert message.subject == "[Brightbill] Account Already Exists"


def test_password_change_notice_is_branded(client: Client, settings: SettingsWrapper) -> None:
    settings.ACCOUNT_EMAIL_NOTIFICATIONS = True
    user = make_user(email="erin@mail.test")
    client.force_login(user)
    new = "a different, long passphrase"
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new, "password2": new},
    )
    assert response.status_code == 302
    [message] = mail.outbox
    text, html = assert_branded_email(
        message, link=f"{settings.SITE_URL}{reverse('account_change_password')}"
    )
    assert message.subject == "[Brightbill] Password Changed"
    assert "Your password has been changed." in text
    assert "Your password has been changed." in html
    assert "security notice" in text


def test_every_allauth_email_has_an_html_part_on_the_layout() -> None:
    # A new allauth email (an upgrade) fails here until it gets an HTML template.
    assert "account/email/email_confirmation" in ALLAUTH_EMAILS
    assert "mfa/email/totp_activated" in ALLAUTH_EMAILS
    for prefix in ALLAUTH_EMAILS:
        template = engines["django"].engine.get_template(f"{prefix}_message.html")  # type: ignore[attr-defined]
        assert str(template.origin.name).startswith(str(settings.BASE_DIR / "templates")), prefix


@pytest.mark.parametrize("prefix", ALLAUTH_EMAILS)
def test_allauth_email_renders_branded(prefix: str, rf: RequestFactory) -> None:
    from allauth.core import context as allauth_context

    user = make_user(email="fay@mail.test")
    request = rf.get("/")
    request.user = user
    url = f"{settings.SITE_URL}/accounts/some-action/"
    context = {
        "user": user,
        "code": "ABC123",
        "activate_url": url,
        "password_reset_url": url,
        "signup_url": url,
        "from_email": "old@mail.test",
        "to_email": "fay@mail.test",
        "deleted_email": "old@mail.test",
        "ip": "203.0.113.9",
        "user_agent": "Firefox",
        "timestamp": "now",
    }
    with allauth_context.request_context(request):
        get_adapter(request).send_mail(prefix, user.email, context)
    [message] = mail.outbox
    text, html = assert_branded_email(message)
    assert "Hello from Brightbill!" in text
    assert "Hello from Brightbill!" in html
    if url in text:  # an email with an action link has it in both parts
        assert f'href="{url}"' in html
    if "ABC123" in text:
        assert "ABC123" in html
    if "203.0.113.9" in text:  # security notices say where the change came from
        assert "203.0.113.9" in html

"""Account and support journeys in a real browser.

A user closes their account from the account settings (the page explains what is
canceled and that invoices are kept); staff find a customer, impersonate them with
the banner on screen, and stop. Screenshots go to ``var/screenshots/account-journey/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from accounts.models import User
from support.models import Impersonation
from teams import services as team_services
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "account-journey"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    # A loaded machine can take a while for the first login of a browser.
    page.wait_for_url(re.compile(r"/app/"), timeout=90_000)


def test_a_user_deletes_their_account(
    browser: Any, live_billing: Billing, live_server: Any
) -> None:
    base = live_server.url
    user = make_user(email="leaving@example.com", password=PASSWORD)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, user.email)

    page.goto(f"{base}/accounts/profile/")
    page.get_by_role("link", name="Delete account").click()
    # allauth asks for the password again before a sensitive page, even after login.
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/accounts/delete/$"))
    assert page.get_by_test_id("invoices-kept").is_visible()
    page.get_by_label(re.compile("Type your email address")).fill("leaving@example.com")
    _shot(page, "1-delete-account")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"{base}/")
    assert "Your account was deleted" in page.content()
    _shot(page, "2-deleted")
    assert not User.objects.filter(email="leaving@example.com").exists()
    assert any("leaving@example.com" in m.to for m in mail.outbox)
    assert errors == []


def test_staff_impersonate_a_customer_and_stop(
    browser: Any, live_billing: Billing, live_server: Any
) -> None:
    base = live_server.url
    make_user(email="root@example.com", password=PASSWORD, is_staff=True, is_superuser=True)
    customer = make_user(email="customer@shop.test", password=PASSWORD)
    team_services.team_create(owner=customer, name="Shop Ltd")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, "root@example.com")

    page.goto(f"{base}/staff/customers/")
    page.get_by_label("Email, team name or Stripe customer id").fill("Shop")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Shop Ltd").click()
    page.wait_for_url(re.compile(r"/staff/customers/team/\d+/"))
    _shot(page, "3-customer-page")
    page.get_by_role("button", name="Impersonate customer@shop.test").click()
    page.wait_for_url(re.compile(r"/app/"))
    banner = page.get_by_test_id("impersonation-banner")
    assert banner.is_visible()
    assert "customer@shop.test" in banner.inner_text()
    _shot(page, "4-impersonating")
    banner.get_by_role("button", name="Stop impersonating").click()
    page.wait_for_url(re.compile(rf"/staff/customers/user/{customer.pk}/"))
    assert page.get_by_test_id("impersonation-banner").count() == 0
    _shot(page, "5-stopped")
    record = Impersonation.objects.get()
    assert record.hijacked_email == "customer@shop.test"
    assert record.ended_at is not None
    assert errors == []

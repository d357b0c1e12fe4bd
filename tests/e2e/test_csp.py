"""The Content-Security-Policy in a real browser: the main pages break none of it.

Chromium reports every blocked script, style or image on the console ("Refused to
... because it violates the following Content Security Policy directive"); a
listener collects them while a staff user walks through the site, the account and
MFA pages, the admin and the billing-health page, on a desktop and a phone screen.
axe-core checks each of those pages for serious or critical accessibility faults
(injected through the DevTools protocol, so it adds no CSP violation of its own).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from djstripe.models import Product, WebhookEndpoint

from tests.e2e.axe import AxeWatch
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"
# Set to a directory to keep a screenshot of every page (to look at them).
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")


class CspWatch:
    """Collects the CSP violations (and script errors) a page reports."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.axe = AxeWatch(page)
        self.violations: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"{self.page.url}: {message.text}")

    def visit(self, url: str, name: str) -> None:
        response = self.page.goto(url)
        assert response is not None
        assert response.status == 200, (url, response.status)
        assert "Content-Security-Policy" in {k.title() for k in response.headers}
        self.settle(name)

    def settle(self, name: str) -> None:
        # Background images (Bootstrap's data: SVGs) load after the document.
        self.page.wait_for_load_state("networkidle")
        self.axe.check(name)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_main_pages_have_no_csp_violations(
    browser: Any, live_billing: Billing, live_server: Any
) -> None:
    user = make_user(email="ops@example.com", is_staff=True, is_superuser=True)
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = CspWatch(page)

    for path, name in [
        ("/", "home-anonymous"),
        ("/pricing/", "pricing-anonymous"),
        ("/accounts/signup/", "signup"),
        ("/accounts/login/", "login"),
    ]:
        watch.visit(f"{base}{path}", name)
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))
    watch.settle("app-after-login")

    for path, name in [
        ("/", "home"),
        ("/pricing/", "pricing"),
        ("/app/", "app"),
        ("/billing/", "billing"),
        ("/notifications/", "notifications"),
        ("/accounts/email/", "account-email"),
        ("/accounts/password/change/", "password-change"),
        ("/accounts/2fa/", "mfa"),
        ("/admin/", "admin"),
        ("/admin/accounts/user/", "admin-users"),
        (f"/admin/accounts/user/{user.pk}/change/", "admin-user-change"),
        ("/staff/billing-health/", "billing-health"),
        ("/accounts/profile/", "account-profile"),
        ("/staff/customers/?q=example.com", "staff-customer-search"),
        (f"/staff/customers/user/{user.pk}/", "staff-customer-user"),
        ("/admin/support/impersonation/", "admin-impersonations"),
    ]:
        watch.visit(f"{base}{path}", name)

    # dj-stripe's admin: a mirrored object, its sync action, a webhook endpoint.
    product = Product.objects.get(name="Pro")
    endpoint = WebhookEndpoint.objects.first()
    assert endpoint is not None
    watch.visit(f"{base}/admin/djstripe/product/{product.pk}/change/", "djstripe-product")
    watch.visit(f"{base}/admin/djstripe/product/", "djstripe-products")
    page.locator(f"input[name=_selected_action][value='{product.pk}']").check()
    page.select_option("select[name=action]", "_resync_instances")
    page.locator("button[name=index]").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Are you sure you want to sync the selected instances?").is_visible()
    assert page.locator("#div_spinner").is_hidden()
    watch.settle("djstripe-sync-confirm")
    page.locator("#form_custom_action input[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/djstripe/product/$"))
    watch.settle("djstripe-synced")
    watch.visit(
        f"{base}/admin/djstripe/webhookendpoint/{endpoint.pk}/delete/", "djstripe-wh-delete"
    )
    assert page.locator("#div_spinner").is_hidden()

    # The TOTP QR code is a data: image (allauth may ask for the password again first).
    page.goto(f"{base}/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:
        watch.settle("reauthenticate")
        page.fill("input[name=password]", PASSWORD)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_url(re.compile(r"/2fa/totp/activate/$"))
    qr = page.locator("img.totp-qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 0, "the QR code did not load"
    watch.settle("totp-activate")

    # A pending email change: allauth's page then has its hidden "pending-email" form
    # (MFA cannot be set up while an address is unverified, hence after it).
    EmailAddress.objects.create(user=user, email="ops-new@example.com", verified=False)
    watch.visit(f"{base}/accounts/email/", "account-email-pending-change")
    assert page.locator("#pending-email").is_hidden()
    assert page.locator("#new_email").input_value() == "ops-new@example.com"
    # Its buttons submit that hidden form.
    page.get_by_role("button", name="Cancel Change").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#new_email").count() == 0
    assert not EmailAddress.objects.filter(email="ops-new@example.com").exists()

    # A phone screen: the navbar toggler (a data: SVG) and the collapse script.
    page.set_viewport_size({"width": 390, "height": 844})
    watch.visit(f"{base}/pricing/", "pricing-phone")
    page.locator(".navbar-toggler").click()
    page.locator(".navbar-collapse.show").wait_for()
    watch.settle("pricing-phone-menu")

    assert watch.violations == [], "\n".join(watch.violations)
    assert watch.errors == [], "\n".join(watch.errors)
    # Every page it walked is also free of serious and critical accessibility faults.
    assert watch.axe.violations == [], watch.axe.report()

    # The listener does hear the policy: an inline script is refused and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.cspProbe = 1'; document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.cspProbe") is None
    assert any("inline script" in v for v in watch.violations), watch.violations

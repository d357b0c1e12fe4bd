"""A subscriber's journey in a real browser: log in, subscribe, use a paid feature, cancel, resume.

Headless Chromium (Debian's package, driven by Playwright) talks to a live
server of the app; Stripe is the emulator, whose hosted Checkout and Portal
pages the browser fills in; webhooks flow through the real pipeline to a real
Celery worker. axe-core checks each page on the way (the app's and the
emulator's hosted Checkout and Portal pages) for serious or critical
accessibility violations.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from subscriptions.access.access import access_invalidate
from tests.billing_helpers import personal_team
from tests.conftest import WorkerProcess
from tests.e2e.axe import AxeWatch
from tests.e2e.conftest import CHROMIUM
from tests.e2e.helpers import reload_until
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"


def test_subscribe_use_cancel_resume(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    user = make_user(email="journey@example.com", password=PASSWORD)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    axe = AxeWatch(page)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    axe.check("login")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))

    # A paid feature is locked on the free plan.
    page.goto(f"{base}/app/api/")
    assert page.url.endswith("/pricing/")
    assert "part of the Pro plan" in page.content()
    axe.check("pricing-locked-feature")

    page.get_by_role("button", name="Choose Pro").click()
    page.wait_for_url(re.compile(r"/checkout/cs_"))
    axe.check("emulator-checkout")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label(re.compile("Expiration")).fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Jo Journey")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(re.compile(r"/billing/success/"))
    assert "You're subscribed" in page.content()
    axe.check("checkout-success")

    page.goto(f"{base}/app/api/")
    assert page.url.endswith("/app/api/")
    axe.check("api-access")
    page.goto(f"{base}/billing/")
    axe.check("billing-active")
    billing = page.content()
    assert "Pro" in billing
    assert "Active" in billing
    assert "4242" in billing

    # Cancel on the app's page: a reason, the retention offer declined. The
    # subscription is mirrored at once (the webhooks then change nothing).
    page.get_by_role("link", name="Cancel subscription").click()
    page.wait_for_url(re.compile(r"/billing/cancel/$"))
    assert "Before you go: an offer" in page.content()
    axe.check("cancel-page")
    page.get_by_label("I don't use it enough").check()
    page.get_by_role("button", name="No thanks, cancel at period end").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert "Resume subscription" in page.content()
    axe.check("billing-canceled")

    # The Customer Portal's own cancel still works (resume first, then cancel there).
    page.get_by_role("button", name="Resume subscription").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    page.goto(f"{base}/billing/")
    page.get_by_role("button", name="Open billing portal").click()
    page.wait_for_url(re.compile(r"/portal/"))
    page.get_by_role("link", name="Cancel plan").first.click()
    axe.check("emulator-portal-cancel")
    page.get_by_role("button", name="Cancel plan").click()
    access_invalidate(team=personal_team(user))
    reload_until(page, f"{base}/billing/", "Resume subscription")

    page.get_by_role("button", name="Resume subscription").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert "Resume subscription" not in page.content()
    assert "Renews on" in page.content()
    axe.check("billing-resumed")
    assert errors == []
    assert axe.violations == [], axe.report()

"""Changing plan and pausing payments in a real browser.

Headless Chromium against a live server of the app and the emulator: an upgrade
seen on its preview page and paid through 3-D Secure, a downgrade scheduled for
the period end and undone, and a pause resumed early. The subscription itself is
bought through the app's checkout with the Django client (the checkout journey
has its own browser test); every step after that is the browser's. Full-page
screenshots go to ``E2E_SCREENSHOTS`` (default ``var/e2e-screenshots/``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from djstripe.models import Subscription

from subscriptions import services
from subscriptions.models import StripeEvent
from tests.billing_helpers import access_now, personal_team
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
SHOTS = Path(
    os.environ.get("E2E_SCREENSHOTS") or Path(settings.BASE_DIR) / "var" / "e2e-screenshots"
)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"plan-change-{name}.png"), full_page=True)


def _subscriber(billing: Billing, email: str, *, on_starter: bool = False) -> Any:
    """A Pro (or Starter, moved there as the portal would) subscriber, bought via checkout."""
    user = make_user(email=email, password=PASSWORD)
    client = Client()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly"))
    if on_starter:
        sub = Subscription.objects.get(customer__subscriber=personal_team(user))
        starter = services.price_for_checkout(lookup_key="starter_monthly")
        services.stripe_client().v1.subscriptions.update(
            sub.id,
            {
                "items": [{"id": sub.stripe_data["items"]["data"][0]["id"], "price": starter.id}],
                "proration_behavior": "none",
            },
        )
        services.customer_sync_all(team=personal_team(user))
    return user


def _login(browser: Any, base: str, user: Any) -> Any:
    page = browser.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))
    return page


def test_upgrade_with_preview_and_3ds(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    user = _subscriber(live_billing, "upgrade@example.com", on_starter=True)
    sub = Subscription.objects.get(customer__subscriber=personal_team(user))
    client = services.stripe_client()
    # The customer's card now asks for 3-D Secure on every payment.
    pm = client.v1.payment_methods.attach(
        "pm_card_authenticationRequired", {"customer": sub.stripe_data["customer"]}
    )
    client.v1.subscriptions.update(sub.id, {"default_payment_method": pm.id})
    base = live_server.url
    page = _login(browser, base, user)
    axe = AxeWatch(page)

    page.goto(f"{base}/billing/")
    page.get_by_role("link", name="Change plan").click()
    page.get_by_role("button", name="Choose Pro").click()
    page.wait_for_url(re.compile(r"/billing/change/\?price=pro_monthly"))
    content = page.content()
    assert "Change from Starter to Pro" in content
    assert "Credit for unused time on Starter" in content
    assert "Amount due today" in content
    axe.check("plan-change-upgrade")
    _shot(page, "upgrade-preview")

    page.get_by_role("button", name=re.compile(r"^Pay \$[\d.]+ and switch now$")).click()
    page.wait_for_url(re.compile(r"/3ds/pi_"))
    _shot(page, "upgrade-3ds")
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_load_state()
    reload_until(page, f"{base}/billing/", "Pro plan")
    _shot(page, "upgrade-done")
    assert access_now(user).plan_key == "pro"
    assert axe.violations == [], axe.report()


def test_scheduled_downgrade_and_keep(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    user = _subscriber(live_billing, "downgrade@example.com")
    base = live_server.url
    page = _login(browser, base, user)
    axe = AxeWatch(page)

    page.goto(f"{base}/pricing/")
    page.get_by_role("button", name="Choose Starter").click()
    page.wait_for_url(re.compile(r"/billing/change/\?price=starter_monthly"))
    assert "Nothing is charged today" in page.content()
    axe.check("plan-change-downgrade")
    _shot(page, "downgrade-preview")
    page.get_by_role("button", name="Switch to Starter at period end").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    notice = page.locator("[data-scheduled-change]")
    assert re.search(r"Pro until \w+ \d+, then Starter", notice.inner_text())
    axe.check("billing-scheduled-downgrade")
    _shot(page, "downgrade-scheduled")

    page.get_by_role("button", name="Keep Pro").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert page.locator("[data-scheduled-change]").count() == 0
    assert "Your plan stays as it is." in page.content()
    assert access_now(user).plan_key == "pro"
    # The schedule's webhooks go through the pipeline like the others.
    deadline = time.monotonic() + 45
    while not StripeEvent.objects.filter(
        type="subscription_schedule.released", status=StripeEvent.Status.PROCESSED
    ).exists():
        assert time.monotonic() < deadline, "subscription_schedule.released never processed"
        time.sleep(1)
    assert not StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).exists()
    assert axe.violations == [], axe.report()


def test_pause_and_resume(browser: Any, live_billing: Billing, live_server: Any) -> None:
    user = _subscriber(live_billing, "pause@example.com")
    base = live_server.url
    page = _login(browser, base, user)
    axe = AxeWatch(page)

    page.goto(f"{base}/billing/")
    page.get_by_label("Pause payments for").select_option("2")
    page.get_by_role("button", name="Pause payments").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    paused = page.locator("[data-collection-paused]").inner_text()
    assert "Resume payments to get Pro back at once." in paused
    assert "Payments for Pro are paused until" in page.content()
    assert "Free plan" in page.content()
    axe.check("billing-paused")
    _shot(page, "paused")
    assert access_now(user).plan_key == "free"

    page.get_by_role("button", name="Resume payments now").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert page.locator("[data-collection-paused]").count() == 0
    assert "Pro plan" in page.content()
    _shot(page, "resumed")
    assert access_now(user).plan_key == "pro"
    assert axe.violations == [], axe.report()

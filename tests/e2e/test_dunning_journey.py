"""A failed renewal in a real browser: the past-due banner on every page, then "Pay now".

Headless Chromium against a live server; Stripe is the emulator, whose test clock
moves the subscription past its renewal on a card that attaches but always fails
(4000 0000 0000 0341); webhooks go through the real pipeline to a real Celery
worker. After the card is replaced (through the API: the emulator's portal would
pay the overdue invoice itself when the card changes), the banner's "Pay now"
pays the open invoice and the plan is back on the very next page, before any
webhook. Screenshots of each step go to ``DUNNING_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from djstripe.models import Customer

from subscriptions.services import stripe_client
from subscriptions.services import test_clock_advance as advance_clock
from tests.billing_helpers import access_now, personal_team
from tests.conftest import WorkerProcess
from tests.e2e.axe import AxeWatch
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from tests.subscriptions.test_webhook_pipeline import settled, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]
PASSWORD = "correct horse battery staple"


def _switch_card(user: Any, card: str) -> None:
    stripe = stripe_client()
    customer = Customer.objects.get(subscriber=personal_team(user))
    pm = stripe.v1.payment_methods.attach(card, {"customer": customer.id})
    stripe.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = stripe.v1.subscriptions.list({"customer": customer.id}).data[0]
    stripe.v1.subscriptions.update(sub.id, {"default_payment_method": pm.id})


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("DUNNING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_failed_renewal_banner_then_pay_now_restores_the_plan(
    browser: Any, live_billing: Billing, celery_worker_process: WorkerProcess, live_server: Any
) -> None:
    user = make_user(email="dunning@example.com", password=PASSWORD)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    axe = AxeWatch(page)
    base = live_server.url
    team = personal_team(user)

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))
    page.goto(f"{base}/pricing/")
    page.get_by_role("button", name="Choose Pro").click()
    page.wait_for_url(re.compile(r"/checkout/cs_"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label(re.compile("Expiration")).fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Dee Dunning")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(re.compile(r"/billing/success/"))
    wait_for(settled(live_billing), what="checkout")

    # The renewal fails on the test clock: the card attaches but every charge fails.
    _switch_card(user, "pm_card_chargeCustomerFail")
    renewal = access_now(user).current_period_end
    assert renewal is not None
    advance_clock(team=team, to=renewal + timedelta(hours=2))
    wait_for(settled(live_billing), timeout=90, what="failed renewal")
    assert access_now(user).status == "past_due"

    # The banner is on other pages than billing, with a Pay now button.
    projects = f"{base}/t/{team.slug}/app/projects/"
    page.goto(projects)
    banner = page.locator("[data-billing-banner=past_due]")
    assert banner.is_visible()
    assert "The payment for" in banner.inner_text()
    axe.check("past-due-banner")
    _shot(page, "1-banner-on-projects")

    # Pay now with the failing card: a clear decline and the hosted page fallback.
    banner.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert "Your card was declined" in page.content()
    assert page.get_by_role("link", name="Pay with another card on the invoice page").is_visible()
    axe.check("billing-declined")
    _shot(page, "2-declined")

    # The card is replaced; "Pay now" pays at once and the plan is back on the next page.
    _switch_card(user, "pm_card_visa")
    page.goto(projects)
    page.locator("[data-billing-banner=past_due]").get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(r"/billing/$"))
    started = time.monotonic()
    assert "Payment received" in page.content()
    assert "Active. Renews on" in page.content()
    page.goto(projects)
    assert page.locator("[data-billing-banner]").count() == 0
    assert time.monotonic() - started < 10
    _shot(page, "3-paid")
    axe.check("billing-paid")
    wait_for(settled(live_billing), what="webhooks after pay now")
    page.goto(projects)
    assert page.locator("[data-billing-banner]").count() == 0  # the webhooks changed nothing
    assert errors == []
    assert axe.violations == [], axe.report()

"""Prepaid credits in a real browser: a Starter team has used its plan's exports, buys a
credit pack on the emulator's hosted Checkout (payment mode), sees the balance, exports
past the plan's limit with credits, and finds the spend in its history.

Screenshots of each step go to ``var/screenshots/credits-journey/``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from subscriptions.models import StripeEvent
from tests.billing_helpers import access_now, personal_team
from tests.conftest import WorkerProcess
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from usage.credit_selectors import credit_balance
from usage.models import CreditEntry
from usage.services import usage_record

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]

PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "credits-journey"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_team_buys_credits_and_spends_them_on_exports_past_the_plan(
    browser: Any,
    live_billing: Billing,
    live_server: Any,
    celery_worker_process: WorkerProcess,
    client: Client,
) -> None:
    base = live_server.url
    user = make_user(email="credits@example.com", password=PASSWORD)
    client.force_login(user)
    assert client.get(live_billing.subscribe(client, "starter_monthly")).status_code == 200
    team = personal_team(user)
    deadline = time.monotonic() + 60
    while not access_now(team).has("exports"):
        assert time.monotonic() < deadline, "Starter's exports never arrived"
        time.sleep(0.5)
    usage_record(team, "exports", 100)  # the period's 100 included exports are used

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/t/[\w-]+/app/"))

    page.goto(f"{base}/t/{team.slug}/app/exports/")
    notice = page.locator("[data-export-credits]")
    assert "your team has 0" in notice.inner_text()
    _shot(page, "1-exports-limit-reached")
    notice.get_by_role("link", name="Buy credits").click()
    page.wait_for_url(re.compile(r"/credits/$"))
    assert page.locator("[data-credit-balance]").inner_text() == "0"
    _shot(page, "2-credits-empty")

    page.get_by_role("button", name="Buy 1,000 credits").click()
    page.wait_for_url(re.compile(r"/checkout/cs_"))
    assert "$10.00" in page.content()
    _shot(page, "3-emulator-checkout")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label(re.compile("Expiration")).fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Cora Credits")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r"/credits/$"))
    assert page.locator("[data-credit-balance]").inner_text() == "1,000"
    assert "1,000 credits were added to your team" in page.content()
    assert page.locator("[data-entry-kind=purchase]").count() == 1
    _shot(page, "4-credits-bought")

    page.goto(f"{base}/t/{team.slug}/app/exports/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download projects.csv").click()
    assert download.value.suggested_filename == "projects.csv"
    page.goto(f"{base}/t/{team.slug}/credits/")
    assert "This export spent 10 credits; 990 left." in page.content()
    assert page.locator("[data-credit-balance]").inner_text() == "990"
    spend = page.locator("[data-entry-kind=spend]")
    assert spend.count() == 1
    assert "Export past the plan's limit" in spend.inner_text()
    assert "-10" in spend.inner_text()
    _shot(page, "5-credits-spent")

    # The webhooks, processed by the worker meanwhile, found the purchase granted.
    deadline = time.monotonic() + 60
    while not StripeEvent.objects.filter(
        type="checkout.session.completed",
        payload__data__object__mode="payment",
        status=StripeEvent.Status.PROCESSED,
    ).exists():
        assert time.monotonic() < deadline, celery_worker_process.log()[-3000:]
        time.sleep(0.5)
    assert CreditEntry.objects.filter(team=team, kind="purchase").count() == 1
    assert credit_balance(team_id=team.pk) == 990
    assert errors == []

"""Usage-based billing in a real browser: a Pro team calls the API, the usage page shows
the calls, the Celery worker reports them to the emulator's meter, the test clock moves
to the renewal and the invoice carries the overage line at the right amount.

Screenshots of each step go to ``var/screenshots/usage-journey/``.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from subscriptions import selectors as billing_selectors
from subscriptions import services as billing_services
from subscriptions.services import stripe_client
from tests.billing_helpers import access_now, personal_team, tpath
from tests.conftest import WorkerProcess
from tests.e2e.conftest import CHROMIUM
from tests.factories import make_user
from tests.subscriptions.conftest import Billing
from usage import services as usage_services
from usage.models import UsageBucket
from usage.tasks import usage_report_task

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium"),
]

PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "usage-journey"
API_CALLS = 25
# Earlier traffic of the period, recorded directly: 10,975 + 25 calls = 11,000, that is
# 1,000 past the 10,000 Pro includes, at $2 per 1,000.
EARLIER_CALLS = 10_975
OVERAGE_CENTS = 200


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _api_call(base: str, secret: str) -> int:
    request = urllib.request.Request(
        f"{base}/app/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        json.loads(response.read())
        return int(response.status)


def test_pro_team_api_calls_are_billed_as_overage_at_renewal(
    browser: Any,
    live_billing: Billing,
    live_server: Any,
    celery_worker_process: WorkerProcess,
    client: Client,
) -> None:
    base = live_server.url
    user = make_user(email="usage@example.com", password=PASSWORD)
    client.force_login(user)
    assert client.get(live_billing.subscribe(client, "pro_monthly")).status_code == 200
    team = personal_team(user)
    # The success page syncs the subscription; if that races the webhooks under load it
    # says "processing" and the webhooks bring Pro a moment later: wait for the feature.
    deadline = time.monotonic() + 60
    while not access_now(team).has("api_access"):
        assert time.monotonic() < deadline, "Pro's API access never arrived"
        time.sleep(0.5)
    token = client.post(tpath(client, "/app/api/"), {"action": "generate"})
    assert token.status_code == 200, token.get("Location")
    secret = str(token.context["new_secret"])

    usage_services.usage_record(team, "api_calls", EARLIER_CALLS)
    assert all(_api_call(base, secret) == 200 for _ in range(API_CALLS))

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/t/[\w-]+/app/"))
    page.goto(f"{base}/t/{team.slug}/usage/")
    calls = page.locator("[data-meter=api_calls]")
    assert calls.locator("[data-usage-used]").inner_text() == "11,000"
    assert "1,000 units past the included ones: $2" in calls.inner_text()
    assert page.locator("svg.usage-chart").count() == 2
    _shot(page, "1-usage-page")

    # The worker reports (beat would send this every minute).
    deadline = time.monotonic() + 60
    while UsageBucket.objects.filter(team=team, dirty=True).exists():
        assert time.monotonic() < deadline, celery_worker_process.log()[-3000:]
        usage_report_task.apply_async()
        time.sleep(1)

    # The projection now includes the overage (cached briefly: read afresh).
    from django.core.cache import cache

    cache.clear()
    page.reload()
    assert page.locator("[data-preview-total]").inner_text() == "$31"  # $29 + $2
    _shot(page, "2-usage-page-reported")

    subscription = billing_selectors.subscription_current(team=team)
    assert subscription is not None
    state = billing_selectors.subscription_state(subscription)
    assert state.current_period_end is not None
    billing_services.test_clock_advance(team=team, to=state.current_period_end + timedelta(hours=2))
    invoices = stripe_client().v1.invoices.list({"subscription": subscription.id, "limit": 10})
    renewal = next(i for i in invoices.data if i.billing_reason == "subscription_cycle")
    overage = [
        line
        for line in renewal.lines.data
        if line.pricing
        and line.pricing.price_details
        and line.pricing.price_details.price
        == next(
            item["price"]["id"]
            for item in subscription.stripe_data["items"]["data"]
            if item["price"]["lookup_key"] == "pro_api_calls_monthly"
        )
    ]
    assert [line.amount for line in overage] == [OVERAGE_CENTS]
    assert renewal.total == 2900 + OVERAGE_CENTS

    page.goto(f"{base}/t/{team.slug}/billing/")
    _shot(page, "3-billing-after-renewal")
    assert errors == []

"""What each test card in the README's "Try it" does on Checkout, on a trial plan and a plan
charged at once, on the emulator (which follows Stripe's testing docs, STRIPE.md §7).

The README's card list is written from this table; change both together.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from djstripe.models import Subscription

from subscriptions import services
from tests.billing_helpers import access_now, personal_team, tpath
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

TRIAL_PLAN = "starter_monthly"  # 14-day trial
CHARGED_AT_ONCE = "pro_monthly"

# (card, plan) -> (what Checkout does, the subscription's status after the first charge
# that is not made at Checkout: the trial's end, or the first renewal).
OUTCOMES = {
    ("4242424242424242", TRIAL_PLAN): ("complete", "active"),
    ("4242424242424242", CHARGED_AT_ONCE): ("complete", "active"),
    ("4000000000000002", TRIAL_PLAN): ("declined", None),
    ("4000000000000002", CHARGED_AT_ONCE): ("declined", None),
    ("4000000000000341", TRIAL_PLAN): ("complete", "past_due"),
    ("4000000000000341", CHARGED_AT_ONCE): ("declined", None),
    ("4000002500003155", TRIAL_PLAN): ("3ds", "active"),
    ("4000002500003155", CHARGED_AT_ONCE): ("3ds", "active"),
    ("4000002760003184", TRIAL_PLAN): ("3ds", "past_due"),
    ("4000002760003184", CHARGED_AT_ONCE): ("3ds", "past_due"),
}


def _checkout(client: Client, billing: Billing, price: str, card: str) -> str:
    response = client.post(tpath(client, "/billing/checkout/"), {"price": price})
    assert response.status_code == 303
    status, result = billing.complete_checkout(response["Location"], card=card)
    if status == 402:
        assert result["error"]["code"] == "card_declined", result
        return "declined"
    assert status == 200, result
    if result["status"] == "requires_action":
        status, result = billing.complete_checkout(
            response["Location"], card=card, authenticate=True
        )
        assert status == 200, result
        assert result["status"] == "complete", result
        return "3ds"
    assert result["status"] == "complete", result
    return "complete"


@pytest.mark.parametrize(("card", "plan"), list(OUTCOMES))
def test_test_card_on_checkout(client: Client, billing: Billing, card: str, plan: str) -> None:
    user = make_user()
    client.force_login(user)
    at_checkout = _checkout(client, billing, plan, card)
    later: Any = None
    if at_checkout != "declined":
        services.customer_sync_all(team=personal_team(user))
        first = access_now(user)
        assert first.status == ("trialing" if plan == TRIAL_PLAN else "active")
        next_charge = first.trial_end if plan == TRIAL_PLAN else first.current_period_end
        assert next_charge is not None
        services.test_clock_advance(team=personal_team(user), to=next_charge + timedelta(hours=2))
        later = access_now(user).status
    else:
        assert not Subscription.objects.filter(customer__subscriber__personal_for=user).exists()
    assert (at_checkout, later) == OUTCOMES[(card, plan)]


def test_readme_says_what_each_card_does() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {
        cells[0].strip("` ").replace(" ", ""): cells[1:]
        for line in readme.splitlines()
        if line.startswith("| `4")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for (card, plan), (at_checkout, later) in OUTCOMES.items():
        cell = rows[card][0 if plan == CHARGED_AT_ONCE else 1]
        starts = {"declined": "declined at Checkout", "3ds": "3-D Secure at Checkout"}
        if at_checkout in starts:
            assert cell.startswith(starts[at_checkout]), (card, plan, cell)
        else:
            assert "declined" not in cell, (card, plan, cell)
            assert "3-D Secure" not in cell, (card, plan, cell)
        assert ("`past_due`" in cell) == (later == "past_due"), (card, plan, cell)

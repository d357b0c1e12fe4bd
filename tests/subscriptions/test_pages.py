"""Pricing and billing pages from the local mirror: content, query counts, no Stripe calls."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.utils.formats import date_format
from djstripe.models import Price, Product
from pytest_django.fixtures import DjangoAssertNumQueries

from subscriptions import selectors
from subscriptions.catalog import Catalog, PlanSpec, PriceSpec, parse_catalog
from teams.models import Membership
from tests.billing_helpers import DAY, give_plan, mirror_customer, personal_team, tpath
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _mirror_prices(catalog: Catalog) -> None:
    """What billing_bootstrap leaves in the mirror, written directly."""
    for plan in catalog.paid_plans:
        product = Product.objects.create(
            id=f"prod_{plan.key}",
            livemode=False,
            stripe_data={"id": f"prod_{plan.key}", "object": "product", "name": plan.name},
        )
        for spec in plan.prices:
            Price.objects.create(
                id=f"price_{spec.lookup_key}",
                livemode=False,
                active=True,
                currency=catalog.currency,
                lookup_key=spec.lookup_key,
                product=product,
                stripe_data={
                    "id": f"price_{spec.lookup_key}",
                    "object": "price",
                    "active": True,
                    "currency": catalog.currency,
                    "lookup_key": spec.lookup_key,
                    "unit_amount": spec.amount,
                    "recurring": {"interval": spec.interval, "interval_count": 1},
                },
            )


def _catalog_with(n_paid: int) -> Catalog:
    plans: list[dict[str, Any]] = [
        {"key": "free", "name": "Free", "features": [], "quotas": {"projects": 1}}
    ]
    for i in range(n_paid):
        plans.append(
            {
                "key": f"p{i}",
                "name": f"Plan {i}",
                "features": ["exports"],
                "prices": [
                    {"lookup_key": f"p{i}_monthly", "amount": 100 * (i + 1), "interval": "month"},
                    {"lookup_key": f"p{i}_yearly", "amount": 1000 * (i + 1), "interval": "year"},
                ],
            }
        )
    return parse_catalog({"features": {"exports": {"name": "Exports"}}, "plans": plans})


@pytest.mark.parametrize("n_paid", [2, 20])
def test_pricing_queries_do_not_grow_with_plans(
    n_paid: int,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    catalog = _catalog_with(n_paid)
    monkeypatch.setattr(selectors, "get_catalog", lambda: catalog)
    _mirror_prices(catalog)
    with django_assert_num_queries(1):  # one price query, anonymous visitor
        response = client.get("/pricing/?interval=year")
    assert response.status_code == 200
    assert response.content.count(b"Choose Plan") == n_paid
    assert f"${10 * n_paid:,}".encode() in response.content
    with django_assert_num_queries(0):  # the prices are cached until a Price changes
        assert client.get("/pricing/?interval=year").content == response.content


def test_pricing_for_a_signed_in_member_costs_four_queries(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """Session, user, the user's teams (with the current team's member count), the
    unread notifications of the navbar bell: the access (current plan, trial used) and
    the prices come from their caches once warm."""
    from subscriptions.catalog import get_catalog

    _mirror_prices(get_catalog())
    user = make_user()
    give_plan(user, lookup_key="pro_monthly")
    team = personal_team(user)
    for _ in range(2):
        Membership.objects.create(team=team, user=make_user(), role=Membership.Role.MEMBER)
    client.force_login(user)
    client.get("/pricing/")  # warms the access and price caches
    with django_assert_num_queries(4) as captured:
        response = client.get("/pricing/")
    tables = " ".join(query["sql"] for query in captured.captured_queries)
    assert "djstripe_customer" not in tables  # trial and plan from the cached access
    assert "djstripe_price" not in tables
    page = response.content.decode()
    assert "Your team&#x27;s plan" in page or "Your team's plan" in page  # Pro is marked
    assert "free trial" not in page  # the team's customer had a subscription
    # The Team plan's seat input starts at the 3 members, counted with the team list.
    assert 'name="seats" id="seats-team_monthly"' in page
    assert 'value="3" min="3"' in page


def test_pricing_shows_a_price_change_at_once(client: Client) -> None:
    from subscriptions.catalog import get_catalog

    _mirror_prices(get_catalog())
    assert "$29" in client.get("/pricing/").content.decode()
    price = Price.objects.get(lookup_key="pro_monthly")
    price.stripe_data = {**price.stripe_data, "unit_amount": 3900}
    price.save()  # what dj-stripe does when it mirrors a price.updated event
    page = client.get("/pricing/").content.decode()
    assert "$39" in page
    assert "$29" not in page


def test_pricing_shows_prices_trial_and_current_plan(client: Client) -> None:
    from subscriptions.catalog import get_catalog

    _mirror_prices(get_catalog())
    user = make_user()
    give_plan(user, lookup_key="starter_monthly")
    client.force_login(user)
    page = client.get("/pricing/").content.decode()
    assert "$9" in page
    assert "$29" in page
    assert "14-day free trial" not in page  # a subscriber had their trial
    assert "Current plan" in page
    yearly = client.get("/pricing/?interval=year").content.decode()
    assert "$290" in yearly
    assert "$90" in yearly
    # An unknown interval falls back to monthly instead of failing.
    assert client.get("/pricing/?interval=decade").status_code == 200


def test_billing_page_for_a_user_without_subscription(client: Client) -> None:
    client.force_login(make_user())
    page = client.get(tpath(client, "/billing/"))
    assert page.status_code == 200
    assert b"You have no subscription yet" in page.content


def _billing_text(client: Client, user: Any) -> str:
    """The billing page as a reader sees it: tags dropped, whitespace collapsed."""
    client.force_login(user)
    response = client.get(tpath(client, "/billing/"))
    assert response.status_code == 200
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def _day(ts: int) -> str:
    return date_format(datetime.fromtimestamp(ts, tz=UTC), "DATE_FORMAT")


def _plan_and_actions(text: str) -> str:
    """The plan section: from its heading to the billing details beside it."""
    return text[: text.index("Billing details")]


def test_billing_page_active_renews_and_offers_cancel(client: Client) -> None:
    user = make_user()
    sub = give_plan(user, lookup_key="pro_monthly")
    text = _plan_and_actions(_billing_text(client, user))
    end = sub.stripe_data["items"]["data"][0]["current_period_end"]
    assert f"Pro plan Active. Renews on {_day(end)}." in text
    assert "Cancel subscription" in text
    assert "Free plan" not in text


def test_billing_page_canceling_says_when_it_ends_and_offers_resume(client: Client) -> None:
    user = make_user()
    sub = give_plan(user, lookup_key="pro_monthly", cancel_at_period_end=True)
    text = _plan_and_actions(_billing_text(client, user))
    end = sub.stripe_data["items"]["data"][0]["current_period_end"]
    assert f"Pro plan Canceled: Pro ends on {_day(end)}. You keep it until then." in text
    assert "Resume subscription" in text
    assert "Renews on" not in text
    assert "Cancel subscription" not in text


def test_billing_page_past_due_in_grace_keeps_the_plan_until_a_date(
    client: Client, settings: Any
) -> None:
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    user = make_user()
    start = int(time.time()) - 2 * DAY
    give_plan(user, lookup_key="pro_monthly", status="past_due", period_start=start)
    text = _plan_and_actions(_billing_text(client, user))
    assert (
        f"Pro plan Your Pro payment failed on {_day(start)}. "
        f"Update your card before {_day(start + 7 * DAY)} to keep Pro."
    ) in text
    assert "Update payment method" in text
    assert "Renews on" not in text
    assert "Free plan" not in text


def test_billing_page_past_due_after_grace_is_free_with_one_fix(
    client: Client, settings: Any
) -> None:
    settings.BILLING_PAST_DUE_GRACE_DAYS = 7
    user = make_user()
    start = int(time.time()) - 10 * DAY
    give_plan(user, lookup_key="pro_monthly", status="past_due", period_start=start)
    full = _billing_text(client, user)
    text = _plan_and_actions(full)
    assert (
        f"Free plan Your Pro payment failed on {_day(start)}; update your card to restore Pro."
    ) in text
    assert text.count("Update payment method") == 1
    for contradiction in ("Pro plan", "Past due", "Renews on", "Cancel subscription"):
        assert contradiction not in text
    assert "Plan Free" in full  # the details beside it agree


def test_billing_page_unpaid_is_free_and_says_retries_are_over(client: Client) -> None:
    user = make_user()
    start = int(time.time()) - 20 * DAY
    give_plan(user, lookup_key="pro_monthly", status="unpaid", period_start=start)
    text = _plan_and_actions(_billing_text(client, user))
    assert f"Free plan Your Pro payment failed on {_day(start)} and every retry failed" in text
    assert "Update payment method" in text
    assert "Renews on" not in text
    assert "Pro plan" not in text


def test_billing_page_trialing_without_card_asks_for_one(client: Client) -> None:
    user = make_user()
    trial_end = int(time.time()) + 10 * DAY
    give_plan(user, lookup_key="starter_monthly", status="trialing", trial_end=trial_end)
    text = _plan_and_actions(_billing_text(client, user))
    assert (
        f"Starter plan Free trial until {_day(trial_end)}. Add a payment method before then "
        "to keep Starter; without one, your subscription ends with the trial."
    ) in text
    assert "Add payment method" in text
    assert "regular price" not in text


def test_billing_pages_need_login(client: Client) -> None:
    for path in ("/billing/", "/billing/success/?session_id=cs_x"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    for path in ("/billing/portal/", "/billing/resume/", "/billing/checkout/"):
        assert client.post(path).status_code == 302


def test_checkout_and_portal_refuse_get_or_csrfless_posts() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    assert (
        client.post(tpath(client, "/billing/checkout/"), {"price": "pro_monthly"}).status_code
        == 403
    )
    assert client.post(tpath(client, "/billing/portal/")).status_code == 403
    assert client.get(tpath(client, "/billing/portal/")).status_code == 405


def test_dev_page_is_hidden_without_debug(client: Client) -> None:
    client.force_login(make_user())
    assert client.get(tpath(client, "/dev/billing/")).status_code == 404


def test_catalog_rejects_inconsistencies() -> None:
    from subscriptions.catalog import CatalogError

    with pytest.raises(CatalogError, match="free"):
        parse_catalog({"plans": [{"key": "pro", "name": "Pro", "features": []}]})
    with pytest.raises(CatalogError, match="unknown features"):
        parse_catalog({"plans": [{"key": "free", "name": "F", "features": ["x"]}]})
    dup = [{"lookup_key": "a", "amount": 1, "interval": "month"}] * 2
    with pytest.raises(CatalogError, match="duplicate"):
        parse_catalog(
            {"plans": [{"key": "free", "name": "F"}, {"key": "p", "name": "P", "prices": dup}]}
        )
    assert isinstance(_catalog_with(1).plan("p0"), PlanSpec)
    assert isinstance(_catalog_with(1).price("p0_yearly"), PriceSpec)


@pytest.mark.parametrize("visitor", ["anonymous", "new user", "new customer"])
def test_pricing_offers_the_trial_to_whoever_gets_one(client: Client, visitor: str) -> None:
    from subscriptions.catalog import get_catalog

    _mirror_prices(get_catalog())
    if visitor != "anonymous":
        user = make_user()
        if visitor == "new customer":
            mirror_customer(user)  # opened a Checkout once, never subscribed
        client.force_login(user)
        assert selectors.trial_eligible(team=personal_team(user))
    page = client.get("/pricing/").content.decode()
    assert "14-day free trial" in page
    assert "Start free trial" in page
    assert "Free for 14 days, then $9/month" in page
    # Pro has no trial: the first month is charged at once.
    assert "$29 today, then $29/month" in page
    yearly = client.get("/pricing/?interval=year").content.decode()
    assert "Free for 14 days, then $90/year" in yearly


def test_pricing_offers_no_trial_to_a_returning_customer(client: Client) -> None:
    from subscriptions.catalog import get_catalog

    _mirror_prices(get_catalog())
    user = make_user()
    # A past Starter trial that ended: Checkout would charge at once now.
    give_plan(user, lookup_key="starter_monthly", status="canceled", ended_at=1)
    client.force_login(user)
    assert not selectors.trial_eligible(team=personal_team(user))
    page = client.get("/pricing/").content.decode()
    assert "free trial" not in page.lower()
    assert "Free for" not in page
    assert "$9 today, then $9/month" in page
    assert "Choose Starter" in page
    confirm = client.get(tpath(client, "/billing/checkout/?price=starter_monthly")).content.decode()
    assert "free trial" not in confirm.lower()
    assert "$9 today, then $9/month" in confirm

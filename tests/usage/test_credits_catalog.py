"""Credit packs in the catalog, and billing_bootstrap making them one-time prices."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from djstripe.models import Price

from subscriptions import bootstrap as bootstrap_module
from subscriptions.bootstrap import billing_bootstrap
from subscriptions.catalog import CATALOG_PATH, CatalogError, get_catalog, parse_catalog
from subscriptions.services import stripe_client
from tests.subscriptions.conftest import Billing


def _data(**pack_changes: Any) -> dict[str, Any]:
    data = tomllib.loads(CATALOG_PATH.read_text())
    data["credit_packs"][0].update(pack_changes)
    return data


def test_the_catalog_sells_two_packs() -> None:
    packs = get_catalog().credit_packs
    assert [(p.lookup_key, p.credits, p.amount, p.tax_behavior) for p in packs.values()] == [
        ("credits_1000", 1000, 1000, "exclusive"),
        ("credits_5000", 5000, 4000, "exclusive"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interval": "month"}, "sold once"),
        ({"credits": 0}, "credits must be a whole number >= 1"),
        ({"amount": -1}, "amount must be a whole number >= 1"),
        ({"lookup_key": "pro_monthly"}, "used twice"),
        ({"tax_behavior": "sometimes"}, "tax_behavior"),
    ],
)
def test_bad_credit_packs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_data(**change))


@pytest.mark.django_db
@pytest.mark.integration
def test_bootstrap_makes_one_time_prices_and_replaces_a_changed_one(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stripe_client()
    old = client.v1.prices.list({"lookup_keys": ["credits_1000"]}).data[0]
    assert (old.recurring, old.unit_amount, old.tax_behavior, old.type) == (
        None,
        1000,
        "exclusive",
        "one_time",
    )
    assert Price.objects.get(id=old.id).stripe_data["lookup_key"] == "credits_1000"

    monkeypatch.setattr(bootstrap_module, "get_catalog", lambda: parse_catalog(_data(amount=1200)))
    result = billing_bootstrap(site_url="http://127.0.0.1:9")
    assert [(c.action, c.kind) for c in result.changes if "credits_1000" in c.detail] == [
        ("create", "price"),
        ("archive", "price"),
    ]
    new = client.v1.prices.list({"lookup_keys": ["credits_1000"]}).data[0]
    assert (new.unit_amount, new.product) == (1200, old.product)
    assert client.v1.prices.retrieve(old.id).active is False
    assert billing_bootstrap(site_url="http://127.0.0.1:9").changes == []

"""Tax: Stripe Tax in Checkout, tax behaviour from the catalog, and the team's tax IDs.

Against the emulator with the stock SDK: its automatic tax uses a small rate table
of its own (stripe-emulator's README), enough to tell a taxed sale, a reverse charge
and an untaxed country apart.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from djstripe.models import Customer, TaxId

from subscriptions import bootstrap as bootstrap_module
from subscriptions.bootstrap import billing_bootstrap
from subscriptions.catalog import CatalogError, get_catalog, parse_catalog
from subscriptions.services import stripe_client
from subscriptions.tax.tax import checkout_tax_params
from teams import services as team_services
from teams.models import Membership
from tests.billing_helpers import personal_team, tpath, turl
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

US_TAXED = {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "state": "TX"}


@pytest.fixture
def stripe_tax(settings: Any) -> None:
    settings.BILLING_TAX_AUTOMATIC = True
    settings.BILLING_TAX_ID_COLLECTION = True


def _subscribe(client: Client, billing: Billing, user: Any, **details: Any) -> dict[str, Any]:
    """Checkout for Pro monthly with these details; the subscription's first invoice."""
    success = billing.subscribe(client, "pro_monthly", **details)
    assert client.get(success).status_code == 200
    customer_id = Customer.objects.get(subscriber=personal_team(user)).id
    return stripe_client().v1.invoices.list({"customer": customer_id}).data[0].to_dict()


def _login(client: Client) -> Any:
    user = make_user()
    client.force_login(user)
    return user


def _billing_page(client: Client) -> str:
    return " ".join(client.get(tpath(client, "/billing/")).content.decode().split())


def test_checkout_asks_stripe_tax_for_the_address_and_tax_id_only_when_on(settings: Any) -> None:
    settings.BILLING_TAX_AUTOMATIC = False
    settings.BILLING_TAX_ID_COLLECTION = False
    assert checkout_tax_params() == {}
    settings.BILLING_TAX_AUTOMATIC = True
    settings.BILLING_TAX_ID_COLLECTION = True
    assert checkout_tax_params() == {
        "automatic_tax": {"enabled": True},
        "billing_address_collection": "required",
        "tax_id_collection": {"enabled": True},
        # An existing customer: Stripe needs both saved from Checkout.
        "customer_update": {"address": "auto", "name": "auto"},
    }


def test_a_us_customer_in_a_taxed_state_pays_sales_tax_on_top(
    client: Client, billing: Billing, stripe_tax: None
) -> None:
    user = _login(client)
    invoice = _subscribe(client, billing, user, address={**US_TAXED, "country": "US"})
    taxes = invoice["total_taxes"]
    assert taxes
    assert taxes[0]["taxability_reason"] == "standard_rated"
    tax = sum(t["amount"] for t in taxes)
    assert tax > 0
    # Exclusive prices (the catalog's tax_behavior): tax comes on top of $29.00.
    assert invoice["subtotal"] == 2900
    assert invoice["total"] == invoice["amount_paid"] == 2900 + tax
    page = _billing_page(client)
    assert f"incl. ${tax / 100:.2f} tax" in page


def test_an_eu_business_with_a_vat_id_gets_reverse_charge_and_keeps_its_id(
    client: Client, billing: Billing, stripe_tax: None
) -> None:
    user = _login(client)
    invoice = _subscribe(
        client,
        billing,
        user,
        address={"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        tax_id="DE123456789",
        business_name="Muster GmbH",
    )
    assert [t["taxability_reason"] for t in invoice["total_taxes"]] == ["reverse_charge"]
    assert invoice["amount_paid"] == 2900
    # Checkout saved the ID on the customer; the success page mirrored it.
    page = _billing_page(client)
    assert "DE123456789" in page
    assert "EU VAT number" in page


def test_a_country_without_tax_pays_none(
    client: Client, billing: Billing, stripe_tax: None
) -> None:
    user = _login(client)
    invoice = _subscribe(
        client,
        billing,
        user,
        # Hong Kong has no postal codes; the emulator's hosted page still asks for one.
        address={"line1": "1 Queen's Rd", "city": "Hong Kong", "postal_code": "0", "country": "HK"},
    )
    assert sum(t["amount"] for t in invoice["total_taxes"]) == 0
    assert invoice["amount_paid"] == 2900
    invoices_section = _billing_page(client).split('id="invoices-heading"')[1]
    assert "tax" not in invoices_section


def test_owners_add_and_remove_tax_ids_and_stripe_checks_them(
    client: Client, billing: Billing
) -> None:
    user = _login(client)
    billing.subscribe(client, "pro_monthly")
    add = tpath(client, "/billing/tax-ids/")
    bad = client.post(add, {"type": "eu_vat", "value": "DE12"}, follow=True)
    assert "not valid" in bad.content.decode()
    assert not TaxId.objects.exists()

    client.post(add, {"type": "gb_vat", "value": "GB123456789"})
    [tax_id] = TaxId.objects.all()
    customer_id = Customer.objects.get(subscriber=personal_team(user)).id
    on_stripe = stripe_client().v1.customers.tax_ids.list(customer_id).data
    assert [(t.type, t.value) for t in on_stripe] == [("gb_vat", "GB123456789")]
    assert "GB123456789" in _billing_page(client)

    client.post(tpath(client, f"/billing/tax-ids/{tax_id.id}/delete/"))
    assert not TaxId.objects.exists()
    assert stripe_client().v1.customers.tax_ids.list(customer_id).data == []


def test_tax_ids_are_for_the_teams_own_owners_and_admins(client: Client, billing: Billing) -> None:
    owner = make_user()
    team = team_services.team_create(owner=owner, name="Acme")
    owner_client = Client()
    owner_client.force_login(owner)
    response = owner_client.post(turl(team, "billing_checkout"), {"price": "pro_monthly"})
    billing.complete_checkout(response["Location"], card="4242424242424242")
    owner_client.get(turl(team, "billing"))
    assert (
        owner_client.post(
            turl(team, "billing_tax_id_create"), {"type": "gb_vat", "value": "GB123456789"}
        ).status_code
        == 302
    )
    [tax_id] = TaxId.objects.all()

    member = make_user()
    Membership.objects.create(team=team, user=member)
    client.force_login(member)
    assert client.post(turl(team, "billing_tax_id_delete", tax_id=tax_id.id)).status_code == 403
    assert "GB123456789" not in client.get(turl(team, "billing")).content.decode()

    outsider = Client()
    outsider_user = make_user()
    outsider.force_login(outsider_user)
    assert outsider.post(turl(team, "billing_tax_id_delete", tax_id=tax_id.id)).status_code == 404
    # Another team's id through one's own team URL: not found either.
    own = personal_team(outsider_user)
    assert outsider.post(turl(own, "billing_tax_id_delete", tax_id=tax_id.id)).status_code == 404
    assert TaxId.objects.filter(id=tax_id.id).exists()


def test_the_catalog_sets_each_prices_tax_behavior(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stripe_client()
    current = client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data[0]
    assert current.tax_behavior == "exclusive"

    import tomllib

    from subscriptions.catalog import CATALOG_PATH

    data = tomllib.loads(CATALOG_PATH.read_text())
    data["tax_behavior"] = "inclusive"
    monkeypatch.setattr(bootstrap_module, "get_catalog", lambda: parse_catalog(data))
    result = billing_bootstrap(site_url="http://127.0.0.1:9")
    assert any("tax inclusive" in c.detail for c in result.changes if c.kind == "price")
    moved = client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data[0]
    # Stripe never changes a price's tax behavior: a new price takes the lookup key.
    assert (moved.id != current.id, moved.tax_behavior) == (True, "inclusive")
    assert client.v1.prices.retrieve(current.id).active is False


def test_a_bad_tax_behavior_in_the_catalog_is_refused() -> None:
    import tomllib

    from subscriptions.catalog import CATALOG_PATH

    data = tomllib.loads(CATALOG_PATH.read_text())
    data["plans"][1]["prices"][0]["tax_behavior"] = "sometimes"
    with pytest.raises(CatalogError, match="tax_behavior must be one of"):
        parse_catalog(data)
    assert {p.tax_behavior for plan in get_catalog().paid_plans for p in plan.prices} == {
        "exclusive"
    }

"""A German business subscribes with its VAT number in a real browser: reverse charge.

Stripe Tax is on (``BILLING_TAX_AUTOMATIC``): the emulator's hosted Checkout asks
for the billing address and offers "I'm purchasing as a business" with a tax ID.
The invoice then carries no VAT (reverse charge) and the team's billing page
lists the VAT number, which the owner can remove there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from djstripe.models import Customer

from subscriptions.services import stripe_client
from tests.billing_helpers import personal_team
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
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "tax-journey"


def test_an_eu_business_subscribes_with_its_vat_number(
    browser: Any, live_billing: Billing, live_server: Any, settings: Any
) -> None:
    settings.BILLING_TAX_AUTOMATIC = True
    settings.BILLING_TAX_ID_COLLECTION = True
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = make_user(email="einkauf@muster.example", password=PASSWORD)
    page = browser.new_page()
    axe = AxeWatch(page)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/app/"))

    page.goto(f"{base}/pricing/")
    page.get_by_role("button", name="Choose Pro").click()
    page.wait_for_url(re.compile(r"/checkout/cs_"))
    axe.check("emulator-checkout-tax")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label(re.compile("Expiration")).fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Erika Muster")
    page.get_by_label("Address line 1").fill("Hauptstr. 1")
    page.get_by_label("City", exact=True).fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("Country (2-letter code)").fill("DE")
    page.get_by_label("I'm purchasing as a business").check()
    page.get_by_label("Business name").fill("Muster GmbH")
    page.get_by_label(re.compile("Tax ID")).fill("DE123456789")
    page.screenshot(path=str(SHOTS / "checkout.png"), full_page=True)
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(re.compile(r"/billing/success/"))
    assert "You're subscribed" in page.content()

    customer = Customer.objects.get(subscriber=personal_team(user))
    [invoice] = stripe_client().v1.invoices.list({"customer": customer.id}).data
    assert [t.taxability_reason for t in invoice.total_taxes or []] == ["reverse_charge"]
    assert invoice.amount_paid == 2900
    assert stripe_client().v1.customers.retrieve(customer.id).name == "Muster GmbH"

    page.goto(f"{base}/billing/")
    axe.check("billing-tax-ids")
    page.screenshot(path=str(SHOTS / "billing.png"), full_page=True)
    tax_ids = page.locator("section[aria-labelledby=tax-ids-heading]")
    assert "DE123456789" in tax_ids.inner_text()
    assert "EU VAT number" in tax_ids.inner_text()

    tax_ids.get_by_role("button", name=re.compile("Remove")).click()
    page.wait_for_url(re.compile(r"/billing/$"))
    assert "Tax ID removed." in page.content()
    assert stripe_client().v1.customers.tax_ids.list(customer.id).data == []

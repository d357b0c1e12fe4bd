"""Tax: Stripe Tax in Checkout, and the team's tax IDs.

With ``BILLING_TAX_AUTOMATIC`` Checkout calculates tax (``automatic_tax``) from
the billing address it requires, and saves that address on the customer
(``customer_update[address]=auto``: Stripe refuses automatic tax for an
existing customer without a usable address otherwise). The subscription
Checkout creates keeps calculating tax at each renewal. With
``BILLING_TAX_ID_COLLECTION`` the customer can buy as a business and give one
tax ID, which Checkout saves on the customer with the business name
(``customer_update[name]=auto``, which Stripe requires for an existing
customer). Owners and admins also add and remove tax IDs on the billing page;
Stripe checks each ID's format and answers a clear error for a bad one.
(docs.stripe.com/tax/checkout, docs.stripe.com/tax/checkout/tax-ids,
docs.stripe.com/billing/customer/tax-ids)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class TaxIdType:
    type: str  # Stripe's tax ID type
    label: str
    example: str


# The tax ID types offered in the app (Stripe supports many more; the portal and the
# API take any of them, and the billing page lists whatever the customer has).
TAX_ID_TYPES = (
    TaxIdType("eu_vat", "EU VAT number", "DE123456789"),
    TaxIdType("gb_vat", "UK VAT number", "GB123456789"),
    TaxIdType("ch_vat", "Swiss VAT number", "CHE-123.456.789 MWST"),
    TaxIdType("no_vat", "Norwegian VAT number", "123456789MVA"),
    TaxIdType("au_abn", "Australian Business Number", "12345678912"),
    TaxIdType("ca_bn", "Canadian Business Number", "123456789"),
    TaxIdType("us_ein", "US Employer Identification Number", "12-3456789"),
)
TAX_ID_TYPE_LABELS = {t.type: t.label for t in TAX_ID_TYPES}


def checkout_tax_params() -> dict[str, Any]:
    """What a subscription Checkout Session adds for tax, per the settings."""
    params: dict[str, Any] = {}
    customer_update: dict[str, str] = {}
    if settings.BILLING_TAX_AUTOMATIC:
        params["automatic_tax"] = {"enabled": True}
        params["billing_address_collection"] = "required"
        customer_update["address"] = "auto"
    if settings.BILLING_TAX_ID_COLLECTION:
        params["tax_id_collection"] = {"enabled": True}
        customer_update["name"] = "auto"
    if customer_update:
        params["customer_update"] = customer_update
    return params

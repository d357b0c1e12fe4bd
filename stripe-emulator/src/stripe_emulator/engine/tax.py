"""Tax: Tax Rate objects, customer tax IDs, the emulator's automatic-tax table
and the taxes of invoice lines.

Manual tax rates (docs.stripe.com/billing/taxes/tax-rates,
docs.stripe.com/invoicing/taxes/tax-rates): a line's own `tax_rates`
(subscription item, invoice item) win; otherwise the invoice's
`default_tax_rates`, then its subscription's. An exclusive rate adds
`amount x percentage / 100` to the total; an inclusive one is already inside
the amount (`amount - amount / (1 + percentage / 100)`). Tax is computed per
line on the amount after discounts, rounded half up, and summed per rate in
`invoice.total_taxes` (`type: tax_rate_details`, the shape every accepted
API version has; see `versions.py`: none renames it).

Automatic tax (docs.stripe.com/tax/customer-locations, /tax/zero-tax): the
customer's location is its shipping address, else its billing address; no
country (or a US address without a state) is `requires_location_inputs`. The
rate comes from `AUTOMATIC_RATES`, the emulator's own small table (not Stripe's
rates; README "Automatic tax"). A customer with `tax_exempt=exempt` pays
none (`customer_exempt`); `tax_exempt=reverse`, or a business with an EU VAT
(or UK VAT) ID buying from the emulator's US account, is `reverse_charge`
(0 tax, the buyer accounts for it). A location the table has no rate for is
`not_collecting` (the account is not registered there) and the table's
no-VAT countries are `not_subject_to_tax`. Each jurisdiction has one inactive
Tax Rate object (as Stripe's automatic-tax rates are; they are retrievable but
not listed, stripe/stripe-python#1363), whose `effective_percentage` is the
rate actually applied (0 for a reverse charge).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .common import JSONDict, id_of

# --------------------------------------------------------------------------
# the emulator's automatic-tax table (README "Automatic tax")

ACCOUNT_COUNTRY = "US"

# US state -> (jurisdiction, sales tax %), state level only.
US_SALES_TAX: dict[str, tuple[str, float]] = {
    "CA": ("California", 7.25),
    "FL": ("Florida", 6.0),
    "NY": ("New York", 4.0),
    "TX": ("Texas", 6.25),
    "WA": ("Washington", 6.5),
}

# EU member state -> standard VAT %.
EU_VAT: dict[str, float] = {
    "AT": 20.0,
    "BE": 21.0,
    "BG": 20.0,
    "CY": 19.0,
    "CZ": 21.0,
    "DE": 19.0,
    "DK": 25.0,
    "EE": 22.0,
    "ES": 21.0,
    "FI": 25.5,
    "FR": 20.0,
    "GR": 24.0,
    "HR": 25.0,
    "HU": 27.0,
    "IE": 23.0,
    "IT": 22.0,
    "LT": 21.0,
    "LU": 17.0,
    "LV": 21.0,
    "MT": 18.0,
    "NL": 21.0,
    "PL": 23.0,
    "PT": 23.0,
    "RO": 19.0,
    "SE": 25.0,
    "SI": 22.0,
    "SK": 20.0,
}

# Other countries with a VAT the emulator collects.
OTHER_VAT: dict[str, float] = {"GB": 20.0}

# Countries without a consumption tax in the emulator's table.
NO_TAX_COUNTRIES = frozenset({"HK"})

# Tax ID types that make a buyer in that region a business for reverse charge.
_BUSINESS_IDS = {"eu_vat": EU_VAT.keys(), "gb_vat": {"GB"}}


def customer_location(customer: JSONDict | None) -> JSONDict | None:
    """`{"country", "state", "source"}` from shipping, then billing address; None if unusable."""
    if not customer:
        return None
    candidates = (
        ((customer.get("shipping") or {}).get("address"), "shipping_destination"),
        (customer.get("address"), "billing_address"),
    )
    for address, source in candidates:
        if not address or not any(address.values()):
            continue
        # The first non-empty address is the one used (docs: "Which customer
        # address we use"); one that is not precise enough stops there.
        country = (address.get("country") or "").upper()
        state = (address.get("state") or "").upper() or None
        if len(country) != 2 or (country == "US" and not state):
            return None
        return {"country": country, "state": state, "source": source}
    return None


def customer_tax_details(customer: JSONDict) -> JSONDict:
    """`customer.tax` (includable): the automatic-tax status of the customer's location."""
    location = customer_location(customer)
    status = "supported"
    if location is None:
        status = "unrecognized_location"
    elif _jurisdiction(location) is None:
        status = "not_collecting"
    return {
        "automatic_tax": status,
        "ip_address": None,
        "location": location,
        "provider": "stripe",
    }


def _jurisdiction(location: JSONDict) -> JSONDict | None:
    """The table's rate for a location: key, name, level, tax type, percentage."""
    country, state = location["country"], location.get("state")
    if country == "US":
        if state not in US_SALES_TAX:
            return None
        name, pct = US_SALES_TAX[state]
        return {
            "key": f"US-{state}",
            "country": "US",
            "state": state,
            "jurisdiction": name,
            "level": "state",
            "tax_type": "sales_tax",
            "display_name": "Sales Tax",
            "percentage": pct,
        }
    pct_or_none = EU_VAT.get(country, OTHER_VAT.get(country))
    if pct_or_none is None:
        return None
    return {
        "key": country,
        "country": country,
        "state": None,
        "jurisdiction": country,
        "level": "country",
        "tax_type": "vat",
        "display_name": "VAT",
        "percentage": pct_or_none,
    }


def _reverse_charge(ctx: Ctx, customer: JSONDict, country: str, extra: list[JSONDict]) -> bool:
    if customer.get("tax_exempt") == "reverse":
        return True
    if country == ACCOUNT_COUNTRY:
        return False
    stored = customer_tax_ids(ctx, customer["id"]) if customer.get("id") else []
    for tax_id in [*stored, *extra]:
        countries = _BUSINESS_IDS.get(str(tax_id.get("type")))
        if countries is not None and country in countries:
            return True
    return False


def automatic_outcome(
    ctx: Ctx, customer: JSONDict | None, *, extra_tax_ids: list[JSONDict] | None = None
) -> JSONDict | None:
    """What automatic tax does for this customer: the rate to apply and why.

    None when the location is missing (`requires_location_inputs`); else
    `{"rate": tax_rate, "percent": applied %, "reason": taxability_reason}`.
    `extra_tax_ids` (`{"type", "value"}`): tax IDs entered but not stored yet.
    """
    location = customer_location(customer)
    if customer is None or location is None:
        return None
    juris = _jurisdiction(location)
    if juris is None:
        reason = (
            "not_subject_to_tax" if location["country"] in NO_TAX_COUNTRIES else "not_collecting"
        )
        juris = {
            "key": f"{location['country']}-{reason}",
            "country": location["country"],
            "state": location.get("state"),
            "jurisdiction": location["country"],
            "level": "country",
            "tax_type": None,
            "display_name": "Tax",
            "percentage": 0.0,
        }
        return {"rate": _automatic_rate(ctx, juris, 0.0), "percent": 0.0, "reason": reason}
    if customer.get("tax_exempt") == "exempt":
        return {
            "rate": _automatic_rate(ctx, juris, 0.0),
            "percent": 0.0,
            "reason": "customer_exempt",
        }
    if _reverse_charge(ctx, customer, location["country"], extra_tax_ids or []):
        return {
            "rate": _automatic_rate(ctx, juris, 0.0),
            "percent": 0.0,
            "reason": "reverse_charge",
        }
    pct = float(juris["percentage"])
    return {"rate": _automatic_rate(ctx, juris, pct), "percent": pct, "reason": "standard_rated"}


def _automatic_rate(ctx: Ctx, juris: JSONDict, effective: float) -> JSONDict:
    """The (inactive) Tax Rate object of one jurisdiction and effective rate, made once."""
    key = f"tax.automatic_rate.{juris['key']}.{effective}"
    rate_id = ctx.store.kv_get(key, None)
    rate = ctx.find("tax_rate", str(rate_id)) if rate_id else None
    if rate is not None:
        return rate
    rate = _tax_rate_object(
        ctx,
        {
            "display_name": juris["display_name"],
            "inclusive": False,
            "percentage": juris["percentage"],
            "country": juris["country"],
            "state": juris["state"],
            "jurisdiction": juris["jurisdiction"],
            "tax_type": juris["tax_type"],
            "active": False,
        },
    )
    rate["effective_percentage"] = effective
    rate["jurisdiction_level"] = juris["level"]
    rate["_automatic"] = True
    ctx.save(rate)
    ctx.store.kv_set(key, rate["id"])
    return rate


# --------------------------------------------------------------------------
# Tax Rate objects (POST/GET /v1/tax_rates)


def _tax_rate_object(ctx: Ctx, params: JSONDict) -> JSONDict:
    percentage = float(params["percentage"])
    return {
        "id": new_id("txr"),
        "object": "tax_rate",
        "active": bool(params.get("active", True)),
        "country": params.get("country") or None,
        "created": ctx.now_for_clock(None),
        "description": params.get("description") or None,
        "display_name": params["display_name"],
        "effective_percentage": percentage,
        "flat_amount": None,
        "inclusive": bool(params["inclusive"]),
        "jurisdiction": params.get("jurisdiction") or None,
        "jurisdiction_level": None,
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "percentage": percentage,
        "rate_type": "percentage",
        "state": params.get("state") or None,
        "tax_type": params.get("tax_type") or None,
    }


def tax_rate_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    """POST /v1/tax_rates; emits `tax_rate.created`."""
    percentage = float(params["percentage"])
    if not 0 <= percentage <= 100:
        raise invalid_request("Percentage must be between 0 and 100.", param="percentage")
    rate = _tax_rate_object(ctx, params)
    ctx.save(rate)
    ctx.emit("tax_rate.created", rate)
    return rate


_UPDATABLE = ("active", "country", "description", "display_name", "jurisdiction", "state")


def tax_rate_update(ctx: Ctx, rate_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/tax_rates/{id}: only descriptive fields and `active`; percentage and
    inclusive cannot change (they are not update parameters). Emits `tax_rate.updated`."""
    rate = ctx.get("tax_rate", rate_id)
    before = {k: v for k, v in rate.items() if not k.startswith("_")}
    for key in _UPDATABLE:
        if key in params:
            value = params[key]
            rate[key] = bool(value) if key == "active" else (value or None)
    if "tax_type" in params:
        rate["tax_type"] = params["tax_type"] or None
    if "metadata" in params:
        rate["metadata"] = apply_metadata(rate.get("metadata"), params["metadata"])
    ctx.save(rate)
    if {k: v for k, v in rate.items() if not k.startswith("_")} != before:
        ctx.emit("tax_rate.updated", rate, previous=before)
    return rate


def tax_rates_from_params(
    ctx: Ctx, raw: Any, param: str, *, already: list[JSONDict] | None = None
) -> list[JSONDict]:
    """The Tax Rate objects a `tax_rates` / `default_tax_rates` parameter names.

    Unknown ids are a 400 `resource_missing` naming the element (a referenced
    object, not the URL's, as for other parameters); an inactive rate is a 400
    unless the object already had it (an inactive rate "will still work for
    subscriptions and invoices that already have it set", API reference
    `tax_rate.active`). `""` (unset) gives [].
    """
    if raw in (None, ""):
        return []
    kept = {r["id"] for r in already or []}
    out: list[JSONDict] = []
    for i, rate_id in enumerate(raw):
        name = f"{param}[{i}]"
        rate = ctx.find("tax_rate", str(rate_id))
        if rate is None:
            raise invalid_request(
                f"No such tax rate: '{rate_id}'", param=name, code="resource_missing"
            )
        if not rate.get("active") and rate["id"] not in kept:
            raise invalid_request(
                f"Tax rate {rate['id']} is inactive and cannot be used.", param=name
            )
        out.append(rate)
    if len(out) > 10:
        raise invalid_request("You can specify at most 10 tax rates.", param=param)
    return out


def rate_ids(rates: Any) -> list[str]:
    return [str(id_of(r)) for r in rates or []]


# --------------------------------------------------------------------------
# automatic tax on subscriptions, invoices and prices


def automatic_tax_enabled(raw: Any) -> bool:
    return bool((raw or {}).get("enabled"))


def subscription_automatic_tax(enabled: bool) -> JSONDict:
    return {
        "disabled_reason": None,
        "enabled": enabled,
        "liability": {"account": None, "type": "self"} if enabled else None,
    }


def invoice_automatic_tax(enabled: bool, status: str | None = None) -> JSONDict:
    return {
        "disabled_reason": None,
        "enabled": enabled,
        "liability": {"account": None, "type": "self"} if enabled else None,
        "provider": "stripe" if enabled else None,
        "status": status if enabled else None,
    }


def check_tax_behavior(prices: list[JSONDict], param: str) -> None:
    """Automatic tax needs each price's tax behavior ("Only required if a default
    tax behavior was not provided in the Stripe Tax settings", API reference
    `price.tax_behavior`; the emulator's account has no such default)."""
    for i, price in enumerate(prices):
        if (price.get("tax_behavior") or "unspecified") == "unspecified":
            raise invalid_request(
                f"The price {price['id']} has no tax_behavior. Automatic tax needs each "
                "price's tax_behavior set to inclusive or exclusive (the emulator's account "
                "has no default tax behavior).",
                param=param.format(i=i),
            )


def location_error() -> StripeAPIError:
    """Finalising an automatic-tax invoice without a usable customer location."""
    return invalid_request(
        "The customer's location isn't recognized. Add a valid address to the Customer "
        "to calculate tax automatically.",
        param="customer",
        code="customer_tax_location_invalid",
    )


# --------------------------------------------------------------------------
# taxes of invoice lines


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_entry(net: int, percent: float, *, inclusive: bool, rate_id: str, reason: str) -> JSONDict:
    """One `taxes[]` entry of a line whose amount after discounts is `net`."""
    pct = Decimal(str(percent))
    if inclusive:
        amount = net - _round(Decimal(net) * 100 / (100 + pct))
        taxable = net - amount
    else:
        amount = _round(Decimal(net) * pct / 100)
        taxable = net
    return {
        "amount": amount,
        "tax_behavior": "inclusive" if inclusive else "exclusive",
        "tax_rate_details": {"tax_rate": rate_id},
        "taxability_reason": reason,
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }


def _line_net(line: JSONDict) -> int:
    return int(line["amount"]) - sum(int(d["amount"]) for d in line.get("discount_amounts") or [])


def _line_price(ctx: Ctx, line: JSONDict) -> JSONDict | None:
    details = (line.get("pricing") or {}).get("price_details") or {}
    price_id = id_of(details.get("price"))
    return ctx.find("price", str(price_id)) if price_id else None


def _manual_rate_ids(ctx: Ctx, inv: JSONDict, line: JSONDict) -> list[str]:
    own = list(line.get("_tax_rates") or [])
    if own:
        return own
    if inv.get("default_tax_rates"):
        return rate_ids(inv["default_tax_rates"])
    sub_id = ((inv.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    sub = ctx.find("subscription", str(id_of(sub_id))) if sub_id else None
    return rate_ids((sub or {}).get("default_tax_rates"))


def _manual_taxes(ctx: Ctx, inv: JSONDict, line: JSONDict) -> list[JSONDict]:
    out = []
    net = _line_net(line)
    for rate_id in _manual_rate_ids(ctx, inv, line):
        rate = ctx.find("tax_rate", rate_id)
        if rate is None:
            continue
        out.append(
            tax_entry(
                net,
                float(rate["percentage"]),
                inclusive=bool(rate["inclusive"]),
                rate_id=rate_id,
                reason="not_available",
            )
        )
    return out


def _automatic_taxes(ctx: Ctx, line: JSONDict, outcome: JSONDict) -> list[JSONDict]:
    price = _line_price(ctx, line)
    behavior = (price or {}).get("tax_behavior") or line.get("_tax_behavior") or "unspecified"
    if behavior == "unspecified":
        # No tax behavior to apply: Stripe refuses these up front (check_tax_behavior).
        return []
    return [
        tax_entry(
            _line_net(line),
            float(outcome["percent"]),
            inclusive=behavior == "inclusive",
            rate_id=outcome["rate"]["id"],
            reason=str(outcome["reason"]),
        )
    ]


def apply_invoice_taxes(ctx: Ctx, inv: JSONDict) -> tuple[int, int]:
    """Set every line's `taxes` and the invoice's `total_taxes` and `automatic_tax.status`.

    Returns (exclusive tax, inclusive tax) for the totals.
    """
    lines = inv["lines"]["data"]
    outcome = None
    auto = automatic_tax_enabled(inv.get("automatic_tax"))
    if auto:
        outcome = automatic_outcome(ctx, ctx.find("customer", inv["customer"]))
        status = "complete" if outcome is not None else "requires_location_inputs"
        inv["automatic_tax"] = invoice_automatic_tax(True, status)
    totals: dict[tuple[str, str, str], JSONDict] = {}
    for line in lines:
        if auto:
            line["taxes"] = _automatic_taxes(ctx, line, outcome) if outcome else []
        else:
            line["taxes"] = _manual_taxes(ctx, inv, line)
        for tax in line["taxes"]:
            key = (
                tax["tax_rate_details"]["tax_rate"],
                tax["tax_behavior"],
                tax["taxability_reason"],
            )
            agg = totals.setdefault(key, {**tax, "amount": 0, "taxable_amount": 0})
            agg["amount"] += tax["amount"]
            agg["taxable_amount"] += tax["taxable_amount"]
    inv["total_taxes"] = list(totals.values())
    # Until finalisation the invoice shows the customer's current tax IDs.
    inv["customer_tax_ids"] = [
        {"type": t["type"], "value": t["value"]} for t in customer_tax_ids(ctx, inv["customer"])
    ]
    exclusive = sum(t["amount"] for t in totals.values() if t["tax_behavior"] == "exclusive")
    inclusive = sum(t["amount"] for t in totals.values() if t["tax_behavior"] == "inclusive")
    return exclusive, inclusive


# --------------------------------------------------------------------------
# customer tax IDs (POST /v1/customers/{id}/tax_ids, Checkout's tax ID collection)

# Member-state prefix -> national part of an EU VAT number (EL is Greece, XI
# Northern Ireland). Examples from Stripe's "Customer tax IDs" guide:
# ATU12345678, BE0123456789, DE123456789, FRAB123456789, NL123456789B12,
# ESA1234567Z, IE1234567AB.
_EU_VAT_FORMAT = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}(\d{3})?",
    "IE": r"\d{7}[A-Z]{1,2}|\d[A-Z+*]\d{5}[A-Z]",
    "IT": r"\d{11}",
    "LT": r"\d{9}(\d{3})?",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}(\d{3})?|(GD|HA)\d{3}",
}
_COUNTRY_OF_PREFIX = {"EL": "GR", "XI": "GB"}
_FORMATS = {
    "gb_vat": r"GB\d{9}(\d{3})?",
    "us_ein": r"\d{2}-?\d{7}",
    "au_abn": r"\d{11}",
    "ch_vat": r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)",
}
# Types Stripe checks against a government register.
_VERIFIED_TYPES = frozenset({"eu_vat", "gb_vat", "au_abn"})


def _invalid_tax_id(tax_type: str, param: str) -> StripeAPIError:
    return invalid_request(f"Invalid value for {tax_type}.", param=param, code="tax_id_invalid")


def tax_id_country(tax_type: str, value: str, *, param: str = "value") -> str | None:
    """The tax ID's country, or raise tax_id_invalid when the format is wrong."""
    compact = re.sub(r"[\s.]", "", value).upper()
    if not compact:
        raise _invalid_tax_id(tax_type, param)
    if tax_type == "eu_vat":
        prefix, national = compact[:2], compact[2:]
        pattern = _EU_VAT_FORMAT.get(prefix)
        if pattern is None or not re.fullmatch(pattern, national):
            raise _invalid_tax_id(tax_type, param)
        return _COUNTRY_OF_PREFIX.get(prefix, prefix)
    pattern = _FORMATS.get(tax_type)
    if pattern is not None and not re.fullmatch(pattern, value.strip().upper()):
        raise _invalid_tax_id(tax_type, param)
    prefix = tax_type.split("_", 1)[0].upper()
    return None if prefix == "EU" else prefix


def customer_tax_ids(ctx: Ctx, customer_id: str) -> list[JSONDict]:
    return ctx.store.all_where("tax_id", {"customer": customer_id})


def tax_id_create(
    ctx: Ctx, customer: JSONDict, tax_type: str, value: str, *, param: str = "value"
) -> JSONDict:
    """A customer's tax ID (format checked); emits `customer.tax_id.created`."""
    country = tax_id_country(tax_type, value, param=param)
    verification = (
        {"status": "pending", "verified_address": None, "verified_name": None}
        if tax_type in _VERIFIED_TYPES
        else None
    )
    obj: JSONDict = {
        "id": new_id("txi"),
        "object": "tax_id",
        "country": country,
        "created": ctx.now_for_customer(customer),
        "customer": customer["id"],
        "customer_account": None,
        "livemode": False,
        "owner": {
            "account": None,
            "application": None,
            "customer": customer["id"],
            "customer_account": None,
            "type": "customer",
        },
        "type": tax_type,
        "value": value,
        "verification": verification,
    }
    ctx.save(obj)
    ctx.emit("customer.tax_id.created", obj)
    return obj


def tax_id_type_for_country(country: str) -> str | None:
    """The tax ID type Checkout collects for a country (EU VAT, UK VAT, US EIN, AU ABN)."""
    if country in EU_VAT:
        return "eu_vat"
    return {"GB": "gb_vat", "US": "us_ein", "AU": "au_abn", "CH": "ch_vat"}.get(country)

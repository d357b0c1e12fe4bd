"""Tax in Checkout Sessions: manual tax rates, automatic tax, billing address
and tax ID collection, `customer_update`.

Kept apart from `checkout.py`, which calls these at a few points (create,
amounts, the completion form, completion).

As Stripe documents it (docs.stripe.com/tax/checkout,
docs.stripe.com/tax/checkout/tax-ids, docs.stripe.com/payments/checkout/taxes):

* `automatic_tax[enabled]` makes Checkout collect the billing address it
  needs; a new customer's location is the address entered, an existing
  customer's is their saved one unless `customer_update[address]=auto` saves
  the entered one. An existing customer without a usable address and without
  `customer_update[address|shipping]=auto` is refused at create with
  `customer_tax_location_invalid` (the message Stripe answers, as quoted in
  laravel/cashier-stripe#1778 and raystack/frontier#565).
* `tax_id_collection[enabled]`: the customer may buy as a business and enter
  one tax ID and the business name; the tax ID is added to the Customer
  (`customer.tax_id.created`), `customer_update[name]=auto` saves the business
  name as the customer's name, and the session shows both in
  `customer_details` (`business_name`, `tax_ids`).
* `line_items[][tax_rates]` and `subscription_data[default_tax_rates]`:
  manual rates (active ones only); they go on to the subscription.
* `total_details.amount_tax` is the sum of all the session's taxes
  (inclusive ones too); exclusive taxes are added to `amount_total`.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from .common import JSONDict
from .customers import customer_update
from .tax import (
    automatic_outcome,
    automatic_tax_enabled,
    check_tax_behavior,
    customer_location,
    rate_ids,
    tax_entry,
    tax_id_country,
    tax_id_create,
    tax_id_type_for_country,
    tax_rates_from_params,
)

_LOCATION_MESSAGE = (
    "Automatic tax calculation in Checkout requires a valid address on the Customer. "
    "Add a valid address to the Customer or set either `customer_update[address]` to "
    "'auto' or `customer_update[shipping]` to 'auto' to save the address entered in "
    "Checkout to the Customer."
)


def check_session_params(
    ctx: Ctx, params: JSONDict, customer: JSONDict | None, items: list[JSONDict]
) -> None:
    """Refuse what Stripe refuses at create, and resolve the tax rate ids (400 if unknown)."""
    update = params.get("customer_update") or {}
    if update and customer is None:
        raise invalid_request(
            "`customer_update` can only be used with `customer`.", param="customer_update"
        )
    for i, raw in enumerate(params.get("line_items") or []):
        items[i]["_tax_rates"] = rate_ids(
            tax_rates_from_params(ctx, raw.get("tax_rates"), f"line_items[{i}][tax_rates]")
        )
    if customer is not None and (params.get("tax_id_collection") or {}).get("enabled"):
        _check_tax_id_collection(customer, update)
    sub_data = params.get("subscription_data") or {}
    tax_rates_from_params(
        ctx, sub_data.get("default_tax_rates"), "subscription_data[default_tax_rates]"
    )
    if not automatic_tax_enabled(params.get("automatic_tax")):
        return
    prices = [ctx.get("price", str(i["price"])) for i in items]
    check_tax_behavior(prices, "line_items[{i}][price]")
    saves_address = "auto" in (update.get("address"), update.get("shipping"))
    if customer is not None and customer_location(customer) is None and not saves_address:
        raise invalid_request(
            _LOCATION_MESSAGE, param="customer_update", code="customer_tax_location_invalid"
        )


def _check_tax_id_collection(customer: JSONDict, update: JSONDict) -> None:
    """Tax ID collection for an existing customer writes the business name (and
    needs an address) back to it; Stripe's messages as quoted in
    invertase/stripe-firebase-extensions#222 and NativePHP/nativephp.com#408."""
    if update.get("name") != "auto":
        raise invalid_request(
            "Tax ID collection requires updating business name on the customer. To enable "
            "tax ID collection for an existing customer, please set `customer_update[name]` "
            "to `auto`.",
            param="customer_update",
        )
    if customer_location(customer) is None and update.get("address") != "auto":
        raise invalid_request(
            "We could not find a valid address on the provided customer. To enable tax ID "
            "collection, please set customer_update[address] to auto.",
            param="customer_update",
        )


def init_session(session: JSONDict, params: JSONDict) -> None:
    """The tax fields of a new session."""
    collection = params.get("tax_id_collection") or {}
    session["tax_id_collection"] = {
        "enabled": bool(collection.get("enabled")),
        "required": collection.get("required", "never"),
    }
    session["_customer_update"] = dict(params.get("customer_update") or {})
    if automatic_tax_enabled(params.get("automatic_tax")):
        session["automatic_tax"] = {
            "enabled": True,
            "liability": {"account": None, "type": "self"},
            "provider": "stripe",
            "status": "requires_location_inputs",
        }


def collects_address(session: JSONDict) -> bool:
    """Automatic tax makes Checkout ask for the billing address (API reference,
    `automatic_tax.enabled`); with tax ID collection the emulator asks for it too,
    its country choosing the tax ID type."""
    return automatic_tax_enabled(session.get("automatic_tax")) or collects_tax_id(session)


def collects_tax_id(session: JSONDict) -> bool:
    return bool((session.get("tax_id_collection") or {}).get("enabled"))


def details_problem(
    session: JSONDict, address: dict[str, str], tax_id: str
) -> tuple[str, str] | None:
    """(field, message) when the typed tax ID cannot be used."""
    if not tax_id or not collects_tax_id(session):
        return None
    country = (address.get("country") or "").upper()
    tax_type = tax_id_type_for_country(country)
    if tax_type is None:
        return "tax_id", "Tax IDs are not collected for this country."
    try:
        tax_id_country(tax_type, tax_id)
    except StripeAPIError:
        return "tax_id", "Your tax ID is invalid."
    return None


def _location_customer(ctx: Ctx, session: JSONDict) -> JSONDict | None:
    """The customer automatic tax looks at: the entered address when Checkout
    saves it (new customer, or `customer_update[address]=auto`), else the saved one."""
    customer = ctx.find("customer", str(session["customer"])) if session.get("customer") else None
    entered = (session.get("customer_details") or {}).get("address")
    saves = customer is None or session.get("_customer_update", {}).get("address") == "auto"
    if customer is not None and (not saves or not entered):
        return customer
    if not entered:
        return None
    return {
        "id": (customer or {}).get("id", ""),
        "address": entered,
        "shipping": None,
        "tax_exempt": (customer or {}).get("tax_exempt", "none"),
    }


def _item_taxes(ctx: Ctx, session: JSONDict, item: JSONDict, outcome: Any) -> list[JSONDict]:
    net = int(item["amount_subtotal"]) - int(item["amount_discount"])
    if automatic_tax_enabled(session.get("automatic_tax")):
        if outcome is None:
            return []
        price = ctx.find("price", str(item["price"])) or {}
        entry = tax_entry(
            net,
            float(outcome["percent"]),
            inclusive=price.get("tax_behavior") == "inclusive",
            rate_id=outcome["rate"]["id"],
            reason=str(outcome["reason"]),
        )
        return [{**entry, "_rate": outcome["rate"]}]
    ids = list(item.get("_tax_rates") or [])
    if not ids:
        ids = list((session.get("_subscription_data") or {}).get("default_tax_rates") or [])
    out = []
    for rate_id in ids:
        rate = ctx.find("tax_rate", str(rate_id))
        if rate is not None:
            entry = tax_entry(
                net,
                float(rate["percentage"]),
                inclusive=bool(rate["inclusive"]),
                rate_id=rate["id"],
                reason="not_available",
            )
            out.append({**entry, "_rate": rate})
    return out


def _outcome(ctx: Ctx, session: JSONDict) -> Any:
    customer = _location_customer(ctx, session)
    if customer is None:
        return None
    # Tax IDs entered in this session are not stored yet: the reverse charge needs them.
    return automatic_outcome(ctx, customer, extra_tax_ids=list(session.get("_tax_ids") or []))


def apply_session_tax(ctx: Ctx, session: JSONDict) -> None:
    """Per-item `amount_tax`, `total_details.amount_tax` and `amount_total` (end of
    `recompute_amounts`)."""
    if session.get("total_details") is None:
        return
    auto = automatic_tax_enabled(session.get("automatic_tax"))
    outcome = _outcome(ctx, session) if auto else None
    if auto:
        session["automatic_tax"]["status"] = (
            "complete" if outcome is not None else "requires_location_inputs"
        )
    exclusive = inclusive = 0
    breakdown: list[JSONDict] = []
    for item in session["_line_items"]:
        taxes = _item_taxes(ctx, session, item, outcome)
        item_exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
        item["amount_tax"] = sum(t["amount"] for t in taxes)
        item["amount_total"] = int(item["amount_subtotal"]) - int(item["amount_discount"])
        item["amount_total"] += item_exclusive
        item["taxes"] = [
            {
                "amount": t["amount"],
                "rate": t["_rate"],
                "taxability_reason": _checkout_reason(t["taxability_reason"]),
                "taxable_amount": t["taxable_amount"],
            }
            for t in taxes
        ]
        breakdown.extend(item["taxes"])
        exclusive += item_exclusive
        inclusive += item["amount_tax"] - item_exclusive
    session["amount_total"] = int(session["amount_subtotal"]) - int(
        session["total_details"]["amount_discount"]
    )
    session["amount_total"] += exclusive
    session["total_details"]["amount_tax"] = exclusive + inclusive
    session["total_details"]["_breakdown"] = {"discounts": [], "taxes": breakdown}


def _checkout_reason(reason: str) -> str | None:
    # Checkout's breakdown has no `not_available` (manual rates have no reason).
    return None if reason == "not_available" else reason


def entered_tax_id(session: JSONDict, details: JSONDict) -> JSONDict | None:
    """`{"type", "value"}` of the tax ID typed on the page, if any."""
    value = str(details.get("tax_id") or "").strip()
    if not value or not collects_tax_id(session):
        return None
    country = str((details.get("address") or {}).get("country") or "").upper()
    tax_type = tax_id_type_for_country(country)
    return {"type": tax_type, "value": value} if tax_type else None


def remember_details(session: JSONDict, details: JSONDict) -> None:
    """Before the amounts are recomputed at completion: the address and tax ID entered."""
    if details.get("address"):
        current = dict(session.get("customer_details") or {})
        current["address"] = details["address"]
        session["customer_details"] = {
            "address": details["address"],
            "business_name": current.get("business_name"),
            "email": current.get("email"),
            "individual_name": current.get("individual_name"),
            "name": current.get("name"),
            "phone": current.get("phone"),
            "tax_exempt": current.get("tax_exempt", "none"),
            "tax_ids": current.get("tax_ids") or [],
        }
    entered = entered_tax_id(session, details)
    session["_tax_ids"] = [entered] if entered else []


def save_to_customer(ctx: Ctx, session: JSONDict, customer: JSONDict, details: JSONDict) -> None:
    """What Checkout writes back to the Customer: `customer_update[address|name]=auto`
    (existing customers) and the collected tax ID."""
    if not customer:
        return
    update = session.get("_customer_update") or {}
    changes: JSONDict = {}
    if update.get("address") == "auto" and details.get("address"):
        changes["address"] = details["address"]
    if update.get("name") == "auto" and details.get("business_name"):
        changes["name"] = details["business_name"]
    if changes and session.get("customer"):
        customer_update(ctx, changes, customer["id"])
    entered = entered_tax_id(session, details)
    if entered:
        tax_id_create(ctx, ctx.get("customer", customer["id"]), entered["type"], entered["value"])


def finish_details(session: JSONDict, details: JSONDict) -> None:
    """The session's `customer_details` tax fields once complete."""
    shown = session.get("customer_details")
    if not shown:
        return
    entered = entered_tax_id(session, details)
    shown["tax_ids"] = [entered] if entered else []
    if details.get("business_name") and collects_tax_id(session):
        shown["business_name"] = details["business_name"]


def subscription_params(session: JSONDict, params: JSONDict) -> None:
    """Checkout's tax settings carried to the subscription it creates."""
    if automatic_tax_enabled(session.get("automatic_tax")):
        params["automatic_tax"] = {"enabled": True}
    rates = {str(i["price"]): list(i.get("_tax_rates") or []) for i in session["_line_items"]}
    for entry in params.get("items") or []:
        if rates.get(str(entry["price"])):
            entry["tax_rates"] = rates[str(entry["price"])]

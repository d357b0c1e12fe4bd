"""Products and prices: creating them (also inline, from `product_data` and `price_data`)."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..params import UNSET
from ..updates import apply_metadata, apply_simple

JSONDict = dict[str, Any]


PRODUCT_SIMPLE_FIELDS = (
    "description",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
    "name",
    "active",
)


def _decimal_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def marketing_features(features: Any) -> list[JSONDict]:
    if not features or features == UNSET:
        return []
    return [{"name": f.get("name")} for f in features]


def package_dimensions(dims: Any) -> JSONDict | None:
    if not dims or dims == UNSET:
        return None
    return {k: float(dims[k]) for k in ("height", "length", "weight", "width")}


def product_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    product_id = params.get("id") or new_id("product", 14)
    if ctx.store.get(product_id) is not None:
        raise invalid_request("Product already exists.", param="id", code="resource_already_exists")
    now = ctx.now()
    product: JSONDict = {
        "id": product_id,
        "object": "product",
        "active": params.get("active", True),
        "created": now,
        "default_price": None,
        "description": None,
        "images": params.get("images") or [],
        "livemode": False,
        "marketing_features": marketing_features(params.get("marketing_features")),
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": params["name"],
        "package_dimensions": package_dimensions(params.get("package_dimensions")),
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": params.get("type", "service"),
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    apply_simple(product, params, PRODUCT_SIMPLE_FIELDS)
    ctx.save(product)
    ctx.emit("product.created", product)
    if params.get("default_price_data"):
        data = dict(params["default_price_data"])
        data["product"] = product_id
        price = price_create(ctx, data)
        before = copy.deepcopy(product)
        product["default_price"] = price["id"]
        ctx.save(product)
        ctx.emit("product.updated", product, previous=before)
    return product


def _tiers(raw: Any) -> list[JSONDict] | None:
    if not raw:
        return None
    out = []
    for tier in raw:
        up_to = tier.get("up_to")
        out.append(
            {
                "flat_amount": tier.get("flat_amount"),
                "flat_amount_decimal": _decimal_str(
                    tier.get("flat_amount_decimal", tier.get("flat_amount"))
                ),
                "unit_amount": tier.get("unit_amount"),
                "unit_amount_decimal": _decimal_str(
                    tier.get("unit_amount_decimal", tier.get("unit_amount"))
                ),
                "up_to": None if up_to == "inf" else up_to,
            }
        )
    return out


def currency_option(raw: JSONDict, tax_behavior: str | None) -> JSONDict:
    amount = raw.get("unit_amount")
    return {
        "custom_unit_amount": None,
        "tax_behavior": raw.get("tax_behavior", tax_behavior),
        "tiers": _tiers(raw.get("tiers")),
        "unit_amount": amount,
        "unit_amount_decimal": _decimal_str(raw.get("unit_amount_decimal", amount)),
    }


def claim_lookup_key(ctx: Ctx, key: str, transfer: bool, new_owner: str) -> None:
    holders = ctx.store.all("price", lambda p: p.get("lookup_key") == key and p["id"] != new_owner)
    for holder in holders:
        if not transfer:
            raise invalid_request(
                f"A price (`{holder['id']}`) already uses that lookup key.",
                param="lookup_key",
            )
        before = copy.deepcopy(holder)
        holder["lookup_key"] = None
        ctx.save(holder)
        ctx.emit("price.updated", holder, previous=before)


def price_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    product_id = params.get("product")
    if product_id and params.get("product_data"):
        raise invalid_request(
            "You may only specify one of these parameters: product, product_data."
        )
    if product_id:
        ctx.get("product", product_id, param="product")
    elif params.get("product_data"):
        pdata = dict(params["product_data"])
        product_id = product_create(ctx, pdata)["id"]
    else:
        raise invalid_request(
            "Missing required param: product.", param="product", code="parameter_missing"
        )
    scheme = params.get("billing_scheme", "per_unit")
    amount = params.get("unit_amount")
    amount_decimal = params.get("unit_amount_decimal")
    custom = params.get("custom_unit_amount")
    if scheme == "per_unit" and amount is None and amount_decimal is None and not custom:
        raise invalid_request(
            "Missing required param: unit_amount.", param="unit_amount", code="parameter_missing"
        )
    if scheme == "tiered" and not params.get("tiers"):
        raise invalid_request(
            "Missing required param: tiers.", param="tiers", code="parameter_missing"
        )
    if scheme == "tiered" and not params.get("tiers_mode"):
        raise invalid_request(
            "Missing required param: tiers_mode.", param="tiers_mode", code="parameter_missing"
        )
    recurring = None
    if params.get("recurring"):
        r = params["recurring"]
        recurring = {
            "interval": r["interval"],
            "interval_count": r.get("interval_count", 1),
            "meter": r.get("meter"),
            "trial_period_days": r.get("trial_period_days"),
            "usage_type": r.get("usage_type", "licensed"),
        }
        if recurring["usage_type"] == "metered" and not recurring["meter"]:
            raise invalid_request("Metered prices must specify a meter.", param="recurring[meter]")
    currency = params["currency"].lower()
    tax_behavior = params.get("tax_behavior", "unspecified")
    price_id = new_id("price")
    options = {currency: currency_option(params, tax_behavior)}
    for cur, raw in (params.get("currency_options") or {}).items():
        options[cur.lower()] = currency_option(raw, tax_behavior)
    tq = params.get("transform_quantity")
    price: JSONDict = {
        "id": price_id,
        "object": "price",
        "active": params.get("active", True),
        "billing_scheme": scheme,
        "created": ctx.now(),
        "currency": currency,
        "currency_options": options,
        "custom_unit_amount": (
            {
                "maximum": custom.get("maximum"),
                "minimum": custom.get("minimum"),
                "preset": custom.get("preset"),
            }
            if custom
            else None
        ),
        "livemode": False,
        "lookup_key": None,
        "metadata": apply_metadata({}, params.get("metadata")),
        "nickname": params.get("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": tax_behavior,
        "tiers": _tiers(params.get("tiers")),
        "tiers_mode": params.get("tiers_mode"),
        "transform_quantity": (
            {"divide_by": tq["divide_by"], "round": tq["round"]} if tq else None
        ),
        "type": "recurring" if recurring else "one_time",
        "unit_amount": amount
        if amount is not None
        else (
            int(float(amount_decimal))
            if amount_decimal is not None and float(amount_decimal).is_integer()
            else None
        ),
        "unit_amount_decimal": _decimal_str(
            amount_decimal if amount_decimal is not None else amount
        ),
    }
    if params.get("lookup_key"):
        claim_lookup_key(
            ctx, params["lookup_key"], bool(params.get("transfer_lookup_key")), price_id
        )
        price["lookup_key"] = params["lookup_key"]
    ctx.save(price)
    ctx.emit("price.created", price)
    return price


def price_or_404(ctx: Ctx, price_id: str, param: str) -> JSONDict:
    price = ctx.find("price", price_id)
    if price is None:
        raise resource_missing("price", price_id, param=param)
    return price

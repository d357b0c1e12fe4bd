"""Products and prices (lookup keys, archiving, tiers, currency options)."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..listing import match_range, paginate, search
from ..params import UNSET
from ..render import register_includable
from ..routing import route
from ..updates import apply_metadata, apply_simple

JSONDict = dict[str, Any]

# Only returned when expanded, as on Stripe.
register_includable("price", "currency_options")
register_includable("price", "tiers")

_PRODUCT_SIMPLE = (
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


# --------------------------------------------------------------------------
# products


def _marketing(features: Any) -> list[JSONDict]:
    if not features or features == UNSET:
        return []
    return [{"name": f.get("name")} for f in features]


def _package(dims: Any) -> JSONDict | None:
    if not dims or dims == UNSET:
        return None
    return {k: float(dims[k]) for k in ("height", "length", "weight", "width")}


@route("POST", "/v1/products", params="ProductCreateParams")
def create_product(ctx: Ctx, params: JSONDict) -> JSONDict:
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
        "marketing_features": _marketing(params.get("marketing_features")),
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": params["name"],
        "package_dimensions": _package(params.get("package_dimensions")),
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": params.get("type", "service"),
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    apply_simple(product, params, _PRODUCT_SIMPLE)
    ctx.save(product)
    ctx.emit("product.created", product)
    if params.get("default_price_data"):
        data = dict(params["default_price_data"])
        data["product"] = product_id
        price = _create_price(ctx, data)
        before = copy.deepcopy(product)
        product["default_price"] = price["id"]
        ctx.save(product)
        ctx.emit("product.updated", product, previous=before)
    return product


@route("GET", "/v1/products/search", params="ProductSearchParams")
def search_products(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("product"),
        params,
        "/v1/products/search",
        {"active", "description", "name", "shippable", "url", "metadata", "created"},
    )


@route("GET", "/v1/products/{id}", params="ProductRetrieveParams")
def retrieve_product(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("product", id)


@route("POST", "/v1/products/{id}", params="ProductUpdateParams")
def update_product(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    product = ctx.get("product", id)
    before = copy.deepcopy(product)
    apply_simple(product, params, _PRODUCT_SIMPLE)
    if product.get("name") is None:
        raise invalid_request("You cannot unset the name of a product.", param="name")
    if "metadata" in params:
        product["metadata"] = apply_metadata(product.get("metadata"), params["metadata"])
    if "images" in params:
        product["images"] = params["images"] or []
    if "marketing_features" in params:
        product["marketing_features"] = _marketing(params["marketing_features"])
    if "package_dimensions" in params:
        product["package_dimensions"] = _package(params["package_dimensions"])
    if "default_price" in params:
        price_id = params["default_price"]
        price = ctx.get("price", price_id, param="default_price")
        if price["product"] != id:
            raise invalid_request(
                f"The price {price_id} does not belong to product {id}.", param="default_price"
            )
        if not price["active"]:
            raise invalid_request("The default price must be active.", param="default_price")
        product["default_price"] = price_id
    if product != before:
        product["updated"] = ctx.now()
        ctx.save(product)
        ctx.emit("product.updated", product, previous=before)
    return product


@route("DELETE", "/v1/products/{id}", params="ProductDeleteParams")
def delete_product(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    product = ctx.get("product", id)
    if ctx.store.all("price", lambda p: p.get("product") == id):
        raise invalid_request(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    ctx.store.remove(id)
    ctx.emit("product.deleted", product)
    return {"id": id, "object": "product", "deleted": True}


@route("GET", "/v1/products", params="ProductListParams")
def list_products(ctx: Ctx, params: JSONDict) -> JSONDict:
    ids = params.get("ids")

    def keep(p: JSONDict) -> bool:
        if "active" in params and p.get("active") != params["active"]:
            return False
        if "shippable" in params and p.get("shippable") != params["shippable"]:
            return False
        if "type" in params and p.get("type") != params["type"]:
            return False
        if "url" in params and p.get("url") != params["url"]:
            return False
        if ids is not None and p["id"] not in ids:
            return False
        return match_range(p.get("created"), params.get("created"))

    return paginate(ctx.store.all("product", keep), params, "/v1/products", object_label="product")


# --------------------------------------------------------------------------
# prices


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


def _currency_option(raw: JSONDict, tax_behavior: str | None) -> JSONDict:
    amount = raw.get("unit_amount")
    return {
        "custom_unit_amount": None,
        "tax_behavior": raw.get("tax_behavior", tax_behavior),
        "tiers": _tiers(raw.get("tiers")),
        "unit_amount": amount,
        "unit_amount_decimal": _decimal_str(raw.get("unit_amount_decimal", amount)),
    }


def _claim_lookup_key(ctx: Ctx, key: str, transfer: bool, new_owner: str) -> None:
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


def _create_price(ctx: Ctx, params: JSONDict) -> JSONDict:
    product_id = params.get("product")
    if product_id and params.get("product_data"):
        raise invalid_request(
            "You may only specify one of these parameters: product, product_data."
        )
    if product_id:
        ctx.get("product", product_id, param="product")
    elif params.get("product_data"):
        pdata = dict(params["product_data"])
        product_id = create_product(ctx, pdata)["id"]
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
    options = {currency: _currency_option(params, tax_behavior)}
    for cur, raw in (params.get("currency_options") or {}).items():
        options[cur.lower()] = _currency_option(raw, tax_behavior)
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
        _claim_lookup_key(
            ctx, params["lookup_key"], bool(params.get("transfer_lookup_key")), price_id
        )
        price["lookup_key"] = params["lookup_key"]
    ctx.save(price)
    ctx.emit("price.created", price)
    return price


@route("POST", "/v1/prices", params="PriceCreateParams")
def create_price(ctx: Ctx, params: JSONDict) -> JSONDict:
    return _create_price(ctx, params)


@route("GET", "/v1/prices/search", params="PriceSearchParams")
def search_prices(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("price"),
        params,
        "/v1/prices/search",
        {"active", "currency", "lookup_key", "product", "type", "metadata", "created"},
    )


@route("GET", "/v1/prices/{id}", params="PriceRetrieveParams")
def retrieve_price(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("price", id)


@route("POST", "/v1/prices/{id}", params="PriceUpdateParams")
def update_price(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    price = ctx.get("price", id)
    before = copy.deepcopy(price)
    apply_simple(price, params, ("active", "nickname"))
    if "tax_behavior" in params:
        if before.get("tax_behavior") not in (None, "unspecified"):
            raise invalid_request(
                "tax_behavior cannot be changed once specified.", param="tax_behavior"
            )
        price["tax_behavior"] = params["tax_behavior"]
    if "metadata" in params:
        price["metadata"] = apply_metadata(price.get("metadata"), params["metadata"])
    if "lookup_key" in params:
        key = params["lookup_key"]
        if key == UNSET:
            price["lookup_key"] = None
        else:
            _claim_lookup_key(ctx, key, bool(params.get("transfer_lookup_key")), id)
            price["lookup_key"] = key
    if "currency_options" in params:
        options = price.get("currency_options") or {}
        for cur, raw in (params["currency_options"] or {}).items():
            if raw == UNSET:
                options.pop(cur.lower(), None)
            else:
                options[cur.lower()] = _currency_option(raw, price.get("tax_behavior"))
        price["currency_options"] = options
    if price != before:
        ctx.save(price)
        ctx.emit("price.updated", price, previous=before)
    return price


@route("GET", "/v1/prices", params="PriceListParams")
def list_prices(ctx: Ctx, params: JSONDict) -> JSONDict:
    lookup_keys = params.get("lookup_keys")
    rec = params.get("recurring") or {}

    def keep(p: JSONDict) -> bool:
        if "active" in params and p.get("active") != params["active"]:
            return False
        if "currency" in params and p.get("currency") != params["currency"].lower():
            return False
        if "product" in params and p.get("product") != params["product"]:
            return False
        if "type" in params and p.get("type") != params["type"]:
            return False
        if lookup_keys is not None and p.get("lookup_key") not in lookup_keys:
            return False
        if rec:
            r = p.get("recurring") or {}
            if "interval" in rec and r.get("interval") != rec["interval"]:
                return False
            if "usage_type" in rec and r.get("usage_type") != rec["usage_type"]:
                return False
            if "meter" in rec and r.get("meter") != rec["meter"]:
                return False
        return match_range(p.get("created"), params.get("created"))

    return paginate(ctx.store.all("price", keep), params, "/v1/prices", object_label="price")


def price_or_404(ctx: Ctx, price_id: str, param: str) -> JSONDict:
    price = ctx.find("price", price_id)
    if price is None:
        raise resource_missing("price", price_id, param=param)
    return price

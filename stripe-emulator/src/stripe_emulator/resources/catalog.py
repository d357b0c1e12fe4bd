"""Products and prices (lookup keys, archiving, tiers, currency options)."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.catalog import (
    PRODUCT_SIMPLE_FIELDS,
    claim_lookup_key,
    currency_option,
    marketing_features,
    package_dimensions,
    price_create,
    product_create,
)
from ..engine.metered import check_price_params
from ..errors import invalid_request
from ..listing import match_range, paginate, search
from ..params import UNSET
from ..render import register_includable
from ..routing import route
from ..updates import apply_metadata, apply_simple

JSONDict = dict[str, Any]

# Only returned when expanded, as on Stripe.
register_includable("price", "currency_options")
register_includable("price", "tiers")


# --------------------------------------------------------------------------
# products


@route("POST", "/v1/products", params="ProductCreateParams")
def create_product(ctx: Ctx, params: JSONDict) -> JSONDict:
    return product_create(ctx, params)


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
    apply_simple(product, params, PRODUCT_SIMPLE_FIELDS)
    if product.get("name") is None:
        raise invalid_request("You cannot unset the name of a product.", param="name")
    if "metadata" in params:
        product["metadata"] = apply_metadata(product.get("metadata"), params["metadata"])
    if "images" in params:
        product["images"] = params["images"] or []
    if "marketing_features" in params:
        product["marketing_features"] = marketing_features(params["marketing_features"])
    if "package_dimensions" in params:
        product["package_dimensions"] = package_dimensions(params["package_dimensions"])
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


@route("POST", "/v1/prices", params="PriceCreateParams")
def create_price(ctx: Ctx, params: JSONDict) -> JSONDict:
    check_price_params(params)
    return price_create(ctx, params)


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
            claim_lookup_key(ctx, key, bool(params.get("transfer_lookup_key")), id)
            price["lookup_key"] = key
    if "currency_options" in params:
        options = price.get("currency_options") or {}
        for cur, raw in (params["currency_options"] or {}).items():
            if raw == UNSET:
                options.pop(cur.lower(), None)
            else:
                options[cur.lower()] = currency_option(raw, price.get("tax_behavior"))
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

"""Entitlement features, product features and (computed) active entitlements.

The endpoints; `engine/entitlements.py` computes a customer's active
entitlements (`recompute_active_entitlements`), here when a feature is
archived and in the engine whenever subscriptions change. Attaching a feature
to a product or detaching it changes no customer's entitlements until their
subscription's next billing period (see `engine/entitlements.py`).
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..engine.entitlements import public_entitlement, recompute_active_entitlements
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..listing import paginate
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------
# features


@route("POST", "/v1/entitlements/features", params="entitlements.FeatureCreateParams")
def create_feature(ctx: Ctx, params: JSONDict) -> JSONDict:
    key = params["lookup_key"]
    if len(key) > 80:
        raise invalid_request("lookup_key must be at most 80 characters.", param="lookup_key")
    if ctx.store.all("entitlements.feature", lambda f: f["lookup_key"] == key):
        raise invalid_request(
            f"A feature with lookup_key `{key}` already exists.", param="lookup_key"
        )
    feature: JSONDict = {
        "id": new_id("entitlements.feature"),
        "object": "entitlements.feature",
        "active": True,
        "livemode": False,
        "lookup_key": key,
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": params["name"],
        "_created": ctx.now(),
    }
    ctx.save(feature)
    return feature


@route("GET", "/v1/entitlements/features/{id}", params="entitlements.FeatureRetrieveParams")
def retrieve_feature(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("entitlements.feature", id)


@route("POST", "/v1/entitlements/features/{id}", params="entitlements.FeatureUpdateParams")
def update_feature(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    feature = ctx.get("entitlements.feature", id)
    was_active = feature["active"]
    if "name" in params:
        feature["name"] = params["name"]
    if "metadata" in params:
        feature["metadata"] = apply_metadata(feature.get("metadata"), params["metadata"])
    if "active" in params:
        if params["active"] and not was_active:
            raise invalid_request("An archived feature cannot be reactivated.", param="active")
        feature["active"] = params["active"]
    ctx.save(feature)
    if was_active and not feature["active"]:
        for customer in _customers_with_feature(ctx, id):
            recompute_active_entitlements(ctx, customer)
    return feature


@route("GET", "/v1/entitlements/features", params="entitlements.FeatureListParams")
def list_features(ctx: Ctx, params: JSONDict) -> JSONDict:
    archived = params.get("archived", False)

    def keep(f: JSONDict) -> bool:
        if f["active"] == archived:
            return False
        return not ("lookup_key" in params and f["lookup_key"] != params["lookup_key"])

    items = ctx.store.all("entitlements.feature", keep)
    return paginate(items, params, "/v1/entitlements/features", object_label="feature")


# --------------------------------------------------------------------------
# product features


def _product_feature_view(ctx: Ctx, pf: JSONDict) -> JSONDict:
    feature = ctx.find("entitlements.feature", pf["_feature"])
    return {
        "id": pf["id"],
        "object": "product_feature",
        "entitlement_feature": feature,
        "livemode": False,
    }


@route("POST", "/v1/products/{product}/features", params="ProductFeatureCreateParams")
def attach_feature(ctx: Ctx, params: JSONDict, product: str) -> JSONDict:
    ctx.get("product", product)
    feature = ctx.get(
        "entitlements.feature", params["entitlement_feature"], param="entitlement_feature"
    )
    if not feature["active"]:
        raise invalid_request(
            "Archived features cannot be attached to products.", param="entitlement_feature"
        )
    existing = ctx.store.all(
        "product_feature", lambda p: p["_product"] == product and p["_feature"] == feature["id"]
    )
    if existing:
        raise invalid_request(
            "This feature is already attached to the product.", param="entitlement_feature"
        )
    pf: JSONDict = {
        "id": new_id("product_feature", 14),
        "object": "product_feature",
        "livemode": False,
        "_created": ctx.now(),
        "_product": product,
        "_feature": feature["id"],
    }
    ctx.save(pf)
    return _product_feature_view(ctx, pf)


@route("GET", "/v1/products/{product}/features", params="ProductFeatureListParams")
def list_product_features(ctx: Ctx, params: JSONDict, product: str) -> JSONDict:
    ctx.get("product", product)
    items = [
        _product_feature_view(ctx, pf)
        for pf in ctx.store.all("product_feature", lambda p: p["_product"] == product)
    ]
    return paginate(
        items, params, f"/v1/products/{product}/features", object_label="product_feature"
    )


def _product_feature(ctx: Ctx, product: str, pf_id: str) -> JSONDict:
    ctx.get("product", product)
    pf = ctx.find("product_feature", pf_id)
    if pf is None or pf["_product"] != product:
        raise resource_missing("product_feature", pf_id)
    return pf


@route("GET", "/v1/products/{product}/features/{id}", params="ProductFeatureRetrieveParams")
def retrieve_product_feature(
    ctx: Ctx,
    params: JSONDict,
    product: str,
    id: str,
) -> JSONDict:
    return _product_feature_view(ctx, _product_feature(ctx, product, id))


@route("DELETE", "/v1/products/{product}/features/{id}", params="ProductFeatureDeleteParams")
def detach_feature(
    ctx: Ctx,
    params: JSONDict,
    product: str,
    id: str,
) -> JSONDict:
    _product_feature(ctx, product, id)
    ctx.store.remove(id)
    return {"id": id, "object": "product_feature", "deleted": True}


# --------------------------------------------------------------------------
# active entitlements


def _customers_with_feature(ctx: Ctx, feature_id: str) -> set[str]:
    return {
        ent["_customer"]
        for ent in ctx.store.all("entitlements.active_entitlement")
        if ent["feature"] == feature_id
    }


@route(
    "GET", "/v1/entitlements/active_entitlements", params="entitlements.ActiveEntitlementListParams"
)
def list_active_entitlements(ctx: Ctx, params: JSONDict) -> JSONDict:
    customer = params["customer"]
    ctx.get("customer", customer, param="customer")
    items = [
        public_entitlement(e)
        for e in ctx.store.all(
            "entitlements.active_entitlement", lambda e: e["_customer"] == customer
        )
    ]
    return paginate(
        items, params, "/v1/entitlements/active_entitlements", object_label="active entitlement"
    )


@route(
    "GET",
    "/v1/entitlements/active_entitlements/{id}",
    params="entitlements.ActiveEntitlementRetrieveParams",
)
def retrieve_active_entitlement(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return public_entitlement(ctx.get("entitlements.active_entitlement", id))

"""Active entitlements, computed from a customer's subscriptions and their products' features.

`recompute_active_entitlements(ctx, customer_id)` is called whenever a
customer's subscriptions change status or items, or start a billing period
(and when a feature is archived). It diffs the customer's entitled feature
set, updates the ActiveEntitlement objects and emits
`entitlements.active_entitlement_summary.updated` when anything changed.

Which features a subscription grants is read from the products when the
subscription starts, changes items or starts a new billing period
(`snapshot_features`), not when a product's features change: Stripe's
Entitlements guide (https://docs.stripe.com/billing/entitlements, "Add your
features to products", API tab) notes that existing subscriptions create
active entitlements for product feature changes at the start of the next
billing period, and sends no event when the feature is attached.
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..ids import new_id

JSONDict = dict[str, Any]


# Subscription statuses that grant entitlements. Whether Stripe keeps them
# for past_due is unconfirmed; past_due keeps them by default (a grace period
# during payment retries). POST /_emulator/billing/config
# {"past_due_keeps_entitlements": false} sets the kv key `entitlements.past_due`.
ENTITLED_STATUSES = frozenset({"active", "trialing"})


def _entitled_statuses(ctx: Ctx) -> frozenset[str]:
    if ctx.store.kv_get("entitlements.past_due", True):
        return ENTITLED_STATUSES | {"past_due"}
    return ENTITLED_STATUSES


def item_products(ctx: Ctx, sub: JSONDict) -> set[str]:
    products: set[str] = set()
    for item in (sub.get("items") or {}).get("data") or []:
        price = item.get("price")
        if isinstance(price, str):
            price = ctx.find("price", price)
        if isinstance(price, dict):
            product = price.get("product")
            products.add(product["id"] if isinstance(product, dict) else str(product))
    return products


def product_feature_ids(ctx: Ctx, products: set[str]) -> set[str]:
    """Ids of the features attached to these products now."""
    if not products:
        return set()
    attached = ctx.store.all("product_feature", lambda p: p["_product"] in products)
    return {pf["_feature"] for pf in attached}


def snapshot_features(ctx: Ctx, sub: JSONDict) -> None:
    """Record the features the subscription's products have now (caller saves `sub`).

    Called when the subscription starts, changes items and at the start of
    each billing period; until the next of these, features attached to or
    detached from its products do not change what it grants.
    """
    sub["_features"] = sorted(product_feature_ids(ctx, item_products(ctx, sub)))


def subscription_feature_ids(ctx: Ctx, sub: JSONDict) -> set[str]:
    """The features the subscription grants while its status is entitled."""
    if "_features" in sub:
        return set(sub["_features"])
    # Stored before snapshots existed: its products' features now.
    return product_feature_ids(ctx, item_products(ctx, sub))


def entitled_features(ctx: Ctx, customer_id: str) -> dict[str, JSONDict]:
    """feature id -> Feature for every feature the customer's subscriptions grant."""
    statuses = _entitled_statuses(ctx)
    feature_ids: set[str] = set()
    for sub in ctx.store.all_where("subscription", {"customer": customer_id}):
        if sub.get("status") in statuses:
            feature_ids |= subscription_feature_ids(ctx, sub)
    features: dict[str, JSONDict] = {}
    for feature_id in sorted(feature_ids):
        feature = ctx.find("entitlements.feature", feature_id)
        if feature is not None and feature["active"]:
            features[feature["id"]] = feature
    return features


def public_entitlement(ent: JSONDict) -> JSONDict:
    return {k: ent[k] for k in ("id", "object", "feature", "livemode", "lookup_key")}


def _summary(ctx: Ctx, customer_id: str, ents: list[JSONDict]) -> JSONDict:
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer_id,
        "entitlements": {
            "object": "list",
            "data": [public_entitlement(e) for e in ents],
            "has_more": False,
            "url": "/v1/customer/entitlements",
        },
        "livemode": False,
    }


def recompute_active_entitlements(
    ctx: Ctx, customer_id: str, *, automatic: bool = False, created: int | None = None
) -> bool:
    """Bring the customer's ActiveEntitlements in line with their subscriptions.

    Returns True (and emits the summary event) when the set changed.
    """
    current = ctx.store.all_where("entitlements.active_entitlement", {"_customer": customer_id})
    wanted = entitled_features(ctx, customer_id)
    have = {e["feature"]: e for e in current}
    if set(have) == set(wanted):
        return False
    before = _summary(ctx, customer_id, current)
    for feature_id, ent in have.items():
        if feature_id not in wanted:
            ctx.store.remove(ent["id"])
    for feature_id, feature in wanted.items():
        if feature_id not in have:
            ctx.save(
                {
                    "id": new_id("entitlements.active_entitlement"),
                    "object": "entitlements.active_entitlement",
                    "feature": feature_id,
                    "livemode": False,
                    "lookup_key": feature["lookup_key"],
                    "_created": ctx.now(),
                    "_customer": customer_id,
                }
            )
    after_list = ctx.store.all(
        "entitlements.active_entitlement", lambda e: e["_customer"] == customer_id
    )
    after = _summary(ctx, customer_id, after_list)
    ctx.emit(
        "entitlements.active_entitlement_summary.updated",
        after,
        previous=copy.deepcopy(before),
        automatic=automatic,
        created=created if created is not None else ctx.now_for_customer(customer_id),
    )
    return True

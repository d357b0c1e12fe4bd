"""Subscriptions and subscription items; billing test helpers.

Thin endpoints over `engine.py` (create, update, cancel, resume, items);
list and search here. `/_emulator/billing/...` exposes the engine settings
(invoice gate, retry schedule, final dunning action) and a real-clock pass.
"""

from __future__ import annotations

from typing import Any

from .. import engine
from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from ..listing import match_range, paginate, search
from ..routing import helper_route, route

JSONDict = dict[str, Any]


@route("POST", "/v1/subscriptions", params="SubscriptionCreateParams")
def create_subscription(ctx: Ctx, params: JSONDict) -> JSONDict:
    engine.start_real_clock(ctx.app)
    return engine.subscription_create(ctx, params)


@route("GET", "/v1/subscriptions/search", params="SubscriptionSearchParams")
def search_subscriptions(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("subscription"),
        params,
        "/v1/subscriptions/search",
        {"status", "metadata", "created", "customer", "price", "canceled_at"},
        {
            "price": lambda s: next(i["price"]["id"] for i in s["items"]["data"]),
        },
    )


@route("GET", "/v1/subscriptions/{id}", params="SubscriptionRetrieveParams")
def retrieve_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    engine.start_real_clock(ctx.app)
    return ctx.get("subscription", id)


@route("POST", "/v1/subscriptions/{id}", params="SubscriptionUpdateParams")
def update_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.subscription_update(ctx, id, params)


@route("DELETE", "/v1/subscriptions/{id}", params="SubscriptionCancelParams")
def cancel_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.subscription_cancel(
        ctx,
        id,
        invoice_now=bool(params.get("invoice_now")),
        prorate=bool(params.get("prorate")),
        cancellation_details=params.get("cancellation_details") or None,
    )


@route("POST", "/v1/subscriptions/{id}/resume", params="SubscriptionResumeParams")
def resume_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.subscription_resume(
        ctx,
        id,
        billing_cycle_anchor=params.get("billing_cycle_anchor") or "now",
        proration_behavior=params.get("proration_behavior") or "create_prorations",
    )


_ENDED = ("canceled", "incomplete_expired")


@route("GET", "/v1/subscriptions", params="SubscriptionListParams")
def list_subscriptions(ctx: Ctx, params: JSONDict) -> JSONDict:
    engine.start_real_clock(ctx.app)
    status = params.get("status")
    price = params.get("price") or params.get("plan")

    def keep(s: JSONDict) -> bool:
        if status is None and s["status"] == "canceled":
            return False
        if status == "ended" and s["status"] not in _ENDED:
            return False
        if status not in (None, "all", "ended") and s["status"] != status:
            return False
        if "customer" in params and s.get("customer") != params["customer"]:
            return False
        if "test_clock" in params and s.get("test_clock") != params["test_clock"]:
            return False
        if (
            "collection_method" in params
            and s.get("collection_method") != params["collection_method"]
        ):
            return False
        if price and all(i["price"]["id"] != price for i in s["items"]["data"]):
            return False
        start, end = engine.period_of(s)
        if not match_range(start, params.get("current_period_start")):
            return False
        if not match_range(end, params.get("current_period_end")):
            return False
        return match_range(s.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("subscription", keep),
        params,
        "/v1/subscriptions",
        object_label="subscription",
    )


# --------------------------------------------------------------------------
# subscription items (changes go through subscription_update, with prorations)


def _item(ctx: Ctx, id: str) -> JSONDict:
    return ctx.get("subscription_item", id)


def _item_update(ctx: Ctx, sub_id: str, params: JSONDict, entry: JSONDict) -> JSONDict:
    """The subscription update an item endpoint stands for; an error about the
    entry names the item endpoint's own parameter (`tax_rates[0]`, not
    `items[0][tax_rates][0]`)."""
    try:
        return engine.subscription_update(ctx, sub_id, _change_params(params, entry))
    except StripeAPIError as exc:
        prefix = "items[0]["
        if exc.param and exc.param.startswith(prefix):
            name, _, tail = exc.param[len(prefix) :].partition("]")
            exc.param = name + tail
        raise


def _change_params(params: JSONDict, entry: JSONDict) -> JSONDict:
    out: JSONDict = {"items": [entry]}
    for key in ("proration_behavior", "proration_date", "payment_behavior"):
        if key in params:
            out[key] = params[key]
    return out


@route("POST", "/v1/subscription_items", params="SubscriptionItemCreateParams")
def create_subscription_item(ctx: Ctx, params: JSONDict) -> JSONDict:
    keys = ("price", "price_data", "quantity", "metadata", "tax_rates")
    entry: JSONDict = {k: params[k] for k in keys if k in params}
    if "plan" in params and "price" not in entry:
        entry["price"] = params["plan"]
    sub = _item_update(ctx, params["subscription"], params, entry)
    price_id = entry.get("price")
    for item in sub["items"]["data"]:
        if price_id is None or item["price"]["id"] == price_id:
            created: JSONDict = item
    return _item(ctx, created["id"])


@route("GET", "/v1/subscription_items/{id}", params="SubscriptionItemRetrieveParams")
def retrieve_subscription_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return _item(ctx, id)


@route("POST", "/v1/subscription_items/{id}", params="SubscriptionItemUpdateParams")
def update_subscription_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    item = _item(ctx, id)
    entry: JSONDict = {"id": id}
    for key in ("price", "price_data", "quantity", "metadata", "tax_rates"):
        if key in params:
            entry[key] = params[key]
    if "plan" in params and "price" not in entry:
        entry["price"] = params["plan"]
    _item_update(ctx, item["subscription"], params, entry)
    return _item(ctx, id)


@route("DELETE", "/v1/subscription_items/{id}", params="SubscriptionItemDeleteParams")
def delete_subscription_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    item = _item(ctx, id)
    engine.subscription_update(
        ctx, item["subscription"], _change_params(params, {"id": id, "deleted": True})
    )
    return {"id": id, "object": "subscription_item", "deleted": True}


@route("GET", "/v1/subscription_items", params="SubscriptionItemListParams")
def list_subscription_items(ctx: Ctx, params: JSONDict) -> JSONDict:
    sub = ctx.get("subscription", params["subscription"], param="subscription")
    return paginate(
        list(sub["items"]["data"]),
        params,
        f"/v1/subscription_items?subscription={sub['id']}",
        object_label="subscription_item",
    )


# --------------------------------------------------------------------------
# test helpers


@helper_route("GET", "/_emulator/billing/config")
def get_billing_config(ctx: Ctx, body: JSONDict) -> JSONDict:
    return engine.settings(ctx)


@helper_route("POST", "/_emulator/billing/config")
def set_billing_config(ctx: Ctx, body: JSONDict) -> JSONDict:
    allowed = set(engine.settings(ctx))
    unknown = set(body) - allowed
    if unknown:
        raise invalid_request(f"Unknown billing setting(s): {sorted(unknown)}")
    with ctx.store.atomic():
        return engine.update_settings(ctx, body)


@helper_route("POST", "/_emulator/billing/tick")
def tick(ctx: Ctx, body: JSONDict) -> JSONDict:
    """Process now whatever is due on the real clock (the background pass, on demand)."""
    return {"steps": engine.tick_real_clock(ctx.app)}


@route("DELETE", "/v1/subscriptions/{id}/discount", params="SubscriptionDeleteDiscountParams")
def delete_subscription_discount(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    sub = ctx.get("subscription", id)
    if not sub.get("discounts"):
        raise invalid_request(f"The subscription {id} has no discount.")
    engine.subscription_update(ctx, id, {"discounts": ""})
    return {"id": sub["discounts"][0], "object": "discount", "deleted": True}

"""Subscriptions and subscription items; billing test helpers.

Thin endpoints over `engine.py` (create, update, cancel, resume, items);
list and search here. `/_emulator/billing/...` exposes the engine settings
(invoice gate, retry schedule, final dunning action) and a real-clock pass.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from .. import engine
from ..context import Ctx
from ..errors import StripeAPIError, invalid_request, unknown_parameter
from ..listing import match_range, paginate, search
from ..routing import helper_route, route
from ..versions import at_least

JSONDict = dict[str, Any]

# Pause on demand and the new resume parameters (2026-09-30.endive).
PAUSE_SINCE = "2026-09-30.endive"


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
    sub = ctx.get("subscription", id)
    if sub.get("schedule") and {"cancel_at", "cancel_at_period_end"} & set(params):
        # Stripe's answer (quoted in dust-tt/dust#32051, Nine-Minds/alga-psa#1802):
        # a schedule-managed subscription's cancellation is the schedule's business.
        raise invalid_request(
            f"The subscription is managed by the subscription schedule `{sub['schedule']}`, "
            "and updating any cancelation behavior directly is not allowed. Please update "
            "the schedule instead."
        )
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


# 2026-09-30.endive changed resume's `billing_cycle_anchor` from a string to
# `{"type": "now" | "unchanged"}` (changelog/endive/2026-09-30/
# polymorphic-billing-cycle-anchor) and added `payment_behavior`
# (changelog/endive/2026-09-30/pause-subscription). The params accept both
# shapes; the handler holds each version to its own (stripe-python 15.6.2 and
# 16.0.1 SubscriptionResumeParams).
class ResumeBillingCycleAnchor(TypedDict):
    type: Literal["now", "unchanged"]


class SubscriptionResumeParams(TypedDict, total=False):
    billing_cycle_anchor: Literal["now", "unchanged"] | ResumeBillingCycleAnchor
    expand: list[str]
    payment_behavior: Literal["resume_on_payment_attempt", "resume_on_payment_success"]
    proration_behavior: Literal["always_invoice", "create_prorations", "none"]
    proration_date: int


def _resume_anchor(ctx: Ctx, params: JSONDict) -> str:
    anchor = params.get("billing_cycle_anchor")
    endive = at_least(ctx.api_version, PAUSE_SINCE)
    if anchor is None:
        return "now"
    if endive and not isinstance(anchor, dict):
        raise invalid_request("Invalid object: billing_cycle_anchor", param="billing_cycle_anchor")
    if not endive and isinstance(anchor, dict):
        raise invalid_request("Invalid string: billing_cycle_anchor", param="billing_cycle_anchor")
    return str(anchor["type"] if isinstance(anchor, dict) else anchor)


@route("POST", "/v1/subscriptions/{id}/resume", params=f"{__name__}:SubscriptionResumeParams")
def resume_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    if "payment_behavior" in params and not at_least(ctx.api_version, PAUSE_SINCE):
        raise unknown_parameter("payment_behavior")
    return engine.subscription_resume(
        ctx,
        id,
        billing_cycle_anchor=_resume_anchor(ctx, params),
        proration_behavior=params.get("proration_behavior") or "create_prorations",
    )


# The pause endpoint arrived with 2026-09-30.endive
# (docs.stripe.com/changelog/endive/2026-09-30/pause-subscription); the
# project's stripe-python (15.x, 2026-08-26.dahlia) has no params class for
# it, so these follow stripe-python 16.0.1's SubscriptionPauseParams
# (`total=False` where the SDK has NotRequired keys).
class PauseBillForOutstandingUsageThrough(TypedDict):
    type: Literal["none", "now"]


class PauseBillForUnusedTimeFrom(TypedDict):
    type: Literal["item_current_period_start", "none", "now"]


class PauseBillFor(TypedDict, total=False):
    outstanding_usage_through: PauseBillForOutstandingUsageThrough
    unused_time_from: PauseBillForUnusedTimeFrom


class SubscriptionPauseParams(TypedDict, total=False):
    bill_for: PauseBillFor
    expand: list[str]
    invoicing_behavior: Literal["invoice", "pending_invoice_item"]
    type: Literal["subscription"]


@route("POST", "/v1/subscriptions/{id}/pause", params=f"{__name__}:SubscriptionPauseParams")
def pause_subscription(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    if not at_least(ctx.api_version, PAUSE_SINCE):
        # Stripe's shape for a feature newer than the request's version, as in
        # "Search is not supported on api version ... Update your API version,
        # or set the API Version of this request to ... or greater."
        version, since = ctx.api_version, PAUSE_SINCE
        message = " ".join(
            (
                f"Pausing subscriptions is not supported on API version {version}.",
                "Update your API version, or set the API Version of this request to",
                f"{since} or greater.",
            )
        )
        raise invalid_request(message)
    bill_for = params.get("bill_for") or {}
    return engine.subscription_pause(
        ctx,
        id,
        invoicing_behavior=params.get("invoicing_behavior") or "pending_invoice_item",
        unused_time_from=(bill_for.get("unused_time_from") or {}).get("type", "now"),
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
    # Held by payment_behavior=pending_if_incomplete: the item exists only in
    # pending_update until its invoice is paid.
    held = (sub.get("pending_update") or {}).get("subscription_items")
    items = held if held is not None else sub["items"]["data"]
    for item in items:
        if price_id is None or item["price"]["id"] == price_id:
            created: JSONDict = item
    return created if held is not None else _item(ctx, created["id"])


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

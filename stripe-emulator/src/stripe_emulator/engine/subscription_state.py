"""A subscription's items, period and status, and the invoice of a period."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..params import UNSET
from ..updates import apply_metadata
from .cards import resolve_payment_method as resolve_payment_method
from .common import SUBSCRIPTION_PATH, TERMINAL, Env, JSONDict, deep_copy, emit_event, id_of
from .invoicing import (
    add_subscription_item_line,
    add_usage_line,
    attach_pending_items,
    invoice_subscription,
    new_invoice,
    on_invoice_paid,
    pending_invoice_items,
    refresh_totals,
)
from .pricing import item_quantity, plan_of, price_amount, product_name


def new_subscription_item(
    sub_id: str, price: JSONDict, qty: int, env: Env, metadata: Any
) -> JSONDict:
    return {
        "id": new_id("subscription_item", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": env.now,
        "current_period_end": env.now,
        "current_period_start": env.now,
        "discounts": [],
        "metadata": apply_metadata({}, metadata),
        "plan": plan_of(price),
        "price": price,
        # Metered items have no quantity: usage comes from the meter.
        "quantity": None if (price.get("recurring") or {}).get("usage_type") == "metered" else qty,
        "subscription": sub_id,
        "tax_rates": [],
        "_billed_amount": 0,
    }


def subscription_items(sub: JSONDict) -> list[JSONDict]:
    data: list[JSONDict] = sub["items"]["data"]
    return data


def billing_interval(sub: JSONDict) -> tuple[str, int]:
    recurring = subscription_items(sub)[0]["price"].get("recurring") or {}
    return str(recurring.get("interval", "month")), int(recurring.get("interval_count", 1))


def period_of(sub: JSONDict) -> tuple[int, int]:
    item = subscription_items(sub)[0]
    return int(item["current_period_start"]), int(item["current_period_end"])


def is_metered(item: JSONDict) -> bool:
    return (item["price"].get("recurring") or {}).get("usage_type") == "metered"


def set_period(sub: JSONDict, start: int, end: int) -> None:
    for item in subscription_items(sub):
        item["current_period_start"] = start
        item["current_period_end"] = end
        # Metered items are billed in arrears: nothing is paid in advance.
        item["_billed_amount"] = (
            0 if is_metered(item) else price_amount(item["price"], item_quantity(item))
        )


def save_subscription(ctx: Ctx, sub: JSONDict) -> JSONDict:
    """Store the subscription and each item (GET /v1/subscription_items/{id})."""
    ctx.save(sub)
    keep = {item["id"] for item in subscription_items(sub)}
    for item in subscription_items(sub):
        ctx.save(deep_copy(item))
    for gone in sub.get("_removed_items") or []:
        if gone not in keep:
            ctx.store.remove(gone)
    sub.pop("_removed_items", None)
    return sub


def subscription_payment_method(ctx: Ctx, sub: JSONDict) -> str | None:
    if sub.get("default_payment_method"):
        return id_of(sub["default_payment_method"])
    customer = ctx.find("customer", sub["customer"]) or {}
    return id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))


def refresh_entitlements(ctx: Ctx, env: Env, customer_id: str) -> None:
    from .entitlements import recompute_active_entitlements

    recompute_active_entitlements(ctx, customer_id, automatic=env.automatic, created=env.now)


def _active_discounts(ctx: Ctx, sub: JSONDict, at: int) -> list[str]:
    out = []
    for discount_id in sub.get("discounts") or []:
        discount = ctx.find("discount", id_of(discount_id) or "")
        if discount is None:
            continue
        if discount.get("end") is not None and discount["end"] <= at:
            continue
        coupon = ctx.find("coupon", discount["source"]["coupon"]) or {}
        if coupon.get("duration") == "once" and discount.get("_used"):
            continue
        out.append(discount["id"])
    return out


def cycle_invoice(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    billing_reason: str,
    *,
    trial: bool = False,
    include_items: bool = True,
    usage_period: tuple[int, int] | None = None,
) -> JSONDict:
    """A draft invoice for the subscription's current period plus its pending items.

    Licensed items are charged in advance for the current period; metered
    items in arrears for `usage_period` (the period that just ended).
    """
    customer = ctx.get("customer", sub["customer"])
    start, end = period_of(sub)
    inv = new_invoice(
        ctx,
        env,
        customer=customer,
        currency=sub["currency"],
        billing_reason=billing_reason,
        subscription=sub,
        collection_method=sub["collection_method"],
        days_until_due=sub.get("days_until_due"),
        period=(start, start) if billing_reason != "subscription_update" else (env.now, env.now),
        discounts=_active_discounts(ctx, sub, start),
        description=sub.get("description"),
    )
    attach_pending_items(
        ctx, inv, pending_invoice_items(ctx, sub["customer"], sub["id"], sub["currency"])
    )
    if usage_period is not None:
        for item in subscription_items(sub):
            if is_metered(item):
                add_usage_line(ctx, inv, sub, item, *usage_period)
    if include_items:
        for item in subscription_items(sub):
            if is_metered(item):
                continue
            line = add_subscription_item_line(ctx, inv, sub, item, start, end)
            if trial:
                line["amount"] = line["subtotal"] = 0
                line["description"] = f"Trial period for {product_name(ctx, item['price'])}"
    refresh_totals(ctx, inv)
    return inv


def emit_subscription_updated(ctx: Ctx, env: Env, sub: JSONDict, before: JSONDict) -> None:
    save_subscription(ctx, sub)
    emit_event(ctx, env, "customer.subscription.updated", sub, previous=before)


def set_status(ctx: Ctx, env: Env, sub: JSONDict, status: str) -> JSONDict:
    if sub["status"] == status:
        return sub
    before = deep_copy(sub)
    sub["status"] = status
    emit_subscription_updated(ctx, env, sub, before)
    refresh_entitlements(ctx, env, sub["customer"])
    return sub


@on_invoice_paid
def _subscription_after_paid(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    sub = invoice_subscription(ctx, inv)
    if sub is None or sub["status"] in TERMINAL:
        return
    if sub["status"] in ("incomplete", "past_due", "unpaid"):
        others = [
            i
            for i in ctx.store.all_where(
                "invoice", {SUBSCRIPTION_PATH: sub["id"], "status": "open"}
            )
            if i["id"] != inv["id"]
        ]
        if not others or id_of(sub.get("latest_invoice")) == inv["id"]:
            set_status(ctx, env, sub, "active")


def check_payment_method(ctx: Ctx, pm_id: Any, customer_id: str, param: str) -> str | None:
    if not pm_id or pm_id == UNSET:
        return None
    pm = resolve_payment_method(ctx, pm_id, param=param)
    if pm.get("customer") != customer_id:
        if pm_id.startswith(("pm_card_", "tok_")):
            from .cards import attach_payment_method

            pm = attach_payment_method(ctx, pm["id"], customer_id, param=param)
        else:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {pm_id}. The payment "
                "method must be attached to the customer.",
                param=param,
            )
    return str(pm["id"])

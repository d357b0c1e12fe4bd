"""Cancelling a subscription now (API, portal, dunning, trial end, customer deletion)."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Ctx
from ..errors import invalid_request
from .common import SUBSCRIPTION_PATH, TERMINAL, Env, JSONDict, api_env, emit_event
from .invoicing import collect_invoice, finalize_invoice, pending_invoice_items
from .proration import proration_lines
from .subscription_state import (
    cycle_invoice,
    is_metered,
    period_of,
    refresh_entitlements,
    save_subscription,
    subscription_items,
)

# Called as fn(ctx, env, sub) after a subscription ended (the schedules module
# cancels or aborts the schedule that managed it).
SUBSCRIPTION_CANCELED_HOOKS: list[Callable[[Ctx, Env, JSONDict], None]] = []


def cancel_now(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    *,
    reason: str | None = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
    prorate: bool = False,
    invoice_now: bool = False,
) -> JSONDict:
    """End the subscription at env.now; emits customer.subscription.deleted."""
    sub = ctx.get("subscription", sub["id"])
    if sub["status"] in TERMINAL:
        return sub
    if prorate and sub["status"] in ("active", "past_due"):
        proration_lines(ctx, env, sub, subscription_items(sub), [], env.now)
    if invoice_now:
        pending = pending_invoice_items(ctx, sub["customer"], sub["id"], sub["currency"])
        metered = any(is_metered(i) for i in subscription_items(sub))
        if pending or metered:
            # Final invoice: pending items and usage not yet billed.
            usage = (period_of(sub)[0], env.now) if metered else None
            inv = cycle_invoice(
                ctx, env, sub, "subscription_update", include_items=False, usage_period=usage
            )
            sub["latest_invoice"] = inv["id"]
            ctx.save(inv)
            emit_event(ctx, env, "invoice.created", inv)
            inv = finalize_invoice(ctx, env, inv)
            if inv["status"] == "open":
                collect_invoice(ctx, env, inv, automatic=False)
            sub = ctx.get("subscription", sub["id"])
    sub["status"] = "canceled"
    if not sub.get("canceled_at") or not (sub.get("cancel_at_period_end") or sub.get("cancel_at")):
        sub["canceled_at"] = env.now
    sub["ended_at"] = env.now
    details = sub.get("cancellation_details") or {}
    sub["cancellation_details"] = {
        "comment": comment if comment is not None else details.get("comment"),
        "feedback": feedback if feedback is not None else details.get("feedback"),
        "reason": reason or details.get("reason"),
    }
    save_subscription(ctx, sub)
    # Stripe turns automatic collection off for the subscription's unpaid invoices.
    for inv in ctx.store.all_where("invoice", {SUBSCRIPTION_PATH: sub["id"]}):
        if inv["status"] not in ("draft", "open"):
            continue
        inv["auto_advance"] = False
        inv["next_payment_attempt"] = None
        inv["automatically_finalizes_at"] = None
        ctx.save(inv)
    emit_event(ctx, env, "customer.subscription.deleted", sub)
    refresh_entitlements(ctx, env, sub["customer"])
    for hook in SUBSCRIPTION_CANCELED_HOOKS:
        hook(ctx, env, sub)
    return sub


def subscription_cancel(
    ctx: Ctx,
    sub_id: str,
    *,
    invoice_now: bool = False,
    prorate: bool = False,
    cancellation_details: JSONDict | None = None,
) -> JSONDict:
    """Cancel now (DELETE /v1/subscriptions/{id}); emits customer.subscription.deleted."""
    sub = ctx.get("subscription", sub_id)
    if sub["status"] in TERMINAL:
        raise invalid_request(f"A canceled subscription can't be canceled again: {sub_id}")
    env = api_env(ctx, sub["customer"])
    details = cancellation_details or {}
    return cancel_now(
        ctx,
        env,
        sub,
        reason="cancellation_requested",
        comment=details.get("comment") or None,
        feedback=details.get("feedback") or None,
        prorate=prorate,
        invoice_now=invoice_now,
    )


def _customer_deleted(ctx: Ctx, customer: JSONDict) -> None:
    env = api_env(ctx, customer)
    for sub in ctx.store.all_where("subscription", {"customer": customer["id"]}):
        if sub["status"] not in TERMINAL:
            cancel_now(ctx, env, sub)


def _register_hooks() -> None:
    from .customers import CUSTOMER_DELETE_HOOKS

    if _customer_deleted not in CUSTOMER_DELETE_HOOKS:
        CUSTOMER_DELETE_HOOKS.append(_customer_deleted)


_register_hooks()

"""Dunning: what a failed payment does to a subscription, overdue invoices."""

from __future__ import annotations

from ..context import Ctx
from .cancellation import cancel_now
from .common import TERMINAL, Env, JSONDict, emit_event, settings
from .invoicing import invoice_subscription, on_invoice_payment_failed
from .subscription_state import set_status


@on_invoice_payment_failed
def subscription_after_failure(ctx: Ctx, env: Env, inv: JSONDict, *, exhausted: bool) -> None:
    sub = invoice_subscription(ctx, inv)
    if sub is None or sub["status"] in TERMINAL:
        return
    if inv.get("billing_reason") == "subscription_create":
        return  # stays incomplete until paid or expired
    if (sub.get("_pending") or {}).get("invoice") == inv["id"]:
        return  # a pending update's invoice: the subscription is unchanged (pending_updates.py)
    if sub["status"] in ("active", "trialing"):
        sub = set_status(ctx, env, sub, "past_due")
    if exhausted:
        action = settings(ctx)["final_action"]
        if action == "cancel":
            cancel_now(ctx, env, sub, reason="payment_failed")
        elif action == "unpaid":
            set_status(ctx, env, sub, "unpaid")


def invoice_overdue(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    """A send_invoice invoice is unpaid at its due date: overdue, subscription past_due."""
    inv["_overdue"] = True
    ctx.save(inv)
    emit_event(ctx, env, "invoice.overdue", inv)
    sub = invoice_subscription(ctx, inv)
    if sub is not None and sub["status"] == "active":
        set_status(ctx, env, sub, "past_due")

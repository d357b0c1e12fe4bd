"""Dunning: what a failed payment does to a subscription, overdue invoices."""

from __future__ import annotations

from ..context import Ctx
from .cancellation import cancel_now
from .common import TERMINAL, Env, JSONDict, _emit, settings
from .invoicing import _invoice_subscription, on_invoice_payment_failed
from .subscription_state import _set_status


@on_invoice_payment_failed
def _subscription_after_failure(ctx: Ctx, env: Env, inv: JSONDict, *, exhausted: bool) -> None:
    sub = _invoice_subscription(ctx, inv)
    if sub is None or sub["status"] in TERMINAL:
        return
    if inv.get("billing_reason") == "subscription_create":
        return  # stays incomplete until paid or expired
    if sub["status"] in ("active", "trialing"):
        sub = _set_status(ctx, env, sub, "past_due")
    if exhausted:
        action = settings(ctx)["final_action"]
        if action == "cancel":
            cancel_now(ctx, env, sub, reason="payment_failed")
        elif action == "unpaid":
            _set_status(ctx, env, sub, "unpaid")


def _invoice_overdue(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    """A send_invoice invoice is unpaid at its due date: overdue, subscription past_due."""
    inv["_overdue"] = True
    ctx.save(inv)
    _emit(ctx, env, "invoice.overdue", inv)
    sub = _invoice_subscription(ctx, inv)
    if sub is not None and sub["status"] == "active":
        _set_status(ctx, env, sub, "past_due")

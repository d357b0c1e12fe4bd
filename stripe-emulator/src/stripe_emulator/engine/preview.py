"""`POST /v1/invoices/create_preview`: the invoice an update or a new subscription would make."""

from __future__ import annotations

from ..context import Ctx
from ..errors import invalid_request
from .common import Env, JSONDict, customer_or_404, deep_copy, id_of, next_boundary
from .invoicing import attach_pending_items, new_invoice, pending_invoice_items, refresh_totals
from .proration import apply_item_changes, proration_lines
from .subscription_state import (
    billing_interval,
    cycle_invoice,
    period_of,
    set_period,
    subscription_items,
)
from .subscriptions import subscription_create


def invoice_preview(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The body of POST /v1/invoices/create_preview (InvoiceCreatePreviewParams).

    With `subscription` + `subscription_details[items]` (and optionally
    `subscription_details[proration_date]`, `[proration_behavior]`) it shows
    the proration lines a subscription_update with the same values would
    create, plus the next period's charge. Without changes it previews the
    subscription's next renewal invoice. Nothing is stored.
    """
    sub_id = params.get("subscription")
    customer_id = params.get("customer")
    if not sub_id and not customer_id:
        raise invalid_request(
            "Missing required param: customer or subscription.",
            param="customer",
            code="parameter_missing",
        )
    try:
        with ctx.store.atomic():
            result = _preview(ctx, params, sub_id, customer_id)
            # Leave through an exception so the savepoint rolls back every
            # write the preview made (proration items, discounts, events).
            raise _PreviewDone(result)
    except _PreviewDone as done:
        ctx.emitted[:] = [e for e in ctx.emitted if ctx.store.get(e["id"]) is not None]
        return done.result


class _PreviewDone(Exception):
    def __init__(self, result: JSONDict) -> None:
        super().__init__("preview")
        self.result = result


def _preview(ctx: Ctx, params: JSONDict, sub_id: str | None, customer_id: str | None) -> JSONDict:
    details = params.get("subscription_details") or {}
    if sub_id:
        sub = ctx.get("subscription", sub_id, param="subscription")
        customer = ctx.get("customer", sub["customer"])
        env = Env(ctx.now_for_customer(customer))
        at = int(details.get("proration_date") or env.now)
        behavior = details.get("proration_behavior") or "create_prorations"
        if details.get("items"):
            old_items = deep_copy(subscription_items(sub))
            new_items, _changed = apply_item_changes(ctx, env, sub, details["items"])
            if behavior != "none":
                proration_lines(ctx, env, sub, old_items, new_items, at, store=True)
            sub["items"]["data"] = new_items
            ctx.save(sub)
        if behavior == "always_invoice" and details.get("items"):
            inv = cycle_invoice(ctx, env, sub, "subscription_update", include_items=False)
        else:
            # The upcoming renewal: next period plus pending items (prorations).
            end = period_of(sub)[1]
            rec_interval, rec_count = billing_interval(sub)
            nxt = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, end)
            shifted = deep_copy(sub)
            set_period(shifted, end, nxt)
            inv = cycle_invoice(
                ctx, Env(end), shifted, "subscription_cycle", usage_period=period_of(sub)
            )
            inv["created"] = env.now
        inv["parent"]["subscription_details"]["subscription_proration_date"] = at
    elif details.get("items"):
        # A would-be subscription: create it inside the rolled-back savepoint
        # (without a payment attempt) and show its first invoice as a draft.
        customer = customer_or_404(ctx, str(customer_id))
        create: JSONDict = {
            "customer": customer["id"],
            "items": details["items"],
            "payment_behavior": "default_incomplete",
        }
        for key in ("trial_end", "billing_cycle_anchor", "proration_behavior", "cancel_at"):
            if details.get(key) is not None:
                create[key] = details[key]
        if params.get("discounts"):
            create["discounts"] = params["discounts"]
        sub = subscription_create(ctx, create)
        inv = ctx.get("invoice", str(id_of(sub["latest_invoice"])))
        inv.update(
            status="draft",
            number=None,
            hosted_invoice_url=None,
            invoice_pdf=None,
            confirmation_secret=None,
            effective_at=None,
        )
        inv["status_transitions"]["finalized_at"] = None
        inv["status_transitions"]["paid_at"] = None
        inv["amount_paid"] = 0
    else:
        customer = customer_or_404(ctx, str(customer_id))
        env = Env(ctx.now_for_customer(customer))
        inv = new_invoice(
            ctx,
            env,
            customer=customer,
            currency=params.get("currency") or "usd",
            billing_reason="manual",
        )
        attach_pending_items(
            ctx, inv, pending_invoice_items(ctx, customer["id"], None, inv["currency"])
        )
        refresh_totals(ctx, inv)
    inv["id"] = "upcoming_" + inv["id"]
    for line in inv["lines"]["data"]:
        line["id"] = "il_tmp_" + line["id"].removeprefix("il_")
        line["invoice"] = inv["id"]
    inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
    inv["amount_due"] = max(0, inv["total"] + int(customer.get("balance") or 0))
    inv["amount_remaining"] = inv["amount_due"]
    inv["starting_balance"] = int(customer.get("balance") or 0)
    return inv

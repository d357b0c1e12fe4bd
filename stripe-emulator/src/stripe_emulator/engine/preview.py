"""`POST /v1/invoices/create_preview`: the invoice an update or a new subscription would make."""

from __future__ import annotations

from ..context import Ctx
from ..errors import StripeAPIError, invalid_request
from .common import Env, JSONDict, customer_or_404, deep_copy, id_of, next_boundary
from .invoicing import attach_pending_items, new_invoice, pending_invoice_items, refresh_totals
from .proration import apply_item_changes, proration_lines, proration_moment
from .schedules import run_phases_until
from .subscription_state import (
    billing_interval,
    cycle_invoice,
    period_of,
    set_period,
    subscription_items,
)
from .subscriptions import subscription_create
from .tax import automatic_tax_enabled, invoice_automatic_tax, tax_id_create


def invoice_preview(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The body of POST /v1/invoices/create_preview (InvoiceCreatePreviewParams).

    With `subscription` + `subscription_details[items]` (and optionally
    `subscription_details[proration_date]`, `[proration_behavior]`) it shows
    the proration lines a subscription_update with the same values would
    create, plus the next period's charge. Without changes it previews the
    subscription's next renewal invoice. Nothing is stored.
    """
    sub_id = params.get("subscription")
    if params.get("schedule_details"):
        raise invalid_request(
            "The emulator does not model `schedule_details` previews; preview the schedule's "
            "subscription after updating the schedule instead.",
            param="schedule_details",
        )
    if params.get("schedule"):
        # "preview the upcoming invoice for a subscription or subscription schedule"
        sched = ctx.get("subscription_schedule", params["schedule"], param="schedule")
        if sub_id or sched.get("subscription") is None:
            raise invalid_request(
                "The schedule must be active, and `subscription` cannot be used with it.",
                param="schedule",
            )
        sub_id = str(sched["subscription"])
    customer_id = params.get("customer")
    if not sub_id and not customer_id:
        raise invalid_request(
            "Missing required param: customer or subscription.",
            param="customer",
            code="parameter_missing",
        )
    # Only events emitted by the preview itself can have been rolled back: a
    # test clock's advance previews every renewed subscription (invoice.upcoming),
    # so checking all of the advance's events each time was quadratic.
    emitted_before = len(ctx.emitted)
    try:
        with ctx.store.atomic():
            result = _preview(ctx, params, sub_id, customer_id)
            # Leave through an exception so the savepoint rolls back every
            # write the preview made (proration items, discounts, events).
            raise _PreviewDone(result)
    except _PreviewDone as done:
        ctx.emitted[emitted_before:] = [
            e for e in ctx.emitted[emitted_before:] if ctx.store.get(e["id"]) is not None
        ]
        return done.result


class _PreviewDone(Exception):
    def __init__(self, result: JSONDict) -> None:
        super().__init__("preview")
        self.result = result


def _apply_customer_details(ctx: Ctx, customer_id: str | None, raw: JSONDict | None) -> None:
    """`customer_details` (address, shipping, tax_exempt, tax_ids): the preview's
    customer as if it had them (written inside the rolled-back savepoint)."""
    if not raw or not customer_id:
        return
    customer = customer_or_404(ctx, customer_id)
    for key in ("address", "shipping", "tax_exempt"):
        if raw.get(key):
            customer[key] = raw[key]
    ctx.save(customer)
    for i, entry in enumerate(raw.get("tax_ids") or []):
        tax_id_create(
            ctx, customer, entry["type"], entry["value"], param=f"customer_details[tax_ids][{i}]"
        )


def _rename_preview(inv: JSONDict) -> None:
    """Give the preview and its lines their temporary ids; a credit proration's
    `credited_items` that points at a debit on this same preview follows."""
    stored_id = inv["id"]
    inv["id"] = "upcoming_" + stored_id
    renamed: dict[str, str] = {}
    for line in inv["lines"]["data"]:
        renamed[line["id"]] = "il_tmp_" + line["id"].removeprefix("il_")
        line["id"] = renamed[line["id"]]
        line["invoice"] = inv["id"]
    for line in inv["lines"]["data"]:
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        credited = (details.get("proration_details") or {}).get("credited_items")
        if credited and credited.get("invoice") == stored_id:
            credited["invoice"] = inv["id"]
            credited["invoice_line_items"] = [
                renamed.get(i, i) for i in credited["invoice_line_items"]
            ]


def _preview_item_changes(
    ctx: Ctx, env: Env, sub: JSONDict, raw_items: list[JSONDict]
) -> list[JSONDict]:
    """`subscription_details[items]` applied as an update applies `items`; an
    error names the preview's own parameter (`subscription_details[items][0][quantity]`)."""
    try:
        return apply_item_changes(ctx, env, sub, raw_items)[0]
    except StripeAPIError as exc:
        if exc.param and exc.param.startswith("items"):
            exc.param = "subscription_details[items]" + exc.param.removeprefix("items")
        raise


def _apply_automatic_tax(ctx: Ctx, inv: JSONDict, params: JSONDict) -> None:
    if "automatic_tax" in params:
        inv["automatic_tax"] = invoice_automatic_tax(automatic_tax_enabled(params["automatic_tax"]))
        refresh_totals(ctx, inv)


def _preview(ctx: Ctx, params: JSONDict, sub_id: str | None, customer_id: str | None) -> JSONDict:
    details = params.get("subscription_details") or {}
    if sub_id and not customer_id:
        customer_id = str(ctx.get("subscription", sub_id, param="subscription")["customer"])
    _apply_customer_details(ctx, customer_id, params.get("customer_details"))
    if sub_id:
        sub = ctx.get("subscription", sub_id, param="subscription")
        customer = ctx.get("customer", sub["customer"])
        env = Env(ctx.now_for_customer(customer))
        at = proration_moment(
            sub, details.get("proration_date"), env.now, "subscription_details[proration_date]"
        )
        behavior = details.get("proration_behavior") or "create_prorations"
        if details.get("items"):
            old_items = deep_copy(subscription_items(sub))
            new_items = _preview_item_changes(ctx, env, sub, details["items"])
            if behavior != "none":
                proration_lines(ctx, env, sub, old_items, new_items, at, store=True)
            sub["items"]["data"] = new_items
            ctx.save(sub)
        if not details.get("items"):
            sub = run_phases_until(ctx, sub, period_of(sub)[1])
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
        _apply_automatic_tax(ctx, inv, params)
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
        if details.get("default_tax_rates") is not None:
            create["default_tax_rates"] = details["default_tax_rates"]
        for key in ("discounts", "automatic_tax"):
            if params.get(key):
                create[key] = params[key]
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
        _apply_automatic_tax(ctx, inv, params)
    _rename_preview(inv)
    inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
    inv["amount_due"] = max(0, inv["total"] + int(customer.get("balance") or 0))
    inv["amount_remaining"] = inv["amount_due"]
    inv["starting_balance"] = int(customer.get("balance") or 0)
    return inv

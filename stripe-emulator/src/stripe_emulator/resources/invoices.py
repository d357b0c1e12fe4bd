"""Invoices: create, retrieve, update, delete (draft), finalize, pay, void,
mark_uncollectible, list, search, lines, create_preview; invoice payments.

Subscription invoices are made by the billing engine (`engine/`); this
module adds the manual invoice endpoints and the lifecycle actions.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import engine
from ..context import Ctx
from ..engine import tax
from ..errors import invalid_request
from ..listing import list_object, match_range, paginate, search
from ..params import UNSET
from ..render import register_includable
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


def _payments(ctx: Ctx, inv: JSONDict) -> JSONDict:
    payments = ctx.store.all("invoice_payment", lambda p: p.get("invoice") == inv.get("id"))
    return list_object(payments, f"/v1/invoice_payments?invoice={inv.get('id')}", False)


# Only returned when expanded (`expand[]=payments`, `latest_invoice.confirmation_secret`).
register_includable("invoice", "payments", _payments)
register_includable("invoice", "confirmation_secret")


def _env(ctx: Ctx, inv: JSONDict) -> engine.Env:
    return engine.Env(ctx.now_for_customer(inv.get("customer")))


def _subscription_of(inv: JSONDict) -> str | None:
    details = (inv.get("parent") or {}).get("subscription_details") or {}
    sub = details.get("subscription")
    return sub if isinstance(sub, str) else None


def _draft(inv: JSONDict) -> None:
    if inv["status"] != "draft":
        raise invalid_request(
            f"You can only modify draft invoices; this one is {inv['status']}.",
            code="invoice_not_editable",
        )


def _apply_tax_params(ctx: Ctx, inv: JSONDict, params: JSONDict) -> None:
    """`default_tax_rates` (400 for an unknown or inactive rate) and `automatic_tax`."""
    if "default_tax_rates" in params:
        inv["default_tax_rates"] = tax.tax_rates_from_params(
            ctx, params["default_tax_rates"], "default_tax_rates", already=inv["default_tax_rates"]
        )
    if "automatic_tax" in params:
        inv["automatic_tax"] = tax.invoice_automatic_tax(
            tax.automatic_tax_enabled(params["automatic_tax"])
        )


@route("POST", "/v1/invoices", params="InvoiceCreateParams")
def create_invoice(ctx: Ctx, params: JSONDict) -> JSONDict:
    if not params.get("customer"):
        raise invalid_request(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    customer = ctx.get("customer", params["customer"], param="customer")
    env = engine.Env(ctx.now_for_customer(customer))
    sub = None
    if params.get("subscription"):
        sub = ctx.get("subscription", params["subscription"], param="subscription")
    collection = params.get("collection_method") or "charge_automatically"
    if collection == "send_invoice" and not (
        params.get("days_until_due") or params.get("due_date")
    ):
        raise invalid_request(
            "Missing required param: days_until_due.",
            param="days_until_due",
            code="parameter_missing",
        )
    pm = params.get("default_payment_method") or None
    if pm:
        pm = engine.resolve_payment_method(ctx, pm, param="default_payment_method")["id"]
    inv = engine.new_invoice(
        ctx,
        env,
        customer=customer,
        currency=(params.get("currency") or customer.get("currency") or "usd").lower(),
        billing_reason="manual",
        subscription=sub,
        collection_method=collection,
        days_until_due=params.get("days_until_due"),
        description=params.get("description"),
        metadata=apply_metadata({}, params.get("metadata")),
        auto_advance=bool(params.get("auto_advance", False)),
        default_payment_method=pm,
        discounts=engine.discounts_from_params(
            ctx,
            env,
            params.get("discounts"),
            customer=customer["id"],
            subscription=None,
            param="discounts",
        ),
    )
    for key in ("footer", "statement_descriptor"):
        if params.get(key):
            inv[key] = params[key]
    _apply_tax_params(ctx, inv, params)
    if params.get("pending_invoice_items_behavior") == "include":
        engine.attach_pending_items(
            ctx,
            inv,
            engine.pending_invoice_items(
                ctx, customer["id"], _subscription_of(inv), inv["currency"]
            ),
        )
    if inv["auto_advance"]:
        inv["automatically_finalizes_at"] = env.now + engine.HOUR
    engine.refresh_totals(ctx, inv)
    ctx.save(inv)
    ctx.emit("invoice.created", inv, created=env.now)
    return inv


@route("GET", "/v1/invoices/search", params="InvoiceSearchParams")
def search_invoices(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("invoice"),
        params,
        "/v1/invoices/search",
        {"customer", "status", "total", "number", "created", "metadata", "subscription"},
        {"subscription": _subscription_of},
    )


@route("POST", "/v1/invoices/create_preview", params="InvoiceCreatePreviewParams")
def create_preview(ctx: Ctx, params: JSONDict) -> JSONDict:
    return engine.invoice_preview(ctx, params)


@route("GET", "/v1/invoices/{id}", params="InvoiceRetrieveParams")
def retrieve_invoice(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    engine.start_real_clock(ctx.app)
    return ctx.get("invoice", id)


@route("POST", "/v1/invoices/{id}", params="InvoiceUpdateParams")
def update_invoice(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    before = copy.deepcopy(inv)
    env = _env(ctx, inv)
    draft_only = {
        "collection_method",
        "days_until_due",
        "default_payment_method",
        "discounts",
        "due_date",
        "auto_advance",
        "default_tax_rates",
        "automatic_tax",
    }
    touched = set(params) & draft_only
    # auto_advance may still change on an open invoice (to stop or resume retries).
    if touched and inv["status"] != "draft" and touched != {"auto_advance"}:
        _draft(inv)
    if "metadata" in params:
        inv["metadata"] = apply_metadata(inv.get("metadata"), params["metadata"])
    for key in ("description", "footer", "statement_descriptor"):
        if key in params:
            inv[key] = params[key] or None
    if "auto_advance" in params:
        inv["auto_advance"] = bool(params["auto_advance"])
        if inv["status"] == "draft":
            inv["automatically_finalizes_at"] = (
                max(env.now, inv["created"] + engine.HOUR) if inv["auto_advance"] else None
            )
    if "collection_method" in params:
        inv["collection_method"] = params["collection_method"]
    if "days_until_due" in params:
        inv["_days_until_due"] = params["days_until_due"] or None
    if "default_payment_method" in params:
        pm = params["default_payment_method"]
        inv["default_payment_method"] = (
            engine.resolve_payment_method(ctx, pm, param="default_payment_method")["id"]
            if pm and pm != UNSET
            else None
        )
    if "discounts" in params:
        inv["discounts"] = engine.discounts_from_params(
            ctx,
            env,
            params["discounts"],
            customer=inv["customer"],
            subscription=None,
            param="discounts",
        )
        engine.refresh_totals(ctx, inv)
    if {"default_tax_rates", "automatic_tax"} & set(params):
        _apply_tax_params(ctx, inv, params)
        engine.refresh_totals(ctx, inv)
    if inv != before:
        ctx.save(inv)
        ctx.emit("invoice.updated", inv, previous=before, created=env.now)
    return inv


@route("DELETE", "/v1/invoices/{id}", params="InvoiceDeleteParams")
def delete_invoice(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    if inv["status"] != "draft":
        raise invalid_request(
            "You can only delete draft invoices. Void or mark uncollectible instead.",
            code="invoice_not_editable",
        )
    # Its invoice items become pending again, as on Stripe.
    for ii in ctx.store.all("invoiceitem", lambda i: i.get("invoice") == id):
        ii["invoice"] = None
        ctx.save(ii)
    ctx.store.remove(id)
    ctx.emit("invoice.deleted", inv, created=_env(ctx, inv).now)
    return {"id": id, "object": "invoice", "deleted": True}


@route("POST", "/v1/invoices/{id}/finalize", params="InvoiceFinalizeInvoiceParams")
def finalize(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    if "auto_advance" in params:
        inv["auto_advance"] = bool(params["auto_advance"])
    env = _env(ctx, inv)
    inv = engine.finalize_invoice(ctx, env, inv)
    if (
        inv["status"] == "open"
        and inv["auto_advance"]
        and inv["collection_method"] == "charge_automatically"
    ):
        inv, _outcome = engine.collect_invoice(ctx, env, inv, automatic=True)
    return inv


@route("POST", "/v1/invoices/{id}/pay", params="InvoicePayParams")
def pay(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    if params.get("paid_out_of_band"):
        env = _env(ctx, inv)
        if inv["status"] == "draft":
            inv = engine.finalize_invoice(ctx, env, inv)
        if inv["status"] not in ("open", "uncollectible"):
            raise invalid_request(f"Invoice is {inv['status']} and cannot be paid.")
        inv["amount_paid_off_stripe"] = inv["amount_remaining"]
        return engine.mark_paid(ctx, env, inv)
    return engine.invoice_pay(
        ctx,
        id,
        payment_method=params.get("payment_method"),
        off_session=bool(params.get("off_session", True)),
    )


@route("POST", "/v1/invoices/{id}/void", params="InvoiceVoidInvoiceParams")
def void(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    return engine.void_invoice(ctx, _env(ctx, inv), inv)


@route("POST", "/v1/invoices/{id}/mark_uncollectible", params="InvoiceMarkUncollectibleParams")
def mark_uncollectible(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    return engine.mark_uncollectible(ctx, _env(ctx, inv), inv)


@route("GET", "/v1/invoices/{id}/lines", params="InvoiceListLinesParams")
def list_lines(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    inv = ctx.get("invoice", id)
    return paginate(
        list(inv["lines"]["data"]), params, f"/v1/invoices/{id}/lines", object_label="line_item"
    )


@route("POST", "/v1/invoices/{id}/add_lines", params="InvoiceAddLinesParams")
def add_lines(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.invoice_add_lines(ctx, id, params)


@route("POST", "/v1/invoices/{id}/update_lines", params="InvoiceUpdateLinesParams")
def update_lines(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.invoice_update_lines(ctx, id, params)


@route("POST", "/v1/invoices/{id}/remove_lines", params="InvoiceRemoveLinesParams")
def remove_lines(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return engine.invoice_remove_lines(ctx, id, params)


@route("POST", "/v1/invoices/{id}/lines/{line_item_id}", params="InvoiceLineItemUpdateParams")
def update_line(ctx: Ctx, params: JSONDict, id: str, line_item_id: str) -> JSONDict:
    return engine.invoice_update_line(ctx, id, line_item_id, params)


@route("GET", "/v1/invoices", params="InvoiceListParams")
def list_invoices(ctx: Ctx, params: JSONDict) -> JSONDict:
    engine.start_real_clock(ctx.app)

    def keep(inv: JSONDict) -> bool:
        if "customer" in params and inv.get("customer") != params["customer"]:
            return False
        if "subscription" in params and _subscription_of(inv) != params["subscription"]:
            return False
        if "status" in params and inv.get("status") != params["status"]:
            return False
        if (
            "collection_method" in params
            and inv.get("collection_method") != params["collection_method"]
        ):
            return False
        if not match_range(inv.get("due_date"), params.get("due_date")):
            return False
        return match_range(inv.get("created"), params.get("created"))

    return paginate(ctx.store.all("invoice", keep), params, "/v1/invoices", object_label="invoice")


# --------------------------------------------------------------------------
# invoice payments


@route("GET", "/v1/invoice_payments/{id}", params="InvoicePaymentRetrieveParams")
def retrieve_invoice_payment(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("invoice_payment", id)


@route("GET", "/v1/invoice_payments", params="InvoicePaymentListParams")
def list_invoice_payments(ctx: Ctx, params: JSONDict) -> JSONDict:
    payment = params.get("payment") or {}

    def keep(p: JSONDict) -> bool:
        if "invoice" in params and p.get("invoice") != params["invoice"]:
            return False
        if "status" in params and p.get("status") != params["status"]:
            return False
        return not (
            payment.get("payment_intent")
            and p["payment"].get("payment_intent") != payment["payment_intent"]
        )

    return paginate(
        ctx.store.all("invoice_payment", keep),
        params,
        "/v1/invoice_payments",
        object_label="invoice_payment",
    )


@route("POST", "/v1/invoices/{id}/send", params="InvoiceSendInvoiceParams")
def send(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    """Stripe emails the invoice; the emulator finalises it if needed and emits invoice.sent."""
    inv = ctx.get("invoice", id)
    env = _env(ctx, inv)
    if inv["status"] == "draft":
        inv = engine.finalize_invoice(ctx, env, inv)
    if inv["status"] != "open":
        raise invalid_request(f"You can only send open invoices; this one is {inv['status']}.")
    ctx.emit("invoice.sent", inv, created=env.now)
    return inv

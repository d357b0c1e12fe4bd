"""Invoice items: pending charges or credits picked up by the next invoice.

Proration items are made by the billing engine (`engine.proration.proration_lines`).
"""

from __future__ import annotations

import copy
from typing import Any

from .. import engine
from ..context import Ctx
from ..engine.tax import tax_rates_from_params
from ..errors import invalid_request
from ..ids import new_id
from ..listing import match_range, paginate
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


def _draft_invoice(ctx: Ctx, inv_id: str, param: str) -> JSONDict:
    inv = ctx.get("invoice", inv_id, param=param)
    if inv["status"] != "draft":
        raise invalid_request(
            f"Invoice {inv_id} is not a draft and cannot take new items.", param=param
        )
    return inv


def _rebuild_invoice(ctx: Ctx, inv: JSONDict) -> None:
    """Recreate the invoice-item lines of a draft invoice from its items."""
    inv["lines"]["data"] = [
        ln for ln in inv["lines"]["data"] if ln["parent"]["type"] != "invoice_item_details"
    ]
    items = list(reversed(ctx.store.all("invoiceitem", lambda i: i.get("invoice") == inv["id"])))
    for ii in items:
        engine.add_invoice_item_line(ctx, inv, ii)
    engine.refresh_totals(ctx, inv)
    ctx.save(inv)


@route("POST", "/v1/invoiceitems", params="InvoiceItemCreateParams")
def create_invoice_item(ctx: Ctx, params: JSONDict) -> JSONDict:
    customer = ctx.get("customer", params["customer"], param="customer")
    now = ctx.now_for_customer(customer)
    quantity = int(params.get("quantity", 1))
    price = None
    pricing = params.get("pricing") or {}
    if pricing.get("price"):
        price = ctx.get("price", pricing["price"], param="pricing[price]")
        unit = int(price.get("unit_amount") or 0)
        amount = unit * quantity
        currency = price["currency"]
    elif params.get("price_data"):
        data = params["price_data"]
        unit = int(data.get("unit_amount") or 0)
        amount = unit * quantity
        currency = data["currency"].lower()
    elif "amount" in params:
        amount = int(params["amount"])
        currency = (params.get("currency") or customer.get("currency") or "usd").lower()
    elif params.get("unit_amount_decimal"):
        amount = round(float(params["unit_amount_decimal"]) * quantity)
        currency = (params.get("currency") or "usd").lower()
    else:
        raise invalid_request(
            "Missing required param: amount.", param="amount", code="parameter_missing"
        )
    sub_id = params.get("subscription")
    if sub_id:
        ctx.get("subscription", sub_id, param="subscription")
    period = params.get("period") or {}
    ii: JSONDict = {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "date": now,
        "description": params.get("description"),
        "discountable": bool(params.get("discountable", amount > 0)),
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "net_amount": amount,
        "parent": (
            {
                "subscription_details": {"subscription": sub_id, "subscription_item": None},
                "type": "subscription_details",
            }
            if sub_id
            else None
        ),
        "period": {"end": period.get("end", now), "start": period.get("start", now)},
        "pricing": (
            {
                "price_details": {"price": price["id"], "product": engine.price_product(price)},
                "type": "price_details",
                "unit_amount_decimal": price.get("unit_amount_decimal"),
            }
            if price
            else None
        ),
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": tax_rates_from_params(ctx, params.get("tax_rates"), "tax_rates"),
        "test_clock": customer.get("test_clock"),
        # Amount-only items have no price to take a tax behavior from.
        "_tax_behavior": params.get("tax_behavior"),
    }
    if params.get("invoice"):
        inv = _draft_invoice(ctx, params["invoice"], "invoice")
        ii["invoice"] = inv["id"]
        ctx.save(ii)
        _rebuild_invoice(ctx, inv)
    else:
        ctx.save(ii)
    ctx.emit("invoiceitem.created", ii, created=now)
    return ii


@route("GET", "/v1/invoiceitems/{id}", params="InvoiceItemRetrieveParams")
def retrieve_invoice_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("invoiceitem", id)


@route("POST", "/v1/invoiceitems/{id}", params="InvoiceItemUpdateParams")
def update_invoice_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    ii = ctx.get("invoiceitem", id)
    inv = ctx.find("invoice", ii["invoice"]) if ii.get("invoice") else None
    if inv is not None and inv["status"] != "draft":
        raise invalid_request(
            "This invoice item is on a finalized invoice and can no longer be edited.",
            code="invoice_not_editable",
        )
    before = copy.deepcopy(ii)
    if "metadata" in params:
        ii["metadata"] = apply_metadata(ii.get("metadata"), params["metadata"])
    if "description" in params:
        ii["description"] = params["description"] or None
    if "amount" in params:
        ii["amount"] = ii["net_amount"] = int(params["amount"])
    if "discountable" in params:
        ii["discountable"] = bool(params["discountable"])
    if "quantity" in params:
        ii["quantity"] = int(params["quantity"])
        ii["quantity_decimal"] = str(ii["quantity"])
    if "tax_rates" in params:
        ii["tax_rates"] = tax_rates_from_params(
            ctx, params["tax_rates"], "tax_rates", already=ii["tax_rates"]
        )
    if ii != before:
        ctx.save(ii)
        if inv is not None:
            _rebuild_invoice(ctx, inv)
        ctx.emit("invoiceitem.updated", ii, previous=before)
    return ii


@route("DELETE", "/v1/invoiceitems/{id}", params="InvoiceItemDeleteParams")
def delete_invoice_item(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    ii = ctx.get("invoiceitem", id)
    inv = ctx.find("invoice", ii["invoice"]) if ii.get("invoice") else None
    if inv is not None and inv["status"] != "draft":
        raise invalid_request(
            "This invoice item is on a finalized invoice and can no longer be deleted.",
            code="invoice_not_editable",
        )
    ctx.store.remove(id)
    if inv is not None:
        _rebuild_invoice(ctx, inv)
    ctx.emit("invoiceitem.deleted", ii)
    return {"id": id, "object": "invoiceitem", "deleted": True}


@route("GET", "/v1/invoiceitems", params="InvoiceItemListParams")
def list_invoice_items(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(ii: JSONDict) -> bool:
        if "customer" in params and ii.get("customer") != params["customer"]:
            return False
        if "invoice" in params and ii.get("invoice") != params["invoice"]:
            return False
        if params.get("pending") and ii.get("invoice"):
            return False
        return match_range(ii.get("date"), params.get("created"))

    return paginate(
        ctx.store.all("invoiceitem", keep), params, "/v1/invoiceitems", object_label="invoiceitem"
    )

"""Editing a draft invoice's lines: add_lines, update_lines, remove_lines, one line.

As Stripe documents (docs.stripe.com/api/invoices/add_lines, update_lines,
remove_lines, docs.stripe.com/api/invoice-line-item/update): only a draft
invoice's lines can change; a line made from an invoice item passes its
changes on to the item ("fields ... that live on both the invoice item and
the invoice line item"); `remove_lines` either deletes the item or unassigns
it (it becomes pending again). Totals are recomputed after each change.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .common import JSONDict, api_env, deep_copy, emit_event
from .invoicing import add_invoice_item_line, refresh_totals
from .pricing import price_product

# What a subscription item's line takes (its amount comes from the subscription).
_SUBSCRIPTION_LINE_FIELDS = {"id", "metadata", "description", "discountable"}


def _draft(inv: JSONDict) -> None:
    if inv["status"] != "draft":
        raise invalid_request(
            f"You can only modify draft invoices; this one is {inv['status']}.",
            code="invoice_not_editable",
        )


def _line(inv: JSONDict, line_id: Any, param: str) -> JSONDict:
    for line in inv["lines"]["data"]:
        if line["id"] == line_id:
            return line
    raise invalid_request(
        f"No such invoice line item on invoice {inv['id']}: '{line_id}'", param=param
    )


def _item_of(ctx: Ctx, line: JSONDict) -> JSONDict | None:
    details = (line.get("parent") or {}).get("invoice_item_details") or {}
    return ctx.find("invoiceitem", str(details.get("invoice_item") or ""))


def _rebuild(ctx: Ctx, inv: JSONDict, added: list[str] | None = None) -> None:
    """Recreate the invoice-item lines from the items, keeping each line's id and
    place; items `added` now come last, in the order given."""
    kept_ids: dict[str, str] = {}
    lines = []
    for line in inv["lines"]["data"]:
        details = line["parent"].get("invoice_item_details")
        if details:
            kept_ids[details["invoice_item"]] = line["id"]
        else:
            lines.append(line)
    inv["lines"]["data"] = lines
    items = {ii["id"]: ii for ii in ctx.store.all_where("invoiceitem", {"invoice": inv["id"]})}
    order = [i for i in kept_ids if i in items]
    order += [i for i in reversed(list(items)) if i not in kept_ids and i not in (added or [])]
    order += [i for i in added or [] if i in items]
    for item_id in order:
        line = add_invoice_item_line(ctx, inv, items[item_id])
        line["id"] = kept_ids.get(item_id, line["id"])
    refresh_totals(ctx, inv)


def _pricing(ctx: Ctx, spec: JSONDict, param: str) -> tuple[int | None, JSONDict | None, Any]:
    """(unit amount, pricing, currency) of a line spec's `pricing[price]` / `price_data`."""
    if (spec.get("pricing") or {}).get("price"):
        price = ctx.get("price", spec["pricing"]["price"], param=f"{param}[pricing][price]")
        pricing = {
            "price_details": {"price": price["id"], "product": price_product(price)},
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        }
        return int(price.get("unit_amount") or 0), pricing, price["currency"]
    if spec.get("price_data"):
        data = spec["price_data"]
        return int(data.get("unit_amount") or 0), None, str(data["currency"]).lower()
    return None, None, None


def _apply_item_fields(ctx: Ctx, ii: JSONDict, spec: JSONDict, param: str) -> None:
    if ii.get("_unit_amount") is None and ii.get("pricing"):
        # An item made from a price: a new quantity is charged at its unit amount.
        ii["_unit_amount"] = int(ii["amount"]) // max(int(ii.get("quantity") or 1), 1)
    unit, pricing, currency = _pricing(ctx, spec, param)
    if currency is not None and currency != ii["currency"]:
        raise invalid_request(
            f"The line's currency ({currency}) must match the invoice's ({ii['currency']}).",
            param=param,
        )
    if "quantity" in spec:
        ii["quantity"] = int(spec["quantity"])
        ii["quantity_decimal"] = str(ii["quantity"])
    if unit is not None:
        ii["pricing"] = pricing
        ii["_unit_amount"] = unit
    if "amount" in spec:
        ii["amount"] = int(spec["amount"])
    elif unit is not None or ("quantity" in spec and ii.get("_unit_amount") is not None):
        ii["amount"] = int(ii["_unit_amount"]) * int(ii["quantity"])
    ii["net_amount"] = ii["amount"]
    if "description" in spec:
        ii["description"] = spec["description"] or None
    if "discountable" in spec:
        ii["discountable"] = bool(spec["discountable"])
    if "metadata" in spec:
        ii["metadata"] = apply_metadata(ii.get("metadata"), spec["metadata"])
    if spec.get("period"):
        ii["period"] = {"end": spec["period"]["end"], "start": spec["period"]["start"]}


def _attach_pending(ctx: Ctx, inv: JSONDict, spec: JSONDict, param: str) -> JSONDict:
    """`lines[][invoice_item]`: one of the customer's pending items joins the invoice."""
    pending = ctx.get("invoiceitem", spec["invoice_item"], param=f"{param}[invoice_item]")
    if pending.get("invoice") or pending["customer"] != inv["customer"]:
        raise invalid_request(
            f"Invoice item {pending['id']} is not a pending item of this invoice's customer.",
            param=f"{param}[invoice_item]",
        )
    pending["invoice"] = inv["id"]
    rest = {k: v for k, v in spec.items() if k != "invoice_item"}
    _apply_item_fields(ctx, pending, rest, param)
    ctx.save(pending)
    return pending


def _new_item(ctx: Ctx, inv: JSONDict, spec: JSONDict, param: str) -> JSONDict:
    if spec.get("invoice_item"):
        return _attach_pending(ctx, inv, spec, param)
    if "amount" not in spec and not spec.get("pricing") and not spec.get("price_data"):
        raise invalid_request(
            "Missing required param: amount.", param=f"{param}[amount]", code="parameter_missing"
        )
    env = api_env(ctx, inv["customer"])
    ii: JSONDict = {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": 0,
        "currency": inv["currency"],
        "customer": inv["customer"],
        "customer_account": None,
        "date": env.now,
        "description": None,
        "discountable": True,
        "discounts": [],
        "invoice": inv["id"],
        "livemode": False,
        "metadata": {},
        "net_amount": 0,
        "parent": None,
        "period": {"end": env.now, "start": env.now},
        "pricing": None,
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": 1,
        "quantity_decimal": "1",
        "tax_rates": [],
        "test_clock": inv.get("test_clock"),
    }
    _apply_item_fields(ctx, ii, spec, param)
    ctx.save(ii)
    emit_event(ctx, env, "invoiceitem.created", ii)
    return ii


def _finish(
    ctx: Ctx,
    inv: JSONDict,
    before: JSONDict,
    invoice_metadata: Any,
    added: list[str] | None = None,
) -> JSONDict:
    if invoice_metadata is not None:
        inv["metadata"] = apply_metadata(inv.get("metadata"), invoice_metadata)
    _rebuild(ctx, inv, added)
    ctx.save(inv)
    emit_event(ctx, api_env(ctx, inv["customer"]), "invoice.updated", inv, previous=before)
    return inv


def invoice_add_lines(ctx: Ctx, invoice_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/invoices/{id}/add_lines: new or pending invoice items become lines."""
    inv = ctx.get("invoice", invoice_id)
    _draft(inv)
    before = deep_copy(inv)
    added = [
        _new_item(ctx, inv, spec, f"lines[{i}]")["id"] for i, spec in enumerate(params["lines"])
    ]
    return _finish(ctx, inv, before, params.get("invoice_metadata"), added)


def _update_line(ctx: Ctx, inv: JSONDict, spec: JSONDict, param: str) -> None:
    line = _line(inv, spec.get("id"), f"{param}[id]")
    ii = _item_of(ctx, line)
    if ii is not None:
        _apply_item_fields(ctx, ii, spec, param)
        ctx.save(ii)
        return
    extra = sorted(set(spec) - _SUBSCRIPTION_LINE_FIELDS)
    if extra:
        raise invalid_request(
            f"A subscription item's line can only change its metadata, description and "
            f"discountable; {extra[0]} comes from the subscription.",
            param=f"{param}[{extra[0]}]",
        )
    if "metadata" in spec:
        line["metadata"] = apply_metadata(line.get("metadata"), spec["metadata"])
    if "description" in spec:
        line["description"] = spec["description"] or None
    if "discountable" in spec:
        line["discountable"] = bool(spec["discountable"])


def invoice_update_lines(ctx: Ctx, invoice_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/invoices/{id}/update_lines."""
    inv = ctx.get("invoice", invoice_id)
    _draft(inv)
    before = deep_copy(inv)
    for i, spec in enumerate(params["lines"]):
        _update_line(ctx, inv, spec, f"lines[{i}]")
    return _finish(ctx, inv, before, params.get("invoice_metadata"))


def invoice_update_line(ctx: Ctx, invoice_id: str, line_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/invoices/{id}/lines/{line_item_id}: returns the updated line."""
    inv = ctx.get("invoice", invoice_id)
    _draft(inv)
    before = deep_copy(inv)
    spec = {k: v for k, v in params.items() if k != "expand"}
    _update_line(ctx, inv, {**spec, "id": line_id}, "line_item_id")
    inv = _finish(ctx, inv, before, None)
    return _line(inv, line_id, "line_item_id")


def invoice_remove_lines(ctx: Ctx, invoice_id: str, params: JSONDict) -> JSONDict:
    """POST /v1/invoices/{id}/remove_lines: `delete` the item or `unassign` it (pending again)."""
    inv = ctx.get("invoice", invoice_id)
    _draft(inv)
    before = deep_copy(inv)
    env = api_env(ctx, inv["customer"])
    for i, spec in enumerate(params["lines"]):
        line = _line(inv, spec.get("id"), f"lines[{i}][id]")
        ii = _item_of(ctx, line)
        if ii is None:
            raise invalid_request(
                "Only lines made from invoice items can be removed; a subscription's lines "
                "change with the subscription.",
                param=f"lines[{i}][id]",
            )
        if spec["behavior"] == "delete":
            ctx.store.remove(ii["id"])
            emit_event(ctx, env, "invoiceitem.deleted", ii)
        else:
            ii["invoice"] = None
            ctx.save(ii)
    return _finish(ctx, inv, before, params.get("invoice_metadata"))

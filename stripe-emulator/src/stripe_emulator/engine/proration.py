"""Proration: item changes of an update and the credit/debit lines they cause."""

from __future__ import annotations

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .common import TIMES, Env, JSONDict, deep_copy, emit_event, format_date, round_half_up
from .pricing import item_quantity, plan_of, price_amount, pricing_of, product_name, recurring_price
from .subscription_state import (
    billing_interval,
    is_metered,
    new_subscription_item,
    period_of,
    subscription_items,
)
from .tax import tax_rates_from_params


def _proration_item(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    item: JSONDict,
    amount: int,
    start: int,
    end: int,
    description: str,
    *,
    store: bool = True,
) -> JSONDict:
    price = item["price"]
    ii: JSONDict = {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_account": None,
        "date": env.now,
        "description": description,
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]},
            "type": "subscription_details",
        },
        "period": {"end": end, "start": start},
        "pricing": pricing_of(price),
        "proration": True,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": item_quantity(item),
        "quantity_decimal": str(item_quantity(item)),
        "tax_rates": list(item.get("tax_rates") or []),
        "test_clock": sub.get("test_clock"),
    }
    if store:
        ctx.save(ii)
        emit_event(ctx, env, "invoiceitem.created", ii)
    return ii


def proration_lines(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    old_items: list[JSONDict],
    new_items: list[JSONDict],
    at: int,
    *,
    store: bool = True,
) -> list[JSONDict]:
    """Invoice items crediting unused time of changed items and charging the new ones.

    Flexible billing mode: the credit is the share of what was billed for the
    item this period (`_billed_amount`), the charge the share of the new
    price x quantity, both by seconds remaining in the period, each rounded
    to the nearest minor unit.
    """
    start, end = period_of(sub)
    total = end - start
    remaining = end - at
    if remaining <= 0 or total <= 0 or sub["status"] == "trialing":
        return []
    old_by_id = {i["id"]: i for i in old_items}
    new_by_id = {i["id"]: i for i in new_items}
    out: list[JSONDict] = []
    when = format_date(at)
    for item_id, old in old_by_id.items():
        if is_metered(old):
            continue  # usage is billed in arrears, never prorated
        replacement = new_by_id.get(item_id)
        if replacement is not None and (
            replacement["price"]["id"] == old["price"]["id"]
            and replacement.get("quantity") == old.get("quantity")
        ):
            continue
        billed = int(old.get("_billed_amount") or 0)
        credit = -round_half_up(billed * remaining, total)
        if credit:
            out.append(
                _proration_item(
                    ctx,
                    env,
                    sub,
                    old,
                    credit,
                    at,
                    end,
                    f"Unused time on {old.get('quantity') or 1} {TIMES} "
                    f"{product_name(ctx, old['price'])} after {when}",
                    store=store,
                )
            )
    for item_id, new in new_by_id.items():
        if is_metered(new):
            continue
        previous = old_by_id.get(item_id)
        if previous is not None and (
            new["price"]["id"] == previous["price"]["id"]
            and new.get("quantity") == previous.get("quantity")
        ):
            continue
        full = price_amount(new["price"], item_quantity(new))
        charge = round_half_up(full * remaining, total)
        if charge:
            out.append(
                _proration_item(
                    ctx,
                    env,
                    sub,
                    new,
                    charge,
                    at,
                    end,
                    f"Remaining time on {new.get('quantity') or 1} {TIMES} "
                    f"{product_name(ctx, new['price'])} after {when}",
                    store=store,
                )
            )
    return out


def apply_item_changes(
    ctx: Ctx, env: Env, sub: JSONDict, raw_items: list[JSONDict]
) -> tuple[list[JSONDict], bool]:
    """Apply `items[...]` params in place; returns (new items, interval changed)."""
    items = [deep_copy(i) for i in subscription_items(sub)]
    by_id = {i["id"]: i for i in items}
    removed: list[str] = []
    for n, entry in enumerate(raw_items):
        param = f"items[{n}]"
        item_id = entry.get("id")
        if item_id:
            item = by_id.get(item_id)
            if item is None:
                raise invalid_request(
                    f"Invalid subscription item: {item_id} does not belong to this subscription.",
                    param=f"{param}[id]",
                )
            if entry.get("deleted"):
                items.remove(item)
                removed.append(item_id)
                continue
            if entry.get("price") or entry.get("price_data"):
                price = recurring_price(ctx, entry, param)
                item["price"] = price
                item["plan"] = plan_of(price)
            if "quantity" in entry:
                item["quantity"] = int(entry["quantity"])
            if "metadata" in entry:
                item["metadata"] = apply_metadata(item.get("metadata"), entry["metadata"])
            if "tax_rates" in entry:
                item["tax_rates"] = tax_rates_from_params(
                    ctx, entry["tax_rates"], f"{param}[tax_rates]", already=item["tax_rates"]
                )
        else:
            price = recurring_price(ctx, entry, param)
            new = new_subscription_item(
                sub["id"], price, int(entry.get("quantity", 1)), env, entry.get("metadata")
            )
            start, end = period_of(sub)
            new["current_period_start"], new["current_period_end"] = start, end
            new["_billed_amount"] = 0
            new["tax_rates"] = tax_rates_from_params(
                ctx, entry.get("tax_rates"), f"{param}[tax_rates]"
            )
            items.append(new)
    if not items:
        raise invalid_request(
            "A subscription must have at least one active plan. To cancel a subscription, "
            "delete it instead.",
            param="items",
        )
    prices = {i["price"]["id"] for i in items}
    if len(prices) != len(items):
        raise invalid_request(
            "Cannot add multiple subscription items with the same price.", param="items"
        )
    for i in items:
        if i["price"]["currency"] != sub["currency"]:
            raise invalid_request(
                "All prices on a subscription must have the same currency.", param="items"
            )
    intervals = {
        (i["price"]["recurring"]["interval"], i["price"]["recurring"].get("interval_count", 1))
        for i in items
    }
    if len(intervals) > 1:
        raise invalid_request(
            "All prices on a subscription must have the same recurring interval.", param="items"
        )
    changed_interval = intervals != {billing_interval(sub)}
    sub["_removed_items"] = removed
    return items, changed_interval

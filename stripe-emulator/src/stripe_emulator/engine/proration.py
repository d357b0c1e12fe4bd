"""Proration: item changes of an update and the credit/debit lines they cause."""

from __future__ import annotations

from datetime import UTC, datetime

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..updates import apply_metadata
from .common import TIMES, Env, JSONDict, deep_copy, emit_event, round_half_up
from .pricing import (
    checked_quantity,
    item_quantity,
    plan_of,
    price_amount,
    pricing_of,
    product_name,
    recurring_price,
)
from .subscription_state import (
    billing_interval,
    is_metered,
    new_subscription_item,
    period_of,
    subscription_items,
)
from .tax import tax_rates_from_params


def proration_moment(sub: JSONDict, raw: object, now: int, param: str) -> int:
    """When an update prorates from: `proration_date`, else now.

    A date before the current period began is refused (Stripe answers an
    error for "a proration set to before the subscription began",
    bitwarden/server#4118; the wording here is the emulator's).
    """
    if raw in (None, ""):
        return now
    at = int(str(raw))
    start = period_of(sub)[0]
    if at < start:
        raise invalid_request(
            f"proration_date ({at}) cannot be before the start of the subscription's "
            f"current period ({start}).",
            param=param,
        )
    return at


def proration_description(ctx: Ctx, kind: str, item: JSONDict, at: int) -> str:
    """Stripe's wording of a proration line, "Unused time on 4 <TIMES> Seat after 16 Jan 2026".

    A quantity of 1 is not written ("Remaining time on Seat after 05 Jan
    2026") and the day has two digits, as in the lines of Stripe's API
    responses (e.g. "Unused time on monthly widgets after 03 Mar 2017").
    """
    qty = item_quantity(item)
    count = "" if qty == 1 else f"{qty} {TIMES} "
    when = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
    return f"{kind} time on {count}{product_name(ctx, item['price'])} after {when}"


def _invoice_line_debit(inv: JSONDict, item_id: str, ii_id: str | None) -> list[str]:
    """Ids of `inv`'s lines that billed `item_id` (or, with `ii_id`, that invoice item)."""
    out: list[str] = []
    for line in inv["lines"]["data"]:
        parent = line.get("parent") or {}
        if ii_id is not None:
            if (parent.get("invoice_item_details") or {}).get("invoice_item") == ii_id:
                out.append(line["id"])
        elif (parent.get("subscription_item_details") or {}).get("subscription_item") == item_id:
            out.append(line["id"])
    return out


def _line_items_credit(invoice_id: str, line_ids: list[str]) -> JSONDict:
    return {
        "invoice_item": None,
        "invoice_line_item_details": {"invoice": invoice_id, "invoice_line_items": line_ids},
        "type": "invoice_line_items",
    }


# On a subscription item: its latest proration debit (an invoice item id).
_LAST_DEBIT = "_last_debit_item"


def credited_items(ctx: Ctx, sub: JSONDict, item: JSONDict) -> JSONDict | None:
    """The debit a credit proration of `item` gives back (`proration_details.credited_items`).

    docs.stripe.com/changelog/dahlia/2026-05-27/invoice-item-proration-credited-items:
    `type=invoice_item` names a debit still pending, `type=invoice_line_items`
    the invoice lines that billed it. The debit is the item's latest one this
    period: a proration debit made by an earlier change, else the line of the
    invoice that billed the period (the latest by the period it billed: on a
    test clock many objects share a second, and saving an object again moves
    it in the store's order). The item remembers its last proration debit
    (`_last_debit_item`), so a change does not scan the customer's items.
    """
    start = int(item.get("current_period_start") or period_of(sub)[0])
    debit = ctx.find("invoiceitem", item.get(_LAST_DEBIT) or "")
    if debit is not None and int(debit["period"]["start"]) >= start:
        if debit.get("invoice") is None:
            return {
                "invoice_item": debit["id"],
                "invoice_line_item_details": None,
                "type": "invoice_item",
            }
        inv = ctx.find("invoice", debit["invoice"])
        if inv is not None:
            return _line_items_credit(inv["id"], _invoice_line_debit(inv, item["id"], debit["id"]))
    billed = [
        (inv, lines)
        for inv in ctx.store.all_where(
            "invoice", {"parent.subscription_details.subscription": sub["id"]}
        )
        if inv["status"] != "void" and (lines := _invoice_line_debit(inv, item["id"], None))
    ]
    if not billed:
        return None

    def period_billed(pair: tuple[JSONDict, list[str]]) -> tuple[int, int]:
        inv, lines = pair
        starts = [int(ln["period"]["start"]) for ln in inv["lines"]["data"] if ln["id"] in lines]
        return max(starts), int(inv["created"])

    inv, lines = max(billed, key=period_billed)
    return _line_items_credit(inv["id"], lines)


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
    credited = credited_items(ctx, sub, item) if amount < 0 else None
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
        "proration_details": {"credited_items": credited, "discount_amounts": []},
        "quantity": item_quantity(item),
        "quantity_decimal": str(item_quantity(item)),
        "tax_rates": list(item.get("tax_rates") or []),
        "test_clock": sub.get("test_clock"),
    }
    if store:
        ctx.save(ii)
        emit_event(ctx, env, "invoiceitem.created", ii)
        if amount > 0:
            item[_LAST_DEBIT] = ii["id"]  # saved with the subscription's new items
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
                    proration_description(ctx, "Unused", old, at),
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
                    proration_description(ctx, "Remaining", new, at),
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
                item["quantity"] = checked_quantity(entry["quantity"], f"{param}[quantity]")
            if "metadata" in entry:
                item["metadata"] = apply_metadata(item.get("metadata"), entry["metadata"])
            if "tax_rates" in entry:
                item["tax_rates"] = tax_rates_from_params(
                    ctx, entry["tax_rates"], f"{param}[tax_rates]", already=item["tax_rates"]
                )
        else:
            price = recurring_price(ctx, entry, param)
            qty = checked_quantity(entry.get("quantity", 1), f"{param}[quantity]")
            new = new_subscription_item(sub["id"], price, qty, env, entry.get("metadata"))
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

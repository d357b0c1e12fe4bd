"""Discounts: building them from coupons and promotion codes, and their amounts."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id
from ..params import UNSET
from .common import Env, JSONDict, add_interval, format_money, round_half_up


def new_discount(
    ctx: Ctx,
    env: Env,
    *,
    coupon: JSONDict,
    customer: str,
    promotion_code: str | None = None,
    subscription: str | None = None,
    invoice: str | None = None,
) -> JSONDict:
    """A Discount applying `coupon`; `end` follows the coupon's duration."""
    end = None
    if coupon.get("duration") == "repeating" and coupon.get("duration_in_months"):
        end = add_interval(env.now, "month", int(coupon["duration_in_months"]))
    discount: JSONDict = {
        "id": new_id("discount"),
        "object": "discount",
        "checkout_session": None,
        "customer": customer,
        "customer_account": None,
        "end": end,
        "invoice": invoice,
        "invoice_item": None,
        "promotion_code": promotion_code,
        "source": {"coupon": coupon["id"], "type": "coupon"},
        "start": env.now,
        "subscription": subscription,
        "subscription_item": None,
        "_created": env.now,
    }
    ctx.save(discount)
    coupon = ctx.get("coupon", coupon["id"])
    coupon["times_redeemed"] = int(coupon.get("times_redeemed", 0)) + 1
    ctx.save(coupon)
    if promotion_code:
        promo = ctx.find("promotion_code", promotion_code)
        if promo is not None:
            promo["times_redeemed"] = int(promo.get("times_redeemed", 0)) + 1
            ctx.save(promo)
    return discount


def discounts_from_params(
    ctx: Ctx,
    env: Env,
    raw: Any,
    *,
    customer: str,
    subscription: str | None,
    param: str,
    order: tuple[int, str] | None = None,
) -> list[str]:
    """`discounts=[{coupon}|{promotion_code}|{discount}]` -> Discount ids (validated).

    `order` (amount, currency) of what is being bought lets promotion codes'
    `restrictions` (minimum_amount, first_time_transaction) be checked.
    """

    if not raw or raw == UNSET:
        return []
    out: list[str] = []
    for i, entry in enumerate(raw):
        if entry.get("discount"):
            out.append(
                ctx.get("discount", entry["discount"], param=f"{param}[{i}][discount]")["id"]
            )
            continue
        promo_id = entry.get("promotion_code")
        if promo_id:
            promo = ctx.get("promotion_code", promo_id, param=f"{param}[{i}][promotion_code]")
            if not promotion_code_redeemable(ctx, promo, customer, env.now):
                raise invalid_request(
                    f"This promotion code cannot be redeemed: {promo['code']}.",
                    param=f"{param}[{i}][promotion_code]",
                )
            _check_restrictions(ctx, promo, customer, order, f"{param}[{i}][promotion_code]")
            coupon = ctx.get("coupon", promo["promotion"]["coupon"])
        else:
            coupon_id = entry.get("coupon")
            if not coupon_id:
                continue
            coupon = ctx.get("coupon", coupon_id, param=f"{param}[{i}][coupon]")
            if not coupon_is_valid(coupon, env.now):
                raise invalid_request(
                    f"Coupon {coupon_id} is no longer valid.", param=f"{param}[{i}][coupon]"
                )
        out.append(
            new_discount(
                ctx,
                env,
                coupon=coupon,
                customer=customer,
                promotion_code=promo_id,
                subscription=subscription,
            )["id"]
        )
    return out


def _check_restrictions(
    ctx: Ctx, promo: JSONDict, customer: str, order: tuple[int, str] | None, param: str
) -> None:
    rules = promo.get("restrictions") or {}
    if rules.get("first_time_transaction") and any(
        int(i.get("amount_paid") or 0) > 0
        for i in ctx.store.all_where("invoice", {"customer": customer, "status": "paid"})
    ):
        raise invalid_request(
            "This promotion code is only valid for customers who have never made a payment.",
            param=param,
        )
    minimum = rules.get("minimum_amount")
    if minimum is not None and order is not None:
        amount, currency = order
        if currency == rules.get("minimum_amount_currency") and amount < int(minimum):
            raise invalid_request(
                "This promotion code requires a minimum order of "
                f"{format_money(int(minimum), currency)}.",
                param=param,
            )


def discount_amount(coupon: JSONDict, base: int, currency: str) -> int:
    if base <= 0:
        return 0
    if coupon.get("percent_off") is not None:
        # Percent in hundredths to stay in integers: 12.5% -> 1250.
        pct = round(float(coupon["percent_off"]) * 100)
        return round_half_up(base * pct, 10000)
    if coupon.get("amount_off") is not None and coupon.get("currency") == currency:
        return min(int(coupon["amount_off"]), base)
    return 0


def applies_to(coupon: JSONDict, line: JSONDict) -> bool:
    products = (coupon.get("applies_to") or {}).get("products") or []
    if not products:
        return True
    details = (line.get("pricing") or {}).get("price_details") or {}
    return details.get("product") in products


def coupon_is_valid(coupon: JSONDict, now: int) -> bool:
    """Whether a coupon can still be redeemed (redeem_by, max_redemptions)."""
    if coupon.get("redeem_by") and now > coupon["redeem_by"]:
        return False
    max_r = coupon.get("max_redemptions")
    return not (max_r is not None and coupon.get("times_redeemed", 0) >= max_r)


def promotion_code_redeemable(ctx: Ctx, promo: JSONDict, customer_id: str | None, now: int) -> bool:
    """For checkout/subscriptions: active, unexpired, under limits, right customer."""
    if not promo.get("active"):
        return False
    if promo.get("expires_at") and now > promo["expires_at"]:
        return False
    if (
        promo.get("max_redemptions") is not None
        and promo["times_redeemed"] >= promo["max_redemptions"]
    ):
        return False
    if promo.get("customer") and promo["customer"] != customer_id:
        return False
    coupon = ctx.find("coupon", promo["promotion"]["coupon"])
    return coupon is not None and coupon_is_valid(coupon, now)

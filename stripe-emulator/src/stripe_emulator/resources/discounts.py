"""Coupons and promotion codes."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.discounts import coupon_is_valid
from ..errors import invalid_request
from ..ids import new_id, random_token
from ..listing import match_range, paginate
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


@route("POST", "/v1/coupons", params="CouponCreateParams")
def create_coupon(ctx: Ctx, params: JSONDict) -> JSONDict:
    coupon_id = params.get("id") or random_token(8)
    if ctx.store.get(coupon_id) is not None:
        raise invalid_request("Coupon already exists.", param="id", code="resource_already_exists")
    percent, amount = params.get("percent_off"), params.get("amount_off")
    if (percent is None) == (amount is None):
        raise invalid_request(
            "You must pass exactly one of percent_off or amount_off.",
            param="percent_off" if percent is None else "amount_off",
        )
    if percent is not None and not 0 < percent <= 100:
        raise invalid_request(
            "percent_off must be greater than 0 and at most 100.", param="percent_off"
        )
    if amount is not None and not params.get("currency"):
        raise invalid_request(
            "You must pass currency when passing amount_off.",
            param="currency",
            code="parameter_missing",
        )
    duration = params.get("duration", "once")
    months = params.get("duration_in_months")
    if duration == "repeating" and not months:
        raise invalid_request(
            "Missing required param: duration_in_months.",
            param="duration_in_months",
            code="parameter_missing",
        )
    if duration != "repeating" and months is not None:
        raise invalid_request(
            "duration_in_months is only valid with duration=repeating.", param="duration_in_months"
        )
    applies = params.get("applies_to")
    coupon: JSONDict = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount,
        "applies_to": {"products": applies.get("products", [])} if applies else None,
        "created": ctx.now(),
        "currency": params["currency"].lower() if params.get("currency") else None,
        "duration": duration,
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": params.get("name"),
        "percent_off": float(percent) if percent is not None else None,
        "redeem_by": params.get("redeem_by"),
        "times_redeemed": 0,
        "valid": True,
    }
    ctx.save(coupon)
    ctx.emit("coupon.created", coupon)
    return coupon


@route("GET", "/v1/coupons/{id}", params="CouponRetrieveParams")
def retrieve_coupon(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    coupon = ctx.get("coupon", id)
    coupon["valid"] = coupon_is_valid(coupon, ctx.now())
    return coupon


@route("POST", "/v1/coupons/{id}", params="CouponUpdateParams")
def update_coupon(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    coupon = ctx.get("coupon", id)
    before = copy.deepcopy(coupon)
    if "name" in params:
        coupon["name"] = params["name"] or None
    if "metadata" in params:
        coupon["metadata"] = apply_metadata(coupon.get("metadata"), params["metadata"])
    if coupon != before:
        ctx.save(coupon)
        ctx.emit("coupon.updated", coupon, previous=before)
    return coupon


@route("DELETE", "/v1/coupons/{id}", params="CouponDeleteParams")
def delete_coupon(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    coupon = ctx.get("coupon", id)
    ctx.store.remove(id)
    coupon["valid"] = False
    ctx.emit("coupon.deleted", coupon)
    return {"id": id, "object": "coupon", "deleted": True}


@route("GET", "/v1/coupons", params="CouponListParams")
def list_coupons(ctx: Ctx, params: JSONDict) -> JSONDict:
    items = ctx.store.all("coupon", lambda c: match_range(c.get("created"), params.get("created")))
    return paginate(items, params, "/v1/coupons", object_label="coupon")


# --------------------------------------------------------------------------
# promotion codes


def _restrictions(raw: Any) -> JSONDict:
    raw = raw or {}
    return {
        "currency_options": {
            cur: {"minimum_amount": opt.get("minimum_amount")}
            for cur, opt in (raw.get("currency_options") or {}).items()
        },
        "first_time_transaction": bool(raw.get("first_time_transaction", False)),
        "minimum_amount": raw.get("minimum_amount"),
        "minimum_amount_currency": (
            raw["minimum_amount_currency"].lower() if raw.get("minimum_amount_currency") else None
        ),
    }


@route("POST", "/v1/promotion_codes", params="PromotionCodeCreateParams")
def create_promotion_code(ctx: Ctx, params: JSONDict) -> JSONDict:
    promotion = params["promotion"]
    if promotion.get("type") != "coupon" or not promotion.get("coupon"):
        raise invalid_request(
            "Missing required param: promotion[coupon].",
            param="promotion[coupon]",
            code="parameter_missing",
        )
    ctx.get("coupon", promotion["coupon"], param="promotion[coupon]")
    if params.get("customer"):
        ctx.get("customer", params["customer"], param="customer")
    code = params.get("code") or random_token(8).upper()
    clash = ctx.store.all(
        "promotion_code", lambda p: bool(p.get("active")) and p["code"].lower() == code.lower()
    )
    if clash:
        raise invalid_request(
            f"An active promotion code with `code: {code}` already exists.", param="code"
        )
    restrictions = _restrictions(params.get("restrictions"))
    if restrictions["minimum_amount"] is not None and not restrictions["minimum_amount_currency"]:
        raise invalid_request(
            "minimum_amount_currency is required with minimum_amount.",
            param="restrictions[minimum_amount_currency]",
        )
    promo: JSONDict = {
        "id": new_id("promotion_code"),
        "object": "promotion_code",
        "active": params.get("active", True),
        "code": code,
        "created": ctx.now(),
        "customer": params.get("customer"),
        "customer_account": None,
        "expires_at": params.get("expires_at"),
        "livemode": False,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": apply_metadata({}, params.get("metadata")),
        "promotion": {"coupon": promotion["coupon"], "type": "coupon"},
        "restrictions": restrictions,
        "times_redeemed": 0,
    }
    ctx.save(promo)
    ctx.emit("promotion_code.created", promo)
    return promo


@route("GET", "/v1/promotion_codes/{id}", params="PromotionCodeRetrieveParams")
def retrieve_promotion_code(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("promotion_code", id)


@route("POST", "/v1/promotion_codes/{id}", params="PromotionCodeUpdateParams")
def update_promotion_code(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    promo = ctx.get("promotion_code", id)
    before = copy.deepcopy(promo)
    if "active" in params:
        promo["active"] = params["active"]
    if "metadata" in params:
        promo["metadata"] = apply_metadata(promo.get("metadata"), params["metadata"])
    if "restrictions" in params:
        opts = (params["restrictions"] or {}).get("currency_options") or {}
        for cur, opt in opts.items():
            promo["restrictions"]["currency_options"][cur] = {
                "minimum_amount": opt.get("minimum_amount")
            }
    if promo != before:
        ctx.save(promo)
        ctx.emit("promotion_code.updated", promo, previous=before)
    return promo


@route("GET", "/v1/promotion_codes", params="PromotionCodeListParams")
def list_promotion_codes(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(p: JSONDict) -> bool:
        if "active" in params and p.get("active") != params["active"]:
            return False
        if "code" in params and p["code"].lower() != params["code"].lower():
            return False
        if "coupon" in params and p["promotion"]["coupon"] != params["coupon"]:
            return False
        if "customer" in params and p.get("customer") != params["customer"]:
            return False
        return match_range(p.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("promotion_code", keep),
        params,
        "/v1/promotion_codes",
        object_label="promotion_code",
    )

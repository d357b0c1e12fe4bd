"""Checkout Sessions: creation (`session_create`): parameters checked as
Stripe checks them, line items, discounts, the customer, lifetime, and the new
session's amounts. Completion and expiry are in `checkout.py`.
"""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id, random_token
from ..updates import apply_metadata
from . import checkout_tax
from .catalog import price_create, price_or_404
from .checkout import recompute_amounts, session_customer_details
from .discounts import coupon_is_valid, promotion_code_redeemable

JSONDict = dict[str, Any]


DEFAULT_LIFETIME = 24 * 3600


MIN_LIFETIME = 30 * 60


MAX_LINE_ITEMS = 20


def checkout_url(ctx: Ctx, session_id: str) -> str:
    base = (ctx.app.config.public_url or "http://127.0.0.1:12111").rstrip("/")
    return f"{base}/checkout/{session_id}"


def _line_item(ctx: Ctx, raw: JSONDict, index: int, mode: str) -> JSONDict:
    param = f"line_items[{index}]"
    if raw.get("price") and raw.get("price_data"):
        raise invalid_request(
            "You may only specify one of these parameters: price, price_data.", param=param
        )
    if raw.get("price"):
        price = price_or_404(ctx, raw["price"], f"{param}[price]")
        if not price.get("active"):
            raise invalid_request(
                f"The price specified is inactive. This field only accepts active prices. "
                f"Price: {price['id']}",
                param=f"{param}[price]",
            )
    elif raw.get("price_data"):
        data = dict(raw["price_data"])
        price = price_create(ctx, data)
    else:
        raise invalid_request(
            f"Missing required param: {param}[price].",
            param=f"{param}[price]",
            code="parameter_missing",
        )
    recurring = price.get("recurring")
    metered = bool(recurring and recurring.get("usage_type") == "metered")
    quantity = raw.get("quantity")
    if quantity is None and not metered:
        if mode == "payment":
            raise invalid_request(
                f"Missing required param: {param}[quantity].",
                param=f"{param}[quantity]",
                code="parameter_missing",
            )
        quantity = 1
    if quantity is not None and quantity < 1 and not metered:
        raise invalid_request(
            "Quantity must be greater than or equal to 1.", param=f"{param}[quantity]"
        )
    if mode == "payment" and recurring:
        raise invalid_request(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param=f"{param}[price]",
        )
    product = ctx.find("product", str(price.get("product")))
    unit = price.get("unit_amount") or 0
    subtotal = 0 if metered else int(unit) * int(quantity or 1)
    adjustable = raw.get("adjustable_quantity")
    return {
        "id": new_id("li", 24),
        "object": "item",
        "adjustable_quantity": (
            {
                "enabled": bool(adjustable.get("enabled")),
                "maximum": adjustable.get("maximum"),
                "minimum": adjustable.get("minimum"),
            }
            if adjustable
            else None
        ),
        "amount_discount": 0,
        "amount_subtotal": subtotal,
        "amount_tax": 0,
        "amount_total": subtotal,
        "currency": price["currency"],
        "description": (product or {}).get("name") or price.get("nickname"),
        "metadata": apply_metadata({}, raw.get("metadata")),
        "price": price["id"],
        "quantity": quantity,
    }


def _discount_for(ctx: Ctx, raw: JSONDict, customer_id: str | None, now: int) -> JSONDict:
    coupon_id, promo_id = raw.get("coupon"), raw.get("promotion_code")
    if bool(coupon_id) == bool(promo_id):
        raise invalid_request(
            "You must specify exactly one of coupon or promotion_code in discounts.",
            param="discounts",
        )
    if promo_id:
        promo = ctx.find("promotion_code", promo_id)
        if promo is None:
            raise resource_missing("promotion_code", promo_id, param="discounts[0][promotion_code]")
        if not promotion_code_redeemable(ctx, promo, customer_id, now):
            raise invalid_request(
                f"This promotion code cannot be redeemed: {promo_id}",
                param="discounts[0][promotion_code]",
            )
        return {"coupon": promo["promotion"]["coupon"], "promotion_code": promo_id}
    coupon = ctx.find("coupon", str(coupon_id))
    if coupon is None:
        raise resource_missing("coupon", str(coupon_id), param="discounts[0][coupon]")
    if not coupon_is_valid(coupon, now):
        raise invalid_request(
            f"Coupon {coupon_id} is no longer valid.", param="discounts[0][coupon]"
        )
    return {"coupon": coupon_id, "promotion_code": None}


def session_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    """Create a Checkout Session as POST /v1/checkout/sessions does; returns it."""
    mode = params.get("mode")
    if not mode:
        raise invalid_request(
            "Missing required param: mode.", param="mode", code="parameter_missing"
        )
    _check_mode_params(params, mode)
    customer = _session_customer(ctx, params)
    now = ctx.now_for_customer(customer)
    items, currencies = _session_line_items(ctx, params, mode)
    checkout_tax.check_session_params(ctx, params, customer, items)
    currency = next(iter(currencies)) if currencies else params.get("currency")
    if mode == "setup" and not currency and params.get("currency"):
        currency = params["currency"].lower()
    sub_data = _subscription_data(params, now)
    expires_at = _expires_at(params, now)
    discounts = [
        _discount_for(ctx, d, customer["id"] if customer else None, now)
        for d in params.get("discounts") or []
    ]
    if len(discounts) > 1:
        raise invalid_request("You may only specify one discount.", param="discounts")
    session = _new_session(
        ctx,
        params,
        mode=mode,
        customer=customer,
        now=now,
        items=items,
        currency=currency,
        sub_data=sub_data,
        expires_at=expires_at,
        discounts=discounts,
    )
    checkout_tax.init_session(session, params)
    recompute_amounts(ctx, session)
    ctx.save(session)
    return session


def _check_mode_params(params: JSONDict, mode: str) -> None:
    """Parameters that only go with some `ui_mode`s or `mode`s, or not together."""
    ui_mode = params.get("ui_mode", "hosted_page")
    hosted = ui_mode == "hosted_page"
    if not hosted and params.get("success_url"):
        raise invalid_request(
            f"You may not specify `success_url` when `ui_mode` is `{ui_mode}`.",
            param="success_url",
        )
    if not hosted and params.get("cancel_url"):
        raise invalid_request(
            f"You may not specify `cancel_url` when `ui_mode` is `{ui_mode}`.",
            param="cancel_url",
        )
    if hosted and params.get("return_url"):
        raise invalid_request(
            "You may only specify `return_url` when `ui_mode` is `embedded_page` or `elements`.",
            param="return_url",
        )
    if params.get("customer") and params.get("customer_email"):
        raise invalid_request(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    if params.get("customer_creation") and mode == "subscription":
        raise invalid_request(
            "`customer_creation` can only be used in `payment` and `setup` mode.",
            param="customer_creation",
        )
    if params.get("payment_method_collection") and mode != "subscription":
        raise invalid_request(
            "`payment_method_collection` can only be used in `subscription` mode.",
            param="payment_method_collection",
        )
    if params.get("subscription_data") and mode != "subscription":
        raise invalid_request(
            "You can only specify `subscription_data` in `subscription` mode.",
            param="subscription_data",
        )
    if params.get("allow_promotion_codes") and params.get("discounts"):
        raise invalid_request(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            param="discounts",
        )


def _session_customer(ctx: Ctx, params: JSONDict) -> JSONDict | None:
    customer = None
    if params.get("customer"):
        customer = ctx.get("customer", params["customer"], param="customer")
        if customer.get("deleted"):
            raise resource_missing("customer", params["customer"], param="customer")
    return customer


def _session_line_items(ctx: Ctx, params: JSONDict, mode: str) -> tuple[list[JSONDict], set[str]]:
    """The session's line items (`price` or inline `price_data`) and their currencies."""
    raw_items = params.get("line_items") or []
    if mode in ("payment", "subscription") and not raw_items:
        raise invalid_request(
            f"`line_items` is required in `{mode}` mode.",
            param="line_items",
            code="parameter_missing",
        )
    if mode == "setup" and raw_items:
        raise invalid_request("You cannot pass `line_items` in `setup` mode.", param="line_items")
    if len(raw_items) > 2 * MAX_LINE_ITEMS:
        raise invalid_request("Too many line items.", param="line_items")
    items = [_line_item(ctx, raw, i, mode) for i, raw in enumerate(raw_items)]
    currencies = {i["currency"] for i in items}
    if len(currencies) > 1:
        raise invalid_request("All line items must use the same currency.", param="line_items")
    if mode == "subscription":
        recurring = [i for i in items if (ctx.find("price", i["price"]) or {}).get("recurring")]
        if not recurring:
            raise invalid_request(
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                param="line_items",
            )
    return items, currencies


def _subscription_data(params: JSONDict, now: int) -> JSONDict:
    sub_data = dict(params.get("subscription_data") or {})
    if "trial_period_days" in sub_data and not 1 <= int(sub_data["trial_period_days"]) <= 730:
        raise invalid_request(
            "The trial period must be between 1 and 730 days.",
            param="subscription_data[trial_period_days]",
        )
    if sub_data.get("trial_end") and int(sub_data["trial_end"]) < now + 48 * 3600:
        raise invalid_request(
            "`subscription_data[trial_end]` must be at least 48 hours in the future.",
            param="subscription_data[trial_end]",
        )
    return sub_data


def _expires_at(params: JSONDict, now: int) -> int:
    expires_at = params.get("expires_at") or now + DEFAULT_LIFETIME
    if not now + MIN_LIFETIME - 60 <= expires_at <= now + DEFAULT_LIFETIME + 60:
        raise invalid_request(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from the "
            "Checkout Session's creation.",
            param="expires_at",
        )
    return expires_at


def _new_session(
    ctx: Ctx,
    params: JSONDict,
    *,
    mode: str,
    customer: JSONDict | None,
    now: int,
    items: list[JSONDict],
    currency: str | None,
    sub_data: JSONDict,
    expires_at: int,
    discounts: list[JSONDict],
) -> JSONDict:
    """The open session object (`invoice_creation` only in payment mode)."""
    ui_mode = params.get("ui_mode", "hosted_page")
    hosted = ui_mode == "hosted_page"
    session_id = new_id("checkout.session", 58)
    session: JSONDict = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": None,
        "amount_total": None,
        "automatic_tax": {
            "enabled": bool((params.get("automatic_tax") or {}).get("enabled")),
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None if hosted else f"{session_id}_secret_{random_token(24)}",
        "collected_information": None,
        "consent": None,
        "consent_collection": _consent_collection(params.get("consent_collection")),
        "created": now,
        "currency": currency.lower() if currency else None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": _custom_text(params.get("custom_text")),
        "customer": customer["id"] if customer else None,
        "customer_account": None,
        "customer_creation": (
            params.get("customer_creation", "if_required") if mode != "subscription" else None
        ),
        "customer_details": (
            session_customer_details(customer.get("email"), customer.get("name"))
            if customer
            else None
        ),
        "customer_email": params.get("customer_email"),
        "discounts": discounts,
        "expires_at": expires_at,
        "integration_identifier": params.get("integration_identifier"),
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": params.get("locale"),
        "managed_payments": None,
        "metadata": apply_metadata({}, params.get("metadata")),
        "mode": mode,
        "origin_context": params.get("origin_context"),
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": (
            params.get("payment_method_collection", "always") if mode == "subscription" else None
        ),
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": list(params.get("payment_method_types") or ["card"]),
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "permissions": None,
        "phone_number_collection": {
            "enabled": bool((params.get("phone_number_collection") or {}).get("enabled"))
        },
        "recovered_from": None,
        "return_url": params.get("return_url"),
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": None,
        "ui_mode": ui_mode,
        "url": checkout_url(ctx, session_id) if hosted else None,
        "wallet_options": None,
        "_line_items": items,
        "_subscription_data": sub_data,
        "_payment_intent_data": dict(params.get("payment_intent_data") or {}),
        "_setup_intent_data": dict(params.get("setup_intent_data") or {}),
        "_test_clock": customer.get("test_clock") if customer else None,
    }
    if mode == "payment":
        creation = params.get("invoice_creation") or {}
        data = creation.get("invoice_data") or {}
        # What the post-payment invoice gets (engine/checkout_invoice.py).
        session["invoice_creation"] = {
            "enabled": bool(creation.get("enabled")),
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": data.get("custom_fields") or None,
                "description": data.get("description"),
                "footer": data.get("footer"),
                "issuer": None,
                "metadata": apply_metadata({}, data.get("metadata")),
                "rendering_options": None,
            },
        }
    return session


def _custom_text(raw: Any) -> JSONDict:
    raw = raw if isinstance(raw, dict) else {}
    out: JSONDict = {}
    for key in ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance"):
        value = raw.get(key)
        out[key] = {"message": value["message"]} if isinstance(value, dict) else None
    return out


def _consent_collection(raw: Any) -> JSONDict | None:
    if not isinstance(raw, dict):
        return None
    reuse = raw.get("payment_method_reuse_agreement")
    return {
        "payment_method_reuse_agreement": {"position": reuse["position"]} if reuse else None,
        "promotions": raw.get("promotions"),
        "terms_of_service": raw.get("terms_of_service"),
    }

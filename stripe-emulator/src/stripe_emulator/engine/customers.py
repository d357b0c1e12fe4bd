"""Customers: creating and updating them (API, checkout, portal), and the deletion hooks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id, random_token
from ..params import UNSET
from ..updates import apply_metadata, apply_simple, merge_hash
from .cards import attach_payment_method

JSONDict = dict[str, Any]


# fn(ctx, customer) run when a customer is deleted (Stripe cancels their
# subscriptions immediately). Registered by the billing engine.
CUSTOMER_DELETE_HOOKS: list[Callable[[Ctx, JSONDict], None]] = []


_SIMPLE = (
    "balance",
    "description",
    "email",
    "name",
    "phone",
    "preferred_locales",
    "tax_exempt",
    "next_invoice_sequence",
    "business_name",
    "individual_name",
)


def _address(value: Any) -> JSONDict | None:
    if not value or value == UNSET:
        return None
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {k: value.get(k) for k in keys}


def _shipping(value: Any) -> JSONDict | None:
    if not value or value == UNSET:
        return None
    return {
        "address": _address(value.get("address")),
        "name": value.get("name"),
        "phone": value.get("phone"),
        "carrier": None,
        "tracking_number": None,
    }


def _check_payment_method(ctx: Ctx, pm_id: Any, customer_id: str | None, param: str) -> None:
    if not pm_id or pm_id == UNSET:
        return
    pm = ctx.find("payment_method", pm_id)
    if pm is None:
        raise resource_missing("payment_method", pm_id, param=param)
    if customer_id is None or pm.get("customer") != customer_id:
        raise invalid_request(
            f"The customer does not have a payment method with the ID {pm_id}. The payment "
            "method must be attached to the customer.",
            param=param,
        )


def _invoice_settings(current: JSONDict | None, update: Any) -> JSONDict:
    base: JSONDict = current or {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    merged = merge_hash(base, update) if update is not None else base
    return merged if isinstance(merged, dict) else dict(base)


def customer_create(ctx: Ctx, params: JSONDict) -> JSONDict:
    clock_id = params.get("test_clock")
    if clock_id:
        ctx.get("test_helpers.test_clock", clock_id, param="test_clock")
    cus: JSONDict = {
        "id": new_id("customer", 14),
        "object": "customer",
        "address": _address(params.get("address")),
        "balance": 0,
        "business_name": None,
        "created": ctx.now_for_clock(clock_id),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": random_token(8).upper(),
        "invoice_settings": _invoice_settings(None, None),
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": _shipping(params.get("shipping")),
        "tax_exempt": "none",
        "test_clock": clock_id,
    }
    apply_simple(cus, params, _SIMPLE)
    if "invoice_prefix" in params:
        cus["invoice_prefix"] = params["invoice_prefix"]
    if params.get("invoice_settings"):
        cus["invoice_settings"] = _invoice_settings(
            cus["invoice_settings"], params["invoice_settings"]
        )
    ctx.save(cus)
    ctx.emit("customer.created", cus)
    pm_id = params.get("payment_method")
    default_pm = cus["invoice_settings"].get("default_payment_method")
    if pm_id:
        # Attaching at creation is what `payment_method=` does on Stripe.
        attach_payment_method(ctx, pm_id, cus["id"], param="payment_method")
        cus = ctx.get("customer", cus["id"])
    if default_pm:
        _check_payment_method(
            ctx, default_pm, cus["id"], "invoice_settings[default_payment_method]"
        )
    return cus


def customer_update(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    cus = ctx.get("customer", id)
    if cus.get("deleted"):
        raise resource_missing("customer", id)
    before = copy.deepcopy(cus)
    apply_simple(cus, params, _SIMPLE)
    if "metadata" in params:
        cus["metadata"] = apply_metadata(cus.get("metadata"), params["metadata"])
    if "address" in params:
        cus["address"] = _address(params["address"])
    if "shipping" in params:
        cus["shipping"] = _shipping(params["shipping"])
    if "invoice_settings" in params:
        update = params["invoice_settings"]
        if isinstance(update, dict):
            _check_payment_method(
                ctx,
                update.get("default_payment_method"),
                id,
                "invoice_settings[default_payment_method]",
            )
        cus["invoice_settings"] = _invoice_settings(cus.get("invoice_settings"), update)
    if "invoice_prefix" in params:
        cus["invoice_prefix"] = params["invoice_prefix"]
    if cus != before:
        ctx.save(cus)
        ctx.emit("customer.updated", cus, previous=before)
    return cus

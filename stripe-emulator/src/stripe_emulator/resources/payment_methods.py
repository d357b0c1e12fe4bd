"""Payment methods: create, retrieve, update, attach, detach, list.

Stripe's test cards, the PaymentMethods built from them and their test
behaviour (`_test_card`) live in `engine/cards.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.cards import (
    alias_number,
    attach_payment_method,
    billing_details_of,
    build_card_payment_method,
    resolve_payment_method,
)
from ..errors import invalid_request, resource_missing
from ..listing import paginate
from ..routing import route
from ..updates import apply_metadata, merge_hash

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------
# endpoints


@route("POST", "/v1/payment_methods", params="PaymentMethodCreateParams")
def create_payment_method(ctx: Ctx, params: JSONDict) -> JSONDict:
    if params.get("payment_method"):
        # Cloning a customer's PaymentMethod (Connect) is not emulated; a test
        # alias yields a new PaymentMethod.
        return resolve_payment_method(ctx, params["payment_method"])
    pm_type = params.get("type")
    if pm_type is None:
        raise invalid_request(
            "Missing required param: type.", param="type", code="parameter_missing"
        )
    if pm_type != "card":
        raise invalid_request(
            f"The emulator only supports card PaymentMethods (type={pm_type}).", param="type"
        )
    card = params.get("card") or {}
    if card.get("token"):
        number = alias_number(card["token"])
        if number is None:
            raise resource_missing("token", card["token"], param="card[token]")
    else:
        for key in ("number", "exp_month", "exp_year"):
            if key not in card:
                raise invalid_request(
                    f"Missing required param: card[{key}].",
                    param=f"card[{key}]",
                    code="parameter_missing",
                )
        number = card["number"]
    pm = build_card_payment_method(
        ctx,
        number,
        exp_month=card.get("exp_month", 12),
        exp_year=card.get("exp_year"),
        cvc=card.get("cvc"),
        billing_details=params.get("billing_details"),
        metadata=params.get("metadata"),
    )
    if params.get("allow_redisplay"):
        pm["allow_redisplay"] = params["allow_redisplay"]
        ctx.save(pm)
    if params.get("customer"):
        pm = attach_payment_method(ctx, pm["id"], params["customer"])
    return pm


@route("GET", "/v1/payment_methods/{id}", params="PaymentMethodRetrieveParams")
def retrieve_payment_method(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return (
        resolve_payment_method(ctx, id, param="id")
        if id.startswith("pm_card_")
        else ctx.get("payment_method", id)
    )


@route("POST", "/v1/payment_methods/{id}", params="PaymentMethodUpdateParams")
def update_payment_method(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    pm = ctx.get("payment_method", id)
    if not pm.get("customer"):
        raise invalid_request(
            "You must save this PaymentMethod to a customer before you can update it."
        )
    before = copy.deepcopy(pm)
    if "billing_details" in params:
        merged = merge_hash(pm.get("billing_details"), params["billing_details"])
        pm["billing_details"] = billing_details_of(merged)
    if "metadata" in params:
        pm["metadata"] = apply_metadata(pm.get("metadata"), params["metadata"])
    if "allow_redisplay" in params:
        pm["allow_redisplay"] = params["allow_redisplay"]
    card_update = params.get("card") or {}
    for key in ("exp_month", "exp_year"):
        if key in card_update:
            pm["card"][key] = card_update[key]
    if pm != before:
        ctx.save(pm)
        ctx.emit("payment_method.updated", pm, previous=before)
    return pm


@route("POST", "/v1/payment_methods/{id}/attach", params="PaymentMethodAttachParams")
def attach_endpoint(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    if not params.get("customer"):
        raise invalid_request(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    return attach_payment_method(ctx, id, params["customer"], param="id")


@route("POST", "/v1/payment_methods/{id}/detach", params="PaymentMethodDetachParams")
def detach_endpoint(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    pm = ctx.get("payment_method", id)
    customer_id = pm.get("customer")
    if not customer_id:
        raise invalid_request(
            "The payment method you provided is not attached to a customer "
            "so detachment is impossible."
        )
    pm["customer"] = None
    pm["_detached"] = True
    ctx.save(pm)
    customer = ctx.find("customer", customer_id)
    if customer and (customer.get("invoice_settings") or {}).get("default_payment_method") == id:
        before = copy.deepcopy(customer)
        customer["invoice_settings"]["default_payment_method"] = None
        ctx.save(customer)
        ctx.emit("customer.updated", customer, previous=before)
    ctx.emit("payment_method.detached", pm, previous={**pm, "customer": customer_id})
    return pm


def _list_for_customer(ctx: Ctx, params: JSONDict, customer_id: str, url: str) -> JSONDict:
    def keep(pm: JSONDict) -> bool:
        if "type" in params and pm.get("type") != params["type"]:
            return False
        return not (
            "allow_redisplay" in params and pm.get("allow_redisplay") != params["allow_redisplay"]
        )

    # The customer's own methods through the store's customer index, not a scan
    # of every payment method.
    found = ctx.store.all_where("payment_method", {"customer": customer_id})
    return paginate([pm for pm in found if keep(pm)], params, url, object_label="payment_method")


@route("GET", "/v1/payment_methods", params="PaymentMethodListParams")
def list_payment_methods(ctx: Ctx, params: JSONDict) -> JSONDict:
    customer_id = params.get("customer")
    if not customer_id:
        # Stripe lists only Treasury-style unattached methods without a customer.
        return paginate([], params, "/v1/payment_methods")
    ctx.get("customer", customer_id, param="customer")
    return _list_for_customer(ctx, params, customer_id, "/v1/payment_methods")


@route("GET", "/v1/customers/{customer}/payment_methods", params="CustomerListPaymentMethodsParams")
def list_customer_payment_methods(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    ctx.get("customer", customer)
    return _list_for_customer(ctx, params, customer, f"/v1/customers/{customer}/payment_methods")


@route(
    "GET",
    "/v1/customers/{customer}/payment_methods/{id}",
    params="CustomerRetrievePaymentMethodParams",
)
def retrieve_customer_payment_method(
    ctx: Ctx,
    params: JSONDict,
    customer: str,
    id: str,
) -> JSONDict:
    ctx.get("customer", customer)
    pm = ctx.get("payment_method", id)
    if pm.get("customer") != customer:
        raise resource_missing("payment_method", id)
    return pm

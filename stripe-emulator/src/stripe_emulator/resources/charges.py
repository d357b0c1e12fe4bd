"""Charges (created by payment attempts in engine/payments.py) and refunds."""

from __future__ import annotations

import copy
from typing import Any

from .. import engine
from ..context import Ctx
from ..engine.disputes import dispute_of_charge
from ..errors import invalid_request
from ..listing import list_object, match_range, paginate, search
from ..render import register_includable
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


def _refund_list(ctx: Ctx, charge: JSONDict) -> JSONDict:
    refunds = ctx.store.all("refund", lambda r: r.get("charge") == charge["id"])
    return list_object(refunds, f"/v1/charges/{charge['id']}/refunds", False)


# Only returned when expanded, as on Stripe.
register_includable("charge", "refunds", _refund_list)


@route("GET", "/v1/charges/search", params="ChargeSearchParams")
def search_charges(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("charge"),
        params,
        "/v1/charges/search",
        {"amount", "created", "currency", "customer", "metadata", "status", "payment_intent"},
    )


@route("GET", "/v1/charges/{id}", params="ChargeRetrieveParams")
def retrieve_charge(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("charge", id)


@route("POST", "/v1/charges/{id}", params="ChargeUpdateParams")
def update_charge(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    charge = ctx.get("charge", id)
    before = copy.deepcopy(charge)
    if "metadata" in params:
        charge["metadata"] = apply_metadata(charge.get("metadata"), params["metadata"])
    if "description" in params:
        charge["description"] = params["description"] or None
    if charge != before:
        ctx.save(charge)
        ctx.emit("charge.updated", charge, previous=before)
    return charge


@route("GET", "/v1/charges", params="ChargeListParams")
def list_charges(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(ch: JSONDict) -> bool:
        if "customer" in params and ch.get("customer") != params["customer"]:
            return False
        if "payment_intent" in params and ch.get("payment_intent") != params["payment_intent"]:
            return False
        return match_range(ch.get("created"), params.get("created"))

    return paginate(ctx.store.all("charge", keep), params, "/v1/charges", object_label="charge")


# --------------------------------------------------------------------------
# refunds


@route("POST", "/v1/refunds", params="RefundCreateParams")
def create_refund(ctx: Ctx, params: JSONDict) -> JSONDict:
    if params.get("charge"):
        charge = ctx.get("charge", params["charge"], param="charge")
    elif params.get("payment_intent"):
        pi = ctx.get("payment_intent", params["payment_intent"], param="payment_intent")
        if not pi.get("latest_charge") or pi["status"] != "succeeded":
            raise invalid_request(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge = ctx.get("charge", pi["latest_charge"])
    else:
        raise invalid_request(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            code="parameter_missing",
        )
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    _check_not_charged_back(ctx, charge)
    if charge.get("captured") is False:
        raise invalid_request(
            f"Charge {charge['id']} has not been captured; cancel its PaymentIntent instead.",
            param="charge",
        )
    # What a partial capture released shows in amount_refunded but was never captured.
    refunded = int(charge["amount_refunded"]) - int(charge.get("_released") or 0)
    available = int(charge["amount_captured"]) - refunded
    amount = int(params.get("amount", available))
    if amount <= 0 or amount > available:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({available})"
            if amount > available
            else f"Charge {charge['id']} has already been refunded.",
            param="amount",
            code="charge_already_refunded" if available == 0 else None,
        )
    env = engine.Env(ctx.now_for_customer(charge.get("customer")))
    refund = engine.refund_charge(
        ctx,
        env,
        charge,
        amount,
        reason=params.get("reason"),
        metadata=apply_metadata({}, params.get("metadata")),
    )
    return refund


def _check_not_charged_back(ctx: Ctx, charge: JSONDict) -> None:
    """A chargeback already took the money back: Stripe refuses the refund (`charge_disputed`)."""
    dispute = dispute_of_charge(ctx, charge["id"]) if charge.get("disputed") else None
    if dispute is not None and not dispute.get("is_charge_refundable"):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            param="charge",
            code="charge_disputed",
        )


@route("GET", "/v1/refunds/{id}", params="RefundRetrieveParams")
def retrieve_refund(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("refund", id)


@route("POST", "/v1/refunds/{id}", params="RefundUpdateParams")
def update_refund(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    refund = ctx.get("refund", id)
    before = copy.deepcopy(refund)
    if "metadata" in params:
        refund["metadata"] = apply_metadata(refund.get("metadata"), params["metadata"])
    if refund != before:
        ctx.save(refund)
        ctx.emit("refund.updated", refund, previous=before)
    return refund


@route("POST", "/v1/refunds/{id}/cancel", params="RefundCancelParams")
def cancel_refund(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    """Only a refund in `requires_action` can be canceled (docs.stripe.com/api/refunds/cancel:
    "You can't cancel refunds in other states"). Card refunds, the only ones made here,
    never enter that state, so every cancellation is refused (a 400; Stripe does not
    document the message)."""
    refund = ctx.get("refund", id)
    raise invalid_request(
        f"You can't cancel a refund with a status of {refund['status']}. Only refunds "
        "with a status of requires_action can be canceled."
    )


@route("GET", "/v1/refunds", params="RefundListParams")
def list_refunds(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(r: JSONDict) -> bool:
        if "charge" in params and r.get("charge") != params["charge"]:
            return False
        if "payment_intent" in params and r.get("payment_intent") != params["payment_intent"]:
            return False
        return match_range(r.get("created"), params.get("created"))

    return paginate(ctx.store.all("refund", keep), params, "/v1/refunds", object_label="refund")

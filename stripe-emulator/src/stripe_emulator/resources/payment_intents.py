"""Payment intents: create, confirm, update, cancel, retrieve, list.

The payment logic (test-card outcomes, charges, 3-D Secure, the invoice a
PaymentIntent belongs to) lives in `engine.py`; these are the endpoints.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import engine
from ..context import Ctx
from ..errors import card_error, invalid_request
from ..listing import match_range, paginate, search
from ..render import render
from ..routing import helper_route, route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


def _raise_if_failed(pi: JSONDict, outcome: engine.ChargeOutcome) -> None:
    """Stripe answers a declined confirmation with a 402 carrying the PaymentIntent."""
    if outcome.result != "declined":
        return
    err = card_error(
        outcome.message or "Your card was declined.",
        code=outcome.code or "card_declined",
        decline_code=outcome.decline_code,
        extra={"payment_intent": copy.deepcopy(pi)},
    )
    err.keep_state = True  # the declined attempt (PaymentIntent, charge) is kept
    raise err


@route("POST", "/v1/payment_intents", params="PaymentIntentCreateParams")
def create_payment_intent(ctx: Ctx, params: JSONDict) -> JSONDict:
    customer = params.get("customer")
    if customer:
        ctx.get("customer", customer, param="customer")
    if params["amount"] < 50:
        raise invalid_request(
            "Amount must be at least 50 cents.", param="amount", code="amount_too_small"
        )
    env = engine.Env(ctx.now_for_customer(customer))
    pm_id = params.get("payment_method")
    if pm_id:
        pm = engine.resolve_payment_method(ctx, pm_id)
        pm_id = pm["id"]
    pi = engine.new_payment_intent(
        ctx,
        env,
        amount=params["amount"],
        currency=params["currency"].lower(),
        customer=customer,
        payment_method=pm_id,
        description=params.get("description"),
        metadata=apply_metadata({}, params.get("metadata")),
        setup_future_usage=params.get("setup_future_usage") or None,
        payment_method_types=params.get("payment_method_types"),
        capture_method=params.get("capture_method") or "automatic",
    )
    if params.get("automatic_payment_methods"):
        pi["automatic_payment_methods"] = {
            "allow_redirects": params["automatic_payment_methods"].get("allow_redirects"),
            "enabled": bool(params["automatic_payment_methods"].get("enabled")),
        }
    for key in ("receipt_email", "statement_descriptor", "statement_descriptor_suffix"):
        if params.get(key):
            pi[key] = params[key]
    ctx.save(pi)
    if params.get("confirm"):
        pi, outcome = engine.payment_intent_confirm(
            ctx,
            pi["id"],
            off_session=bool(params.get("off_session")),
            return_url=params.get("return_url"),
        )
        _raise_if_failed(pi, outcome)
    return pi


@route("GET", "/v1/payment_intents/search", params="PaymentIntentSearchParams")
def search_payment_intents(ctx: Ctx, params: JSONDict) -> JSONDict:
    return search(
        ctx.store.all("payment_intent"),
        params,
        "/v1/payment_intents/search",
        {"amount", "created", "currency", "customer", "metadata", "status"},
    )


@route("GET", "/v1/payment_intents/{id}", params="PaymentIntentRetrieveParams")
def retrieve_payment_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("payment_intent", id)


@route("POST", "/v1/payment_intents/{id}", params="PaymentIntentUpdateParams")
def update_payment_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    pi = ctx.get("payment_intent", id)
    before = copy.deepcopy(pi)
    if pi["status"] in ("succeeded", "canceled") and set(params) - {
        "metadata",
        "description",
        "expand",
    }:
        raise invalid_request(
            f"This PaymentIntent's status is {pi['status']}; only metadata and "
            "description can be updated.",
            code="payment_intent_unexpected_state",
        )
    if "metadata" in params:
        pi["metadata"] = apply_metadata(pi.get("metadata"), params["metadata"])
    for key in ("description", "receipt_email", "setup_future_usage", "statement_descriptor"):
        if key in params:
            pi[key] = params[key] or None
    if "amount" in params:
        pi["amount"] = params["amount"]
    if "currency" in params:
        pi["currency"] = params["currency"].lower()
    if "customer" in params:
        pi["customer"] = params["customer"] or None
    if params.get("payment_method"):
        pi["payment_method"] = engine.resolve_payment_method(ctx, params["payment_method"])["id"]
        if pi["status"] == "requires_payment_method":
            pi["status"] = "requires_confirmation"
    if pi != before:
        ctx.save(pi)
        env = engine.Env(ctx.now_for_customer(pi.get("customer")))
        ctx.emit("payment_intent.updated", pi, previous=before, created=env.now)
    return pi


@route("POST", "/v1/payment_intents/{id}/confirm", params="PaymentIntentConfirmParams")
def confirm_payment_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    pi, outcome = engine.payment_intent_confirm(
        ctx,
        id,
        payment_method=params.get("payment_method"),
        off_session=bool(params.get("off_session")),
        return_url=params.get("return_url"),
    )
    _raise_if_failed(pi, outcome)
    return pi


@route("POST", "/v1/payment_intents/{id}/cancel", params="PaymentIntentCancelParams")
def cancel_payment_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    pi = ctx.get("payment_intent", id)
    if pi["status"] in ("succeeded", "canceled"):
        raise invalid_request(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
            "processing.",
            code="payment_intent_unexpected_state",
        )
    if pi.get("_invoice"):
        raise invalid_request(
            "You cannot cancel this PaymentIntent because it was created by an invoice.",
            code="payment_intent_unexpected_state",
        )
    env = engine.Env(ctx.now_for_customer(pi.get("customer")))
    return engine.cancel_payment_intent(
        ctx, env, pi, params.get("cancellation_reason") or "requested_by_customer"
    )


@route("POST", "/v1/payment_intents/{id}/capture", params="PaymentIntentCaptureParams")
def capture_payment_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    """Capture an authorized (`requires_capture`) PaymentIntent, all or `amount_to_capture`."""
    pi = ctx.get("payment_intent", id)
    env = engine.Env(ctx.now_for_customer(pi.get("customer")))
    if "metadata" in params:
        pi["metadata"] = apply_metadata(pi.get("metadata"), params["metadata"])
    return engine.capture_payment_intent(ctx, env, pi, params.get("amount_to_capture"))


@route("GET", "/v1/payment_intents", params="PaymentIntentListParams")
def list_payment_intents(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(pi: JSONDict) -> bool:
        if "customer" in params and pi.get("customer") != params["customer"]:
            return False
        return match_range(pi.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("payment_intent", keep),
        params,
        "/v1/payment_intents",
        object_label="payment_intent",
    )


@helper_route("POST", "/_emulator/billing/payment_intents/{id}/authenticate")
def authenticate_helper(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    """Complete ({"succeed": true}) or fail a pending 3-D Secure challenge without a browser."""
    with ctx.store.atomic():
        pi = engine.payment_intent_authenticate(ctx, id, succeed=bool(body.get("succeed", True)))
    if ctx.emitted:
        ctx.app.dispatcher.notify()
    return render(ctx, pi)

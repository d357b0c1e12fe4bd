"""Setup intents: save a card for later (off-session) payments, with 3-D Secure."""

from __future__ import annotations

import copy
from typing import Any

from .. import engine
from ..context import Ctx
from ..errors import invalid_request
from ..listing import match_range, paginate
from ..render import render
from ..routing import helper_route, route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


@route("POST", "/v1/setup_intents", params="SetupIntentCreateParams")
def create_setup_intent(ctx: Ctx, params: JSONDict) -> JSONDict:
    customer = params.get("customer")
    if customer:
        ctx.get("customer", customer, param="customer")
    if params.get("payment_method"):
        pm = engine.resolve_payment_method(ctx, params["payment_method"])
        params = {**params, "payment_method": pm["id"]}
    env = engine.Env(ctx.now_for_customer(customer))
    seti = engine.new_setup_intent(ctx, env, params)
    if params.get("confirm"):
        seti = engine.confirm_setup_intent(ctx, seti, return_url=params.get("return_url"))
    return seti


@route("GET", "/v1/setup_intents/{id}", params="SetupIntentRetrieveParams")
def retrieve_setup_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("setup_intent", id)


@route("POST", "/v1/setup_intents/{id}", params="SetupIntentUpdateParams")
def update_setup_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    seti = ctx.get("setup_intent", id)
    before = copy.deepcopy(seti)
    if "metadata" in params:
        seti["metadata"] = apply_metadata(seti.get("metadata"), params["metadata"])
    if "description" in params:
        seti["description"] = params["description"] or None
    if params.get("customer"):
        ctx.get("customer", params["customer"], param="customer")
        seti["customer"] = params["customer"]
    if params.get("payment_method"):
        seti["payment_method"] = engine.resolve_payment_method(ctx, params["payment_method"])["id"]
        if seti["status"] == "requires_payment_method":
            seti["status"] = "requires_confirmation"
    if seti != before:
        ctx.save(seti)
        ctx.emit("setup_intent.updated", seti, previous=before)
    return seti


@route("POST", "/v1/setup_intents/{id}/confirm", params="SetupIntentConfirmParams")
def confirm_setup_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    seti = ctx.get("setup_intent", id)
    return engine.confirm_setup_intent(
        ctx, seti, payment_method=params.get("payment_method"), return_url=params.get("return_url")
    )


@route("POST", "/v1/setup_intents/{id}/cancel", params="SetupIntentCancelParams")
def cancel_setup_intent(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    seti = ctx.get("setup_intent", id)
    if seti["status"] in ("succeeded", "canceled"):
        raise invalid_request(
            f"You cannot cancel this SetupIntent because it has a status of {seti['status']}.",
            code="setup_intent_unexpected_state",
        )
    seti["status"] = "canceled"
    seti["cancellation_reason"] = params.get("cancellation_reason")
    seti["next_action"] = None
    ctx.save(seti)
    ctx.emit("setup_intent.canceled", seti)
    return seti


@route("GET", "/v1/setup_intents", params="SetupIntentListParams")
def list_setup_intents(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(s: JSONDict) -> bool:
        if "customer" in params and s.get("customer") != params["customer"]:
            return False
        if "payment_method" in params and s.get("payment_method") != params["payment_method"]:
            return False
        return match_range(s.get("created"), params.get("created"))

    return paginate(
        ctx.store.all("setup_intent", keep),
        params,
        "/v1/setup_intents",
        object_label="setup_intent",
    )


@helper_route("POST", "/_emulator/billing/setup_intents/{id}/authenticate")
def authenticate_helper(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    """Complete ({"succeed": true}) or fail a pending 3-D Secure challenge without a browser."""
    with ctx.store.atomic():
        seti = engine.setup_intent_authenticate(ctx, id, succeed=bool(body.get("succeed", True)))
    if ctx.emitted:
        ctx.app.dispatcher.notify()
    return render(ctx, seti)

"""Checkout Sessions: the API and the test helpers that complete a session.

Completion and expiry live in `engine/checkout.py` (shared with the hosted
page).
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.checkout import (
    ADDRESS_KEYS,
    CardInput,
    Outcome,
    card_required,
    expire_if_due,
    finish_authentication,
    load_session,
    session_expire,
    start_completion,
)
from ..engine.checkout_create import session_create
from ..errors import StripeAPIError, invalid_request
from ..listing import list_object, match_range, paginate
from ..render import register_includable
from ..routing import helper_route, route
from ..updates import apply_metadata

JSONDict = dict[str, Any]


def _line_items_list(ctx: Ctx, session: JSONDict) -> JSONDict:
    stored = ctx.find("checkout.session", session["id"]) or session
    data = []
    for item in stored.get("_line_items") or []:
        shown = copy.deepcopy(item)
        shown["price"] = ctx.find("price", str(item["price"]))
        data.append(shown)
    return list_object(data, f"/v1/checkout/sessions/{session['id']}/line_items", False)


register_includable("checkout.session", "line_items", _line_items_list)


def _line_item_discounts(ctx: Ctx, item: JSONDict) -> list[JSONDict]:
    """``item.discounts`` is includable on Stripe (dj-stripe expands ``line_items.data.discounts``).

    Each entry is ``{amount, discount}``; the session-level discount is what
    applies to its line items here.
    """
    amount = int(item.get("amount_discount") or 0)
    if not amount:
        return []
    discount = item.get("_discount")
    return [{"amount": amount, "discount": discount}] if discount else []


register_includable("item", "discounts", _line_item_discounts)


def _total_details_breakdown(ctx: Ctx, total_details: JSONDict) -> JSONDict:
    """``total_details.breakdown`` is includable (dj-stripe expands it on every sync)."""
    stored = total_details.get("_breakdown")
    return stored if isinstance(stored, dict) else {"discounts": [], "taxes": []}


register_includable("checkout.session.total_details", "breakdown", _total_details_breakdown)


@route("POST", "/v1/checkout/sessions", params="checkout.SessionCreateParams")
def create_session(ctx: Ctx, params: JSONDict) -> JSONDict:
    return session_create(ctx, params)


@route("GET", "/v1/checkout/sessions/{id}", params="checkout.SessionRetrieveParams")
def retrieve_session(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return load_session(ctx, id, param="id")


@route("POST", "/v1/checkout/sessions/{id}", params="checkout.SessionUpdateParams")
def update_session(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    session = load_session(ctx, id, param="id")
    if "metadata" in params:
        session["metadata"] = apply_metadata(session.get("metadata"), params["metadata"])
    unsupported = sorted(k for k in params if k not in ("metadata", "expand"))
    if unsupported:
        raise invalid_request(
            f"The emulator only supports updating `metadata` on a Checkout Session "
            f"(got {', '.join(unsupported)}).",
            param=unsupported[0],
        )
    ctx.save(session)
    return session


@route("GET", "/v1/checkout/sessions", params="checkout.SessionListParams")
def list_sessions(ctx: Ctx, params: JSONDict) -> JSONDict:
    details = params.get("customer_details") or {}

    def keep(s: JSONDict) -> bool:
        for key in ("customer", "subscription", "status", "payment_intent", "payment_link"):
            if key in params and s.get(key) != params[key]:
                return False
        if details.get("email") and (s.get("customer_details") or {}).get("email") != details.get(
            "email"
        ):
            return False
        return match_range(s.get("created"), params.get("created"))

    sessions = [expire_if_due(ctx, s) for s in ctx.store.all("checkout.session")]
    return paginate(
        [s for s in sessions if keep(s)],
        params,
        "/v1/checkout/sessions",
        object_label="checkout.session",
    )


@route("GET", "/v1/checkout/sessions/{id}/line_items", params="checkout.SessionListLineItemsParams")
def list_line_items(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    session = load_session(ctx, id, param="id")
    items = _line_items_list(ctx, session)["data"]
    return paginate(
        items, params, f"/v1/checkout/sessions/{id}/line_items", object_label="line_item"
    )


@route("POST", "/v1/checkout/sessions/{id}/expire", params="checkout.SessionExpireParams")
def expire_session(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    session = load_session(ctx, id, param="id")
    if session["status"] != "open":
        raise invalid_request(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
        )
    return session_expire(ctx, session, automatic=False)


def _card_from_body(body: JSONDict) -> CardInput:
    raw = body.get("card")
    card = CardInput()
    if isinstance(raw, dict):
        card.number = str(raw.get("number") or "")
        card.exp_month = int(raw["exp_month"]) if raw.get("exp_month") else None
        card.exp_year = int(raw["exp_year"]) if raw.get("exp_year") else None
        card.cvc = str(raw.get("cvc") or "")
    elif raw:
        card.number = str(raw)
    card.payment_method = str(body.get("payment_method") or "")
    card.name = str(body.get("name") or "")
    address = body.get("address")
    if isinstance(address, dict):
        card.address = {k: str(v) for k, v in address.items() if k in ADDRESS_KEYS and v}
    card.phone = str(body.get("phone") or "")
    card.accepted_terms = bool(body.get("accept_terms", True))
    card.tax_id = str(body.get("tax_id") or "")
    card.business_name = str(body.get("business_name") or "")
    return card


def _outcome_body(ctx: Ctx, outcome: Outcome) -> JSONDict:
    from ..render import render

    out: JSONDict = {
        "status": outcome.status,
        "session": render(ctx, copy.deepcopy(outcome.session)),
    }
    if outcome.status == "complete":
        out["redirect_url"] = outcome.redirect_url
    if outcome.status == "requires_action":
        out["authentication_url"] = (ctx.app.config.public_url or "").rstrip(
            "/"
        ) + outcome.challenge
    if outcome.status == "error":
        out["error"] = {
            "message": outcome.message,
            "code": outcome.code or None,
            "decline_code": outcome.decline_code or None,
            "param": outcome.param or None,
        }
    return out


@helper_route("POST", "/_emulator/checkout/sessions/{id}/complete")
def helper_complete(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    """Complete a session as the hosted page would (see README)."""
    with ctx.store.atomic():
        session = load_session(ctx, id)
        card = _card_from_body(body)
        if not card.given and card_required(ctx, session):
            card.number = "4242424242424242"
        outcome = start_completion(
            ctx,
            session,
            email=str(body.get("email") or "customer@example.com"),
            card=card,
            promotion_code=str(body.get("promotion_code") or ""),
        )
        if outcome.status == "requires_action" and "authenticate" in body:
            outcome = finish_authentication(
                ctx, outcome.session, succeed=bool(body["authenticate"])
            )
        result = _outcome_body(ctx, outcome)
    if outcome.status == "error":
        not_card = outcome.code in ("checkout_session_not_open", "no_pending_authentication")
        status = 400 if not_card or outcome.param in ("email", "promotion_code") else 402
        raise StripeAPIError(
            status,
            outcome.message,
            type="card_error" if status == 402 else "invalid_request_error",
            code=outcome.code or None,
            decline_code=outcome.decline_code or None,
            param=outcome.param or None,
            extra={"session": result["session"]},
        )
    return result


@helper_route("POST", "/_emulator/checkout/sessions/{id}/fail")
def helper_fail(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    """Attempt a failing payment (default card 4000000000000002): the session stays open."""
    with ctx.store.atomic():
        session = load_session(ctx, id)
        card = _card_from_body(body)
        if not card.given:
            card.number = "4000000000000002"
        outcome = start_completion(
            ctx, session, email=str(body.get("email") or "customer@example.com"), card=card
        )
        if outcome.status == "requires_action":
            outcome = finish_authentication(ctx, outcome.session, succeed=False)
        return _outcome_body(ctx, outcome)


@helper_route("POST", "/_emulator/checkout/sessions/{id}/authenticate")
def helper_authenticate(ctx: Ctx, body: JSONDict, id: str) -> JSONDict:
    """Press "Complete authentication" (or, with {"succeed": false}, "Fail")."""
    with ctx.store.atomic():
        session = load_session(ctx, id)
        outcome = finish_authentication(ctx, session, succeed=bool(body.get("succeed", True)))
        return _outcome_body(ctx, outcome)

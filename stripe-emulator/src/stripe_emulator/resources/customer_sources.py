"""Customer card sources (the legacy Sources/Cards API on customers).

`POST /v1/customers/{id}/sources` with a card token (`tok_visa`, ...)
stores a `card` object on the customer; the first card becomes the
customer's `default_source`. Deleting the default makes the most recently
added remaining card the default (or null). Only cards are emulated: other
source tokens are unknown, and `object=bank_account` lists are empty. Card
sources are not charged by the billing engine (it charges PaymentMethods).
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..engine.cards import DECLINED_MESSAGE, alias_number, card_object
from ..errors import card_error, invalid_request, resource_missing
from ..ids import new_id
from ..listing import paginate
from ..routing import route
from ..updates import apply_metadata

JSONDict = dict[str, Any]

# Card objects spell brands the legacy way (PaymentMethods use lowercase ids).
_BRAND_NAMES = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "American Express",
    "discover": "Discover",
}
_ADDRESS_FIELDS = (
    "address_city",
    "address_country",
    "address_line1",
    "address_line2",
    "address_state",
    "address_zip",
)


def live_customer(ctx: Ctx, customer_id: str, *, param: str = "id") -> JSONDict:
    """The customer, or Stripe's 404 (deleted customers included)."""
    cus = ctx.get("customer", customer_id, param=param)
    if cus.get("deleted"):
        raise resource_missing("customer", customer_id, param=param)
    return cus


def customer_cards(ctx: Ctx, customer_id: str) -> list[JSONDict]:
    """The customer's card sources, newest first."""
    return ctx.store.all_where("card", {"customer": customer_id})


def sources_list(ctx: Ctx, cus: JSONDict) -> JSONDict:
    """`customer.sources` (includable): the first page of the customer's cards."""
    cards = customer_cards(ctx, cus["id"])
    return {
        "object": "list",
        "data": cards[:10],
        "has_more": len(cards) > 10,
        "url": f"/v1/customers/{cus['id']}/sources",
    }


def _customer_card(ctx: Ctx, customer_id: str, card_id: str) -> JSONDict:
    card = ctx.find("card", card_id)
    # Another customer's card is as unknown as a made-up id.
    if card is None or card.get("customer") != customer_id:
        raise resource_missing("source", card_id)
    return card


def _card_from_token(ctx: Ctx, customer_id: str, token: str, metadata: Any) -> JSONDict:
    number = alias_number(token) if token.startswith("tok_") else None
    if number is None:
        raise resource_missing("token", token, param="source")
    details, behaviour = card_object(ctx, number, 12, 1970 + ctx.now() // 31_556_952 + 5, None)
    if behaviour.behaviour == "decline":
        # Stripe checks a card with the issuer when it is saved on a customer.
        raise card_error(
            behaviour.message or DECLINED_MESSAGE,
            code=behaviour.code or "card_declined",
            decline_code=behaviour.decline_code,
            param=None,
        )
    card: JSONDict = {
        "id": new_id("card"),
        "object": "card",
        **dict.fromkeys(_ADDRESS_FIELDS),
        "address_line1_check": None,
        "address_zip_check": None,
        "allow_redisplay": "unspecified",
        "brand": _BRAND_NAMES.get(details["brand"], "Unknown"),
        "country": details["country"],
        "customer": customer_id,
        "cvc_check": None,
        "dynamic_last4": None,
        "exp_month": details["exp_month"],
        "exp_year": details["exp_year"],
        "fingerprint": details["fingerprint"],
        "funding": details["funding"],
        "last4": details["last4"],
        "metadata": apply_metadata({}, metadata),
        "name": None,
        "regulated_status": "unregulated",
        "tokenization_method": None,
    }
    return card


@route("POST", "/v1/customers/{customer}/sources", params="CustomerPaymentSourceCreateParams")
def create_source(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    card = _card_from_token(ctx, customer, params["source"], params.get("metadata"))
    ctx.save(card)
    ctx.emit("customer.source.created", card)
    if not cus.get("default_source"):
        before = copy.deepcopy(cus)
        cus["default_source"] = card["id"]
        ctx.save(cus)
        ctx.emit("customer.updated", cus, previous=before)
    return card


@route("GET", "/v1/customers/{customer}/sources", params="CustomerPaymentSourceListParams")
def list_sources(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    live_customer(ctx, customer)
    kind = params.get("object")
    cards = customer_cards(ctx, customer) if kind in (None, "card") else []
    return paginate(cards, params, f"/v1/customers/{customer}/sources", object_label="source")


@route("GET", "/v1/customers/{customer}/sources/{id}", params="CustomerPaymentSourceRetrieveParams")
def retrieve_source(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    return _customer_card(ctx, customer, id)


def _expiry(value: Any, param: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise invalid_request(f"Invalid integer: {value}", param=param) from None


@route("POST", "/v1/customers/{customer}/sources/{id}", params="CustomerPaymentSourceUpdateParams")
def update_source(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    card = _customer_card(ctx, customer, id)
    before = copy.deepcopy(card)
    for key in (*_ADDRESS_FIELDS, "name"):
        if key in params:
            card[key] = params[key] or None
    if "exp_month" in params:
        month = _expiry(params["exp_month"], "exp_month")
        if not 1 <= month <= 12:
            raise card_error(
                "Your card's expiration month is invalid.",
                code="invalid_expiry_month",
                param="exp_month",
            )
        card["exp_month"] = month
    if "exp_year" in params:
        year = _expiry(params["exp_year"], "exp_year")
        card["exp_year"] = year + 2000 if year < 100 else year
    if "metadata" in params:
        card["metadata"] = apply_metadata(card.get("metadata"), params["metadata"])
    if card != before:
        ctx.save(card)
        ctx.emit("customer.source.updated", card, previous=before)
    return card


@route(
    "DELETE", "/v1/customers/{customer}/sources/{id}", params="CustomerPaymentSourceDeleteParams"
)
def delete_source(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    card = _customer_card(ctx, customer, id)
    ctx.store.remove(id)
    ctx.emit("customer.source.deleted", card)
    if cus.get("default_source") == id:
        before = copy.deepcopy(cus)
        remaining = customer_cards(ctx, customer)
        cus["default_source"] = remaining[0]["id"] if remaining else None
        ctx.save(cus)
        ctx.emit("customer.updated", cus, previous=before)
    return {"id": id, "object": "card", "deleted": True}

"""Customer balance transactions, cash balance settings and the customer discount.

* `/v1/customers/{id}/balance_transactions`: a ledger entry (`type:
  adjustment`) moves the customer's `balance` by `amount` (negative is a
  credit) and records `ending_balance`; the balance change is a
  `customer.updated`, as when an invoice moves it. The first transaction
  sets the customer's `currency` when it has none; one currency per customer.
  Only `description` and `metadata` can be updated.
* `/v1/customers/{id}/cash_balance`: retrieve and update the reconciliation
  settings. The emulator has no bank transfers, so `available` stays null.
* `DELETE /v1/customers/{id}/discount`: customer-level discounts cannot be
  created through this API version, so a customer never has one here and
  the call answers Stripe's "no discount" error (subscription discounts:
  `DELETE /v1/subscriptions/{id}/discount`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..ids import new_id
from ..listing import match_range, paginate
from ..render import register_includable
from ..routing import route
from ..updates import apply_metadata
from .customer_sources import live_customer

JSONDict = dict[str, Any]


def _customer_transaction(ctx: Ctx, customer_id: str, txn_id: str) -> JSONDict:
    txn = ctx.find("customer_balance_transaction", txn_id)
    if txn is None or txn.get("customer") != customer_id:
        raise resource_missing("customer_balance_transaction", txn_id)
    return txn


@route(
    "POST",
    "/v1/customers/{customer}/balance_transactions",
    params="CustomerBalanceTransactionCreateParams",
)
def create_balance_transaction(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    currency = str(params["currency"]).lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise invalid_request(f"Invalid currency: {params['currency']}.", param="currency")
    if cus.get("currency") and cus["currency"] != currency:
        raise invalid_request(
            f"The customer's balance is in {cus['currency']}; the emulator keeps one "
            f"currency per customer, so a {currency} transaction is refused.",
            param="currency",
        )
    amount = int(params["amount"])
    before = copy.deepcopy(cus)
    cus["balance"] = int(cus.get("balance") or 0) + amount
    if not cus.get("currency"):
        cus["currency"] = currency
    txn: JSONDict = {
        "id": new_id("cbtxn"),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": ctx.now_for_customer(cus),
        "credit_note": None,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": params.get("description") or None,
        "ending_balance": cus["balance"],
        "invoice": None,
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "type": "adjustment",
    }
    ctx.save(txn)
    ctx.save(cus)
    if cus != before:
        ctx.emit("customer.updated", cus, previous=before)
    return txn


@route(
    "GET",
    "/v1/customers/{customer}/balance_transactions",
    params="CustomerBalanceTransactionListParams",
)
def list_balance_transactions(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    live_customer(ctx, customer)

    def keep(txn: JSONDict) -> bool:
        if "invoice" in params and txn.get("invoice") != params["invoice"]:
            return False
        return match_range(txn.get("created"), params.get("created"))

    items = [
        t
        for t in ctx.store.all_where("customer_balance_transaction", {"customer": customer})
        if keep(t)
    ]
    return paginate(
        items,
        params,
        f"/v1/customers/{customer}/balance_transactions",
        object_label="customer_balance_transaction",
    )


@route(
    "GET",
    "/v1/customers/{customer}/balance_transactions/{id}",
    params="CustomerBalanceTransactionRetrieveParams",
)
def retrieve_balance_transaction(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    return _customer_transaction(ctx, customer, id)


@route(
    "POST",
    "/v1/customers/{customer}/balance_transactions/{id}",
    params="CustomerBalanceTransactionUpdateParams",
)
def update_balance_transaction(ctx: Ctx, params: JSONDict, customer: str, id: str) -> JSONDict:
    live_customer(ctx, customer)
    txn = _customer_transaction(ctx, customer, id)
    if "description" in params:
        txn["description"] = params["description"] or None
    if "metadata" in params:
        txn["metadata"] = apply_metadata(txn.get("metadata"), params["metadata"])
    ctx.save(txn)
    return txn


# --------------------------------------------------------------------------
# cash balance

_MERCHANT_DEFAULT_MODE = "automatic"


def cash_balance_object(ctx: Ctx, cus: JSONDict) -> JSONDict:
    settings = cus.get("_cash_balance_settings") or {
        "reconciliation_mode": _MERCHANT_DEFAULT_MODE,
        "using_merchant_default": True,
    }
    return {
        "object": "cash_balance",
        "available": None,
        "customer": cus["id"],
        "customer_account": None,
        "livemode": False,
        "settings": dict(settings),
    }


register_includable("customer", "cash_balance", cash_balance_object)


@route("GET", "/v1/customers/{customer}/cash_balance", params="CustomerCashBalanceRetrieveParams")
def retrieve_cash_balance(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    return cash_balance_object(ctx, live_customer(ctx, customer))


@route("POST", "/v1/customers/{customer}/cash_balance", params="CustomerCashBalanceUpdateParams")
def update_cash_balance(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    mode = (params.get("settings") or {}).get("reconciliation_mode")
    if mode:
        cus["_cash_balance_settings"] = (
            {"reconciliation_mode": _MERCHANT_DEFAULT_MODE, "using_merchant_default": True}
            if mode == "merchant_default"
            else {"reconciliation_mode": mode, "using_merchant_default": False}
        )
        ctx.save(cus)
    return cash_balance_object(ctx, cus)


# --------------------------------------------------------------------------
# customer discount


@route("DELETE", "/v1/customers/{customer}/discount", params="CustomerDeleteDiscountParams")
def delete_customer_discount(ctx: Ctx, params: JSONDict, customer: str) -> JSONDict:
    cus = live_customer(ctx, customer)
    discount = cus.get("discount")
    if not discount:
        raise invalid_request(f"The customer {customer} has no discount.")
    before = copy.deepcopy(cus)
    cus["discount"] = None
    ctx.save(cus)
    ctx.emit("customer.discount.deleted", discount)
    ctx.emit("customer.updated", cus, previous=before)
    discount_id = discount["id"] if isinstance(discount, dict) else str(discount)
    return {"id": discount_id, "object": "discount", "deleted": True}

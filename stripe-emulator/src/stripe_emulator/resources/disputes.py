"""Disputes (opened by the dispute test cards, engine/disputes.py) and balance transactions."""

from __future__ import annotations

from typing import Any

from .. import engine
from ..context import Ctx
from ..engine.balance import balance_object, settle
from ..engine.common import Env
from ..listing import match_range, paginate
from ..routing import route

JSONDict = dict[str, Any]


def _env(ctx: Ctx, dispute: JSONDict) -> Env:
    charge = ctx.store.get(str(dispute["charge"])) or {}
    return Env(ctx.now_for_customer(charge.get("customer")))


@route("GET", "/v1/disputes", params="DisputeListParams")
def list_disputes(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(d: JSONDict) -> bool:
        if "charge" in params and d.get("charge") != params["charge"]:
            return False
        if "payment_intent" in params and d.get("payment_intent") != params["payment_intent"]:
            return False
        return match_range(d.get("created"), params.get("created"))

    return paginate(ctx.store.all("dispute", keep), params, "/v1/disputes", object_label="dispute")


@route("GET", "/v1/disputes/{id}", params="DisputeRetrieveParams")
def retrieve_dispute(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("dispute", id)


@route("POST", "/v1/disputes/{id}", params="DisputeUpdateParams")
def update_dispute(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    dispute = ctx.get("dispute", id)
    return engine.dispute_update(ctx, _env(ctx, dispute), dispute, params)


@route("POST", "/v1/disputes/{id}/close", params="DisputeCloseParams")
def close_dispute(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    dispute = ctx.get("dispute", id)
    return engine.dispute_close(ctx, _env(ctx, dispute), dispute)


# --------------------------------------------------------------------------
# early fraud warnings (the test card 4000000000005423)


@route("GET", "/v1/radar/early_fraud_warnings", params="radar.EarlyFraudWarningListParams")
def list_early_fraud_warnings(ctx: Ctx, params: JSONDict) -> JSONDict:
    def keep(w: JSONDict) -> bool:
        if "charge" in params and w.get("charge") != params["charge"]:
            return False
        if "payment_intent" in params and w.get("payment_intent") != params["payment_intent"]:
            return False
        return match_range(w.get("created"), params.get("created"))

    warnings = ctx.store.all("radar.early_fraud_warning", keep)
    return paginate(
        warnings, params, "/v1/radar/early_fraud_warnings", object_label="early_fraud_warning"
    )


@route("GET", "/v1/radar/early_fraud_warnings/{id}", params="radar.EarlyFraudWarningRetrieveParams")
def retrieve_early_fraud_warning(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return ctx.get("radar.early_fraud_warning", id)


# --------------------------------------------------------------------------
# balance transactions


@route("GET", "/v1/balance_transactions", params="BalanceTransactionListParams")
def list_balance_transactions(ctx: Ctx, params: JSONDict) -> JSONDict:
    if params.get("payout"):
        # No payouts are ever made here, so no transaction was paid out by one.
        return paginate([], params, "/v1/balance_transactions", object_label="balance_transaction")

    def keep(t: JSONDict) -> bool:
        for key in ("type", "source", "currency"):
            if key in params and t.get(key) != params[key]:
                return False
        return match_range(t.get("created"), params.get("created"))

    now = ctx.now()
    txns = [settle(t, now) for t in ctx.store.all("balance_transaction", keep)]
    return paginate(txns, params, "/v1/balance_transactions", object_label="balance_transaction")


@route("GET", "/v1/balance_transactions/{id}", params="BalanceTransactionRetrieveParams")
def retrieve_balance_transaction(ctx: Ctx, params: JSONDict, id: str) -> JSONDict:
    return settle(ctx.get("balance_transaction", id), ctx.now())


@route("GET", "/v1/balance", params="BalanceRetrieveParams")
def retrieve_balance(ctx: Ctx, params: JSONDict) -> JSONDict:
    return balance_object(ctx.store.all("balance_transaction"), ctx.now())

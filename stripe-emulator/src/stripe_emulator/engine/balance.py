"""Balance transactions: what each charge, refund and dispute does to the account's balance.

The emulator's account is a US account (`account.py`), so Stripe's standard
US pricing applies (https://stripe.com/pricing): 2.9% + 30¢ per successful
card charge, a $15.00 dispute fee per chargeback, and no processing fee
returned on refunds. The fee is computed on the charge amount in its own
currency, rounded half up to the minor unit (Stripe's docs do not state the
rounding; README "Known differences").

Shapes follow the Balance Transaction object
(https://docs.stripe.com/api/balance_transactions/object): `amount` gross,
`fee` (sum of `fee_details`), `net` = amount - fee, `reporting_category`
(https://docs.stripe.com/reports/reporting-categories: `charge`, `refund`,
`dispute`, `dispute_reversal`), `source` the id of the object that moved the
money, `status` `pending` until `available_on`, then `available`.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from ..context import Ctx
from ..ids import new_id
from .common import Env, JSONDict

CARD_FEE_PERCENT = Decimal("0.029")
CARD_FEE_FIXED = 30
DISPUTE_FEE = 1500
# Funds from card charges become available two business days later (Stripe's
# standard payout timing for US accounts, docs.stripe.com/payouts#standard-payout-timing).
AVAILABLE_AFTER_BUSINESS_DAYS = 2


def card_fee(amount: int) -> int:
    """Stripe's standard US card fee for a charge of `amount` minor units."""
    percent = (Decimal(amount) * CARD_FEE_PERCENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(percent) + CARD_FEE_FIXED


def available_on(created: int, *, at_once: bool = False) -> int:
    """Midnight UTC of the day the funds become available.

    `at_once` is the test card 4000000000000077 (`pm_card_bypassPending`),
    whose funds go straight to the available balance
    (docs.stripe.com/testing#available-balance).
    """
    if at_once:
        return created
    day = dt.datetime.fromtimestamp(created, dt.UTC).replace(hour=0, minute=0, second=0)
    added = 0
    while added < AVAILABLE_AFTER_BUSINESS_DAYS:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            added += 1
    return int(day.timestamp())


def fee_detail(amount: int, currency: str, description: str) -> JSONDict:
    return {
        "amount": amount,
        "application": None,
        "currency": currency,
        "description": description,
        "type": "stripe_fee",
    }


def new_balance_transaction(
    ctx: Ctx,
    env: Env,
    *,
    amount: int,
    currency: str,
    txn_type: str,
    reporting_category: str,
    source: str,
    fees: list[JSONDict] | None = None,
    description: str | None = None,
    available: int | None = None,
) -> JSONDict:
    """Store one balance transaction moving `amount` (signed) into the balance."""
    fee_details = fees or []
    fee = sum(int(f["amount"]) for f in fee_details)
    txn: JSONDict = {
        "id": new_id("balance_transaction"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available if available is not None else available_on(env.now),
        "balance_type": "payments",
        "created": env.now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": reporting_category,
        "source": source,
        "status": "pending",
        "type": txn_type,
    }
    settle(txn, env.now)
    ctx.save(txn)
    return txn


def settle(txn: JSONDict, now: int) -> JSONDict:
    """`status` as of `now`: `available` once `available_on` has passed."""
    if txn.get("status") == "pending" and int(txn["available_on"]) <= now:
        txn["status"] = "available"
    return txn


def charge_transaction(ctx: Ctx, env: Env, charge: JSONDict, *, at_once: bool = False) -> JSONDict:
    """The `charge` balance transaction of a succeeded card charge (sets its id on `charge`)."""
    amount = int(charge["amount"])
    currency = str(charge["currency"])
    txn = new_balance_transaction(
        ctx,
        env,
        amount=amount,
        currency=currency,
        txn_type="charge",
        reporting_category="charge",
        source=str(charge["id"]),
        fees=[fee_detail(card_fee(amount), currency, "Stripe processing fees")],
        description=charge.get("description"),
        available=available_on(env.now, at_once=at_once),
    )
    charge["balance_transaction"] = txn["id"]
    return txn


def refund_transaction(ctx: Ctx, env: Env, refund: JSONDict) -> JSONDict:
    """The `refund` balance transaction (negative; Stripe keeps its fee on refunds)."""
    txn = new_balance_transaction(
        ctx,
        env,
        amount=-int(refund["amount"]),
        currency=str(refund["currency"]),
        txn_type="refund",
        reporting_category="refund",
        source=str(refund["id"]),
        description=None,
    )
    refund["balance_transaction"] = txn["id"]
    return txn


def dispute_withdrawal(ctx: Ctx, env: Env, dispute: JSONDict) -> JSONDict:
    """Funds withdrawn for a chargeback: the disputed amount plus the dispute fee."""
    currency = str(dispute["currency"])
    return new_balance_transaction(
        ctx,
        env,
        amount=-int(dispute["amount"]),
        currency=currency,
        txn_type="adjustment",
        reporting_category="dispute",
        source=str(dispute["id"]),
        fees=[fee_detail(DISPUTE_FEE, currency, "Dispute fee")],
        description=f"Chargeback withdrawal for {dispute['charge']}",
    )


def dispute_reinstatement(ctx: Ctx, env: Env, dispute: JSONDict) -> JSONDict:
    """Funds reinstated when a chargeback is won: the amount and the dispute fee back."""
    currency = str(dispute["currency"])
    return new_balance_transaction(
        ctx,
        env,
        amount=int(dispute["amount"]),
        currency=currency,
        txn_type="adjustment",
        reporting_category="dispute_reversal",
        source=str(dispute["id"]),
        fees=[fee_detail(-DISPUTE_FEE, currency, "Dispute fee refund")],
        description=f"Chargeback reversal for {dispute['charge']}",
    )


def balance_object(txns: list[JSONDict], now: int, default_currency: str = "usd") -> JSONDict:
    """The account's Balance (https://docs.stripe.com/api/balance/balance_object).

    Per currency, the nets of the transactions whose funds are available and
    of those still pending; every source here is a card. The account's
    default currency is always listed, with 0 when nothing moved.
    """
    available: dict[str, int] = {default_currency: 0}
    pending: dict[str, int] = {default_currency: 0}
    for txn in txns:
        settle(txn, now)
        bucket = available if txn["status"] == "available" else pending
        bucket[txn["currency"]] = bucket.get(txn["currency"], 0) + int(txn["net"])
        (pending if bucket is available else available).setdefault(txn["currency"], 0)

    def funds(amounts: dict[str, int]) -> list[JSONDict]:
        return [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(amounts.items())
        ]

    return {
        "object": "balance",
        "available": funds(available),
        "livemode": False,
        "pending": funds(pending),
    }

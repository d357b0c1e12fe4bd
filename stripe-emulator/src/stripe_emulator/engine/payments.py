"""Charging cards: charge outcomes, PaymentIntents, Charges and SetupIntents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..context import Ctx
from ..errors import invalid_request
from ..ids import new_id, random_token
from ..updates import apply_metadata
from .balance import charge_transaction, new_balance_transaction, refund_transaction
from .cards import TestCard, test_card_for
from .cards import resolve_payment_method as resolve_payment_method
from .common import DAY, Env, JSONDict, authentication_url, base_url, deep_copy, emit_event
from .disputes import early_fraud_warnings_after_refund, open_test_dispute

# An uncaptured card payment is canceled this long after its authorization:
# "Uncaptured PaymentIntents are cancelled a set number of days (7 by default)
# after their creation" (docs.stripe.com/api/payment_intents/capture; the
# customer-initiated card window in docs.stripe.com/payments/capture-later).
AUTHORIZATION_VALIDITY = 7 * DAY


@dataclass(frozen=True)
class ChargeOutcome:
    """What one payment attempt on a card does.

    result: "succeeded", "requires_action" (3-D Secure challenge needed) or
    "declined" (with Stripe's `code`, `decline_code` and `message`).
    """

    result: Literal["succeeded", "requires_action", "declined"]
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


_NO_PM = ChargeOutcome(
    "declined",
    code="payment_intent_payment_attempt_failed",
    message="The customer has no payment method available for this payment.",
)


def card_charge_outcome(
    pm: JSONDict, *, off_session: bool, authenticated: bool = False
) -> ChargeOutcome:
    """The outcome of charging PaymentMethod `pm` now, without side effects.

    `off_session` is True for renewals and retries (the customer is absent);
    `authenticated` True means the customer has just completed a 3-D Secure
    challenge for this very payment (the 3DS page's "Complete authentication").
    A card set up for off-session use (a succeeded SetupIntent, Checkout, or a
    completed on-session challenge) carries `_setup_off_session` and then
    passes 3155's off-session check.
    """
    card: TestCard = test_card_for(pm)
    behaviour = card.behaviour
    decline = ChargeOutcome(
        "declined",
        code=card.code or "card_declined",
        decline_code=card.decline_code,
        message=card.message or "Your card was declined.",
    )
    if behaviour in ("decline", "charge_fail"):
        return decline
    if behaviour == "succeed":
        return ChargeOutcome("succeeded")
    if authenticated:
        return decline if behaviour == "auth_then_decline" else ChargeOutcome("succeeded")
    set_up = bool(pm.get("_setup_off_session"))
    if behaviour == "auth_unless_setup" and off_session and set_up:
        return ChargeOutcome("succeeded")
    if behaviour == "auth_on_session" and off_session:
        return ChargeOutcome("succeeded")
    return ChargeOutcome("requires_action")


def setup_outcome(pm: JSONDict, *, authenticated: bool = False) -> ChargeOutcome:
    """The outcome of setting up `pm` for future use (SetupIntent confirmation)."""
    card = test_card_for(pm)
    if card.behaviour == "decline":
        return ChargeOutcome(
            "declined",
            code=card.code or "card_declined",
            decline_code=card.decline_code,
            message=card.message or "Your card was declined.",
        )
    if card.behaviour in ("auth_unless_setup", "auth_always", "auth_then_decline") and not (
        authenticated
    ):
        return ChargeOutcome("requires_action")
    return ChargeOutcome("succeeded")


def _client_secret(obj_id: str) -> str:
    return f"{obj_id}_secret_{random_token(25)}"


def new_payment_intent(
    ctx: Ctx,
    env: Env,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str | None = None,
    description: str | None = None,
    metadata: JSONDict | None = None,
    setup_future_usage: str | None = None,
    invoice_id: str | None = None,
    payment_method_types: list[str] | None = None,
    capture_method: str = "automatic",
) -> JSONDict:
    """Store a PaymentIntent (requires_payment_method / requires_confirmation)."""
    pi_id = new_id("payment_intent")
    pi: JSONDict = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": _client_secret(pi_id),
        "confirmation_method": "automatic",
        "created": env.now,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types or ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
        "_invoice": invoice_id,
    }
    ctx.save(pi)
    emit_event(ctx, env, "payment_intent.created", pi)
    return pi


def _card_details(pm: JSONDict) -> JSONDict:
    card = pm.get("card") or {}
    return {
        "amount_authorized": None,
        "authorization_code": None,
        "brand": card.get("brand"),
        "checks": card.get("checks"),
        "country": card.get("country"),
        "exp_month": card.get("exp_month", 12),
        "exp_year": card.get("exp_year", 2030),
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.get("fingerprint"),
        "funding": card.get("funding"),
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.get("last4"),
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.get("brand"),
        "network_token": {"used": False},
        "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
        "regulated_status": card.get("regulated_status"),
        "three_d_secure": None,
        "transaction_link_id": None,
        "wallet": None,
    }


def _new_charge(
    ctx: Ctx, env: Env, pi: JSONDict, pm: JSONDict, outcome: ChargeOutcome, authenticated: bool
) -> JSONDict:
    ok = outcome.result == "succeeded"
    captured = ok and pi.get("capture_method") != "manual"
    ch_id = new_id("charge")
    details = _card_details(pm)
    if ok and not captured:
        details["amount_authorized"] = pi["amount"]
        details["capture_before"] = env.now + AUTHORIZATION_VALIDITY
    if authenticated:
        details["three_d_secure"] = {
            "authentication_flow": "challenge",
            "electronic_commerce_indicator": "05",
            "exemption_indicator": None,
            "result": "authenticated",
            "result_reason": None,
            "transaction_id": random_token(32),
            "version": "2.2.0",
        }
    charge: JSONDict = {
        "id": ch_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": pm.get("billing_details"),
        "calculated_statement_descriptor": "EMULATOR",
        "captured": captured,
        "created": env.now,
        "currency": pi["currency"],
        "customer": pi.get("customer"),
        "description": pi.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if ok else outcome.code,
        "failure_message": None if ok else outcome.message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi.get("metadata") or {}),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else outcome.decline_code,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete."
            if ok
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {"card": details, "type": "card"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"{base_url(ctx)}/receipts/{ch_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if ok else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    if captured:
        # Every captured charge moves money into the balance (engine/balance.py);
        # an authorization alone does not (its transaction is made at capture).
        charge_transaction(ctx, env, charge, at_once=test_card_for(pm).bypass_pending)
    ctx.save(charge)
    return charge


def payment_error(outcome: ChargeOutcome, pm: JSONDict | None, charge_id: str | None) -> JSONDict:
    return {
        "advice_code": None,
        "charge": charge_id,
        "code": outcome.code,
        "decline_code": outcome.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{outcome.code}" if outcome.code else None,
        "message": outcome.message,
        "network_advice_code": None,
        "network_decline_code": None,
        "param": None,
        "payment_method": deep_copy(pm) if pm else None,
        "payment_method_type": "card" if pm else None,
        "type": "card_error" if pm else "invalid_request_error",
    }


def attempt_payment_intent(
    ctx: Ctx,
    env: Env,
    pi: JSONDict,
    pm: JSONDict | None,
    *,
    off_session: bool,
    authenticated: bool = False,
    return_url: str | None = None,
) -> tuple[JSONDict, ChargeOutcome]:
    """Confirm `pi` with `pm` now: charge, 3DS challenge or decline; emits the events.

    Does not touch the invoice; `_collect_invoice` wraps it for that.
    """
    if pm is None:
        pi["last_payment_error"] = payment_error(_NO_PM, None, None)
        pi["status"] = "requires_payment_method"
        ctx.save(pi)
        emit_event(ctx, env, "payment_intent.payment_failed", pi)
        return pi, _NO_PM
    pi["payment_method"] = pm["id"]
    outcome = card_charge_outcome(pm, off_session=off_session, authenticated=authenticated)
    if outcome.result == "requires_action":
        pi["status"] = "requires_action"
        pi["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": return_url,
                "url": authentication_url(ctx, pi["id"]),
            },
        }
        pi["_off_session"] = off_session
        ctx.save(pi)
        emit_event(ctx, env, "payment_intent.requires_action", pi)
        return pi, outcome
    charge = _new_charge(ctx, env, pi, pm, outcome, authenticated)
    pi["latest_charge"] = charge["id"]
    pi["next_action"] = None
    if outcome.result == "succeeded" and pi.get("capture_method") == "manual":
        _authorize_only(ctx, env, pi, charge)
    elif outcome.result == "succeeded":
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["last_payment_error"] = None
        if authenticated or pi.get("setup_future_usage"):
            # A completed on-session challenge sets the card up for later
            # off-session use (as Checkout and Elements do).
            pm["_setup_off_session"] = True
            ctx.save(pm)
        ctx.save(pi)
        emit_event(ctx, env, "payment_intent.succeeded", pi)
        emit_event(ctx, env, "charge.succeeded", charge)
        # The dispute test cards: "the charge succeeds, only to be disputed".
        open_test_dispute(ctx, env, charge, pm)
    else:
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = payment_error(outcome, pm, charge["id"])
        ctx.save(pi)
        emit_event(ctx, env, "charge.failed", charge)
        emit_event(ctx, env, "payment_intent.payment_failed", pi)
    return pi, outcome


def payment_method_for(
    ctx: Ctx, pm_id: str | None, customer: str | None, *, param: str
) -> JSONDict | None:
    if not pm_id:
        return None
    pm = resolve_payment_method(ctx, pm_id, param=param)
    if pm_id.startswith(("pm_card_", "tok_")) and customer and not pm.get("customer"):
        # A test alias used for a customer's payment acts like a fresh card.
        pm["customer"] = customer
        ctx.save(pm)
    return pm


def cancel_payment_intent(ctx: Ctx, env: Env, pi: JSONDict, reason: str | None = None) -> JSONDict:
    """Cancel; an uncaptured authorization is given back first (refunded on its charge)."""
    if pi["status"] in ("succeeded", "canceled"):
        return pi
    if pi["status"] == "requires_capture":
        release_authorization(ctx, env, pi, expired=False)
        pi = ctx.get("payment_intent", pi["id"])
    pi["status"] = "canceled"
    pi["canceled_at"] = env.now
    pi["cancellation_reason"] = reason
    pi["next_action"] = None
    ctx.save(pi)
    emit_event(ctx, env, "payment_intent.canceled", pi)
    return pi


def new_setup_intent(ctx: Ctx, env: Env, params: JSONDict) -> JSONDict:
    seti_id = new_id("setup_intent")
    pm_id = params.get("payment_method")
    seti: JSONDict = {
        "id": seti_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": _client_secret(seti_id),
        "created": env.now,
        "customer": params.get("customer"),
        "customer_account": None,
        "description": params.get("description"),
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": apply_metadata({}, params.get("metadata")),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm_id,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": params.get("payment_method_types") or ["card"],
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm_id else "requires_payment_method",
        "usage": params.get("usage") or "off_session",
    }
    ctx.save(seti)
    emit_event(ctx, env, "setup_intent.created", seti)
    return seti


# --------------------------------------------------------------------------
# Separate authorization and capture (capture_method=manual), refunds.
# docs.stripe.com/payments/capture-later, docs.stripe.com/api/payment_intents/capture


def _authorize_only(ctx: Ctx, env: Env, pi: JSONDict, charge: JSONDict) -> None:
    """A manual-capture confirmation: the card is authorized, nothing is captured yet."""
    pi["status"] = "requires_capture"
    pi["amount_capturable"] = pi["amount"]
    pi["last_payment_error"] = None
    pi["_capture_before"] = charge["payment_method_details"]["card"]["capture_before"]
    pi["_test_clock"] = _customer_clock(ctx, pi.get("customer"))
    ctx.save(pi)
    emit_event(ctx, env, "charge.succeeded", charge)
    emit_event(ctx, env, "payment_intent.amount_capturable_updated", pi)


def _customer_clock(ctx: Ctx, customer_id: str | None) -> str | None:
    customer = ctx.find("customer", customer_id) if customer_id else None
    return (customer or {}).get("test_clock")


def capture_payment_intent(
    ctx: Ctx, env: Env, pi: JSONDict, amount_to_capture: int | None
) -> JSONDict:
    """requires_capture -> succeeded: capture `amount_to_capture` (default: all of it).

    A partial capture releases the rest: the charge shows it as refunded, as
    Stripe does ("the remaining amount is refunded", capture-later guide).
    Emits charge.captured (and charge.refunded for a released remainder),
    then payment_intent.succeeded.
    """
    if pi["status"] != "requires_capture":
        raise invalid_request(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
            "be captured: requires_capture.",
            code="payment_intent_unexpected_state",
        )
    capturable = int(pi["amount_capturable"])
    amount = capturable if amount_to_capture is None else int(amount_to_capture)
    if amount > capturable:
        raise invalid_request(
            f"The amount to capture ({amount}) is greater than the amount capturable "
            f"({capturable}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    if amount < 1:
        raise invalid_request(
            "The amount to capture must be a positive integer.", param="amount_to_capture"
        )
    charge = ctx.get("charge", str(pi["latest_charge"]))
    charge_before = deep_copy(charge)
    charge["captured"] = True
    charge["amount_captured"] = amount
    pm = ctx.find("payment_method", str(charge.get("payment_method") or ""))
    bypass = test_card_for(pm).bypass_pending if pm is not None else False
    # The balance receives what was captured, not what was authorized.
    txn = charge_transaction(ctx, env, {**charge, "amount": amount}, at_once=bypass)
    charge["balance_transaction"] = txn["id"]
    ctx.save(charge)
    emit_event(ctx, env, "charge.captured", charge, previous=charge_before)
    if amount < capturable:
        refund_charge(ctx, env, charge, capturable - amount, reason=None, release=True)
    pi = ctx.get("payment_intent", pi["id"])
    pi["status"] = "succeeded"
    pi["amount_received"] = amount
    pi["amount_capturable"] = 0
    pi.pop("_capture_before", None)
    ctx.save(pi)
    emit_event(ctx, env, "payment_intent.succeeded", pi)
    if pm is not None:
        # The dispute test cards: "the charge succeeds, only to be disputed".
        open_test_dispute(ctx, env, ctx.get("charge", charge["id"]), pm)
    return pi


def release_authorization(ctx: Ctx, env: Env, pi: JSONDict, *, expired: bool) -> None:
    """Give back an uncaptured authorization (cancel, or expiry after 7 days)."""
    charge = ctx.find("charge", str(pi.get("latest_charge") or ""))
    pi["amount_capturable"] = 0
    pi.pop("_capture_before", None)
    ctx.save(pi)
    if charge is None:
        return
    if expired:
        before = deep_copy(charge)
        charge["amount_refunded"] = charge["amount"]
        charge["refunded"] = True
        ctx.save(charge)
        emit_event(ctx, env, "charge.expired", charge, previous=before)
    else:
        refund_charge(ctx, env, charge, int(charge["amount"]), reason=None, release=True)


def expire_authorization(ctx: Ctx, env: Env, pi: JSONDict) -> JSONDict:
    """The authorization window passed without a capture: the PaymentIntent is canceled."""
    release_authorization(ctx, env, pi, expired=True)
    pi = ctx.get("payment_intent", pi["id"])
    pi["status"] = "canceled"
    pi["canceled_at"] = env.now
    pi["cancellation_reason"] = "automatic"
    ctx.save(pi)
    emit_event(ctx, env, "payment_intent.canceled", pi)
    return pi


def refund_charge(
    ctx: Ctx,
    env: Env,
    charge: JSONDict,
    amount: int,
    *,
    reason: str | None,
    metadata: JSONDict | None = None,
    release: bool = False,
) -> JSONDict:
    """A refund of `amount` of `charge` (card refunds succeed at once): refund.created,
    charge.refunded. `release` marks the uncaptured part of an authorization given back."""
    refund: JSONDict = {
        "id": new_id("refund"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": env.now,
        "currency": charge["currency"],
        "customer": charge.get("customer"),
        "customer_account": None,
        "description": None,
        "destination_details": {
            "card": {"type": "reversal" if release else "refund"},
            "type": "card",
        },
        "metadata": dict(metadata or {}),
        "payment_intent": charge.get("payment_intent"),
        "payment_method": charge.get("payment_method"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    if not release:
        # A released authorization moved no money, so it has no balance transaction.
        refund_transaction(ctx, env, refund)
        _schedule_async_refund(ctx, env, charge, refund)
    ctx.save(refund)
    charge = ctx.get("charge", charge["id"])
    before = deep_copy(charge)
    charge["amount_refunded"] = int(charge["amount_refunded"]) + amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    if release:
        charge["_released"] = int(charge.get("_released") or 0) + amount
    ctx.save(charge)
    emit_event(ctx, env, "refund.created", refund)
    emit_event(ctx, env, "charge.refunded", charge, previous=before)
    early_fraud_warnings_after_refund(ctx, env, charge)
    return refund


def _schedule_async_refund(ctx: Ctx, env: Env, charge: JSONDict, refund: JSONDict) -> None:
    """Refunds of the asynchronous-refund test cards change status later: at the next
    billing pass (test-clock advance, or the real-clock pass), as Stripe says "some
    time later" without a figure."""
    pm = ctx.find("payment_method", str(charge.get("payment_method") or ""))
    behaviour = test_card_for(pm).refund if pm is not None else None
    if behaviour is None:
        return
    if behaviour == "pending_then_succeed":
        refund["status"] = "pending"
    refund["_async_refund"] = behaviour
    refund["_settles_at"] = env.now
    refund["_test_clock"] = _customer_clock(ctx, charge.get("customer"))


def settle_async_refund(ctx: Ctx, env: Env, refund: JSONDict) -> JSONDict:
    """The later status change of an asynchronous test refund.

    pending -> succeeded emits refund.updated; succeeded -> failed emits
    refund.failed and gives the amount back to the charge's unrefunded amount
    (failure_reason `expired_or_canceled_card`, the reason Stripe's test card
    table gives for 4000000000005126).
    """
    before = deep_copy(refund)
    behaviour = refund.pop("_async_refund", None)
    refund.pop("_settles_at", None)
    if behaviour == "pending_then_succeed":
        refund["status"] = "succeeded"
        ctx.save(refund)
        emit_event(ctx, env, "refund.updated", refund, previous=before)
        return refund
    refund["status"] = "failed"
    refund["failure_reason"] = "expired_or_canceled_card"
    # The refunded amount comes back to the balance (Refund.failure_balance_transaction).
    failure = new_balance_transaction(
        ctx,
        env,
        amount=int(refund["amount"]),
        currency=str(refund["currency"]),
        txn_type="refund_failure",
        reporting_category="refund_failure",
        source=str(refund["id"]),
    )
    refund["failure_balance_transaction"] = failure["id"]
    ctx.save(refund)
    charge = ctx.find("charge", str(refund.get("charge") or ""))
    if charge is not None:
        charge["amount_refunded"] = max(0, int(charge["amount_refunded"]) - int(refund["amount"]))
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        ctx.save(charge)
    emit_event(ctx, env, "refund.failed", refund)
    return refund

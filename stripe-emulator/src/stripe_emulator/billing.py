"""The billing engine: subscriptions, invoices, payments, proration, dunning, time.

This module is the public API other parts of the emulator (checkout, the
billing portal, hosted invoice and 3-D Secure pages, test helpers) call; the
REST endpoints in `resources/` are thin wrappers around it. Every function
takes the request's `Ctx` and must run inside `ctx.store.atomic()` (handlers
already do; helper routes wrap their body). Functions return the stored
object (a fresh dict) and emit the events Stripe would.

Published API (see DEVELOPING.md "Billing engine API"):

* `subscription_create(ctx, params, *, origin="api", authenticated=False)`
* `subscription_update(ctx, sub_id, params)`
* `subscription_cancel(ctx, sub_id, *, invoice_now=False, prorate=False,
  cancellation_details=None)`
* `subscription_resume(ctx, sub_id, *, billing_cycle_anchor="now",
  proration_behavior="create_prorations")`
* `invoice_preview(ctx, params)` (the body of POST /v1/invoices/create_preview)
* `invoice_pay(ctx, invoice_id, *, payment_method=None, off_session=False,
  authenticated=False, raise_on_failure=True)`
* `payment_intent_authenticate(ctx, pi_id, *, succeed)` and
  `setup_intent_authenticate(ctx, seti_id, *, succeed)`: the two buttons of
  the 3-D Secure page
* `card_charge_outcome(pm, *, off_session, authenticated=False)`: what a
  charge on a card would do, without doing it
* `authentication_url(ctx, intent_id)`, `hosted_invoice_url(ctx, invoice)`,
  `invoice_pdf_url(ctx, invoice)`: URLs of pages the hosted-pages module serves

Time model. Everything scheduled (trial_will_end, trial end, renewals, the
invoice.created gate, payment retries, cancel_at, the 23 h incomplete
expiry, pause_collection.resumes_at) is derived from the stored objects by
`_due_at()`; `process_due(ctx, clock_id, target)` runs whatever is due up to
`target` in chronological order. Test clocks call it from their advance
handler; subscriptions without a clock are processed by `tick_real_clock()`
(run by a background thread, see `start_real_clock`).
"""

from __future__ import annotations

import calendar
import heapq
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

from .clock import real_now, register_advance_handler, register_advance_validator
from .context import Ctx
from .errors import StripeAPIError, card_error, invalid_request, resource_missing
from .ids import new_id, random_token
from .params import UNSET
from .resources.payment_methods import TestCard, test_card_for
from .resources.payment_methods import resolve_payment_method as resolve_payment_method
from .updates import apply_metadata

if TYPE_CHECKING:
    from .app import Emulator

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

Origin = Literal["api", "checkout", "portal"]

DAY = 86400
TIMES = "\u00d7"  # the multiplication sign of Stripe's "1 x Product" descriptions
HOUR = 3600

# -- settings (kv store; changed with POST /_emulator/billing/config) --------

# Stripe finalises a subscription's draft invoice about an hour after
# `invoice.created` (once webhook endpoints answered 2xx, at most 72 h).
# The emulator always waits this many seconds of business time, whatever
# the webhook outcome: deterministic for tests, close enough to Stripe.
FINALIZE_DELAY_KEY = "billing.finalize_delay_seconds"
DEFAULT_FINALIZE_DELAY = HOUR
# Days between automatic payment attempts of a failed subscription invoice,
# each counted from the previous attempt (a Smart-Retries-like fixed schedule:
# retries 3, 8 and 15 days after the first failure).
RETRY_SCHEDULE_KEY = "billing.retry_schedule_days"
DEFAULT_RETRY_SCHEDULE = (3, 5, 7)
# What happens when the last retry failed: "cancel" | "unpaid" | "past_due".
FINAL_ACTION_KEY = "billing.final_action"
DEFAULT_FINAL_ACTION = "cancel"
# An `incomplete` subscription whose first invoice is unpaid after this long
# becomes `incomplete_expired` (Stripe: 23 hours).
INCOMPLETE_EXPIRY_KEY = "billing.incomplete_expiry_seconds"
DEFAULT_INCOMPLETE_EXPIRY = 23 * HOUR
TRIAL_WILL_END_BEFORE = 3 * DAY
# Whether past_due subscriptions keep their entitlements (read by
# resources/entitlements.py; default keep).
PAST_DUE_ENTITLED_KEY = "entitlements.past_due"
# Refuse test-clock advances beyond two intervals of the shortest subscription
# (Stripe's rule); off for tooling that jumps far ahead.
ADVANCE_LIMIT_KEY = "billing.enforce_advance_limit"

FINAL_ACTIONS = ("cancel", "unpaid", "past_due")


def settings(ctx: Ctx) -> JSONDict:
    """The current billing settings (documented in the README)."""
    return {
        "finalize_delay_seconds": int(ctx.store.kv_get(FINALIZE_DELAY_KEY, DEFAULT_FINALIZE_DELAY)),
        "retry_schedule_days": [
            float(x) for x in ctx.store.kv_get(RETRY_SCHEDULE_KEY, list(DEFAULT_RETRY_SCHEDULE))
        ],
        "final_action": str(ctx.store.kv_get(FINAL_ACTION_KEY, DEFAULT_FINAL_ACTION)),
        "incomplete_expiry_seconds": int(
            ctx.store.kv_get(INCOMPLETE_EXPIRY_KEY, DEFAULT_INCOMPLETE_EXPIRY)
        ),
        "past_due_keeps_entitlements": bool(ctx.store.kv_get(PAST_DUE_ENTITLED_KEY, True)),
        "enforce_advance_limit": bool(ctx.store.kv_get(ADVANCE_LIMIT_KEY, True)),
    }


def update_settings(ctx: Ctx, body: JSONDict) -> JSONDict:
    if "finalize_delay_seconds" in body:
        ctx.store.kv_set(FINALIZE_DELAY_KEY, max(0, int(body["finalize_delay_seconds"])))
    if "retry_schedule_days" in body:
        days = [float(x) for x in body["retry_schedule_days"]]
        if any(d <= 0 for d in days):
            raise invalid_request("retry_schedule_days must be positive numbers of days")
        ctx.store.kv_set(RETRY_SCHEDULE_KEY, days)
    if "final_action" in body:
        if body["final_action"] not in FINAL_ACTIONS:
            raise invalid_request(f"final_action must be one of {', '.join(FINAL_ACTIONS)}")
        ctx.store.kv_set(FINAL_ACTION_KEY, body["final_action"])
    if "incomplete_expiry_seconds" in body:
        ctx.store.kv_set(INCOMPLETE_EXPIRY_KEY, max(1, int(body["incomplete_expiry_seconds"])))
    if "enforce_advance_limit" in body:
        ctx.store.kv_set(ADVANCE_LIMIT_KEY, bool(body["enforce_advance_limit"]))
    if "past_due_keeps_entitlements" in body:
        ctx.store.kv_set(PAST_DUE_ENTITLED_KEY, bool(body["past_due_keeps_entitlements"]))
    return settings(ctx)


# -- the moment being processed --------------------------------------------


@dataclass(frozen=True)
class Env:
    """Business time of the step being processed and whether a request caused it."""

    now: int
    automatic: bool = False


def _emit(
    ctx: Ctx, env: Env, event_type: str, obj: JSONDict, previous: JSONDict | None = None
) -> None:
    ctx.emit(event_type, obj, previous=previous, automatic=env.automatic, created=env.now)


def _api_env(ctx: Ctx, customer: str | JSONDict | None) -> Env:
    return Env(ctx.now_for_customer(customer))


def _copy(obj: Any) -> Any:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    return json.loads(json.dumps(obj))


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("id"))
    return value if isinstance(value, str) and value else None


# -- time arithmetic ----------------------------------------------------------


def add_interval(ts: int, interval: str, count: int, anchor_day: int | None = None) -> int:
    """`ts` moved by `count` intervals; months clamp to the anchor's day (Jan 31 -> Feb 28)."""
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(ts, UTC)
    years, month0 = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + years, month0 + 1
    day = min(anchor_day or dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def next_boundary(anchor: int, interval: str, count: int, after: int) -> int:
    """The first billing-cycle boundary (anchor + n intervals, n >= 1) strictly after `after`.

    Boundaries are computed from the anchor each time so that month-end
    clamping never drifts (anchor Jan 31: Feb 28, Mar 31, Apr 30, ...).
    """
    day = datetime.fromtimestamp(anchor, UTC).day
    if interval in ("day", "week"):
        step = count * (DAY if interval == "day" else 7 * DAY)
        n = max(1, (after - anchor) // step + 1)
        return anchor + n * step
    months = count * (12 if interval == "year" else 1)
    # Start from an underestimate (31-day months) so no boundary is skipped.
    n = max(1, (after - anchor) // (31 * DAY * months)) if after > anchor else 1
    while True:
        t = add_interval(anchor, "month", months * n, day)
        if t > after:
            return t
        n += 1


def _fmt_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%-d %b %Y")


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        return 0
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    return sign * (q + (1 if 2 * r >= denominator else 0))


# --------------------------------------------------------------------------
# card outcomes


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


# --------------------------------------------------------------------------
# URLs served by the hosted-pages module


def _base_url(ctx: Ctx) -> str:
    return (ctx.app.config.public_url or "http://127.0.0.1:12111").rstrip("/")


def authentication_url(ctx: Ctx, intent_id: str) -> str:
    """The 3-D Secure challenge page for a PaymentIntent or SetupIntent.

    Served by the hosted-pages module at GET /3ds/{intent_id}; its buttons call
    `payment_intent_authenticate` / `setup_intent_authenticate`.
    """
    return f"{_base_url(ctx)}/3ds/{intent_id}"


def hosted_invoice_url(ctx: Ctx, invoice: JSONDict) -> str:
    """GET /invoices/{id}: the hosted invoice page (pay with a card when open)."""
    return f"{_base_url(ctx)}/invoices/{invoice['id']}"


def invoice_pdf_url(ctx: Ctx, invoice: JSONDict) -> str:
    """GET /invoices/{id}/pdf: the invoice as a PDF."""
    return f"{_base_url(ctx)}/invoices/{invoice['id']}/pdf"


# --------------------------------------------------------------------------
# payment intents and charges


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
    _emit(ctx, env, "payment_intent.created", pi)
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
    ch_id = new_id("charge")
    details = _card_details(pm)
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
        "amount_captured": pi["amount"] if ok else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": pm.get("billing_details"),
        "calculated_statement_descriptor": "EMULATOR",
        "captured": ok,
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
        "receipt_url": f"{_base_url(ctx)}/receipts/{ch_id}",
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
    ctx.save(charge)
    return charge


def _payment_error(outcome: ChargeOutcome, pm: JSONDict | None, charge_id: str | None) -> JSONDict:
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
        "payment_method": _copy(pm) if pm else None,
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
        pi["last_payment_error"] = _payment_error(_NO_PM, None, None)
        pi["status"] = "requires_payment_method"
        ctx.save(pi)
        _emit(ctx, env, "payment_intent.payment_failed", pi)
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
        _emit(ctx, env, "payment_intent.requires_action", pi)
        return pi, outcome
    charge = _new_charge(ctx, env, pi, pm, outcome, authenticated)
    pi["latest_charge"] = charge["id"]
    pi["next_action"] = None
    if outcome.result == "succeeded":
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["last_payment_error"] = None
        if authenticated or pi.get("setup_future_usage"):
            # A completed on-session challenge sets the card up for later
            # off-session use (as Checkout and Elements do).
            pm["_setup_off_session"] = True
            ctx.save(pm)
        ctx.save(pi)
        _emit(ctx, env, "payment_intent.succeeded", pi)
        _emit(ctx, env, "charge.succeeded", charge)
    else:
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = _payment_error(outcome, pm, charge["id"])
        ctx.save(pi)
        _emit(ctx, env, "charge.failed", charge)
        _emit(ctx, env, "payment_intent.payment_failed", pi)
    return pi, outcome


def payment_intent_confirm(
    ctx: Ctx,
    pi_id: str,
    *,
    payment_method: str | None = None,
    off_session: bool = False,
    return_url: str | None = None,
) -> tuple[JSONDict, ChargeOutcome]:
    """POST /v1/payment_intents/{id}/confirm (also an invoice's PI, e.g. from Elements)."""
    pi = ctx.get("payment_intent", pi_id)
    if pi["status"] in ("succeeded", "canceled", "processing"):
        raise invalid_request(
            f"This PaymentIntent's status is {pi['status']} and it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    env = _api_env(ctx, pi.get("customer"))
    pm_id = payment_method or _id(pi.get("payment_method"))
    pm = _payment_method_for(ctx, pm_id, pi.get("customer"), param="payment_method")
    pi, outcome = attempt_payment_intent(
        ctx, env, pi, pm, off_session=off_session, return_url=return_url
    )
    _after_intent_attempt(ctx, env, pi, outcome)
    return ctx.get("payment_intent", pi_id), outcome


def _payment_method_for(
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


def payment_intent_authenticate(ctx: Ctx, pi_id: str, *, succeed: bool) -> JSONDict:
    """Finish a 3-D Secure challenge on a PaymentIntent in `requires_action`.

    succeed=True: the payment is attempted as authenticated (succeeds, or
    declines for "authenticate then decline" cards); its invoice and
    subscription follow (incomplete -> active). succeed=False: the intent
    returns to `requires_payment_method` with last_payment_error
    `payment_intent_authentication_failure`. Returns the PaymentIntent.
    """
    pi = ctx.get("payment_intent", pi_id)
    if pi["status"] != "requires_action":
        raise invalid_request(
            f"This PaymentIntent's status is {pi['status']}; it does not require authentication.",
            code="payment_intent_unexpected_state",
        )
    env = _api_env(ctx, pi.get("customer"))
    pm = ctx.find("payment_method", _id(pi.get("payment_method")) or "")
    if not succeed or pm is None:
        outcome = ChargeOutcome(
            "declined",
            code="payment_intent_authentication_failure",
            message="We are unable to authenticate your payment method. Please choose a "
            "different payment method and try again.",
        )
        pi["status"] = "requires_payment_method"
        pi["next_action"] = None
        pi["last_payment_error"] = _payment_error(outcome, pm, None)
        ctx.save(pi)
        _emit(ctx, env, "payment_intent.payment_failed", pi)
    else:
        pi, outcome = attempt_payment_intent(
            ctx, env, pi, pm, off_session=bool(pi.get("_off_session")), authenticated=True
        )
    _after_intent_attempt(ctx, env, pi, outcome)
    return ctx.get("payment_intent", pi_id)


def _after_intent_attempt(ctx: Ctx, env: Env, pi: JSONDict, outcome: ChargeOutcome) -> None:
    """Propagate a PaymentIntent attempt made outside `_collect_invoice` to its invoice."""
    inv_id = pi.get("_invoice")
    if not inv_id:
        return
    inv = ctx.find("invoice", inv_id)
    if inv is None or inv["status"] != "open":
        return
    sub = _invoice_subscription(ctx, inv)
    if (
        outcome.result == "succeeded"
        and sub is not None
        and (sub.get("payment_settings") or {}).get("save_default_payment_method")
        == "on_subscription"
        and pi.get("payment_method")
    ):
        # Paying the invoice's PaymentIntent (e.g. with Elements) saves the
        # card as the subscription's default, as Stripe does with this setting.
        before = _copy(sub)
        sub["default_payment_method"] = _id(pi["payment_method"])
        if sub != before:
            _emit_sub_update(ctx, env, sub, before)
    _record_invoice_attempt(ctx, env, inv, pi, outcome, counts_as_retry=False)


def cancel_payment_intent(ctx: Ctx, env: Env, pi: JSONDict, reason: str | None = None) -> JSONDict:
    if pi["status"] in ("succeeded", "canceled"):
        return pi
    pi["status"] = "canceled"
    pi["canceled_at"] = env.now
    pi["cancellation_reason"] = reason
    pi["next_action"] = None
    ctx.save(pi)
    _emit(ctx, env, "payment_intent.canceled", pi)
    return pi


# --------------------------------------------------------------------------
# setup intents


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
    _emit(ctx, env, "setup_intent.created", seti)
    return seti


def confirm_setup_intent(
    ctx: Ctx,
    seti: JSONDict,
    *,
    payment_method: str | None = None,
    return_url: str | None = None,
    authenticated: bool = False,
) -> JSONDict:
    """Confirm a SetupIntent: success attaches the card and marks it set up off-session."""
    if seti["status"] in ("succeeded", "canceled", "processing"):
        raise invalid_request(
            f"This SetupIntent's status is {seti['status']} and it cannot be confirmed.",
            code="setup_intent_unexpected_state",
        )
    env = _api_env(ctx, seti.get("customer"))
    pm_id = payment_method or _id(seti.get("payment_method"))
    if not pm_id:
        raise invalid_request(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
        )
    pm = resolve_payment_method(ctx, pm_id)
    seti["payment_method"] = pm["id"]
    outcome = setup_outcome(pm, authenticated=authenticated)
    if outcome.result == "requires_action":
        seti["status"] = "requires_action"
        seti["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": return_url,
                "url": authentication_url(ctx, seti["id"]),
            },
        }
        ctx.save(seti)
        _emit(ctx, env, "setup_intent.requires_action", seti)
        return seti
    if outcome.result == "declined":
        seti["status"] = "requires_payment_method"
        seti["next_action"] = None
        err = _payment_error(outcome, pm, None)
        err.pop("charge", None)
        seti["last_setup_error"] = err
        seti["payment_method"] = None
        ctx.save(seti)
        _emit(ctx, env, "setup_intent.setup_failed", seti)
        return seti
    if seti.get("customer") and not pm.get("customer"):
        from .resources.payment_methods import attach_payment_method

        pm = attach_payment_method(ctx, pm["id"], seti["customer"])
    pm["_setup_off_session"] = True
    ctx.save(pm)
    seti["status"] = "succeeded"
    seti["next_action"] = None
    seti["last_setup_error"] = None
    ctx.save(seti)
    _emit(ctx, env, "setup_intent.succeeded", seti)
    _setup_intent_succeeded(ctx, env, seti)
    return seti


def setup_intent_authenticate(ctx: Ctx, seti_id: str, *, succeed: bool) -> JSONDict:
    """Finish a 3-D Secure challenge on a SetupIntent in `requires_action`."""
    seti = ctx.get("setup_intent", seti_id)
    if seti["status"] != "requires_action":
        raise invalid_request(
            f"This SetupIntent's status is {seti['status']}; it does not require authentication.",
            code="setup_intent_unexpected_state",
        )
    if succeed:
        seti["status"] = "requires_confirmation"
        ctx.save(seti)
        return confirm_setup_intent(ctx, seti, authenticated=True)
    env = _api_env(ctx, seti.get("customer"))
    pm = ctx.find("payment_method", _id(seti.get("payment_method")) or "")
    outcome = ChargeOutcome(
        "declined",
        code="setup_intent_authentication_failure",
        message="We are unable to authenticate your payment method. Please choose a "
        "different payment method and try again.",
    )
    err = _payment_error(outcome, pm, None)
    err.pop("charge", None)
    seti.update(
        status="requires_payment_method",
        next_action=None,
        last_setup_error=err,
        payment_method=None,
    )
    ctx.save(seti)
    _emit(ctx, env, "setup_intent.setup_failed", seti)
    return seti


# --------------------------------------------------------------------------
# discounts


def new_discount(
    ctx: Ctx,
    env: Env,
    *,
    coupon: JSONDict,
    customer: str,
    promotion_code: str | None = None,
    subscription: str | None = None,
    invoice: str | None = None,
) -> JSONDict:
    """A Discount applying `coupon`; `end` follows the coupon's duration."""
    end = None
    if coupon.get("duration") == "repeating" and coupon.get("duration_in_months"):
        end = add_interval(env.now, "month", int(coupon["duration_in_months"]))
    discount: JSONDict = {
        "id": new_id("discount"),
        "object": "discount",
        "checkout_session": None,
        "customer": customer,
        "customer_account": None,
        "end": end,
        "invoice": invoice,
        "invoice_item": None,
        "promotion_code": promotion_code,
        "source": {"coupon": coupon["id"], "type": "coupon"},
        "start": env.now,
        "subscription": subscription,
        "subscription_item": None,
        "_created": env.now,
    }
    ctx.save(discount)
    coupon = ctx.get("coupon", coupon["id"])
    coupon["times_redeemed"] = int(coupon.get("times_redeemed", 0)) + 1
    ctx.save(coupon)
    if promotion_code:
        promo = ctx.find("promotion_code", promotion_code)
        if promo is not None:
            promo["times_redeemed"] = int(promo.get("times_redeemed", 0)) + 1
            ctx.save(promo)
    return discount


def discounts_from_params(
    ctx: Ctx,
    env: Env,
    raw: Any,
    *,
    customer: str,
    subscription: str | None,
    param: str,
    order: tuple[int, str] | None = None,
) -> list[str]:
    """`discounts=[{coupon}|{promotion_code}|{discount}]` -> Discount ids (validated).

    `order` (amount, currency) of what is being bought lets promotion codes'
    `restrictions` (minimum_amount, first_time_transaction) be checked.
    """
    from .resources.discounts import coupon_is_valid, promotion_code_redeemable

    if not raw or raw == UNSET:
        return []
    out: list[str] = []
    for i, entry in enumerate(raw):
        if entry.get("discount"):
            out.append(
                ctx.get("discount", entry["discount"], param=f"{param}[{i}][discount]")["id"]
            )
            continue
        promo_id = entry.get("promotion_code")
        if promo_id:
            promo = ctx.get("promotion_code", promo_id, param=f"{param}[{i}][promotion_code]")
            if not promotion_code_redeemable(ctx, promo, customer, env.now):
                raise invalid_request(
                    f"This promotion code cannot be redeemed: {promo['code']}.",
                    param=f"{param}[{i}][promotion_code]",
                )
            _check_restrictions(ctx, promo, customer, order, f"{param}[{i}][promotion_code]")
            coupon = ctx.get("coupon", promo["promotion"]["coupon"])
        else:
            coupon_id = entry.get("coupon")
            if not coupon_id:
                continue
            coupon = ctx.get("coupon", coupon_id, param=f"{param}[{i}][coupon]")
            if not coupon_is_valid(coupon, env.now):
                raise invalid_request(
                    f"Coupon {coupon_id} is no longer valid.", param=f"{param}[{i}][coupon]"
                )
        out.append(
            new_discount(
                ctx,
                env,
                coupon=coupon,
                customer=customer,
                promotion_code=promo_id,
                subscription=subscription,
            )["id"]
        )
    return out


def _check_restrictions(
    ctx: Ctx, promo: JSONDict, customer: str, order: tuple[int, str] | None, param: str
) -> None:
    rules = promo.get("restrictions") or {}
    if rules.get("first_time_transaction") and any(
        int(i.get("amount_paid") or 0) > 0
        for i in ctx.store.all_where("invoice", {"customer": customer, "status": "paid"})
    ):
        raise invalid_request(
            "This promotion code is only valid for customers who have never made a payment.",
            param=param,
        )
    minimum = rules.get("minimum_amount")
    if minimum is not None and order is not None:
        amount, currency = order
        if currency == rules.get("minimum_amount_currency") and amount < int(minimum):
            raise invalid_request(
                "This promotion code requires a minimum order of "
                f"{_money(int(minimum), currency)}.",
                param=param,
            )


def _discount_amount(coupon: JSONDict, base: int, currency: str) -> int:
    if base <= 0:
        return 0
    if coupon.get("percent_off") is not None:
        # Percent in hundredths to stay in integers: 12.5% -> 1250.
        pct = round(float(coupon["percent_off"]) * 100)
        return _round_half_up(base * pct, 10000)
    if coupon.get("amount_off") is not None and coupon.get("currency") == currency:
        return min(int(coupon["amount_off"]), base)
    return 0


def _applies_to(coupon: JSONDict, line: JSONDict) -> bool:
    products = (coupon.get("applies_to") or {}).get("products") or []
    if not products:
        return True
    details = (line.get("pricing") or {}).get("price_details") or {}
    return details.get("product") in products


# --------------------------------------------------------------------------
# invoices


def price_product(price: JSONDict) -> str:
    product = price.get("product")
    return str(product["id"] if isinstance(product, dict) else product)


def _product_name(ctx: Ctx, price: JSONDict) -> str:
    product = ctx.find("product", price_product(price))
    return str(product["name"]) if product else price_product(price)


def _money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency.upper()} {abs(amount) / 100:.2f}"


def new_invoice(
    ctx: Ctx,
    env: Env,
    *,
    customer: JSONDict,
    currency: str,
    billing_reason: str,
    subscription: JSONDict | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    description: str | None = None,
    metadata: JSONDict | None = None,
    auto_advance: bool = True,
    default_payment_method: str | None = None,
    period: tuple[int, int] | None = None,
    discounts: list[str] | None = None,
) -> JSONDict:
    """A draft invoice without lines (add them, then `refresh_totals`)."""
    inv_id = new_id("invoice")
    start, end = period or (env.now, env.now)
    sub_id = subscription["id"] if subscription else None
    inv: JSONDict = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Emulated Stripe account",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": env.now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": list(discounts or []),
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": (
            {
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(subscription.get("metadata") or {}),
                    "subscription": sub_id,
                },
                "type": "subscription_details",
            }
            if subscription
            else None
        ),
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": customer.get("test_clock"),
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_days_until_due": days_until_due,
        "_auto_attempts": 0,
    }
    if subscription and collection_method == "send_invoice":
        inv["_days_until_due"] = subscription.get("days_until_due") or days_until_due or 30
    return inv


def _line_base(inv: JSONDict, amount: int, currency: str) -> JSONDict:
    return {
        "id": new_id("line_item"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": None,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": inv["id"],
        "livemode": False,
        "metadata": {},
        "parent": None,
        "period": {"end": inv["period_end"], "start": inv["period_start"]},
        "pretax_credit_amounts": [],
        "pricing": None,
        "quantity": 1,
        "quantity_decimal": "1",
        "subtotal": amount,
        "taxes": [],
    }


def _pricing(price: JSONDict) -> JSONDict:
    return {
        "price_details": {"price": price["id"], "product": price_product(price)},
        "type": "price_details",
        "unit_amount_decimal": price.get("unit_amount_decimal")
        or str(price.get("unit_amount") or 0),
    }


def item_quantity(item: JSONDict) -> int:
    """A licensed item's quantity (0 is a valid quantity; absent means 1)."""
    qty = item.get("quantity")
    return 1 if qty is None else int(qty)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def price_amount(price: JSONDict, quantity: int) -> int:
    """The amount in minor units of `quantity` units of a price for one period.

    Per-unit prices use `unit_amount_decimal` (fractions of a cent allowed)
    after `transform_quantity`; tiered prices sum their tiers (`graduated`)
    or price every unit at the tier the quantity falls in (`volume`), flat
    amounts included. Rounded half up at the end.
    """
    qty = quantity
    transform = price.get("transform_quantity")
    if transform and transform.get("divide_by"):
        whole, rest = divmod(qty, int(transform["divide_by"]))
        qty = whole + (1 if rest and transform.get("round") == "up" else 0)
    if price.get("billing_scheme") == "tiered":
        total = _tiered_amount(price.get("_tiers") or [], str(price.get("tiers_mode")), qty)
    else:
        total = _decimal(price.get("unit_amount_decimal") or price.get("unit_amount")) * qty
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tiered_amount(tiers: list[JSONDict], mode: str, qty: int) -> Decimal:
    if qty <= 0 or not tiers:
        return Decimal(0)

    def unit(tier: JSONDict) -> Decimal:
        return _decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount"))

    def flat(tier: JSONDict) -> Decimal:
        return _decimal(tier.get("flat_amount_decimal") or tier.get("flat_amount"))

    if mode == "volume":
        for tier in tiers:
            if tier.get("up_to") is None or qty <= int(tier["up_to"]):
                return unit(tier) * qty + flat(tier)
        return Decimal(0)
    total, below = Decimal(0), 0
    for tier in tiers:
        upper = qty if tier.get("up_to") is None else min(qty, int(tier["up_to"]))
        if upper <= below:
            break
        total += unit(tier) * (upper - below) + flat(tier)
        below = upper
    return total


def add_subscription_item_line(
    ctx: Ctx,
    inv: JSONDict,
    sub: JSONDict,
    item: JSONDict,
    start: int,
    end: int,
) -> JSONDict:
    """A line charging `item` for [start, end) at its full price (licensed, in advance)."""
    price = item["price"]
    qty = item_quantity(item)
    amount = price_amount(price, qty)
    line = _line_base(inv, amount, inv["currency"])
    interval = (price.get("recurring") or {}).get("interval", "month")
    at = (
        "tiered"
        if price.get("billing_scheme") == "tiered"
        else f"at {_money(int(price.get('unit_amount') or 0), inv['currency'])}"
    )
    line.update(
        description=f"{qty} {TIMES} {_product_name(ctx, price)} ({at} / {interval})",
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        period={"end": end, "start": start},
        pricing=_pricing(price),
        quantity=qty,
        quantity_decimal=str(qty),
        subscription=sub["id"],
    )
    inv["lines"]["data"].append(line)
    return line


def add_usage_line(
    ctx: Ctx, inv: JSONDict, sub: JSONDict, item: JSONDict, start: int, end: int
) -> JSONDict:
    """A metered item's line: usage in [start, end) from its meter x the unit price."""
    from .resources.meters import meter_usage

    price = item["price"]
    meter = str((price.get("recurring") or {}).get("meter"))
    usage = Decimal(str(meter_usage(ctx, meter, sub["customer"], start, end)))
    unit = Decimal(str(price.get("unit_amount_decimal") or price.get("unit_amount") or 0))
    amount = int((usage * unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    qty = int(usage.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    line = _line_base(inv, amount, inv["currency"])
    line.update(
        description=f"{qty} {TIMES} {_product_name(ctx, price)} (usage)",
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        period={"end": end, "start": start},
        pricing=_pricing(price),
        quantity=qty,
        quantity_decimal=format(usage.normalize(), "f"),
        subscription=sub["id"],
    )
    inv["lines"]["data"].append(line)
    return line


def add_invoice_item_line(ctx: Ctx, inv: JSONDict, ii: JSONDict) -> JSONDict:
    line = _line_base(inv, int(ii["amount"]), ii["currency"])
    sub_id = ((ii.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    line.update(
        description=ii.get("description"),
        discountable=bool(ii.get("discountable", True)),
        metadata=dict(ii.get("metadata") or {}),
        parent={
            "invoice_item_details": {
                "invoice_item": ii["id"],
                "proration": bool(ii.get("proration")),
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        period=dict(ii["period"]),
        pricing=ii.get("pricing"),
        quantity=ii.get("quantity", 1),
        quantity_decimal=str(ii.get("quantity", 1)),
        subscription=sub_id,
    )
    inv["lines"]["data"].append(line)
    return line


def pending_invoice_items(ctx: Ctx, customer_id: str, sub_id: str | None) -> list[JSONDict]:
    """The customer's uninvoiced items a new invoice picks up (oldest first).

    Subscription invoices take the subscription's items and the customer's
    items without a subscription; other invoices only the latter.
    """

    def keep(ii: JSONDict) -> bool:
        owner = ((ii.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return owner is None or owner == sub_id

    candidates = ctx.store.all_where("invoiceitem", {"customer": customer_id, "invoice": None})
    return [ii for ii in reversed(candidates) if keep(ii)]


def attach_pending_items(ctx: Ctx, inv: JSONDict, items: list[JSONDict]) -> None:
    for ii in items:
        ii["invoice"] = inv["id"]
        ctx.save(ii)
        add_invoice_item_line(ctx, inv, ii)


def refresh_totals(ctx: Ctx, inv: JSONDict) -> JSONDict:
    """Recompute discounts and totals of a draft invoice from its lines."""
    lines = inv["lines"]["data"]
    currency = inv["currency"]
    for line in lines:
        line["discount_amounts"] = []
    totals: dict[str, int] = {}
    for discount_id in inv.get("discounts") or []:
        discount = ctx.find("discount", discount_id)
        if discount is None:
            continue
        coupon = ctx.find("coupon", discount["source"]["coupon"])
        if coupon is None:
            continue
        if coupon.get("amount_off") is not None:
            # A fixed amount is spread over the eligible lines pro rata.
            eligible = [
                ln
                for ln in lines
                if ln["discountable"] and ln["amount"] > 0 and _applies_to(coupon, ln)
            ]
            base = sum(
                ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"]) for ln in eligible
            )
            total = _discount_amount(coupon, base, currency)
            left = total
            for i, ln in enumerate(eligible):
                net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
                share = left if i == len(eligible) - 1 else _round_half_up(total * net, base or 1)
                share = min(share, left)
                left -= share
                ln["discount_amounts"].append({"amount": share, "discount": discount_id})
            if total:
                totals[discount_id] = totals.get(discount_id, 0) + total
        else:
            # Percentages also apply to proration credits (negative lines), so a
            # credit gives back what was actually paid for the unused time.
            for ln in lines:
                if not ln["discountable"] or ln["amount"] == 0 or not _applies_to(coupon, ln):
                    continue
                net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
                sign = -1 if net < 0 else 1
                amount = sign * _discount_amount(coupon, abs(net), currency)
                ln["discount_amounts"].append({"amount": amount, "discount": discount_id})
                totals[discount_id] = totals.get(discount_id, 0) + amount
    subtotal = sum(int(ln["amount"]) for ln in lines)
    discount_total = sum(totals.values())
    total = subtotal - discount_total
    inv["subtotal"] = inv["subtotal_excluding_tax"] = subtotal
    inv["total"] = inv["total_excluding_tax"] = total
    inv["total_discount_amounts"] = [{"amount": a, "discount": d} for d, a in totals.items()]
    inv["amount_due"] = max(0, total)
    inv["amount_remaining"] = inv["amount_due"] - inv["amount_paid"]
    return inv


def _next_number(ctx: Ctx, customer: JSONDict) -> str:
    cus = ctx.get("customer", customer["id"])
    seq = int(cus.get("next_invoice_sequence") or 1)
    cus["next_invoice_sequence"] = seq + 1
    ctx.save(cus)
    return f"{cus.get('invoice_prefix') or 'EMU'}-{seq:04d}"


def finalize_invoice(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    """draft -> open: number, URLs, customer balance, PaymentIntent; emits invoice.finalized.

    A zero amount due is paid at once (invoice.paid, invoice.payment_succeeded).
    Does not attempt payment: callers decide (`collect_invoice`).
    """
    if inv["status"] != "draft":
        raise invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    customer = ctx.get("customer", inv["customer"])
    refresh_totals(ctx, inv)
    balance = int(customer.get("balance") or 0)
    inv["starting_balance"] = balance
    after = inv["total"] + balance
    inv["amount_due"] = max(0, after)
    inv["amount_remaining"] = inv["amount_due"]
    new_balance = min(0, after)
    inv["ending_balance"] = new_balance
    if new_balance != balance:
        before = _copy(customer)
        customer["balance"] = new_balance
        ctx.save(customer)
        _emit(ctx, env, "customer.updated", customer, previous=before)
    inv["number"] = _next_number(ctx, customer)
    inv["status"] = "open"
    inv["status_transitions"]["finalized_at"] = env.now
    inv["effective_at"] = env.now
    inv["automatically_finalizes_at"] = None
    inv["hosted_invoice_url"] = hosted_invoice_url(ctx, inv)
    inv["invoice_pdf"] = invoice_pdf_url(ctx, inv)
    if inv["collection_method"] == "send_invoice":
        inv["due_date"] = env.now + int(inv.get("_days_until_due") or 30) * DAY
    for discount_id in inv.get("discounts") or []:
        discount = ctx.find("discount", discount_id)
        if discount is not None and any(
            d["discount"] == discount_id and d["amount"] > 0 for d in inv["total_discount_amounts"]
        ):
            discount["_used"] = True
            ctx.save(discount)
    if inv["amount_due"] > 0:
        pi = new_payment_intent(
            ctx,
            env,
            amount=inv["amount_due"],
            currency=inv["currency"],
            customer=inv["customer"],
            description=f"Invoice {inv['number']}",
            invoice_id=inv["id"],
            setup_future_usage="off_session" if inv.get("parent") else None,
        )
        inv["_payment_intent"] = pi["id"]
        inv["confirmation_secret"] = {
            "client_secret": pi["client_secret"],
            "type": "payment_intent",
        }
        payment: JSONDict = {
            "id": new_id("invoice_payment"),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": inv["amount_due"],
            "created": env.now,
            "currency": inv["currency"],
            "invoice": inv["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"payment_intent": pi["id"], "type": "payment_intent"},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        }
        ctx.save(payment)
        inv["_invoice_payment"] = payment["id"]
    ctx.save(inv)
    _emit(ctx, env, "invoice.finalized", inv)
    if inv["amount_due"] == 0:
        inv = mark_paid(ctx, env, inv)
    return inv


def mark_paid(ctx: Ctx, env: Env, inv: JSONDict, *, before: JSONDict | None = None) -> JSONDict:
    """open -> paid; `before` (the invoice before the paying attempt) adds invoice.updated."""
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["status"] = "paid"
    inv["status_transitions"]["paid_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    if inv["amount_due"] > 0:
        inv["attempted"] = True
    ctx.save(inv)
    if before is not None:
        _emit(ctx, env, "invoice.updated", inv, previous=before)
    _emit(ctx, env, "invoice.paid", inv)
    _emit(ctx, env, "invoice.payment_succeeded", inv)
    payment = ctx.find("invoice_payment", inv.get("_invoice_payment") or "")
    if payment is not None:
        payment["status"] = "paid"
        payment["amount_paid"] = inv["amount_paid"]
        payment["status_transitions"]["paid_at"] = env.now
        ctx.save(payment)
        _emit(ctx, env, "invoice_payment.paid", payment)
    _subscription_after_paid(ctx, env, inv)
    customer = ctx.find("customer", inv["customer"]) or {}
    # Only a delinquent customer needs the (scanning) check of their invoices.
    if customer.get("delinquent") and not any(
        i["attempted"]
        for i in ctx.store.all_where("invoice", {"customer": inv["customer"], "status": "open"})
    ):
        _set_delinquent(ctx, env, inv["customer"], False)
    return ctx.get("invoice", inv["id"])


def _set_delinquent(ctx: Ctx, env: Env, customer_id: str, value: bool) -> None:
    """`customer.delinquent`: true while an attempted invoice of theirs is unpaid."""
    customer = ctx.find("customer", customer_id)
    if customer is None or customer.get("deleted") or bool(customer.get("delinquent")) == value:
        return
    before = _copy(customer)
    customer["delinquent"] = value
    ctx.save(customer)
    _emit(ctx, env, "customer.updated", customer, previous=before)


def _payment_method_chain(ctx: Ctx, inv: JSONDict, explicit: str | None) -> str | None:
    """Invoice default -> subscription default -> customer invoice_settings default."""
    if explicit:
        return explicit
    if inv.get("default_payment_method"):
        return _id(inv["default_payment_method"])
    sub = _invoice_subscription(ctx, inv)
    if sub is not None and sub.get("default_payment_method"):
        return _id(sub["default_payment_method"])
    customer = ctx.find("customer", inv["customer"]) or {}
    return _id((customer.get("invoice_settings") or {}).get("default_payment_method"))


def _invoice_subscription(ctx: Ctx, inv: JSONDict) -> JSONDict | None:
    details = (inv.get("parent") or {}).get("subscription_details") or {}
    sub_id = _id(details.get("subscription"))
    return ctx.find("subscription", sub_id) if sub_id else None


def collect_invoice(
    ctx: Ctx,
    env: Env,
    inv: JSONDict,
    *,
    payment_method: str | None = None,
    off_session: bool = True,
    authenticated: bool = False,
    automatic: bool = True,
) -> tuple[JSONDict, ChargeOutcome]:
    """Attempt payment of an open invoice; returns it and the outcome.

    `automatic` attempts (the first one after finalisation, scheduled
    retries) advance the retry schedule; manual ones (API pay, hosted page)
    do not.
    """
    if inv["status"] not in ("open", "uncollectible") or inv["amount_remaining"] <= 0:
        return inv, ChargeOutcome("succeeded")
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is None or pi["status"] == "canceled":
        pi = new_payment_intent(
            ctx,
            env,
            amount=inv["amount_remaining"],
            currency=inv["currency"],
            customer=inv["customer"],
            description=f"Invoice {inv['number']}",
            invoice_id=inv["id"],
        )
        inv["_payment_intent"] = pi["id"]
        inv["confirmation_secret"] = {
            "client_secret": pi["client_secret"],
            "type": "payment_intent",
        }
        ctx.save(inv)
    pm_id = _payment_method_chain(ctx, inv, payment_method)
    pm = _payment_method_for(ctx, pm_id, inv["customer"], param="payment_method")
    pi, outcome = attempt_payment_intent(
        ctx, env, pi, pm, off_session=off_session, authenticated=authenticated
    )
    inv = _record_invoice_attempt(ctx, env, inv, pi, outcome, counts_as_retry=automatic)
    return inv, outcome


def _record_invoice_attempt(
    ctx: Ctx,
    env: Env,
    inv: JSONDict,
    pi: JSONDict,
    outcome: ChargeOutcome,
    *,
    counts_as_retry: bool,
) -> JSONDict:
    inv = ctx.get("invoice", inv["id"])
    before = _copy(inv)
    inv["attempted"] = True
    inv["attempt_count"] = int(inv["attempt_count"]) + 1
    if outcome.result == "succeeded":
        return mark_paid(ctx, env, inv, before=before)
    exhausted = False
    if counts_as_retry:
        inv["_auto_attempts"] = int(inv.get("_auto_attempts") or 0) + 1
        schedule = settings(ctx)["retry_schedule_days"]
        retryable = (
            inv.get("parent") is not None
            and inv.get("billing_reason") != "subscription_create"
            and inv.get("auto_advance")
            and outcome.result == "declined"
        )
        if retryable and inv["_auto_attempts"] <= len(schedule):
            delay = schedule[inv["_auto_attempts"] - 1]
            inv["next_payment_attempt"] = env.now + int(delay * DAY)
        else:
            inv["next_payment_attempt"] = None
            exhausted = bool(retryable)
    ctx.save(inv)
    if outcome.result == "requires_action":
        _emit(ctx, env, "invoice.payment_action_required", inv)
    else:
        _emit(ctx, env, "invoice.payment_failed", inv)
    _emit(ctx, env, "invoice.updated", inv, previous=before)
    _set_delinquent(ctx, env, inv["customer"], True)
    _subscription_after_failure(ctx, env, inv, exhausted=exhausted)
    return ctx.get("invoice", inv["id"])


def void_invoice(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid_request(
            f"You can only void open or uncollectible invoices; this one is {inv['status']}."
        )
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    inv["amount_remaining"] = 0
    ctx.save(inv)
    pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
    if pi is not None:
        cancel_payment_intent(ctx, env, pi, "void_invoice")
    payment = ctx.find("invoice_payment", inv.get("_invoice_payment") or "")
    if payment is not None and payment["status"] == "open":
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = env.now
        ctx.save(payment)
    _emit(ctx, env, "invoice.voided", inv)
    return inv


def mark_uncollectible(ctx: Ctx, env: Env, inv: JSONDict) -> JSONDict:
    if inv["status"] != "open":
        raise invalid_request(
            f"You can only mark open invoices uncollectible; this one is {inv['status']}."
        )
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = env.now
    inv["next_payment_attempt"] = None
    inv["auto_advance"] = False
    ctx.save(inv)
    _emit(ctx, env, "invoice.marked_uncollectible", inv)
    return inv


def invoice_pay(
    ctx: Ctx,
    invoice_id: str,
    *,
    payment_method: str | None = None,
    off_session: bool = False,
    authenticated: bool = False,
    raise_on_failure: bool = True,
) -> JSONDict:
    """Attempt payment of an open (or draft: finalised first) invoice; returns it.

    Used by POST /v1/invoices/{id}/pay and by the hosted invoice page when a
    customer pays with a (new) card. `payment_method` overrides the default
    chain (invoice default -> subscription default -> customer default). On
    success the invoice becomes paid and its subscription active
    (incomplete/past_due/unpaid -> active). With `raise_on_failure` (the API)
    a decline raises the 402 card_error and a card needing 3DS the 402
    `invoice_payment_intent_requires_action`, both with `keep_state` set so
    the failed attempt is committed; without it the invoice is returned
    (check `status`, and the PaymentIntent's `status` / `last_payment_error`).
    """
    inv = ctx.get("invoice", invoice_id)
    env = _api_env(ctx, inv["customer"])
    if inv["status"] == "draft":
        inv = finalize_invoice(ctx, env, inv)
    if inv["status"] == "paid":
        raise invalid_request("Invoice is already paid.")
    if inv["status"] == "void":
        raise invalid_request("You cannot pay a voided invoice.")
    if payment_method:
        _payment_method_for(ctx, payment_method, inv["customer"], param="payment_method")
    inv, outcome = collect_invoice(
        ctx,
        env,
        inv,
        payment_method=payment_method,
        off_session=off_session,
        authenticated=authenticated,
        automatic=False,
    )
    if raise_on_failure and outcome.result != "succeeded":
        pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
        if outcome.result == "requires_action":
            err = StripeAPIError(
                402,
                "Payment for this invoice requires a payment method with additional "
                "authentication.",
                type="card_error",
                code="invoice_payment_intent_requires_action",
                extra={"payment_intent": _copy(pi)} if pi else None,
            )
        else:
            err = card_error(
                outcome.message or "Your card was declined.",
                code=outcome.code or "card_declined",
                decline_code=outcome.decline_code,
                extra={"payment_intent": pi} if pi else None,
            )
        err.keep_state = True  # the failed attempt stays on record, as on Stripe
        raise err
    return inv


# --------------------------------------------------------------------------
# subscriptions: helpers

TERMINAL = ("canceled", "incomplete_expired")
_SUB_PATH = "parent.subscription_details.subscription"


def _plan(price: JSONDict) -> JSONDict:
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": bool(price.get("active", True)),
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price.get("billing_scheme", "per_unit"),
        "created": price.get("created", 0),
        "currency": price["currency"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(price.get("metadata") or {}),
        "meter": recurring.get("meter"),
        "nickname": price.get("nickname"),
        "product": price_product(price),
        "tiers_mode": price.get("tiers_mode"),
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def _recurring_price(ctx: Ctx, entry: JSONDict, param: str) -> JSONDict:
    if entry.get("price"):
        price = ctx.get("price", entry["price"], param=f"{param}[price]")
    elif entry.get("price_data"):
        from .resources.catalog import _create_price

        data = dict(entry["price_data"])
        price = _create_price(ctx, data)
    else:
        raise invalid_request(
            "Missing required param: price.", param=f"{param}[price]", code="parameter_missing"
        )
    if not price.get("recurring"):
        raise invalid_request(
            f"The price specified is set to `type=one_time` but this field only accepts prices "
            f"with `type=recurring`: {price['id']}",
            param=f"{param}[price]",
        )
    if not price.get("active", True):
        raise invalid_request(
            "The price specified is inactive. This field only accepts active prices: "
            f"{price['id']}",
            param=f"{param}[price]",
        )
    if (
        price.get("billing_scheme") == "tiered"
        and (price.get("recurring") or {}).get("usage_type") == "metered"
    ):
        raise invalid_request(
            "The emulator bills metered prices per unit only (no tiers).",
            param=f"{param}[price]",
        )
    # Embed the price as Stripe does, without includable-only fields; the
    # tiers ride along privately for the amount maths.
    embedded = {k: v for k, v in price.items() if k not in ("currency_options", "tiers")}
    if price.get("billing_scheme") == "tiered":
        embedded["_tiers"] = price.get("tiers") or []
    return embedded


def _new_item(sub_id: str, price: JSONDict, qty: int, env: Env, metadata: Any) -> JSONDict:
    return {
        "id": new_id("subscription_item", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": env.now,
        "current_period_end": env.now,
        "current_period_start": env.now,
        "discounts": [],
        "metadata": apply_metadata({}, metadata),
        "plan": _plan(price),
        "price": price,
        # Metered items have no quantity: usage comes from the meter.
        "quantity": None if (price.get("recurring") or {}).get("usage_type") == "metered" else qty,
        "subscription": sub_id,
        "tax_rates": [],
        "_billed_amount": 0,
    }


def _items(sub: JSONDict) -> list[JSONDict]:
    data: list[JSONDict] = sub["items"]["data"]
    return data


def _interval(sub: JSONDict) -> tuple[str, int]:
    recurring = _items(sub)[0]["price"].get("recurring") or {}
    return str(recurring.get("interval", "month")), int(recurring.get("interval_count", 1))


def period_of(sub: JSONDict) -> tuple[int, int]:
    item = _items(sub)[0]
    return int(item["current_period_start"]), int(item["current_period_end"])


def is_metered(item: JSONDict) -> bool:
    return (item["price"].get("recurring") or {}).get("usage_type") == "metered"


def _set_period(sub: JSONDict, start: int, end: int) -> None:
    for item in _items(sub):
        item["current_period_start"] = start
        item["current_period_end"] = end
        # Metered items are billed in arrears: nothing is paid in advance.
        item["_billed_amount"] = (
            0 if is_metered(item) else price_amount(item["price"], item_quantity(item))
        )


def save_subscription(ctx: Ctx, sub: JSONDict) -> JSONDict:
    """Store the subscription and each item (GET /v1/subscription_items/{id})."""
    ctx.save(sub)
    keep = {item["id"] for item in _items(sub)}
    for item in _items(sub):
        ctx.save(_copy(item))
    for gone in sub.get("_removed_items") or []:
        if gone not in keep:
            ctx.store.remove(gone)
    sub.pop("_removed_items", None)
    return sub


def _subscription_pm(ctx: Ctx, sub: JSONDict) -> str | None:
    if sub.get("default_payment_method"):
        return _id(sub["default_payment_method"])
    customer = ctx.find("customer", sub["customer"]) or {}
    return _id((customer.get("invoice_settings") or {}).get("default_payment_method"))


def _entitlements(ctx: Ctx, env: Env, customer_id: str) -> None:
    from .resources.entitlements import recompute_active_entitlements

    recompute_active_entitlements(ctx, customer_id, automatic=env.automatic, created=env.now)


def _active_discounts(ctx: Ctx, sub: JSONDict, at: int) -> list[str]:
    out = []
    for discount_id in sub.get("discounts") or []:
        discount = ctx.find("discount", _id(discount_id) or "")
        if discount is None:
            continue
        if discount.get("end") is not None and discount["end"] <= at:
            continue
        coupon = ctx.find("coupon", discount["source"]["coupon"]) or {}
        if coupon.get("duration") == "once" and discount.get("_used"):
            continue
        out.append(discount["id"])
    return out


def _cycle_invoice(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    billing_reason: str,
    *,
    trial: bool = False,
    include_items: bool = True,
    usage_period: tuple[int, int] | None = None,
) -> JSONDict:
    """A draft invoice for the subscription's current period plus its pending items.

    Licensed items are charged in advance for the current period; metered
    items in arrears for `usage_period` (the period that just ended).
    """
    customer = ctx.get("customer", sub["customer"])
    start, end = period_of(sub)
    inv = new_invoice(
        ctx,
        env,
        customer=customer,
        currency=sub["currency"],
        billing_reason=billing_reason,
        subscription=sub,
        collection_method=sub["collection_method"],
        days_until_due=sub.get("days_until_due"),
        period=(start, start) if billing_reason != "subscription_update" else (env.now, env.now),
        discounts=_active_discounts(ctx, sub, start),
        description=sub.get("description"),
    )
    attach_pending_items(ctx, inv, pending_invoice_items(ctx, sub["customer"], sub["id"]))
    if usage_period is not None:
        for item in _items(sub):
            if is_metered(item):
                add_usage_line(ctx, inv, sub, item, *usage_period)
    if include_items:
        for item in _items(sub):
            if is_metered(item):
                continue
            line = add_subscription_item_line(ctx, inv, sub, item, start, end)
            if trial:
                line["amount"] = line["subtotal"] = 0
                line["description"] = f"Trial period for {_product_name(ctx, item['price'])}"
    refresh_totals(ctx, inv)
    return inv


def _emit_sub_update(ctx: Ctx, env: Env, sub: JSONDict, before: JSONDict) -> None:
    save_subscription(ctx, sub)
    _emit(ctx, env, "customer.subscription.updated", sub, previous=before)


def _set_status(ctx: Ctx, env: Env, sub: JSONDict, status: str) -> JSONDict:
    if sub["status"] == status:
        return sub
    before = _copy(sub)
    sub["status"] = status
    _emit_sub_update(ctx, env, sub, before)
    _entitlements(ctx, env, sub["customer"])
    return sub


def _subscription_after_paid(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    sub = _invoice_subscription(ctx, inv)
    if sub is None or sub["status"] in TERMINAL:
        return
    if sub["status"] in ("incomplete", "past_due", "unpaid"):
        others = [
            i
            for i in ctx.store.all_where("invoice", {_SUB_PATH: sub["id"], "status": "open"})
            if i["id"] != inv["id"]
        ]
        if not others or _id(sub.get("latest_invoice")) == inv["id"]:
            _set_status(ctx, env, sub, "active")


def _subscription_after_failure(ctx: Ctx, env: Env, inv: JSONDict, *, exhausted: bool) -> None:
    sub = _invoice_subscription(ctx, inv)
    if sub is None or sub["status"] in TERMINAL:
        return
    if inv.get("billing_reason") == "subscription_create":
        return  # stays incomplete until paid or expired
    if sub["status"] in ("active", "trialing"):
        sub = _set_status(ctx, env, sub, "past_due")
    if exhausted:
        action = settings(ctx)["final_action"]
        if action == "cancel":
            cancel_now(ctx, env, sub, reason="payment_failed")
        elif action == "unpaid":
            _set_status(ctx, env, sub, "unpaid")


def _customer_or_404(ctx: Ctx, customer_id: str) -> JSONDict:
    customer = ctx.get("customer", customer_id, param="customer")
    if customer.get("deleted"):
        raise resource_missing("customer", customer_id, param="customer")
    return customer


def _check_pm(ctx: Ctx, pm_id: Any, customer_id: str, param: str) -> str | None:
    if not pm_id or pm_id == UNSET:
        return None
    pm = resolve_payment_method(ctx, pm_id, param=param)
    if pm.get("customer") != customer_id:
        if pm_id.startswith(("pm_card_", "tok_")):
            from .resources.payment_methods import attach_payment_method

            pm = attach_payment_method(ctx, pm["id"], customer_id, param=param)
        else:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {pm_id}. The payment "
                "method must be attached to the customer.",
                param=param,
            )
    return str(pm["id"])


# --------------------------------------------------------------------------
# subscriptions: create


def subscription_create(
    ctx: Ctx, params: JSONDict, *, origin: Origin = "api", authenticated: bool = False
) -> JSONDict:
    """Create a subscription as POST /v1/subscriptions does; returns it.

    `params` has the shape of `stripe.params.SubscriptionCreateParams`
    (validated and coerced: `customer`, `items=[{"price", "quantity"}]`,
    `default_payment_method`, `trial_period_days`/`trial_end`/`trial_from_plan`,
    `trial_settings`, `payment_behavior`, `discounts=[{"coupon"|"promotion_code"}]`,
    `collection_method`, `days_until_due`, `billing_cycle_anchor`,
    `cancel_at`, `cancel_at_period_end`, `metadata`, `off_session`, ...).

    Creates the first invoice (billing_reason=subscription_create; 0 during a
    trial) and attempts payment at once (no invoice.created gate). Result:
    `trialing`, `active`, or `incomplete` when the payment declines or needs
    3-D Secure (the invoice's PaymentIntent is then `requires_action` with
    `next_action.redirect_to_url.url` = `authentication_url`).

    origin="checkout"/"portal": the customer is on-session; with
    `authenticated=True` the caller has already shown the 3DS page and the
    customer completed it, so 3DS cards succeed (and are marked set up for
    off-session renewals, as Checkout does). Checkout should pass
    payment_behavior="error_if_incomplete": a decline then raises the 402
    card_error and nothing is created (the handler's transaction rolls back).
    """
    customer = _customer_or_404(ctx, params["customer"])
    env = _api_env(ctx, customer)
    raw_items = params.get("items") or []
    if not raw_items:
        raise invalid_request(
            "Missing required param: items.", param="items", code="parameter_missing"
        )
    sub_id = new_id("subscription")
    items: list[JSONDict] = []
    for i, entry in enumerate(raw_items):
        price = _recurring_price(ctx, entry, f"items[{i}]")
        qty = int(entry.get("quantity", 1))
        if qty < 0:
            raise invalid_request("Quantity must be non-negative.", param=f"items[{i}][quantity]")
        if any(it["price"]["id"] == price["id"] for it in items):
            raise invalid_request(
                "Cannot add multiple subscription items with the same price.",
                param=f"items[{i}][price]",
            )
        items.append(_new_item(sub_id, price, qty, env, entry.get("metadata")))
    currency = items[0]["price"]["currency"]
    interval = items[0]["price"]["recurring"]
    for i, item in enumerate(items):
        rec = item["price"]["recurring"]
        if item["price"]["currency"] != currency:
            raise invalid_request(
                "All prices on a subscription must have the same currency.",
                param=f"items[{i}][price]",
            )
        if (rec["interval"], rec.get("interval_count", 1)) != (
            interval["interval"],
            interval.get("interval_count", 1),
        ):
            raise invalid_request(
                "All prices on a subscription must have the same recurring interval.",
                param=f"items[{i}][price]",
            )
    pm_id = _check_pm(
        ctx, params.get("default_payment_method"), customer["id"], "default_payment_method"
    )

    # trial
    now = env.now
    trial_end: int | None = None
    raw_trial_end = params.get("trial_end")
    if raw_trial_end not in (None, "now"):
        trial_end = int(raw_trial_end)
        if trial_end <= now:
            raise invalid_request("Invalid timestamp: must be in the future.", param="trial_end")
    elif params.get("trial_period_days"):
        trial_end = now + int(params["trial_period_days"]) * DAY
    elif params.get("trial_from_plan") and interval.get("trial_period_days"):
        trial_end = now + int(interval["trial_period_days"]) * DAY
    if trial_end is not None and trial_end - now > 730 * DAY:
        raise invalid_request("Trial period must be at most 730 days.", param="trial_period_days")
    trial_behavior = ((params.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method"
    ) or "create_invoice"

    collection = params.get("collection_method") or "charge_automatically"
    if collection == "send_invoice" and not params.get("days_until_due"):
        raise invalid_request(
            "Missing required param: days_until_due.",
            param="days_until_due",
            code="parameter_missing",
        )
    anchor = int(params["billing_cycle_anchor"]) if params.get("billing_cycle_anchor") else None
    if anchor is not None and anchor <= now:
        raise invalid_request(
            "billing_cycle_anchor cannot be in the past.", param="billing_cycle_anchor"
        )

    sub: JSONDict = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": (params.get("billing_mode") or {}).get("type", "flexible"),
            "updated_at": now,
        },
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection,
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": params.get("days_until_due"),
        "default_payment_method": pm_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        # Declared by every accepted version's SDK (managed payments since
        # 2026-04-22.dahlia); absent, stripe-python raises AttributeError.
        "managed_payments": None,
        "livemode": False,
        "metadata": apply_metadata({}, params.get("metadata")),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": (params.get("payment_settings") or {}).get(
                "save_default_payment_method", "off"
            ),
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "trialing" if trial_end else "incomplete",
        "test_clock": customer.get("test_clock"),
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": trial_behavior}},
        "trial_start": now if trial_end else None,
        "_origin": origin,
    }
    sub["items"].pop("total_count")
    rec_interval, rec_count = str(interval["interval"]), int(interval.get("interval_count", 1))
    if trial_end:
        sub["billing_cycle_anchor"] = trial_end
        _set_period(sub, now, trial_end)
    elif anchor is not None:
        sub["billing_cycle_anchor"] = anchor
        _set_period(sub, now, anchor)
    else:
        _set_period(sub, now, add_interval(now, rec_interval, rec_count))
    if params.get("cancel_at_period_end"):
        sub["cancel_at_period_end"] = True
        sub["cancel_at"] = period_of(sub)[1]
    if params.get("cancel_at"):
        value = params["cancel_at"]
        sub["cancel_at"] = period_of(sub)[1] if isinstance(value, str) else int(value)
    sub["discounts"] = discounts_from_params(
        ctx,
        env,
        params.get("discounts"),
        customer=customer["id"],
        subscription=sub_id,
        param="discounts",
        order=(
            sum(price_amount(i["price"], item_quantity(i)) for i in items if not is_metered(i)),
            currency,
        ),
    )

    # first invoice (one-off `add_invoice_items` ride along as pending items)
    add_invoice_items(ctx, env, sub, params.get("add_invoice_items"))
    inv = _cycle_invoice(ctx, env, sub, "subscription_create", trial=bool(trial_end))
    if anchor is not None and not trial_end:
        # Prorate the stub period up to the anchor against a full cycle ending there.
        full = anchor - add_interval(anchor, rec_interval, -rec_count)
        behavior = params.get("proration_behavior", "create_prorations")
        for line in inv["lines"]["data"]:
            if line["parent"]["type"] != "subscription_item_details":
                continue
            amount = (
                0 if behavior == "none" else _round_half_up(line["amount"] * (anchor - now), full)
            )
            line["amount"] = line["subtotal"] = amount
            line["parent"]["subscription_item_details"]["proration"] = behavior != "none"
            line["description"] = (
                f"Remaining time on {line['description']} until {_fmt_date(anchor)}"
            )
        for item in items:
            item["_billed_amount"] = price_amount(item["price"], item_quantity(item))
        refresh_totals(ctx, inv)
    sub["latest_invoice"] = inv["id"]
    save_subscription(ctx, sub)
    _emit(ctx, env, "customer.subscription.created", sub)
    ctx.save(inv)
    _emit(ctx, env, "invoice.created", inv)
    if trial_end and trial_end - now <= TRIAL_WILL_END_BEFORE:
        sub = ctx.get("subscription", sub_id)
        sub["_trial_will_end_sent"] = True
        ctx.save(sub)
        _emit(ctx, env, "customer.subscription.trial_will_end", sub)

    behavior = params.get("payment_behavior") or "allow_incomplete"
    inv = finalize_invoice(ctx, env, inv)
    sub = ctx.get("subscription", sub_id)
    if inv["status"] == "open":
        if collection == "send_invoice":
            _emit(ctx, env, "invoice.sent", inv)
            _set_status(ctx, env, sub, "active")
        elif behavior == "default_incomplete":
            pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
            if pi is not None and pm_id:
                pi["payment_method"] = pm_id
                pi["status"] = "requires_confirmation"
                ctx.save(pi)
        else:
            inv, outcome = collect_invoice(
                ctx,
                env,
                inv,
                off_session=bool(params.get("off_session")),
                authenticated=authenticated,
                automatic=True,
            )
            if outcome.result != "succeeded" and behavior == "error_if_incomplete":
                pi = ctx.find("payment_intent", inv.get("_payment_intent") or "")
                if outcome.result == "requires_action":
                    raise StripeAPIError(
                        402,
                        "Payment for this subscription requires additional user action before "
                        "it can be completed successfully.",
                        type="card_error",
                        code="subscription_payment_intent_requires_action",
                    )
                raise card_error(
                    outcome.message or "Your card was declined.",
                    code=outcome.code or "card_declined",
                    decline_code=outcome.decline_code,
                    extra={"payment_intent": pi} if pi else None,
                )
    sub = ctx.get("subscription", sub_id)
    if (
        behavior == "default_incomplete"
        and inv["status"] == "paid"
        and not pm_id
        and collection == "charge_automatically"
    ):
        # Nothing to pay now (a trial): a SetupIntent collects the card for later.
        seti = new_setup_intent(ctx, env, {"customer": customer["id"], "usage": "off_session"})
        sub["pending_setup_intent"] = seti["id"]
        save_subscription(ctx, sub)
    _entitlements(ctx, env, sub["customer"])
    return sub


def _setup_intent_succeeded(ctx: Ctx, env: Env, seti: JSONDict) -> None:
    """A subscription's pending_setup_intent succeeded: clear it, maybe save the card."""
    if not seti.get("customer"):
        return
    for sub in ctx.store.all_where(
        "subscription", {"customer": seti["customer"], "pending_setup_intent": seti["id"]}
    ):
        before = _copy(sub)
        sub["pending_setup_intent"] = None
        if (sub.get("payment_settings") or {}).get(
            "save_default_payment_method"
        ) == "on_subscription" or not _subscription_pm(ctx, sub):
            sub["default_payment_method"] = seti["payment_method"]
        _emit_sub_update(ctx, env, sub, before)


# --------------------------------------------------------------------------
# proration


def add_invoice_items(ctx: Ctx, env: Env, sub: JSONDict, raw: Any) -> list[JSONDict]:
    """`add_invoice_items=[{price|price_data, quantity}]`: one-off pending items
    for the subscription's next invoice (the first one on create)."""
    out: list[JSONDict] = []
    for i, entry in enumerate(raw or []):
        param = f"add_invoice_items[{i}]"
        if entry.get("price"):
            price = ctx.get("price", entry["price"], param=f"{param}[price]")
        elif entry.get("price_data"):
            from .resources.catalog import _create_price

            price = _create_price(ctx, dict(entry["price_data"]))
        else:
            raise invalid_request(
                "Missing required param: price.", param=f"{param}[price]", code="parameter_missing"
            )
        if price.get("currency") != sub["currency"]:
            raise invalid_request(
                "The price's currency must match the subscription's.", param=f"{param}[price]"
            )
        qty = int(entry.get("quantity", 1))
        amount = price_amount(price, qty)
        period = entry.get("period") or {}
        ii: JSONDict = {
            "id": new_id("invoiceitem"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": sub["currency"],
            "customer": sub["customer"],
            "customer_account": None,
            "date": env.now,
            "description": _product_name(ctx, price),
            "discountable": bool(entry.get("discountable", True)),
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": apply_metadata({}, entry.get("metadata")),
            "net_amount": amount,
            "parent": {
                "subscription_details": {"subscription": sub["id"], "subscription_item": None},
                "type": "subscription_details",
            },
            "period": {
                "end": (period.get("end") or {}).get("timestamp") or env.now,
                "start": (period.get("start") or {}).get("timestamp") or env.now,
            },
            "pricing": _pricing(price),
            "proration": False,
            "proration_details": {"credited_items": None, "discount_amounts": []},
            "quantity": qty,
            "quantity_decimal": str(qty),
            "tax_rates": [],
            "test_clock": sub.get("test_clock"),
        }
        ctx.save(ii)
        _emit(ctx, env, "invoiceitem.created", ii)
        out.append(ii)
    return out


def _proration_item(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    item: JSONDict,
    amount: int,
    start: int,
    end: int,
    description: str,
    *,
    store: bool = True,
) -> JSONDict:
    price = item["price"]
    ii: JSONDict = {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_account": None,
        "date": env.now,
        "description": description,
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]},
            "type": "subscription_details",
        },
        "period": {"end": end, "start": start},
        "pricing": _pricing(price),
        "proration": True,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": item_quantity(item),
        "quantity_decimal": str(item_quantity(item)),
        "tax_rates": [],
        "test_clock": sub.get("test_clock"),
    }
    if store:
        ctx.save(ii)
        _emit(ctx, env, "invoiceitem.created", ii)
    return ii


def proration_lines(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    old_items: list[JSONDict],
    new_items: list[JSONDict],
    at: int,
    *,
    store: bool = True,
) -> list[JSONDict]:
    """Invoice items crediting unused time of changed items and charging the new ones.

    Flexible billing mode: the credit is the share of what was billed for the
    item this period (`_billed_amount`), the charge the share of the new
    price x quantity, both by seconds remaining in the period, each rounded
    to the nearest minor unit.
    """
    start, end = period_of(sub)
    total = end - start
    remaining = end - at
    if remaining <= 0 or total <= 0 or sub["status"] == "trialing":
        return []
    old_by_id = {i["id"]: i for i in old_items}
    new_by_id = {i["id"]: i for i in new_items}
    out: list[JSONDict] = []
    when = _fmt_date(at)
    for item_id, old in old_by_id.items():
        if is_metered(old):
            continue  # usage is billed in arrears, never prorated
        replacement = new_by_id.get(item_id)
        if replacement is not None and (
            replacement["price"]["id"] == old["price"]["id"]
            and replacement.get("quantity") == old.get("quantity")
        ):
            continue
        billed = int(old.get("_billed_amount") or 0)
        credit = -_round_half_up(billed * remaining, total)
        if credit:
            out.append(
                _proration_item(
                    ctx,
                    env,
                    sub,
                    old,
                    credit,
                    at,
                    end,
                    f"Unused time on {old.get('quantity') or 1} {TIMES} "
                    f"{_product_name(ctx, old['price'])} after {when}",
                    store=store,
                )
            )
    for item_id, new in new_by_id.items():
        if is_metered(new):
            continue
        previous = old_by_id.get(item_id)
        if previous is not None and (
            new["price"]["id"] == previous["price"]["id"]
            and new.get("quantity") == previous.get("quantity")
        ):
            continue
        full = price_amount(new["price"], item_quantity(new))
        charge = _round_half_up(full * remaining, total)
        if charge:
            out.append(
                _proration_item(
                    ctx,
                    env,
                    sub,
                    new,
                    charge,
                    at,
                    end,
                    f"Remaining time on {new.get('quantity') or 1} {TIMES} "
                    f"{_product_name(ctx, new['price'])} after {when}",
                    store=store,
                )
            )
    return out


def _apply_item_changes(
    ctx: Ctx, env: Env, sub: JSONDict, raw_items: list[JSONDict]
) -> tuple[list[JSONDict], bool]:
    """Apply `items[...]` params in place; returns (new items, interval changed)."""
    items = [_copy(i) for i in _items(sub)]
    by_id = {i["id"]: i for i in items}
    removed: list[str] = []
    for n, entry in enumerate(raw_items):
        param = f"items[{n}]"
        item_id = entry.get("id")
        if item_id:
            item = by_id.get(item_id)
            if item is None:
                raise invalid_request(
                    f"Invalid subscription item: {item_id} does not belong to this subscription.",
                    param=f"{param}[id]",
                )
            if entry.get("deleted"):
                items.remove(item)
                removed.append(item_id)
                continue
            if entry.get("price") or entry.get("price_data"):
                price = _recurring_price(ctx, entry, param)
                item["price"] = price
                item["plan"] = _plan(price)
            if "quantity" in entry:
                item["quantity"] = int(entry["quantity"])
            if "metadata" in entry:
                item["metadata"] = apply_metadata(item.get("metadata"), entry["metadata"])
        else:
            price = _recurring_price(ctx, entry, param)
            new = _new_item(
                sub["id"], price, int(entry.get("quantity", 1)), env, entry.get("metadata")
            )
            start, end = period_of(sub)
            new["current_period_start"], new["current_period_end"] = start, end
            new["_billed_amount"] = 0
            items.append(new)
    if not items:
        raise invalid_request(
            "A subscription must have at least one active plan. To cancel a subscription, "
            "delete it instead.",
            param="items",
        )
    prices = {i["price"]["id"] for i in items}
    if len(prices) != len(items):
        raise invalid_request(
            "Cannot add multiple subscription items with the same price.", param="items"
        )
    for i in items:
        if i["price"]["currency"] != sub["currency"]:
            raise invalid_request(
                "All prices on a subscription must have the same currency.", param="items"
            )
    intervals = {
        (i["price"]["recurring"]["interval"], i["price"]["recurring"].get("interval_count", 1))
        for i in items
    }
    if len(intervals) > 1:
        raise invalid_request(
            "All prices on a subscription must have the same recurring interval.", param="items"
        )
    changed_interval = intervals != {_interval(sub)}
    sub["_removed_items"] = removed
    return items, changed_interval


# --------------------------------------------------------------------------
# subscriptions: update, cancel, resume


def subscription_update(ctx: Ctx, sub_id: str, params: JSONDict) -> JSONDict:
    """Update a subscription as POST /v1/subscriptions/{id} does; returns it.

    `params` has the shape of `stripe.params.SubscriptionUpdateParams`:
    `items=[{"id": "si_..", "price": .., "quantity": ..}]` (price/quantity
    change; `{"price"}` without id adds an item, `{"id", "deleted": True}`
    removes one), `proration_behavior` (create_prorations default,
    always_invoice, none), `proration_date`, `cancel_at_period_end`,
    `cancel_at` ("" clears), `cancellation_details`, `pause_collection`
    ("" clears), `default_payment_method`, `trial_end` ("now" ends the trial),
    `payment_behavior`, `discounts`, `billing_cycle_anchor="now"`, `metadata`.
    """
    sub = ctx.get("subscription", sub_id)
    env = _api_env(ctx, sub["customer"])
    before = _copy(sub)
    if sub["status"] in TERMINAL:
        allowed = {"metadata", "cancellation_details", "expand"}
        if set(params) - allowed:
            raise invalid_request(
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
    if sub["status"] == "incomplete":
        allowed = {"metadata", "default_payment_method", "default_source", "expand", "description"}
        if set(params) - allowed:
            raise invalid_request(
                "An incomplete subscription can only update its metadata, description and "
                "default payment method until its first invoice is paid.",
            )
    if "metadata" in params:
        sub["metadata"] = apply_metadata(sub.get("metadata"), params["metadata"])
    if "description" in params:
        sub["description"] = params["description"] or None
    if "default_payment_method" in params:
        sub["default_payment_method"] = _check_pm(
            ctx, params["default_payment_method"], sub["customer"], "default_payment_method"
        )
    if "collection_method" in params:
        sub["collection_method"] = params["collection_method"]
    if "days_until_due" in params:
        sub["days_until_due"] = params["days_until_due"] or None
    if "cancellation_details" in params:
        details = params["cancellation_details"] or {}
        current = sub.get("cancellation_details") or {}
        sub["cancellation_details"] = {
            "comment": details.get("comment", current.get("comment")) or None,
            "feedback": details.get("feedback", current.get("feedback")) or None,
            "reason": current.get("reason"),
        }
    if "trial_settings" in params:
        behavior = ((params["trial_settings"] or {}).get("end_behavior") or {}).get(
            "missing_payment_method", "create_invoice"
        )
        sub["trial_settings"] = {"end_behavior": {"missing_payment_method": behavior}}
    if "pause_collection" in params:
        pause = params["pause_collection"]
        sub["pause_collection"] = (
            None
            if not pause or pause == UNSET
            else {"behavior": pause["behavior"], "resumes_at": pause.get("resumes_at")}
        )
    if "discounts" in params:
        sub["discounts"] = discounts_from_params(
            ctx,
            env,
            params["discounts"],
            customer=sub["customer"],
            subscription=sub_id,
            param="discounts",
        )
    if "cancel_at_period_end" in params:
        if params["cancel_at_period_end"]:
            sub["cancel_at_period_end"] = True
            sub["cancel_at"] = period_of(sub)[1]
            sub["canceled_at"] = env.now
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        else:
            sub["cancel_at_period_end"] = False
            sub["cancel_at"] = None
            sub["canceled_at"] = None
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
    if "cancel_at" in params:
        value = params["cancel_at"]
        if value == UNSET or value is None:
            sub["cancel_at"] = None
            sub["cancel_at_period_end"] = False
            sub["canceled_at"] = None
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
        else:
            at = period_of(sub)[1] if isinstance(value, str) else int(value)
            if at <= env.now:
                raise invalid_request("cancel_at must be in the future.", param="cancel_at")
            sub["cancel_at"] = at
            sub["cancel_at_period_end"] = at == period_of(sub)[1]
            sub["canceled_at"] = env.now
            sub["cancellation_details"]["reason"] = "cancellation_requested"

    if params.get("add_invoice_items"):
        add_invoice_items(ctx, env, sub, params["add_invoice_items"])
    behavior = params.get("proration_behavior") or "create_prorations"
    at = int(params.get("proration_date") or env.now)
    immediate_invoice = False
    bill_new_period = False  # the invoice also charges a freshly started period
    items_changed = False
    new_invoice_items: list[JSONDict] = []
    # A new interval or billing_cycle_anchor=now restarts the cycle now: the
    # unused time of the old items is credited and the new period billed in
    # full, on an invoice right away.
    reset_now = params.get("billing_cycle_anchor") == "now" and sub["status"] != "trialing"
    if params.get("items"):
        old_items = _copy(_items(sub))
        new_items, changed_interval = _apply_item_changes(ctx, env, sub, params["items"])
        items_changed = True
        reset_now = reset_now or (changed_interval and sub["status"] != "trialing")
        if reset_now:
            if behavior != "none":
                new_invoice_items = proration_lines(ctx, env, sub, old_items, [], at)
        else:
            if behavior != "none":
                new_invoice_items = proration_lines(ctx, env, sub, old_items, new_items, at)
            for item in new_items:
                old = next((o for o in old_items if o["id"] == item["id"]), None)
                if (
                    old is None
                    or old["price"]["id"] != item["price"]["id"]
                    or old.get("quantity") != item.get("quantity")
                ):
                    item["_billed_amount"] = price_amount(item["price"], item_quantity(item))
            if behavior == "always_invoice" and new_invoice_items:
                immediate_invoice = True
        sub["items"]["data"] = new_items
    elif reset_now and behavior != "none":
        new_invoice_items = proration_lines(ctx, env, sub, _items(sub), [], at)
    if reset_now:
        rec_interval, rec_count = _interval(sub)
        sub["billing_cycle_anchor"] = env.now
        _set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
        immediate_invoice = bill_new_period = True

    end_trial = False
    if "trial_end" in params and sub["status"] == "trialing":
        value = params["trial_end"]
        if value == "now":
            end_trial = True
        else:
            if int(value) <= env.now:
                raise invalid_request(
                    "Invalid timestamp: must be in the future.", param="trial_end"
                )
            sub["trial_end"] = int(value)
            sub["billing_cycle_anchor"] = int(value)
            for item in _items(sub):
                item["current_period_end"] = int(value)
            sub.pop("_trial_will_end_sent", None)
            if int(value) - env.now <= TRIAL_WILL_END_BEFORE:
                sub["_trial_will_end_sent"] = True
                _emit(ctx, env, "customer.subscription.trial_will_end", sub)

    if sub != before:
        _emit_sub_update(ctx, env, sub, before)
    else:
        save_subscription(ctx, sub)
    sub = ctx.get("subscription", sub_id)
    if end_trial:
        sub = _end_trial(ctx, env, sub, synchronous=True)
    elif immediate_invoice:
        inv = _cycle_invoice(ctx, env, sub, "subscription_update", include_items=bill_new_period)
        sub["latest_invoice"] = inv["id"]
        save_subscription(ctx, sub)
        ctx.save(inv)
        _emit(ctx, env, "invoice.created", inv)
        inv = finalize_invoice(ctx, env, inv)
        if inv["status"] == "open" and sub["collection_method"] == "charge_automatically":
            payment_behavior = params.get("payment_behavior") or "allow_incomplete"
            inv, outcome = collect_invoice(
                ctx, env, inv, off_session=bool(params.get("off_session", True)), automatic=True
            )
            if outcome.result != "succeeded" and payment_behavior in (
                "error_if_incomplete",
                "pending_if_incomplete",
            ):
                raise card_error(
                    outcome.message or "Your card was declined.",
                    code=outcome.code or "card_declined",
                    decline_code=outcome.decline_code,
                )
            if outcome.result != "succeeded":
                sub = ctx.get("subscription", sub_id)
                if sub["status"] == "active":
                    _set_status(ctx, env, sub, "past_due")
    if items_changed or sub.get("status") != before.get("status"):
        _entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub_id)


def cancel_now(
    ctx: Ctx,
    env: Env,
    sub: JSONDict,
    *,
    reason: str | None = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
    prorate: bool = False,
    invoice_now: bool = False,
) -> JSONDict:
    """End the subscription at env.now; emits customer.subscription.deleted."""
    sub = ctx.get("subscription", sub["id"])
    if sub["status"] in TERMINAL:
        return sub
    if prorate and sub["status"] in ("active", "past_due"):
        proration_lines(ctx, env, sub, _items(sub), [], env.now)
    if invoice_now:
        pending = pending_invoice_items(ctx, sub["customer"], sub["id"])
        metered = any(is_metered(i) for i in _items(sub))
        if pending or metered:
            # Final invoice: pending items and usage not yet billed.
            usage = (period_of(sub)[0], env.now) if metered else None
            inv = _cycle_invoice(
                ctx, env, sub, "subscription_update", include_items=False, usage_period=usage
            )
            sub["latest_invoice"] = inv["id"]
            ctx.save(inv)
            _emit(ctx, env, "invoice.created", inv)
            inv = finalize_invoice(ctx, env, inv)
            if inv["status"] == "open":
                collect_invoice(ctx, env, inv, automatic=False)
            sub = ctx.get("subscription", sub["id"])
    sub["status"] = "canceled"
    if not sub.get("canceled_at") or not (sub.get("cancel_at_period_end") or sub.get("cancel_at")):
        sub["canceled_at"] = env.now
    sub["ended_at"] = env.now
    details = sub.get("cancellation_details") or {}
    sub["cancellation_details"] = {
        "comment": comment if comment is not None else details.get("comment"),
        "feedback": feedback if feedback is not None else details.get("feedback"),
        "reason": reason or details.get("reason"),
    }
    save_subscription(ctx, sub)
    # Stripe turns automatic collection off for the subscription's unpaid invoices.
    for inv in ctx.store.all_where("invoice", {_SUB_PATH: sub["id"]}):
        if inv["status"] not in ("draft", "open"):
            continue
        inv["auto_advance"] = False
        inv["next_payment_attempt"] = None
        inv["automatically_finalizes_at"] = None
        ctx.save(inv)
    _emit(ctx, env, "customer.subscription.deleted", sub)
    _entitlements(ctx, env, sub["customer"])
    return sub


def subscription_cancel(
    ctx: Ctx,
    sub_id: str,
    *,
    invoice_now: bool = False,
    prorate: bool = False,
    cancellation_details: JSONDict | None = None,
) -> JSONDict:
    """Cancel now (DELETE /v1/subscriptions/{id}); emits customer.subscription.deleted."""
    sub = ctx.get("subscription", sub_id)
    if sub["status"] in TERMINAL:
        raise invalid_request(f"A canceled subscription can't be canceled again: {sub_id}")
    env = _api_env(ctx, sub["customer"])
    details = cancellation_details or {}
    return cancel_now(
        ctx,
        env,
        sub,
        reason="cancellation_requested",
        comment=details.get("comment") or None,
        feedback=details.get("feedback") or None,
        prorate=prorate,
        invoice_now=invoice_now,
    )


def subscription_resume(
    ctx: Ctx,
    sub_id: str,
    *,
    billing_cycle_anchor: str = "now",
    proration_behavior: str = "create_prorations",
) -> JSONDict:
    """Resume a `paused` subscription (POST /v1/subscriptions/{id}/resume).

    A new billing cycle starts now (or keeps the old anchor with
    "unchanged"), is invoiced and charged at once.
    """
    sub = ctx.get("subscription", sub_id)
    if sub["status"] != "paused":
        raise invalid_request(
            "Only a subscription with status `paused` can be resumed.",
        )
    env = _api_env(ctx, sub["customer"])
    before = _copy(sub)
    rec_interval, rec_count = _interval(sub)
    if billing_cycle_anchor == "now":
        sub["billing_cycle_anchor"] = env.now
        _set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
    else:
        end = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, env.now)
        _set_period(sub, env.now, end)
    sub["status"] = "active"
    inv = _cycle_invoice(ctx, env, sub, "subscription_update")
    sub["latest_invoice"] = inv["id"]
    _emit_sub_update(ctx, env, sub, before)
    _emit(ctx, env, "customer.subscription.resumed", sub)
    ctx.save(inv)
    _emit(ctx, env, "invoice.created", inv)
    inv = finalize_invoice(ctx, env, inv)
    if inv["status"] == "open" and sub["collection_method"] == "charge_automatically":
        collect_invoice(ctx, env, inv, automatic=True)
    _entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub_id)


def _end_trial(ctx: Ctx, env: Env, sub: JSONDict, *, synchronous: bool) -> JSONDict:
    """Trial over at env.now: pause/cancel without a payment method, else bill period 1."""
    before = _copy(sub)
    if not sub.get("_trial_will_end_sent"):
        sub["_trial_will_end_sent"] = True
        ctx.save(sub)
        _emit(ctx, env, "customer.subscription.trial_will_end", sub)
    behavior = ((sub.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method", "create_invoice"
    )
    has_pm = bool(_subscription_pm(ctx, sub)) or sub["collection_method"] == "send_invoice"
    if not has_pm and behavior == "cancel":
        return cancel_now(ctx, env, sub, reason=None)
    sub["trial_end"] = env.now
    if not has_pm and behavior == "pause":
        sub["status"] = "paused"
        _emit_sub_update(ctx, env, sub, before)
        _emit(ctx, env, "customer.subscription.paused", sub)
        _entitlements(ctx, env, sub["customer"])
        return sub
    rec_interval, rec_count = _interval(sub)
    sub["status"] = "active"
    sub["billing_cycle_anchor"] = env.now
    _set_period(sub, env.now, add_interval(env.now, rec_interval, rec_count))
    inv = _cycle_invoice(ctx, env, sub, "subscription_cycle")
    sub["latest_invoice"] = inv["id"]
    _emit_sub_update(ctx, env, sub, before)
    _open_cycle_invoice(ctx, env, sub, inv, synchronous=synchronous)
    _entitlements(ctx, env, sub["customer"])
    return ctx.get("subscription", sub["id"])


def _open_cycle_invoice(
    ctx: Ctx, env: Env, sub: JSONDict, inv: JSONDict, *, synchronous: bool
) -> None:
    """Store a new cycle invoice (invoice.created) and schedule or run finalisation."""
    pause = sub.get("pause_collection")
    delay = settings(ctx)["finalize_delay_seconds"]
    if pause:
        inv["auto_advance"] = pause["behavior"] != "keep_as_draft"
    elif sub["status"] == "unpaid":
        # Retries are exhausted: new invoices stay drafts, never collected.
        inv["auto_advance"] = False
    elif not synchronous and delay > 0:
        inv["automatically_finalizes_at"] = env.now + delay
    ctx.save(inv)
    _emit(ctx, env, "invoice.created", inv)
    if pause:
        if pause["behavior"] == "keep_as_draft":
            return
        inv = finalize_invoice(ctx, env, inv)
        if inv["status"] == "open":
            if pause["behavior"] == "void":
                void_invoice(ctx, env, inv)
            else:
                mark_uncollectible(ctx, env, inv)
        return
    if inv["auto_advance"] and (synchronous or delay <= 0):
        _finalize_and_collect(ctx, env, inv)


def _finalize_and_collect(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    inv = finalize_invoice(ctx, env, inv)
    if inv["status"] == "open" and inv["collection_method"] == "charge_automatically":
        collect_invoice(ctx, env, inv, off_session=True, automatic=True)
    elif inv["status"] == "open":
        # Stripe emails it to the customer (the emulator sends nothing).
        _emit(ctx, env, "invoice.sent", inv)


def _invoice_overdue(ctx: Ctx, env: Env, inv: JSONDict) -> None:
    """A send_invoice invoice is unpaid at its due date: overdue, subscription past_due."""
    inv["_overdue"] = True
    ctx.save(inv)
    _emit(ctx, env, "invoice.overdue", inv)
    sub = _invoice_subscription(ctx, inv)
    if sub is not None and sub["status"] == "active":
        _set_status(ctx, env, sub, "past_due")


def _renew(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    """Period end at env.now: roll the items' periods and invoice the new period."""
    before = _copy(sub)
    rec_interval, rec_count = _interval(sub)
    previous = period_of(sub)
    start = previous[1]
    end = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, start)
    _set_period(sub, start, end)
    inv = _cycle_invoice(ctx, env, sub, "subscription_cycle", usage_period=previous)
    sub["latest_invoice"] = inv["id"]
    _emit_sub_update(ctx, env, sub, before)
    _open_cycle_invoice(ctx, env, sub, inv, synchronous=False)


def _expire_incomplete(ctx: Ctx, env: Env, sub: JSONDict) -> None:
    before = _copy(sub)
    inv = ctx.find("invoice", _id(sub.get("latest_invoice")) or "")
    if inv is not None and inv["status"] == "open":
        void_invoice(ctx, env, inv)
    sub["status"] = "incomplete_expired"
    sub["ended_at"] = env.now
    sub["canceled_at"] = env.now
    _emit_sub_update(ctx, env, sub, before)


def _customer_deleted(ctx: Ctx, customer: JSONDict) -> None:
    env = _api_env(ctx, customer)
    for sub in ctx.store.all_where("subscription", {"customer": customer["id"]}):
        if sub["status"] not in TERMINAL:
            cancel_now(ctx, env, sub)


# --------------------------------------------------------------------------
# invoice preview


def invoice_preview(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The body of POST /v1/invoices/create_preview (InvoiceCreatePreviewParams).

    With `subscription` + `subscription_details[items]` (and optionally
    `subscription_details[proration_date]`, `[proration_behavior]`) it shows
    the proration lines a subscription_update with the same values would
    create, plus the next period's charge. Without changes it previews the
    subscription's next renewal invoice. Nothing is stored.
    """
    sub_id = params.get("subscription")
    customer_id = params.get("customer")
    if not sub_id and not customer_id:
        raise invalid_request(
            "Missing required param: customer or subscription.",
            param="customer",
            code="parameter_missing",
        )
    try:
        with ctx.store.atomic():
            result = _preview(ctx, params, sub_id, customer_id)
            # Leave through an exception so the savepoint rolls back every
            # write the preview made (proration items, discounts, events).
            raise _PreviewDone(result)
    except _PreviewDone as done:
        ctx.emitted[:] = [e for e in ctx.emitted if ctx.store.get(e["id"]) is not None]
        return done.result


class _PreviewDone(Exception):
    def __init__(self, result: JSONDict) -> None:
        super().__init__("preview")
        self.result = result


def _preview(ctx: Ctx, params: JSONDict, sub_id: str | None, customer_id: str | None) -> JSONDict:
    details = params.get("subscription_details") or {}
    if sub_id:
        sub = ctx.get("subscription", sub_id, param="subscription")
        customer = ctx.get("customer", sub["customer"])
        env = Env(ctx.now_for_customer(customer))
        at = int(details.get("proration_date") or env.now)
        behavior = details.get("proration_behavior") or "create_prorations"
        if details.get("items"):
            old_items = _copy(_items(sub))
            new_items, _changed = _apply_item_changes(ctx, env, sub, details["items"])
            if behavior != "none":
                proration_lines(ctx, env, sub, old_items, new_items, at, store=True)
            sub["items"]["data"] = new_items
            ctx.save(sub)
        if behavior == "always_invoice" and details.get("items"):
            inv = _cycle_invoice(ctx, env, sub, "subscription_update", include_items=False)
        else:
            # The upcoming renewal: next period plus pending items (prorations).
            end = period_of(sub)[1]
            rec_interval, rec_count = _interval(sub)
            nxt = next_boundary(sub["billing_cycle_anchor"], rec_interval, rec_count, end)
            shifted = _copy(sub)
            _set_period(shifted, end, nxt)
            inv = _cycle_invoice(
                ctx, Env(end), shifted, "subscription_cycle", usage_period=period_of(sub)
            )
            inv["created"] = env.now
        inv["parent"]["subscription_details"]["subscription_proration_date"] = at
    elif details.get("items"):
        # A would-be subscription: create it inside the rolled-back savepoint
        # (without a payment attempt) and show its first invoice as a draft.
        customer = _customer_or_404(ctx, str(customer_id))
        create: JSONDict = {
            "customer": customer["id"],
            "items": details["items"],
            "payment_behavior": "default_incomplete",
        }
        for key in ("trial_end", "billing_cycle_anchor", "proration_behavior", "cancel_at"):
            if details.get(key) is not None:
                create[key] = details[key]
        if params.get("discounts"):
            create["discounts"] = params["discounts"]
        sub = subscription_create(ctx, create)
        inv = ctx.get("invoice", str(_id(sub["latest_invoice"])))
        inv.update(
            status="draft",
            number=None,
            hosted_invoice_url=None,
            invoice_pdf=None,
            confirmation_secret=None,
            effective_at=None,
        )
        inv["status_transitions"]["finalized_at"] = None
        inv["status_transitions"]["paid_at"] = None
        inv["amount_paid"] = 0
    else:
        customer = _customer_or_404(ctx, str(customer_id))
        env = Env(ctx.now_for_customer(customer))
        inv = new_invoice(
            ctx,
            env,
            customer=customer,
            currency=params.get("currency") or "usd",
            billing_reason="manual",
        )
        attach_pending_items(ctx, inv, pending_invoice_items(ctx, customer["id"], None))
        refresh_totals(ctx, inv)
    inv["id"] = "upcoming_" + inv["id"]
    for line in inv["lines"]["data"]:
        line["id"] = "il_tmp_" + line["id"].removeprefix("il_")
        line["invoice"] = inv["id"]
    inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
    inv["amount_due"] = max(0, inv["total"] + int(customer.get("balance") or 0))
    inv["amount_remaining"] = inv["amount_due"]
    inv["starting_balance"] = int(customer.get("balance") or 0)
    return inv


# --------------------------------------------------------------------------
# time: what is due when, and processing it in order


def _due_at(ctx: Ctx, obj: JSONDict) -> int | None:
    """The next moment something happens to this subscription or invoice, if any."""
    if obj["object"] == "invoice":
        if obj["status"] == "draft" and obj.get("auto_advance"):
            return obj.get("automatically_finalizes_at")
        if obj["status"] == "open" and obj["collection_method"] == "send_invoice":
            # The customer pays by themselves; at the due date it is overdue.
            if obj.get("due_date") and not obj.get("_overdue"):
                return int(obj["due_date"])
            return None
        if obj["status"] == "open" and obj.get("auto_advance"):
            return obj.get("next_payment_attempt")
        return None
    status = obj["status"]
    if status == "trialing" and obj.get("trial_end"):
        trial_end = int(obj["trial_end"])
        if obj.get("cancel_at"):
            trial_end = min(trial_end, int(obj["cancel_at"]))
        if not obj.get("_trial_will_end_sent"):
            return min(trial_end, int(obj["trial_end"]) - TRIAL_WILL_END_BEFORE)
        return trial_end
    if status == "incomplete":
        return int(obj["created"]) + settings(ctx)["incomplete_expiry_seconds"]
    if status in ("active", "past_due", "unpaid"):
        moments = [period_of(obj)[1]]
        if obj.get("cancel_at"):
            moments.append(int(obj["cancel_at"]))
        resumes = (obj.get("pause_collection") or {}).get("resumes_at")
        if resumes:
            moments.append(int(resumes))
        return min(moments)
    return None


def _process(ctx: Ctx, obj: JSONDict, env: Env) -> list[str]:
    """Run what is due for `obj` at env.now; returns ids of objects to re-examine."""
    if obj["object"] == "invoice":
        sub_ref = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        related = [obj["id"]] + ([str(sub_ref)] if sub_ref else [])
        if obj["status"] == "draft":
            _finalize_and_collect(ctx, env, obj)
        elif obj["status"] == "open" and obj["collection_method"] == "send_invoice":
            _invoice_overdue(ctx, env, obj)
        elif obj["status"] == "open":
            collect_invoice(ctx, env, obj, off_session=True, automatic=True)
        return related
    sub = obj
    status = sub["status"]
    if status == "trialing":
        trial_end = int(sub["trial_end"])
        if not sub.get("_trial_will_end_sent") and env.now >= trial_end - TRIAL_WILL_END_BEFORE:
            sub["_trial_will_end_sent"] = True
            ctx.save(sub)
            _emit(ctx, env, "customer.subscription.trial_will_end", sub)
        cancel_at = sub.get("cancel_at")
        if cancel_at and int(cancel_at) <= env.now:
            # Canceled at (or before) the trial's end: it ends, nothing is billed.
            cancel_now(ctx, env, sub, reason=None)
        elif env.now >= trial_end:
            _end_trial(ctx, env, sub, synchronous=False)
    elif status == "incomplete":
        _expire_incomplete(ctx, env, sub)
    elif status in ("active", "past_due", "unpaid"):
        resumes = (sub.get("pause_collection") or {}).get("resumes_at")
        if resumes and int(resumes) <= env.now:
            before = _copy(sub)
            sub["pause_collection"] = None
            _emit_sub_update(ctx, env, sub, before)
            sub = ctx.get("subscription", sub["id"])
        cancel_at = sub.get("cancel_at")
        if cancel_at and int(cancel_at) <= env.now:
            cancel_now(ctx, env, sub, reason=None)
        elif period_of(sub)[1] <= env.now:
            _renew(ctx, env, sub)
    fresh = ctx.get("subscription", sub["id"])
    related = [sub["id"]]
    if fresh.get("latest_invoice"):
        related.append(str(_id(fresh["latest_invoice"])))
    return related


def process_due(ctx: Ctx, clock_id: str | None, target: int) -> int:
    """Run everything due up to `target` for objects on `clock_id` (None: real clock).

    Steps run in chronological order across all the clock's subscriptions
    and invoices, each with events dated at its own moment. Returns the
    number of steps run.
    """

    heap: list[tuple[int, int, str]] = []
    scheduled: dict[str, int] = {}
    seq = 0

    def push(obj: JSONDict | None) -> None:
        nonlocal seq
        if obj is None:
            return
        due = _due_at(ctx, obj)
        if due is None or due > target:
            scheduled.pop(obj["id"], None)
            return
        if scheduled.get(obj["id"]) == due:
            return
        scheduled[obj["id"]] = due
        seq += 1
        heapq.heappush(heap, (due, seq, obj["id"]))

    for sub in ctx.store.all_where("subscription", {"test_clock": clock_id}):
        if sub["status"] not in TERMINAL:
            push(sub)
    for status in ("draft", "open"):
        for inv in ctx.store.all_where("invoice", {"test_clock": clock_id, "status": status}):
            push(inv)
    steps = 0
    done: set[tuple[str, int]] = set()
    while heap:
        due, _, oid = heapq.heappop(heap)
        if scheduled.get(oid) != due:
            continue  # superseded entry
        del scheduled[oid]
        obj = ctx.store.get(oid)
        if obj is None or _due_at(ctx, obj) != due:
            push(obj)
            continue
        if (oid, due) in done:
            raise RuntimeError(f"billing step for {oid} at {due} did not make progress")
        done.add((oid, due))
        steps += 1
        for rid in _process(ctx, obj, Env(due, automatic=True)):
            push(ctx.store.get(rid))
    return steps


def _check_advance_limit(ctx: Ctx, clock: JSONDict, target: int) -> None:
    """Stripe refuses to advance more than two intervals of the clock's shortest
    subscription (two years without subscriptions)."""
    now = int(clock["frozen_time"])
    limit = add_interval(now, "year", 2)
    for sub in ctx.store.all_where("subscription", {"test_clock": clock["id"]}):
        if sub["status"] not in TERMINAL:
            interval, count = _interval(sub)
            limit = min(limit, add_interval(now, interval, 2 * count))
    if target > limit:
        raise invalid_request(
            "Cannot advance the test clock more than two billing intervals of its shortest "
            f"subscription at once: advance at most to {limit} ({_fmt_date(limit)}), "
            "then again.",
            param="frozen_time",
        )


@register_advance_validator
def _validate_advance(ctx: Ctx, clock: JSONDict, target: int) -> None:
    if settings(ctx)["enforce_advance_limit"]:
        _check_advance_limit(ctx, clock, target)


@register_advance_handler
def _advance_clock(ctx: Ctx, clock: JSONDict, target: int) -> None:
    process_due(ctx, str(clock["id"]), target)


# -- the real clock ------------------------------------------------------------

REAL_CLOCK_INTERVAL = 15.0  # seconds between background passes
_TICKER_ATTR = "_billing_real_clock"
_tickers_lock = threading.Lock()


def tick_real_clock(app: Emulator) -> int:
    """Process everything due by now for subscriptions and invoices without a test clock."""
    ctx = app.context()
    with app.store.atomic():
        steps = process_due(ctx, None, real_now())
    if ctx.emitted:
        app.dispatcher.notify()
    return steps


def start_real_clock(app: Emulator, interval: float = REAL_CLOCK_INTERVAL) -> None:
    """Start (once per emulator) the daemon thread that runs `tick_real_clock`.

    Called when the server starts its background work (and, idempotently,
    by the billing endpoints), so a dev server running `make run` sees
    renewals, retries and the invoice gate in real time. The thread ends
    with the emulator's store.
    """
    with _tickers_lock:
        if getattr(app, _TICKER_ATTR, None) is not None:
            return

        def loop() -> None:
            stop = threading.Event()
            while not stop.wait(interval):
                try:
                    tick_real_clock(app)
                except sqlite3.ProgrammingError:
                    return  # the store was closed: the emulator is gone
                except Exception:  # keep ticking; a broken step is logged, not fatal
                    logger.exception("real-clock billing pass failed")

        thread = threading.Thread(target=loop, name="billing-real-clock", daemon=True)
        setattr(app, _TICKER_ATTR, thread)
        thread.start()


def _register_hooks() -> None:
    from .resources.customers import CUSTOMER_DELETE_HOOKS

    if _customer_deleted not in CUSTOMER_DELETE_HOOKS:
        CUSTOMER_DELETE_HOOKS.append(_customer_deleted)


_register_hooks()

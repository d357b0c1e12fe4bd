"""Confirming PaymentIntents and SetupIntents (API and the 3-D Secure page) and what follows."""

from __future__ import annotations

from ..context import Ctx
from ..errors import invalid_request
from .cards import resolve_payment_method as resolve_payment_method
from .common import Env, JSONDict, api_env, authentication_url, deep_copy, emit_event, id_of
from .invoicing import invoice_subscription, record_invoice_attempt
from .payments import (
    ChargeOutcome,
    attempt_payment_intent,
    payment_error,
    payment_method_for,
    setup_outcome,
)
from .subscription_state import emit_subscription_updated, subscription_payment_method


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
    env = api_env(ctx, pi.get("customer"))
    pm_id = payment_method or id_of(pi.get("payment_method"))
    pm = payment_method_for(ctx, pm_id, pi.get("customer"), param="payment_method")
    pi, outcome = attempt_payment_intent(
        ctx, env, pi, pm, off_session=off_session, return_url=return_url
    )
    _after_intent_attempt(ctx, env, pi, outcome)
    return ctx.get("payment_intent", pi_id), outcome


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
    env = api_env(ctx, pi.get("customer"))
    pm = ctx.find("payment_method", id_of(pi.get("payment_method")) or "")
    if not succeed or pm is None:
        outcome = ChargeOutcome(
            "declined",
            code="payment_intent_authentication_failure",
            message="We are unable to authenticate your payment method. Please choose a "
            "different payment method and try again.",
        )
        pi["status"] = "requires_payment_method"
        pi["next_action"] = None
        pi["last_payment_error"] = payment_error(outcome, pm, None)
        ctx.save(pi)
        emit_event(ctx, env, "payment_intent.payment_failed", pi)
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
    sub = invoice_subscription(ctx, inv)
    if (
        outcome.result == "succeeded"
        and sub is not None
        and (sub.get("payment_settings") or {}).get("save_default_payment_method")
        == "on_subscription"
        and pi.get("payment_method")
    ):
        # Paying the invoice's PaymentIntent (e.g. with Elements) saves the
        # card as the subscription's default, as Stripe does with this setting.
        before = deep_copy(sub)
        sub["default_payment_method"] = id_of(pi["payment_method"])
        if sub != before:
            emit_subscription_updated(ctx, env, sub, before)
    record_invoice_attempt(ctx, env, inv, pi, outcome, counts_as_retry=False)


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
    env = api_env(ctx, seti.get("customer"))
    pm_id = payment_method or id_of(seti.get("payment_method"))
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
        emit_event(ctx, env, "setup_intent.requires_action", seti)
        return seti
    if outcome.result == "declined":
        seti["status"] = "requires_payment_method"
        seti["next_action"] = None
        err = payment_error(outcome, pm, None)
        err.pop("charge", None)
        seti["last_setup_error"] = err
        seti["payment_method"] = None
        ctx.save(seti)
        emit_event(ctx, env, "setup_intent.setup_failed", seti)
        return seti
    if seti.get("customer") and not pm.get("customer"):
        from .cards import attach_payment_method

        pm = attach_payment_method(ctx, pm["id"], seti["customer"])
    pm["_setup_off_session"] = True
    ctx.save(pm)
    seti["status"] = "succeeded"
    seti["next_action"] = None
    seti["last_setup_error"] = None
    ctx.save(seti)
    emit_event(ctx, env, "setup_intent.succeeded", seti)
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
    env = api_env(ctx, seti.get("customer"))
    pm = ctx.find("payment_method", id_of(seti.get("payment_method")) or "")
    outcome = ChargeOutcome(
        "declined",
        code="setup_intent_authentication_failure",
        message="We are unable to authenticate your payment method. Please choose a "
        "different payment method and try again.",
    )
    err = payment_error(outcome, pm, None)
    err.pop("charge", None)
    seti.update(
        status="requires_payment_method",
        next_action=None,
        last_setup_error=err,
        payment_method=None,
    )
    ctx.save(seti)
    emit_event(ctx, env, "setup_intent.setup_failed", seti)
    return seti


def _setup_intent_succeeded(ctx: Ctx, env: Env, seti: JSONDict) -> None:
    """A subscription's pending_setup_intent succeeded: clear it, maybe save the card."""
    if not seti.get("customer"):
        return
    for sub in ctx.store.all_where(
        "subscription", {"customer": seti["customer"], "pending_setup_intent": seti["id"]}
    ):
        before = deep_copy(sub)
        sub["pending_setup_intent"] = None
        if (sub.get("payment_settings") or {}).get(
            "save_default_payment_method"
        ) == "on_subscription" or not subscription_payment_method(ctx, sub):
            sub["default_payment_method"] = seti["payment_method"]
        emit_subscription_updated(ctx, env, sub, before)

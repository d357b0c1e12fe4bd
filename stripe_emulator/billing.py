"""The billing engine: subscriptions, invoices, payments, proration, dunning, time.

This module is the public API other parts of the emulator (checkout, the
billing portal, hosted invoice and 3-D Secure pages, test helpers) call; the
REST endpoints in `resources/` are thin wrappers around it. Every function
takes the request's `Ctx` and must run inside `ctx.store.atomic()` (handlers
already do; helper routes wrap their body). Functions return the stored
object (a fresh dict) and emit the events Stripe would.

Published API (signatures are final; see DEVELOPING.md "Billing engine API"):

* `subscription_create(ctx, params, *, origin="api", authenticated=False)`
* `subscription_update(ctx, sub_id, params)`
* `subscription_cancel(ctx, sub_id, *, invoice_now=False, prorate=False,
  cancellation_details=None)`
* `subscription_resume(ctx, sub_id, *, billing_cycle_anchor="now",
  proration_behavior="create_prorations")`
* `invoice_preview(ctx, params)` (the body of POST /v1/invoices/create_preview)
* `invoice_pay(ctx, invoice_id, *, payment_method=None, off_session=False,
  authenticated=False)`
* `payment_intent_authenticate(ctx, pi_id, *, succeed)` and
  `setup_intent_authenticate(ctx, seti_id, *, succeed)`: the two buttons of
  the 3-D Secure page
* `card_charge_outcome(pm, *, off_session, authenticated=False)`: what a
  charge on a card would do, without doing it
* `authentication_url(ctx, intent_id)`, `hosted_invoice_url(ctx, invoice)`,
  `invoice_pdf_url(ctx, invoice)`: URLs of pages the hosted-pages module serves
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .context import Ctx
from .resources.payment_methods import TestCard, test_card_for

JSONDict = dict[str, Any]

Origin = Literal["api", "checkout", "portal"]


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
# subscriptions


def subscription_create(
    ctx: Ctx, params: JSONDict, *, origin: Origin = "api", authenticated: bool = False
) -> JSONDict:
    """Create a subscription as POST /v1/subscriptions does; returns it.

    `params` has the shape of `stripe.params.SubscriptionCreateParams`
    (validated and coerced: `customer`, `items=[{"price", "quantity"}]`,
    `default_payment_method`, `trial_period_days`/`trial_end`,
    `trial_settings`, `payment_behavior`, `discounts=[{"coupon"|"promotion_code"}]`,
    `collection_method`, `days_until_due`, `billing_cycle_anchor`,
    `cancel_at`, `cancel_at_period_end`, `metadata`, `off_session`, ...).

    Creates the first invoice (billing_reason=subscription_create; 0 during a
    trial) and attempts payment at once (no invoice.created gate). Result:
    `trialing`, `active`, or `incomplete` when the payment declines or needs
    3-D Secure (`latest_invoice.confirmation_secret` / the PaymentIntent's
    `next_action` then point to `authentication_url`).

    origin="checkout"/"portal": the customer is on-session; with
    `authenticated=True` the caller has already shown the 3DS page and the
    customer completed it, so 3DS cards succeed (and are marked set up for
    off-session renewals, as Checkout does). Checkout should pass
    payment_behavior="error_if_incomplete": a decline then raises the 402
    card_error and nothing is created (the handler's transaction rolls back).
    """
    raise NotImplementedError


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
    raise NotImplementedError


def subscription_cancel(
    ctx: Ctx,
    sub_id: str,
    *,
    invoice_now: bool = False,
    prorate: bool = False,
    cancellation_details: JSONDict | None = None,
) -> JSONDict:
    """Cancel now (DELETE /v1/subscriptions/{id}); emits customer.subscription.deleted."""
    raise NotImplementedError


def subscription_resume(
    ctx: Ctx,
    sub_id: str,
    *,
    billing_cycle_anchor: str = "now",
    proration_behavior: str = "create_prorations",
) -> JSONDict:
    """Resume a `paused` subscription (POST /v1/subscriptions/{id}/resume)."""
    raise NotImplementedError


# --------------------------------------------------------------------------
# invoices and payments


def invoice_preview(ctx: Ctx, params: JSONDict) -> JSONDict:
    """The body of POST /v1/invoices/create_preview (InvoiceCreatePreviewParams).

    With `subscription` + `subscription_details[items]` (and optionally
    `subscription_details[proration_date]`, `[proration_behavior]`) it shows
    the proration lines a subscription_update with the same values would
    create, plus the next period's charge. Nothing is stored.
    """
    raise NotImplementedError


def invoice_pay(
    ctx: Ctx,
    invoice_id: str,
    *,
    payment_method: str | None = None,
    off_session: bool = False,
    authenticated: bool = False,
) -> JSONDict:
    """Attempt payment of an open (or draft: finalised first) invoice; returns it.

    Used by POST /v1/invoices/{id}/pay and by the hosted invoice page when a
    customer pays with a (new) card. `payment_method` overrides the default
    chain (subscription default -> customer default). On success the invoice
    becomes paid and its subscription active (incomplete/past_due/unpaid ->
    active). A decline raises the 402 card_error (the attempt and its events
    are kept); a card needing 3DS leaves the PaymentIntent `requires_action`
    and raises the 402 `invoice_payment_intent_requires_action` error.
    """
    raise NotImplementedError


def payment_intent_authenticate(ctx: Ctx, pi_id: str, *, succeed: bool) -> JSONDict:
    """Finish a 3-D Secure challenge on a PaymentIntent in `requires_action`.

    succeed=True: the payment is attempted as authenticated (succeeds, or
    declines for "authenticate then decline" cards); its invoice and
    subscription follow (incomplete -> active). succeed=False: the intent
    returns to `requires_payment_method` with last_payment_error
    `payment_intent_authentication_failure`. Returns the PaymentIntent.
    """
    raise NotImplementedError


def setup_intent_authenticate(ctx: Ctx, seti_id: str, *, succeed: bool) -> JSONDict:
    """Finish a 3-D Secure challenge on a SetupIntent in `requires_action`."""
    raise NotImplementedError

"""Prepaid credits: packs bought once through Checkout, an append-only ledger, atomic spends.

Buying: ``credits_checkout_create`` opens a Checkout Session in payment mode for a
pack's one-time price (``invoice_creation`` on, so the payment gets an invoice and
receipt like any other; docs.stripe.com/payments/checkout/receipts). Stripe's
fulfilment guide (docs.stripe.com/checkout/fulfillment) asks for one function,
called by the webhooks and by the return page, that is safe to call twice for a
session and grants only once ``payment_status`` is ``paid``: ``credits_grant``.
``checkout.session.completed`` brings card payments, ``async_payment_succeeded``
delayed ones; each grant is a ledger entry unique per (team, kind, source = the
session id), so a redelivery or the return page's sync finds it there.

Spending (``credits_spend``) is one conditional UPDATE, ``credits = credits - n
WHERE credits >= n``: on PostgreSQL the row lock it takes serialises concurrent
spends, each sees the balance the previous one left, and one that would go below
zero updates nothing. SQLite runs one write transaction at a time (this project
opens them IMMEDIATE), which gives the same result.

Refunds: ``charge.refunded`` carries the charge's ``amount_refunded`` so far. The
credits it takes back are the refunded share of the pack not taken back yet, but
never more than the team still has (credits already spent stay spent); the entry's
source is ``<charge>:<amount_refunded>``, so each refund counts once whatever the
order of the events, and a refund that arrives before the purchase is granted is
applied by the grant (it reads the charge dj-stripe mirrored).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _
from djstripe.models import Charge, Price

from subscriptions.catalog import CreditPackSpec, get_catalog
from subscriptions.selectors import customer_for_team
from subscriptions.services import (
    BillingError,
    SessionNotFound,
    customer_get_or_create,
    stripe_client,
    team_url,
)

from .models import CreditBalance, CreditEntry

if TYPE_CHECKING:
    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

# metadata.kind of the Checkout Sessions this module creates (the webhooks see all sessions).
SESSION_KIND = "credit_pack"
# Session events that may carry a paid credit purchase.
GRANT_EVENT_TYPES = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)


class CreditsError(Exception):
    user_message = "Credits could not be changed."


class InsufficientCredits(CreditsError):
    def __init__(self, *, needed: int, balance: int) -> None:
        super().__init__(f"{needed} credits needed, {balance} left")
        self.needed = needed
        self.balance = balance

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return _("This needs %(needed)s credits and your team has %(balance)s.") % {
            "needed": f"{self.needed:,}",
            "balance": f"{self.balance:,}",
        }


class UnknownCreditPack(CreditsError):
    user_message = "That credit pack is not for sale."


# --- The ledger ------------------------------------------------------------------------


def _balance_row_ensure(team_id: int) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: two first purchases at once make one row.
    CreditBalance.objects.bulk_create([CreditBalance(team_id=team_id)], ignore_conflicts=True)


def credits_balance(*, team_id: int) -> int:
    row = CreditBalance.objects.filter(team_id=team_id).values_list("credits", flat=True).first()
    return int(row or 0)


def _append(
    *, team_id: int, kind: str, credits: int, source: str, **fields: Any
) -> CreditEntry | None:
    """Move the balance by ``credits`` and append the entry saying why, in one savepoint.

    None when the source already has its entry (a redelivery): nothing changed.
    Raises ``InsufficientCredits`` when a negative amount would pass zero.
    """
    _balance_row_ensure(team_id)
    try:
        with transaction.atomic():
            rows = CreditBalance.objects.filter(team_id=team_id)
            if credits < 0:
                rows = rows.filter(credits__gte=-credits)
            if not rows.update(credits=F("credits") + credits):
                raise InsufficientCredits(needed=-credits, balance=credits_balance(team_id=team_id))
            balance = credits_balance(team_id=team_id)
            return CreditEntry.objects.create(
                team_id=team_id,
                kind=kind,
                credits=credits,
                balance_after=balance,
                source=source,
                **fields,
            )
    except IntegrityError:
        # The unique (team, kind, source): this source was counted already; the
        # savepoint took the balance change back with it.
        return None


def credits_spend(team: Team | int, credits: int, reason: str, idempotency_key: str) -> CreditEntry:
    """Spend ``credits`` of the team's balance for ``reason``, once per ``idempotency_key``.

    Never lets the balance go negative (``InsufficientCredits``); calling again with
    the same key returns the first spend's entry and spends nothing more.
    """
    if credits <= 0:
        raise ValueError("credits to spend must be positive")
    if not idempotency_key or len(idempotency_key) > 255:
        raise ValueError("an idempotency key of 1 to 255 characters is required")
    team_id = team if isinstance(team, int) else team.pk
    done = CreditEntry.objects.filter(
        team_id=team_id, kind=CreditEntry.Kind.SPEND, source=idempotency_key
    ).first()
    if done is not None:
        return done
    entry = _append(
        team_id=team_id,
        kind=CreditEntry.Kind.SPEND,
        credits=-credits,
        source=idempotency_key,
        description=reason[:255],
    )
    if entry is None:  # the same key won a race with this call
        return CreditEntry.objects.get(
            team_id=team_id, kind=CreditEntry.Kind.SPEND, source=idempotency_key
        )
    logger.info(
        "credits: team %s spent %s (%s), balance %s", team_id, credits, reason, entry.balance_after
    )
    return entry


def credits_adjust(*, team: Team, credits: int, reason: str, staff_user: User) -> CreditEntry:
    """A staff correction (signed), with the reason and who made it on the entry."""
    reason = reason.strip()
    if credits == 0 or not reason:
        raise ValueError("an adjustment needs a non-zero amount and a reason")
    entry = _append(
        team_id=team.pk,
        kind=CreditEntry.Kind.ADJUSTMENT,
        credits=credits,
        # One submitted form, one adjustment: every adjustment has a source of its own.
        source=f"staff:{staff_user.pk}:{uuid.uuid4()}",
        description=reason[:255],
        created_by=staff_user,
    )
    assert entry is not None  # the source is new each time
    logger.warning(
        "credits: staff user %s adjusted team %s by %+d (%s), balance %s",
        staff_user.pk, team.pk, credits, reason, entry.balance_after,
    )  # fmt: skip
    return entry


# --- Purchases -------------------------------------------------------------------------


def credit_pack_price(*, pack: CreditPackSpec) -> Price:
    """The pack's active one-time price in dj-stripe's mirror (billing_bootstrap puts it there)."""
    price = (
        Price.objects.filter(
            stripe_data__lookup_key=pack.lookup_key, livemode=settings.STRIPE_LIVE_MODE
        )
        .order_by("-created")
        .first()
    )
    if price is None or not price.stripe_data.get("active") or price.stripe_data.get("recurring"):
        raise UnknownCreditPack(pack.lookup_key)
    return price


def credits_checkout_create(*, team: Team, user: User, pack_key: str) -> str:
    """A Checkout Session in payment mode for one credit pack; returns its URL."""
    pack = get_catalog().credit_pack(pack_key)
    if pack is None:
        raise UnknownCreditPack(pack_key)
    price = credit_pack_price(pack=pack)
    customer = customer_get_or_create(team=team, email=user.email)
    metadata = {
        "kind": SESSION_KIND,
        "team_id": str(team.pk),
        "user_id": str(user.pk),
        "credit_pack": pack.lookup_key,
        "credits": str(pack.credits),
    }
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer.id,
        "client_reference_id": str(team.pk),
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": team_url(team, "credits") + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": team_url(team, "credits"),
        "metadata": metadata,
        # The PaymentIntent carries the same metadata: a refund in the Dashboard shows it.
        "payment_intent_data": {"metadata": metadata, "description": pack.name},
        # A post-payment invoice: the customer gets an invoice and receipt like any payment.
        "invoice_creation": {"enabled": True, "invoice_data": {"metadata": metadata}},
    }
    if settings.BILLING_TAX_AUTOMATIC:
        params["automatic_tax"] = {"enabled": True}
        params["billing_address_collection"] = "required"
        params["customer_update"] = {"address": "auto"}
    try:
        session = stripe_client().v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        raise BillingError(str(exc)) from exc
    logger.info(
        "credits checkout %s created: team=%s user=%s customer=%s pack=%s",
        session.id, team.pk, user.pk, customer.id, pack.lookup_key,
    )  # fmt: skip
    if not session.url:
        raise BillingError("Stripe returned a Checkout Session without a URL")
    return session.url


def _purchase_of(session: dict[str, Any], team_id: int) -> tuple[str, int] | None:
    """(pack, credits) of a paid credit-pack session of this team, else None."""
    meta = session.get("metadata") or {}
    if session.get("mode") != "payment" or meta.get("kind") != SESSION_KIND:
        return None
    if meta.get("team_id") != str(team_id):
        # The customer is this team's but the session says otherwise: grant nothing.
        logger.warning(
            "credits: session %s of team %s names team %s",
            session.get("id"),
            team_id,
            meta.get("team_id"),
        )
        return None
    if session.get("payment_status") != "paid":
        return None
    try:
        credits = int(meta.get("credits") or 0)
    except ValueError:
        credits = 0
    return (str(meta.get("credit_pack") or ""), credits) if credits > 0 else None


def credits_grant(
    *, team_id: int, session: dict[str, Any], stripe_event_id: str = ""
) -> CreditEntry | None:
    """Grant a paid credit-pack session's credits once (the fulfilment function).

    None when the session is not a paid credit purchase of this team, or was
    granted already.
    """
    purchase = _purchase_of(session, team_id)
    if purchase is None:
        return None
    pack, credits = purchase
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    spec = get_catalog().credit_pack(pack)
    entry = _append(
        team_id=team_id,
        kind=CreditEntry.Kind.PURCHASE,
        credits=credits,
        source=str(session["id"]),
        description=spec.name if spec else pack,
        pack=pack,
        payment_intent=str(payment_intent or ""),
        amount_paid=int(session.get("amount_total") or 0),
        currency=str(session.get("currency") or ""),
        stripe_event_id=stripe_event_id,
    )
    if entry is None:
        return None
    logger.info(
        "credits: team %s granted %s (%s) for session %s payment_intent %s event %s",
        team_id, credits, pack, session["id"], payment_intent, stripe_event_id or "-",
    )  # fmt: skip
    _refunds_before_grant(team_id=team_id, payment_intent=entry.payment_intent)
    return entry


def _refunds_before_grant(*, team_id: int, payment_intent: str) -> None:
    """A refund processed before the purchase it reverses: apply it now, from the mirror."""
    if not payment_intent:
        return
    for charge in Charge.objects.filter(payment_intent_id=payment_intent):
        data = charge.stripe_data or {}
        if int(data.get("amount_refunded") or 0) > 0:
            credits_refund_reverse(team_id=team_id, charge=data)


# --- Refunds ---------------------------------------------------------------------------


def credits_refund_reverse(
    *, team_id: int, charge: dict[str, Any], stripe_event_id: str = ""
) -> CreditEntry | None:
    """Take back the credits of a refunded purchase: the refunded share not taken back
    yet, at most what the team has left. None when nothing (more) is to reverse."""
    payment_intent = charge.get("payment_intent")
    refunded = int(charge.get("amount_refunded") or 0)
    paid = int(charge.get("amount") or 0)
    if not payment_intent or refunded <= 0 or paid <= 0:
        return None
    purchase = CreditEntry.objects.filter(
        team_id=team_id, kind=CreditEntry.Kind.PURCHASE, payment_intent=payment_intent
    ).first()
    if purchase is None:
        return None  # not a credit purchase, or not granted yet (the grant applies it)
    _balance_row_ensure(team_id)
    with transaction.atomic():
        # Serialises reversals and spends of this team while the share is worked out.
        balance = CreditBalance.objects.select_for_update().get(team_id=team_id).credits
        before = (
            CreditEntry.objects.filter(
                team_id=team_id, kind=CreditEntry.Kind.REFUND, payment_intent=payment_intent
            ).aggregate(most=Max("amount_refunded"))["most"]
            or 0
        )
        share = purchase.credits * min(refunded, paid) // paid
        share_before = purchase.credits * min(before, paid) // paid
        if share <= share_before:
            return None  # an older state of the charge, arriving late: already covered
        taken = min(balance, share - share_before)
        entry = _append(
            team_id=team_id,
            kind=CreditEntry.Kind.REFUND,
            credits=-taken,
            source=f"{charge.get('id')}:{refunded}",
            description=_("Refund of %(pack)s") % {"pack": purchase.description},
            pack=purchase.pack,
            payment_intent=str(payment_intent),
            amount_refunded=refunded,
            currency=str(charge.get("currency") or purchase.currency),
            stripe_event_id=stripe_event_id,
        )
    if entry is not None:
        logger.info(
            "credits: team %s refund of %s on charge %s (%s of %s refunded): %s credits taken back",
            team_id, payment_intent, charge.get("id"), refunded, paid, taken,
        )  # fmt: skip
    return entry


# --- The webhook pipeline and the return page --------------------------------------------


def on_billing_event_processed(
    *, team_id: int, stripe_event_id: str, event_type: str, obj: dict[str, Any], **_: Any
) -> None:
    """Receiver of ``subscriptions.signals.billing_event_processed`` (in the event's
    transaction: the ledger entry commits with the processed event)."""
    if event_type in GRANT_EVENT_TYPES:
        credits_grant(team_id=team_id, session=obj, stripe_event_id=stripe_event_id)
    elif event_type == "charge.refunded":
        credits_refund_reverse(team_id=team_id, charge=obj, stripe_event_id=stripe_event_id)


@dataclass(frozen=True)
class CreditsReturn:
    state: Literal["granted", "processing", "unpaid"]
    entry: CreditEntry | None = None


def credits_checkout_return(*, team: Team, session_id: str) -> CreditsReturn:
    """The return page's sync: grant now what the webhook will find granted.

    Raises ``SessionNotFound`` for a session that is not this team's credit purchase.
    """
    if not session_id.startswith("cs_") or len(session_id) > 255:
        raise SessionNotFound(session_id)
    customer = customer_for_team(team=team)
    if customer is None:
        raise SessionNotFound(session_id)
    try:
        session = stripe_client().v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.InvalidRequestError as exc:
        raise SessionNotFound(session_id) from exc
    except stripe.StripeError as exc:
        raise BillingError(str(exc)) from exc
    meta = session.get("metadata") or {}
    if (
        session.get("customer") != customer.id
        or session.get("client_reference_id") != str(team.pk)
        or meta.get("kind") != SESSION_KIND
    ):
        logger.warning("team %s opened checkout session %s of another team", team.pk, session_id)
        raise SessionNotFound(session_id)
    if session.get("payment_status") != "paid":
        return CreditsReturn(
            state="processing" if session.get("status") == "complete" else "unpaid"
        )
    with transaction.atomic():
        credits_grant(team_id=team.pk, session=session)
    entry = CreditEntry.objects.filter(
        team_id=team.pk, kind=CreditEntry.Kind.PURCHASE, source=session_id
    ).first()
    return CreditsReturn(state="granted", entry=entry)

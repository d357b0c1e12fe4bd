"""Changing plan in the app: a price preview first, then exactly that change.

Stripe's guide to upgrades and downgrades (docs.stripe.com/billing/subscriptions/
upgrade-downgrade) and its preview (``POST /v1/invoices/create_preview``,
docs.stripe.com/api/invoices/create_preview): "to ensure that the actual
proration is calculated exactly the same as the previewed proration, pass the
``subscription_details.proration_date`` parameter when doing the actual
subscription update". So the preview fixes ``proration_date`` (now), the
confirmation form carries it signed, and the update sends the same value with
an idempotency key made of (subscription, target price, proration_date): a
double submit changes the plan once.

* An upgrade (a higher monthly-equivalent amount) applies at once and is
  charged now: ``proration_behavior=always_invoice`` with
  ``payment_behavior=pending_if_incomplete`` (docs.stripe.com/billing/
  subscriptions/pending-updates): when the payment fails or needs 3-D Secure
  the subscription keeps its plan, the change waits in ``pending_update`` and
  expires with the unpaid invoice, so nothing changes unless it is paid.
* A downgrade applies at the period end through a subscription schedule
  (docs.stripe.com/billing/subscriptions/subscription-schedules/use-cases):
  ``from_subscription``, then a second phase with the lower price. Undoing it
  releases the schedule (``POST /v1/subscription_schedules/{id}/release``:
  "stop scheduling of its phases, but leave any existing subscription in
  place"), which keeps the current plan and nothing else.
* A change of billing interval (monthly to yearly) is left to the Customer
  Portal's own confirmation page (``flow_data[type]=subscription_update_confirm``):
  it moves the billing date, which this page does not explain.

The quantity of the subscription item is kept (per-seat plans: quantity = seats),
so the preview and the change price the same number of seats.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.core import signing
from djstripe.models import Price, SubscriptionSchedule

from .. import selectors
from ..access.access import access_invalidate
from ..catalog import get_catalog
from ..services import (
    BillingError,
    NoCustomer,
    UnknownPrice,
    _as_dict,
    _key,
    _mirror_related,
    _translate,
    metered_line_items,
    mirror_read,
    price_for_checkout,
    stripe_client,
    subscription_sync_data,
    team_url,
)

if TYPE_CHECKING:
    from djstripe.models import Subscription

    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

# A preview's price holds this long; then the page asks to look at it again.
PREVIEW_MAX_AGE_SECONDS = 30 * 60
_SIGNING_SALT = "subscriptions.changes.plan_change"
# Statuses in which the plan can be changed in the app (in good standing).
CHANGEABLE_STATUSES = frozenset({"active", "trialing"})

Direction = Literal["upgrade", "downgrade"]


class PlanChangeRefused(BillingError):
    """The change cannot be made as asked; ``user_message`` says why."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class PreviewExpired(PlanChangeRefused):
    pass


class IntervalChange(BillingError):
    """Monthly to yearly (or back): confirmed in the Customer Portal."""

    user_message = "Changing between monthly and yearly billing is done in the billing portal."


@dataclass(frozen=True)
class CurrentPlan:
    subscription_id: str
    item_id: str
    price_id: str
    quantity: int
    amount: int  # per period, for the quantity
    interval: str
    interval_count: int
    currency: str
    period_end: datetime | None
    schedule_id: str | None
    # The plan's metered items (usage billing) beside its licensed item, with their prices.
    metered_items: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PlanChangePreview:
    """What confirming the change costs, in Stripe's terms."""

    lookup_key: str
    plan_name: str
    current_plan_name: str
    direction: Direction
    proration_date: int
    currency: str
    quantity: int
    # Credit for the unused time on the current plan (a positive number of cents).
    unused_time_credit: int
    # Charge for the rest of the period on the new plan.
    remaining_time_charge: int
    # The invoice made now: positive is charged today; negative is a credit that
    # Stripe adds to the customer's balance and applies to the next invoices.
    total_today: int
    next_invoice_date: datetime | None
    next_invoice_amount: int
    interval: str
    token: str

    @property
    def amount_due_today(self) -> int:
        return max(self.total_today, 0)

    @property
    def credit_to_balance(self) -> int:
        return max(-self.total_today, 0)

    @property
    def takes_effect_now(self) -> bool:
        return self.direction == "upgrade"


@dataclass(frozen=True)
class PlanChangeOutcome:
    state: Literal["changed", "scheduled", "action_required", "payment_failed"]
    # Where the customer completes 3-D Secure (or pays) for a held upgrade.
    action_url: str | None = None


# --- Reading the current plan ---------------------------------------------------------


def _months(interval: str, count: int) -> float:
    return {"day": 1 / 30, "week": 7 / 30, "month": 1.0, "year": 12.0}.get(interval, 1.0) * count


def monthly_equivalent(*, unit_amount: int, quantity: int, interval: str, count: int) -> float:
    """A price per month, so monthly and yearly plans compare (which way is an upgrade)."""
    return unit_amount * quantity / _months(interval, count)


def current_plan(*, team: Team) -> CurrentPlan:
    """The team's changeable subscription, read from the mirror."""
    subscription = selectors.subscription_current(team=team)
    if subscription is None:
        raise NoCustomer()
    data = subscription.stripe_data or {}
    if data.get("status") not in CHANGEABLE_STATUSES:
        raise PlanChangeRefused(
            "Your subscription is not in good standing; settle its payment before changing plan."
        )
    items = (data.get("items") or {}).get("data") or []
    metered = [i for i in items if _usage_type(i) == "metered"]
    licensed = [i for i in items if _usage_type(i) != "metered"]
    if len(licensed) != 1:
        raise PlanChangeRefused("This subscription has several items; change it in the portal.")
    item = licensed[0]
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    state = selectors.subscription_state(subscription)
    quantity = int(item.get("quantity") or 1)
    return CurrentPlan(
        subscription_id=subscription.id,
        item_id=str(item["id"]),
        price_id=str(price.get("id")),
        quantity=quantity,
        amount=int(price.get("unit_amount") or 0) * quantity,
        interval=str(recurring.get("interval") or "month"),
        interval_count=int(recurring.get("interval_count") or 1),
        currency=str(price.get("currency") or "usd"),
        period_end=state.current_period_end,
        schedule_id=state.schedule_id,
        metered_items=tuple((str(i["id"]), str((i.get("price") or {}).get("id"))) for i in metered),
    )


def _usage_type(item: dict[str, Any]) -> str:
    return str(((item.get("price") or {}).get("recurring") or {}).get("usage_type") or "licensed")


def _update_items(*, current: CurrentPlan, price: Price, lookup_key: str) -> list[dict[str, Any]]:
    """The items of the change: the licensed item to the new price with its quantity (seats),
    and each metered item of the old plan to the new plan's metered price in turn.

    Changing an item's price (not deleting and adding) is what
    ``payment_behavior=pending_if_incomplete`` accepts (``id``, ``price``,
    ``quantity`` per item); a metered item has no quantity.
    """
    new_metered = [m["price"] for m in metered_line_items(lookup_key=lookup_key)]
    if len(new_metered) < len(current.metered_items):
        raise PlanChangeRefused("This plan change is made in the billing portal.")
    items: list[dict[str, Any]] = [
        {"id": current.item_id, "price": price.id, "quantity": current.quantity}
    ]
    for (item_id, _old), new_price in zip(current.metered_items, new_metered, strict=False):
        items.append({"id": item_id, "price": new_price})
    items.extend({"price": p} for p in new_metered[len(current.metered_items) :])
    return items


def _phase_items(*, price_id: str, quantity: int, metered: list[str]) -> list[dict[str, Any]]:
    return [{"price": price_id, "quantity": quantity}, *({"price": m} for m in metered)]


def _target_price(*, lookup_key: str, current: CurrentPlan) -> Price:
    price = price_for_checkout(lookup_key=lookup_key)
    if price.id == current.price_id:
        raise PlanChangeRefused("You are already on this plan.")
    recurring = price.stripe_data.get("recurring") or {}
    if (recurring.get("interval"), int(recurring.get("interval_count") or 1)) != (
        current.interval,
        current.interval_count,
    ):
        raise IntervalChange(lookup_key)
    return price


def _direction(*, price: Price, current: CurrentPlan) -> Direction:
    recurring = price.stripe_data.get("recurring") or {}
    new = monthly_equivalent(
        unit_amount=int(price.stripe_data.get("unit_amount") or 0),
        quantity=current.quantity,
        interval=str(recurring.get("interval") or "month"),
        count=int(recurring.get("interval_count") or 1),
    )
    old = current.amount / _months(current.interval, current.interval_count)
    return "upgrade" if new > old else "downgrade"


def _plan_name(lookup_key: str | None) -> str:
    plan = get_catalog().plan_for_lookup_key(lookup_key or "")
    return plan.name if plan else (lookup_key or "")


# --- The signed confirmation ------------------------------------------------------------


def _sign(*, team: Team, current: CurrentPlan, lookup_key: str, proration_date: int) -> str:
    return signing.dumps(
        {"t": team.pk, "s": current.subscription_id, "k": lookup_key, "d": proration_date},
        salt=_SIGNING_SALT,
        compress=True,
    )


def _unsign(*, token: str, team: Team, current: CurrentPlan, lookup_key: str) -> int:
    """The proration_date of a preview shown to this team for this change."""
    try:
        data = signing.loads(token, salt=_SIGNING_SALT, max_age=PREVIEW_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise PreviewExpired("This price preview has expired; look at the new one.") from exc
    except signing.BadSignature as exc:
        raise PlanChangeRefused(
            "This confirmation was not issued by this page; look at the preview again."
        ) from exc
    if (data.get("t"), data.get("s"), data.get("k")) != (
        team.pk,
        current.subscription_id,
        lookup_key,
    ):
        raise PlanChangeRefused(
            "This confirmation is for another plan change; look at the preview again."
        )
    return int(data["d"])


# --- Preview ---------------------------------------------------------------------------


def _preview_invoice(
    *, current: CurrentPlan, items: list[dict[str, Any]], proration_date: int, behavior: str
) -> Any:
    return stripe_client().v1.invoices.create_preview(
        {  # type: ignore[arg-type]
            "subscription": current.subscription_id,
            "subscription_details": {
                "items": items,
                "proration_date": proration_date,
                "proration_behavior": behavior,
            },
        }
    )


def _proration_amounts(invoice: Any) -> tuple[int, int]:
    """(credit for unused time, charge for remaining time) from the proration lines.

    Stripe recommends telling them by ``parent.subscription_item_details.proration``;
    a proration that reached the invoice as a pending invoice item says so in
    ``parent.invoice_item_details.proration``.
    """
    credit = charge = 0
    for line in _as_dict(invoice).get("lines", {}).get("data", []):
        parent = line.get("parent") or {}
        if not any(
            (parent.get(kind) or {}).get("proration")
            for kind in ("subscription_item_details", "invoice_item_details")
        ):
            continue
        amount = int(line.get("amount") or 0)
        if amount < 0:
            credit += -amount
        else:
            charge += amount
    return credit, charge


def plan_change_preview(
    *, team: Team, lookup_key: str, proration_date: int | None = None
) -> PlanChangePreview:
    """What changing to ``lookup_key`` would cost, from Stripe's invoice preview."""
    current = current_plan(team=team)
    price = _target_price(lookup_key=lookup_key, current=current)
    direction = _direction(price=price, current=current)
    at = proration_date or int(time.time())
    items = _update_items(current=current, price=price, lookup_key=lookup_key)
    try:
        # The renewal on the new plan: what the next invoice will be.
        renewal = _preview_invoice(current=current, items=items, proration_date=at, behavior="none")
        credit = charge = total_today = 0
        if direction == "upgrade":
            now = _preview_invoice(
                current=current, items=items, proration_date=at, behavior="always_invoice"
            )
            credit, charge = _proration_amounts(now)
            total_today = int(now.total)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    recurring = price.stripe_data.get("recurring") or {}
    return PlanChangePreview(
        lookup_key=lookup_key,
        plan_name=_plan_name(lookup_key),
        current_plan_name=_plan_name(selectors.price_lookup_key_for(price_id=current.price_id)),
        direction=direction,
        proration_date=at,
        currency=current.currency,
        quantity=current.quantity,
        unused_time_credit=credit,
        remaining_time_charge=charge,
        total_today=total_today,
        next_invoice_date=current.period_end,
        next_invoice_amount=int(renewal.total),
        interval=str(recurring.get("interval") or "month"),
        token=_sign(team=team, current=current, lookup_key=lookup_key, proration_date=at),
    )


# --- Apply ---------------------------------------------------------------------------------


def plan_change_apply(*, team: Team, user: User, lookup_key: str, token: str) -> PlanChangeOutcome:
    """Apply exactly the previewed change (same proration_date); idempotent per preview."""
    current = current_plan(team=team)
    proration_date = _unsign(token=token, team=team, current=current, lookup_key=lookup_key)
    if price_for_checkout(lookup_key=lookup_key).id == current.price_id:
        # A second submit of a confirmation already applied: the change is done.
        return PlanChangeOutcome(state="changed")
    price = _target_price(lookup_key=lookup_key, current=current)
    idempotency = ("plan-change", current.subscription_id, price.id, proration_date)
    if _direction(price=price, current=current) == "downgrade":
        return _schedule_downgrade(
            current=current,
            price=price,
            metered=[m["price"] for m in metered_line_items(lookup_key=lookup_key)],
            idempotency=idempotency,
            user=user,
        )
    if current.schedule_id:
        # An upgrade replaces a downgrade that was waiting for the period end.
        _schedule_release(current.schedule_id, idempotency=(*idempotency, "release"))
    try:
        data = stripe_client().v1.subscriptions.update(
            current.subscription_id,
            {  # type: ignore[arg-type]
                "items": _update_items(current=current, price=price, lookup_key=lookup_key),
                "proration_behavior": "always_invoice",
                "proration_date": proration_date,
                "payment_behavior": "pending_if_incomplete",
                "expand": ["latest_invoice.payments"],
            },
            {"idempotency_key": _key(*idempotency)},
        )
    except stripe.CardError as exc:
        logger.info("upgrade of %s declined: %s", current.subscription_id, exc)
        return PlanChangeOutcome(state="payment_failed")
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    _mirror(data, team=team)
    logger.info(
        "subscription %s: upgrade to %s by user %s (pending=%s)",
        current.subscription_id,
        price.id,
        user.pk,
        bool(data.pending_update),
    )
    if data.pending_update:
        return PlanChangeOutcome(state="action_required", action_url=_payment_action_url(data))
    return PlanChangeOutcome(state="changed")


def _payment_action_url(sub: Any) -> str | None:
    """Where the customer authenticates (3-D Secure) or pays the held upgrade's invoice."""
    invoice = sub.latest_invoice
    if invoice is None or isinstance(invoice, str):
        return None
    for payment in getattr(getattr(invoice, "payments", None), "data", None) or []:
        pi_id = getattr(payment.payment, "payment_intent", None)
        if not isinstance(pi_id, str):
            continue
        try:
            pi = stripe_client().v1.payment_intents.retrieve(pi_id)
        except stripe.StripeError as exc:
            logger.warning("reading %s of held upgrade failed: %s", pi_id, exc)
            break
        redirect = getattr(pi.next_action, "redirect_to_url", None) if pi.next_action else None
        if pi.status == "requires_action" and redirect is not None and redirect.url:
            return str(redirect.url)
    return getattr(invoice, "hosted_invoice_url", None)


def _mirror(data: Any, *, team: Team) -> Subscription:
    """Mirror the subscription Stripe answered with: access follows at once."""
    subscription = subscription_sync_data(data=data)
    _mirror_related(stripe_client(), data)
    access_invalidate(team=team)
    return subscription


# --- Downgrade at the period end -----------------------------------------------------------


def _schedule_downgrade(
    *,
    current: CurrentPlan,
    price: Price,
    metered: list[str],
    idempotency: tuple[Any, ...],
    user: User,
) -> PlanChangeOutcome:
    client = stripe_client()
    try:
        schedule_id = current.schedule_id
        if schedule_id is None:
            created = client.v1.subscription_schedules.create(
                {"from_subscription": current.subscription_id},
                {"idempotency_key": _key(*idempotency, "schedule")},
            )
            schedule_id = created.id
        schedule = client.v1.subscription_schedules.retrieve(schedule_id)
        first = schedule.phases[0]
        schedule = client.v1.subscription_schedules.update(
            schedule_id,
            {  # type: ignore[arg-type]
                "end_behavior": "release",
                "phases": [
                    {
                        "items": _phase_items(
                            price_id=current.price_id,
                            quantity=current.quantity,
                            metered=[p for _i, p in current.metered_items],
                        ),
                        "start_date": first.start_date,
                        "end_date": first.end_date,
                    },
                    {
                        "items": _phase_items(
                            price_id=price.id, quantity=current.quantity, metered=metered
                        ),
                        "duration": {"interval": current.interval},
                    },
                ],
            },
            {"idempotency_key": _key(*idempotency, "phases")},
        )
        mirror_read(SubscriptionSchedule, schedule)
        data = client.v1.subscriptions.retrieve(current.subscription_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    subscription_sync_data(data=data)
    logger.info(
        "subscription %s: downgrade to %s at the period end (schedule %s) by user %s",
        current.subscription_id,
        price.id,
        schedule_id,
        user.pk,
    )
    return PlanChangeOutcome(state="scheduled")


def _schedule_release(schedule_id: str, *, idempotency: tuple[Any, ...]) -> None:
    try:
        released = stripe_client().v1.subscription_schedules.release(
            schedule_id, options={"idempotency_key": _key(*idempotency)}
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    mirror_read(SubscriptionSchedule, released)


def scheduled_change_cancel(*, team: Team, user: User) -> None:
    """ "Keep <plan>": release the schedule, so the current plan simply renews."""
    current = current_plan(team=team)
    if current.schedule_id is None:
        raise PlanChangeRefused("No plan change is scheduled.")
    _schedule_release(current.schedule_id, idempotency=("keep", current.schedule_id))
    try:
        data = stripe_client().v1.subscriptions.retrieve(current.subscription_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    _mirror(data, team=team)
    logger.info(
        "subscription %s: scheduled change %s undone by user %s",
        current.subscription_id,
        current.schedule_id,
        user.pk,
    )


@dataclass(frozen=True)
class ScheduledChange:
    current_plan_name: str
    next_plan_name: str
    starts_at: datetime


def scheduled_change(*, team: Team) -> ScheduledChange | None:
    """The downgrade waiting for the period end, read from the mirrored schedule.

    dj-stripe mirrors ``subscription_schedule.*`` events (the pipeline
    receives them) and this module mirrors the schedule after each change, so
    the page reads the mirror and never Stripe.
    """
    subscription = selectors.subscription_current(team=team)
    state = selectors.subscription_state(subscription) if subscription else None
    if state is None or state.schedule_id is None:
        return None
    schedule = SubscriptionSchedule.objects.filter(id=state.schedule_id).first()
    data = (schedule.stripe_data if schedule else None) or {}
    if data.get("status") not in ("active", "not_started"):
        return None
    phases = data.get("phases") or []
    now = int(time.time())
    upcoming = [p for p in phases if int(p.get("start_date") or 0) > now]
    if not upcoming:
        return None
    items = upcoming[0].get("items") or [{}]
    price = items[0].get("price")
    price_id = price if isinstance(price, str) else (price or {}).get("id")
    return ScheduledChange(
        current_plan_name=_plan_name(state.price_lookup_key),
        next_plan_name=_plan_name(selectors.price_lookup_key_for(price_id=price_id)),
        starts_at=datetime.fromtimestamp(int(upcoming[0]["start_date"]), tz=UTC),
    )


@dataclass(frozen=True)
class PendingUpgrade:
    plan_name: str
    # The held invoice's hosted page, where the customer pays or authenticates.
    pay_url: str | None
    expires_at: datetime | None


def pending_upgrade(*, team: Team) -> PendingUpgrade | None:
    """An upgrade Stripe holds until its invoice is paid (``pending_update``), from the mirror."""
    from djstripe.models import Invoice

    subscription = selectors.subscription_current(team=team)
    data = (subscription.stripe_data if subscription else None) or {}
    pending = data.get("pending_update") or {}
    if not pending:
        return None
    items = pending.get("subscription_items") or [{}]
    price = items[0].get("price") or {}
    lookup_key = price.get("lookup_key") if isinstance(price, dict) else None
    if lookup_key is None:
        price_id = price if isinstance(price, str) else price.get("id")
        lookup_key = selectors.price_lookup_key_for(price_id=price_id)
    state = selectors.subscription_state(subscription) if subscription else None
    invoice = (
        Invoice.objects.filter(id=state.latest_invoice_id).only("stripe_data").first()
        if state and state.latest_invoice_id
        else None
    )
    invoice_data = (invoice.stripe_data if invoice else None) or {}
    expires = pending.get("expires_at")
    return PendingUpgrade(
        plan_name=_plan_name(lookup_key),
        pay_url=invoice_data.get("hosted_invoice_url")
        if invoice_data.get("status") == "open"
        else None,
        expires_at=datetime.fromtimestamp(int(expires), tz=UTC) if expires else None,
    )


# --- Interval changes: the portal's confirmation page -------------------------------------


def portal_plan_change_url(*, team: Team, lookup_key: str) -> str:
    """A portal session that opens on the confirmation of this price change."""
    current = current_plan(team=team)
    price = price_for_checkout(lookup_key=lookup_key)
    if price.id == current.price_id:
        raise UnknownPrice(lookup_key)
    customer = selectors.customer_for_team(team=team)
    assert customer is not None  # current_plan found its subscription
    return_url = team_url(team, "billing_portal_return")
    try:
        session = stripe_client().v1.billing_portal.sessions.create(
            {
                "customer": customer.id,
                "return_url": return_url,
                "flow_data": {
                    "type": "subscription_update_confirm",
                    "subscription_update_confirm": {
                        "subscription": current.subscription_id,
                        "items": [
                            {"id": current.item_id, "price": price.id, "quantity": current.quantity}
                        ],
                    },
                    "after_completion": {
                        "type": "redirect",
                        "redirect": {"return_url": return_url},
                    },
                },
            }
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return session.url

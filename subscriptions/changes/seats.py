"""Per-seat plans: the subscription item's quantity follows the team's members at once.

The rule, in one line::

    quantity = max(members, seats_purchased, plan minimum)

``seats_purchased`` (on the team) is the quantity the owner chose: at Checkout,
with "Buy seats" on the billing page, or in the Customer Portal. It is a floor:
a new member raises the quantity above it at once (charged now or later as the
catalog's ``proration_on_add`` says); a member who leaves lowers it again, never
below the floor (credited as ``proration_on_remove`` says).

A quantity changed in the portal is not announced to the app as "seats bought";
it is recognised at the next sync: a quantity found in Stripe that is neither the
one the app last set (``seats_quantity_synced``) nor the one it would set now was
set by someone else, and becomes the new floor. So a quantity below the members
is raised back, and one above them is kept.

Every change (a member joins or leaves, the owner buys seats, the portal returns,
the daily reconciliation finds drift) bumps the team's ``seat_version`` and, after
commit, queues ``seats_quantity_sync_task`` on the "seats" queue. The task skips a
version that a newer one has superseded, and its Stripe update carries an
idempotency key made of the subscription item, the version and the quantity, so a
task delivered twice updates Stripe once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from .. import selectors, services
from ..catalog import PlanSpec, SeatSpec, get_catalog
from ..status import LIVE as LIVE_STATUSES

if TYPE_CHECKING:
    from djstripe.models import Subscription

    from teams.models import Team

logger = logging.getLogger(__name__)

SyncStatus = Literal["updated", "unchanged", "superseded", "not_per_seat"]


class SeatError(services.BillingError):
    """A seat count that cannot be bought; ``user_message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


# --- Reads ----------------------------------------------------------------------------


def team_member_count(*, team_id: int) -> int:
    from teams.models import Membership

    return Membership.objects.filter(team_id=team_id).count()


def team_members(*, team: Team) -> int:
    """The team's members for display: the ``member_count`` that
    ``teams.selectors.teams_for_user`` loaded with the team when it did (the team of a
    page without one in its URL comes from that list), else one COUNT."""
    loaded = getattr(team, "member_count", None)
    return int(loaded) if loaded is not None else team_member_count(team_id=team.pk)


def team_pending_invitation_count(*, team_id: int) -> int:
    """Open, unexpired invitations: each may become a seat."""
    from django.utils import timezone

    from teams.models import Invitation

    return Invitation.objects.filter(
        team_id=team_id,
        accepted_at__isnull=True,
        declined_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()


def seats_target(*, members: int, purchased: int, seats: SeatSpec) -> int:
    """The quantity the team pays for (the rule in the module docstring)."""
    return max(members, purchased, seats.minimum)


def _item_quantity(subscription: Subscription) -> int | None:
    items = ((subscription.stripe_data or {}).get("items") or {}).get("data") or []
    if not items:
        return None
    return int(items[0].get("quantity") or 0)


def _per_seat_plan(subscription: Subscription | None) -> PlanSpec | None:
    if subscription is None:
        return None
    state = selectors.subscription_state(subscription)
    if state.status not in LIVE_STATUSES:
        return None
    plan_key = selectors.plan_key_for_state(state)
    plan = get_catalog().plan(plan_key) if plan_key else None
    return plan if plan is not None and plan.is_per_seat else None


@dataclass(frozen=True)
class SeatUsage:
    """A team on a per-seat plan, as the mirror has it."""

    plan: PlanSpec
    interval: str | None
    members: int
    paid: int  # the subscription item's quantity in the mirror
    purchased: int
    pending_invitations: int

    @property
    def seats(self) -> SeatSpec:
        assert self.plan.seats is not None
        return self.plan.seats

    @property
    def target(self) -> int:
        return seats_target(members=self.members, purchased=self.purchased, seats=self.seats)

    @property
    def in_advance(self) -> int:
        """Paid seats nobody uses yet."""
        return max(0, self.paid - self.members)

    @property
    def percent_used(self) -> int:
        return min(100, round(100 * self.members / self.paid)) if self.paid else 100

    @property
    def bar_width_class(self) -> str:
        """A Bootstrap width utility near ``percent_used``: the strict CSP drops inline styles."""
        if self.percent_used == 0:
            return ""
        return f"w-{min(100, max(25, 25 * round(self.percent_used / 25)))}"


def seat_usage(*, team: Team) -> SeatUsage | None:
    """The team's seats, or None when it is not on a live per-seat plan."""
    subscription = selectors.subscription_current(team=team)
    plan = _per_seat_plan(subscription)
    if plan is None or subscription is None:
        return None
    state = selectors.subscription_state(subscription)
    price = ((subscription.stripe_data.get("items") or {}).get("data") or [{}])[0].get("price")
    interval = (price.get("recurring") or {}).get("interval") if isinstance(price, dict) else None
    return SeatUsage(
        plan=plan,
        interval=interval or _interval_of(state.price_lookup_key),
        members=team_member_count(team_id=team.pk),
        paid=_item_quantity(subscription) or 0,
        purchased=team.seats_purchased,
        pending_invitations=team_pending_invitation_count(team_id=team.pk),
    )


def _interval_of(lookup_key: str | None) -> str | None:
    spec = get_catalog().price(lookup_key) if lookup_key else None
    return spec.interval if spec else None


def seats_default(*, team: Team | None, seats: SeatSpec) -> int:
    """The seat count the pricing page proposes: the team's members, within the limits."""
    members = team_member_count(team_id=team.pk) if team is not None else 1
    return seats.clamp(members)


def seats_checkout_quantity(*, team: Team, plan: PlanSpec, raw: str | None) -> int:
    """The quantity a Checkout for ``plan`` buys, checked against the team.

    At least the current members (and the plan's minimum), at most its maximum.
    """
    seats = plan.seats
    assert seats is not None
    members = team_member_count(team_id=team.pk)
    least = max(members, seats.minimum)
    if raw in (None, ""):
        quantity = least
    else:
        try:
            quantity = int(str(raw).strip())
        except ValueError:
            raise SeatError("Enter the number of seats as a whole number.") from None
    _seats_check_range(quantity=quantity, least=least, members=members, seats=seats)
    return quantity


def _seats_check_range(*, quantity: int, least: int, members: int, seats: SeatSpec) -> None:
    if quantity < least:
        if least == members:
            raise SeatError(
                f"Your team has {members} members: buy at least {members} seats "
                "(remove members first to pay for fewer)."
            )
        raise SeatError(f"This plan starts at {seats.minimum} seats.")
    if seats.maximum is not None and quantity > seats.maximum:
        raise SeatError(f"This plan has at most {seats.maximum} seats.")


def seats_invitation_check(*, team: Team) -> None:
    """Refuse one more invitation when members + open invitations reach the plan's maximum."""
    usage = seat_usage(team=team)
    if usage is None or usage.seats.maximum is None:
        return
    taken = usage.members + usage.pending_invitations
    if taken >= usage.seats.maximum:
        raise SeatError(
            f"Your {usage.plan.name} plan has at most {usage.seats.maximum} seats and "
            f"{usage.members} members plus {usage.pending_invitations} open invitations "
            "take them all. Revoke an invitation or remove a member first."
        )


def seats_join_check(*, team: Team) -> None:
    """Refuse a new member when the members already fill the plan's maximum.

    Invitations count against the maximum when they are made, so this refuses only
    what they could not foresee: invitations made before a plan with fewer seats.
    """
    usage = seat_usage(team=team)
    if usage is None or usage.seats.maximum is None:
        return
    if usage.members >= usage.seats.maximum:
        raise SeatError(
            f"{team.name}'s {usage.plan.name} plan has at most {usage.seats.maximum} seats "
            f"and its {usage.members} members take them all. Ask an owner to remove a "
            "member or choose a plan with more seats, then open this link again."
        )


# --- Writes ----------------------------------------------------------------------------


def seats_changed(*, team_id: int, reason: str) -> int:
    """Record a change that may move the team's seats; sync them after commit.

    Call inside the transaction that changes the membership: a rolled-back
    change queues nothing. Returns the new seat version.
    """
    from teams.models import Team

    Team.objects.filter(pk=team_id).update(seat_version=F("seat_version") + 1)
    version = Team.objects.values_list("seat_version", flat=True).get(pk=team_id)
    logger.info("seats changed team=%s version=%s reason=%s", team_id, version, reason)
    transaction.on_commit(lambda: _enqueue(team_id, version), robust=True)
    return int(version)


def _enqueue(team_id: int, version: int) -> None:
    from ..tasks import seats_quantity_sync_task

    seats_quantity_sync_task.delay(team_id, version)


@dataclass(frozen=True)
class SeatSync:
    status: SyncStatus
    team_id: int
    subscription_id: str | None = None
    before: int | None = None
    after: int | None = None


def seats_quantity_sync(
    *, team_id: int, seat_version: int | None = None, adopt_outside_changes: bool = True
) -> SeatSync:
    """Make the team's paid quantity follow the rule; Stripe first, then the mirror.

    ``seat_version`` is the change this run is for: when the team has moved on to
    a newer version, that version's own task does the work and this one stops.
    ``adopt_outside_changes=False`` when the owner has just chosen the seats: their
    choice wins over a quantity found in Stripe.
    Raises ``services.StripeUnavailable`` (worth a retry) or ``BillingError``.
    """
    with _team_lock(team_id):
        return _sync_locked(team_id=team_id, seat_version=seat_version, adopt=adopt_outside_changes)


class SeatSyncBusy(services.StripeUnavailable):
    """Another sync of the same team held the lock too long: retry later."""


# Longer than one sync (a read, an update, a read); a dead holder frees it after this.
SEAT_LOCK_SECONDS = 60
SEAT_LOCK_WAIT_SECONDS = 15.0


@contextmanager
def _team_lock(team_id: int) -> Iterator[None]:
    """One sync per team at a time, across workers (a Redis key).

    Two syncs of one team at once would each read the quantity the other is
    setting and take it for a quantity set in the portal.
    """
    key = f"seats:sync-lock:team:{team_id}"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + SEAT_LOCK_WAIT_SECONDS
    while not cache.add(key, token, timeout=SEAT_LOCK_SECONDS):
        if time.monotonic() > deadline:
            raise SeatSyncBusy(f"seat sync of team {team_id} is busy")
        time.sleep(0.05)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


def _sync_locked(*, team_id: int, seat_version: int | None, adopt: bool) -> SeatSync:
    from teams.models import Team

    team = Team.objects.get(pk=team_id)
    if seat_version is not None and team.seat_version > seat_version:
        return SeatSync("superseded", team_id)
    subscription = selectors.subscription_current(team=team)
    plan = _per_seat_plan(subscription)
    if plan is None or subscription is None:
        return SeatSync("not_per_seat", team_id)
    assert plan.seats is not None
    client = services.stripe_client()
    try:
        remote = client.v1.subscriptions.retrieve(subscription.id)
    except stripe.StripeError as exc:
        raise services._translate(exc) from exc
    item = remote["items"].data[0]
    before = int(item.quantity or 0)
    members = team_member_count(team_id=team_id)
    target = seats_target(members=members, purchased=team.seats_purchased, seats=plan.seats)
    if adopt and before not in (team.seats_quantity_synced, target):
        # Set outside the app (the portal, or Checkout before the first sync).
        logger.info(
            "seats: team=%s subscription=%s quantity %s set outside the app: the new floor",
            team_id,
            subscription.id,
            before,
        )
        team.seats_purchased = before
        target = seats_target(members=members, purchased=before, seats=plan.seats)
    if target == before:
        _record_synced(team, quantity=before)
        return SeatSync("unchanged", team_id, subscription.id, before, before)
    data = _quantity_push(
        client,
        subscription_id=subscription.id,
        item_id=item.id,
        quantity=target,
        proration=plan.seats.proration_for(old=before, new=target),
        # The change (version) and the move: a task delivered twice sends the same key;
        # a later move between other quantities at the same version does not.
        idempotency_key=services._key("seats", item.id, team.seat_version, before, target),
    )
    _record_synced(team, quantity=target)
    services.subscription_sync_data(data=data)
    services._mirror_related(client, data)
    logger.info(
        "seats: team=%s subscription=%s item=%s quantity %s -> %s (members %s, bought %s, v%s)",
        team_id,
        subscription.id,
        item.id,
        before,
        target,
        members,
        team.seats_purchased,
        team.seat_version,
    )
    return SeatSync("updated", team_id, subscription.id, before, target)


def _quantity_push(
    client: stripe.StripeClient,
    *,
    subscription_id: str,
    item_id: str,
    quantity: int,
    proration: str,
    idempotency_key: str,
) -> Any:
    """Set the item's quantity in Stripe; returns the subscription as it is now."""
    try:
        client.v1.subscription_items.update(
            item_id,
            {"quantity": quantity, "proration_behavior": proration},
            {"idempotency_key": idempotency_key},
        )
        return client.v1.subscriptions.retrieve(subscription_id, {"expand": ["latest_invoice"]})
    except stripe.StripeError as exc:
        logger.warning("seats: updating item %s to %s failed: %s", item_id, quantity, exc)
        raise services._translate(exc) from exc


def _record_synced(team: Team, *, quantity: int) -> None:
    team.seats_quantity_synced = quantity
    type(team).objects.filter(pk=team.pk).update(
        seats_quantity_synced=quantity, seats_purchased=team.seats_purchased
    )


def seats_purchase(*, team: Team, quantity_raw: str) -> SeatSync:
    """The owner sets the seats bought in advance (at least the members); synced now."""
    usage = seat_usage(team=team)
    if usage is None:
        raise SeatError("Your team is not on a per-seat plan.")
    quantity = seats_checkout_quantity(team=team, plan=usage.plan, raw=quantity_raw or "x")
    with transaction.atomic():
        type(team).objects.filter(pk=team.pk).update(seats_purchased=quantity)
        version = seats_changed(team_id=team.pk, reason="purchase")
    # On the request path: the owner waits for the answer (the queued task then finds
    # nothing to do).
    return seats_quantity_sync(team_id=team.pk, seat_version=version, adopt_outside_changes=False)


# --- Reconciliation ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeatDrift:
    team_id: int
    subscription_id: str
    members: int
    paid: int
    target: int


def seat_drifts() -> list[SeatDrift]:
    """Teams on a live per-seat plan whose mirrored quantity is not the rule's."""
    from djstripe.models import Customer

    drifts: list[SeatDrift] = []
    customers = Customer.objects.filter(subscriber__isnull=False).select_related("subscriber")
    for customer in customers:
        team = customer.subscriber
        usage = seat_usage(team=team)
        if usage is None or usage.paid == usage.target:
            continue
        subscription = selectors.subscription_current(team=team)
        assert subscription is not None
        drifts.append(SeatDrift(team.pk, subscription.id, usage.members, usage.paid, usage.target))
    return drifts

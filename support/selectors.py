"""Reads for the staff customer page: one team (the Stripe customer) and its users.

Every list is capped (``STAFF_LIST_LIMIT``) and each section is one query, so the
page costs the same for a customer with ten events or ten thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from djstripe.models import Charge, Customer

from notifications.models import Notification
from subscriptions.catalog import get_catalog
from subscriptions.formatting import format_money
from subscriptions.models import StripeEvent
from subscriptions.selectors import (
    InvoiceRow,
    SubscriptionState,
    invoices_for_customer,
    stripe_dashboard_url,
    subscription_state,
    subscriptions_for_customer,
)
from teams.models import Membership, Team

from .models import Impersonation

if TYPE_CHECKING:
    from accounts.models import User

STAFF_LIST_LIMIT = 50
SEARCH_LIMIT = 25


@dataclass(frozen=True)
class TimelineEntry:
    """One Stripe event of the customer, as staff read it."""

    stripe_id: str
    type: str
    at: datetime
    status: str  # our processing status (received, processed, failed, ...)
    object_id: str
    summary: str  # e.g. the subscription's status after the event
    dashboard_url: str


@dataclass(frozen=True)
class ChargeRow:
    id: str
    created: datetime | None
    amount: int
    currency: str
    status: str
    refunded: int
    dashboard_url: str


@dataclass(frozen=True)
class SearchResults:
    query: str
    teams: Sequence[Team] = field(default_factory=list)
    users: Sequence[User] = field(default_factory=list)


@dataclass(frozen=True)
class TeamCustomerPage:
    team: Team
    members: list[Membership]
    customer_id: str | None
    customer_url: str | None
    subscription: SubscriptionState | None
    subscription_url: str | None
    plan_name: str | None
    seats: int | None
    timeline: list[TimelineEntry]
    invoices: list[InvoiceRow]
    charges: list[ChargeRow]
    notifications: list[Notification]


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def customer_search(*, query: str) -> SearchResults:
    """Teams and users matching an email, a team name or slug, or a Stripe customer id."""
    from accounts.models import User

    query = query.strip()
    if not query:
        return SearchResults(query="")
    team_match = Q(name__icontains=query) | Q(slug__icontains=query) | Q(email__iexact=query)
    if query.startswith("cus_"):
        team_match |= Q(pk__in=Customer.objects.filter(id=query).values("subscriber_id"))
    teams = list(
        Team.objects.filter(team_match).annotate(members=Count("memberships"))[:SEARCH_LIMIT]
    )
    users = list(User.objects.filter(email__icontains=query).order_by("email")[:SEARCH_LIMIT])
    return SearchResults(query=query, teams=teams, users=users)


def _customer(team: Team) -> Customer | None:
    return (
        Customer.objects.filter(subscriber=team, livemode=settings.STRIPE_LIVE_MODE)
        .order_by("-created")
        .first()
    )


def _event_summary(payload: dict[str, Any]) -> str:
    """What the event's object says: "subscription active", "invoice paid $19.00"."""
    obj = (payload.get("data") or {}).get("object") or {}
    kind = str(obj.get("object") or "")
    status = str(obj.get("status") or "")
    amount = obj.get("amount_due" if kind == "invoice" else "amount")
    if kind == "subscription" or not isinstance(amount, int):
        return f"{kind} {status}".strip()
    return f"{kind} {status} {format_money(amount, str(obj.get('currency') or 'usd'))}"


def customer_timeline(*, customer_id: str) -> list[TimelineEntry]:
    """The customer's Stripe events as we received them, newest first."""
    rows = StripeEvent.objects.filter(customer_id=customer_id).order_by("-stripe_created")[
        :STAFF_LIST_LIMIT
    ]
    return [
        TimelineEntry(
            stripe_id=e.stripe_id,
            type=e.type,
            at=e.stripe_created,
            status=e.status,
            object_id=e.object_id,
            summary=_event_summary(e.payload or {}),
            dashboard_url=stripe_dashboard_url(e.stripe_id),
        )
        for e in rows
    ]


def customer_charges(*, customer_id: str) -> list[ChargeRow]:
    rows = Charge.objects.filter(customer_id=customer_id).order_by("-created")[:STAFF_LIST_LIMIT]
    result = []
    for charge in rows:
        data = charge.stripe_data or {}
        result.append(
            ChargeRow(
                id=charge.id,
                created=_ts(data.get("created")),
                amount=int(data.get("amount") or 0),
                currency=str(data.get("currency") or ""),
                status=str(data.get("status") or ""),
                refunded=int(data.get("amount_refunded") or 0),
                dashboard_url=stripe_dashboard_url(charge.id),
            )
        )
    return result


def _seats(subscription: Any) -> int | None:
    items = ((subscription.stripe_data or {}).get("items") or {}).get("data") or []
    quantities = [int(i.get("quantity") or 0) for i in items]
    return sum(quantities) if quantities else None


def team_customer_page(*, team: Team) -> TeamCustomerPage:
    """Everything staff look at for one team: plan, status, seats, events, money, mail."""
    members = list(
        Membership.objects.filter(team=team).select_related("user").order_by("role", "user__email")
    )
    notifications = list(
        Notification.objects.filter(team=team)
        .select_related("user")
        .order_by("-created")[:STAFF_LIST_LIMIT]
    )
    customer = _customer(team)
    if customer is None:
        return TeamCustomerPage(
            team, members, None, None, None, None, None, None, [], [], [], notifications
        )
    subs = subscriptions_for_customer(customer=customer)
    current = subs[0] if subs else None
    state = subscription_state(current) if current else None
    plan = get_catalog().plan_for_lookup_key(state.price_lookup_key or "") if state else None
    return TeamCustomerPage(
        team=team,
        members=members,
        customer_id=customer.id,
        customer_url=stripe_dashboard_url(customer.id),
        subscription=state,
        subscription_url=stripe_dashboard_url(state.id) if state else None,
        plan_name=plan.name if plan else None,
        seats=_seats(current) if current else None,
        timeline=customer_timeline(customer_id=customer.id),
        invoices=invoices_for_customer(customer_id=customer.id, limit=STAFF_LIST_LIMIT),
        charges=customer_charges(customer_id=customer.id),
        notifications=notifications,
    )


def user_memberships(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name")


def user_impersonations(*, user: User) -> list[Impersonation]:
    """The latest impersonations of or by ``user`` (the audit trail on their page)."""
    return list(
        Impersonation.objects.filter(Q(hijacked=user) | Q(hijacker=user)).order_by("-started_at")[
            :STAFF_LIST_LIMIT
        ]
    )

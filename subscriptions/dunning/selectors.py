"""Dunning reads of the local mirror. Nothing here calls Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from djstripe.models import Invoice, PaymentMethod, Subscription

from ..catalog import RetentionSpec, get_catalog
from ..models import RecoveredInvoice, RetentionOffer, TestClockTime
from ..selectors import customer_for_team

if TYPE_CHECKING:
    from teams.models import Team

# Subscriptions whose default card will be charged again: worth warning before it expires.
CHARGEABLE_STATUSES = ("active", "trialing", "past_due")


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


@dataclass(frozen=True)
class OpenInvoice:
    id: str
    customer_id: str
    amount_remaining: int
    currency: str
    attempt_count: int
    hosted_invoice_url: str
    subscription_id: str


def open_invoice_for_team(*, team: Team) -> OpenInvoice | None:
    """The team's newest open invoice with something left to pay, from the mirror."""
    customer = customer_for_team(team=team)
    if customer is None:
        return None
    rows = (
        Invoice.objects.filter(customer_id=customer.id, stripe_data__status="open")
        .order_by("-created")
        .only("id", "stripe_data")
    )
    for row in rows[:5]:
        data = row.stripe_data or {}
        remaining = int(data.get("amount_remaining") or 0)
        if remaining <= 0:
            continue
        parent = data.get("parent") or {}
        details = parent.get("subscription_details") or {}
        return OpenInvoice(
            id=row.id,
            customer_id=customer.id,
            amount_remaining=remaining,
            currency=str(data.get("currency") or "usd"),
            attempt_count=int(data.get("attempt_count") or 0),
            hosted_invoice_url=str(data.get("hosted_invoice_url") or ""),
            subscription_id=_id_of(details.get("subscription")),
        )
    return None


def charged_payment_method_id(*, team: Team) -> str:
    """The card Stripe charges first for the team's invoices: the current subscription's
    default, else the customer's (Stripe's order; the mirror's view of it)."""
    from ..selectors import subscription_current

    customer = customer_for_team(team=team)
    if customer is None:
        return ""
    current = subscription_current(team=team)
    pm = _id_of((current.stripe_data or {}).get("default_payment_method")) if current else ""
    invoice_settings = (customer.stripe_data or {}).get("invoice_settings") or {}
    return pm or _id_of(invoice_settings.get("default_payment_method"))


# --- Cards about to expire -----------------------------------------------------------


@dataclass(frozen=True)
class ExpiringCard:
    team_id: int
    customer_id: str
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


def _next_month(moment: datetime) -> tuple[int, int]:
    first_of_next = (moment.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_of_next.year, first_of_next.month


def _charged_cards() -> dict[str, tuple[int, str]]:
    """payment method id -> (team id, customer id) for every team with a chargeable
    subscription: the subscription's default card, else the customer's default."""
    subscriptions = (
        Subscription.objects.filter(
            livemode=settings.STRIPE_LIVE_MODE,
            customer__subscriber__isnull=False,
            stripe_data__status__in=CHARGEABLE_STATUSES,
        )
        .select_related("customer")
        .only("stripe_data", "customer__id", "customer__stripe_data", "customer__subscriber_id")
    )
    cards: dict[str, tuple[int, str]] = {}
    for sub in subscriptions:
        customer = sub.customer
        invoice_settings = (customer.stripe_data or {}).get("invoice_settings") or {}
        pm_id = _id_of((sub.stripe_data or {}).get("default_payment_method")) or _id_of(
            invoice_settings.get("default_payment_method")
        )
        if pm_id and customer.subscriber_id:
            cards[pm_id] = (int(customer.subscriber_id), customer.id)
    return cards


def _clock_times(customer_ids: set[str]) -> dict[str, datetime]:
    """Customers on a Stripe test clock live at the clock's time."""
    from djstripe.models import Customer

    clocks = {
        c.id: str((c.stripe_data or {}).get("test_clock") or "")
        for c in Customer.objects.filter(id__in=customer_ids).only("id", "stripe_data")
    }
    frozen = dict(
        TestClockTime.objects.filter(clock_id__in=[c for c in clocks.values() if c]).values_list(
            "clock_id", "frozen_time"
        )
    )
    return {cid: frozen[clock] for cid, clock in clocks.items() if clock in frozen}


def default_cards_expiring_next_month(*, now: datetime | None = None) -> list[ExpiringCard]:
    """Default cards of teams with a chargeable subscription that expire next month
    (at each customer's own time: a test clock's, else ``now``)."""
    now = now or timezone.now()
    charged = _charged_cards()
    if not charged:
        return []
    clock_now = _clock_times({customer_id for _, customer_id in charged.values()})
    cards: list[ExpiringCard] = []
    for pm in PaymentMethod.objects.filter(id__in=list(charged)).only("id", "stripe_data"):
        card = (pm.stripe_data or {}).get("card") or {}
        if not card.get("exp_month") or not card.get("exp_year"):
            continue
        team_id, customer_id = charged[pm.id]
        year, month = _next_month(clock_now.get(customer_id, now).astimezone(UTC))
        if (int(card["exp_year"]), int(card["exp_month"])) != (year, month):
            continue
        cards.append(
            ExpiringCard(
                team_id=team_id,
                customer_id=customer_id,
                payment_method_id=pm.id,
                brand=str(card.get("brand") or "card"),
                last4=str(card.get("last4") or ""),
                exp_month=month,
                exp_year=year,
            )
        )
    return cards


# --- Recovered revenue ----------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryLine:
    method: str
    label: str
    invoices: int
    amount: int  # minor units, in ``currency``
    currency: str


@dataclass(frozen=True)
class RecoveryReport:
    days: int
    lines: list[RecoveryLine]

    @property
    def invoices(self) -> int:
        return sum(line.invoices for line in self.lines)


def recovered_revenue(*, now: datetime | None = None, days: int = 30) -> RecoveryReport:
    """Invoices that failed and were later paid in the last ``days``, by how they were
    paid and currency (amounts are what was paid). One query."""
    since = (now or timezone.now()) - timedelta(days=days)
    rows = RecoveredInvoice.objects.filter(
        livemode=settings.STRIPE_LIVE_MODE, recovered_at__gte=since
    )
    labels = dict(RecoveredInvoice.Method.choices)
    grouped = (
        rows.values("method", "currency")
        .annotate(invoices=Count("id"), amount=Sum("amount"))
        .order_by("method", "currency")
    )
    lines = [
        RecoveryLine(
            method=g["method"],
            label=str(labels.get(g["method"], g["method"])),
            invoices=g["invoices"],
            amount=int(g["amount"] or 0),
            currency=g["currency"],
        )
        for g in grouped
    ]
    return RecoveryReport(days=days, lines=lines)


# --- Retention offer --------------------------------------------------------------------


def retention_offer_for(*, subscription_id: str) -> RetentionSpec | None:
    """The catalog's retention coupon, unless this subscription was offered it already."""
    spec = get_catalog().retention
    if spec is None or not subscription_id:
        return None
    if RetentionOffer.objects.filter(subscription_id=subscription_id).exists():
        return None
    return spec

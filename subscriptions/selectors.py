"""Reads of the local Stripe mirror. Nothing here calls Stripe.

These functions hide dj-stripe's ``stripe_data`` JSON from the rest of the
code: callers get typed values, not raw Stripe dicts.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from djstripe.models import Customer, Feature, Invoice, Price, Subscription

from .catalog import CATALOG_TAG, get_catalog
from .models import CustomerEntitlements, DuplicateSubscription, TestClockTime
from .status import CURRENT_RANK

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from teams.models import Team


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


@dataclass(frozen=True)
class SubscriptionState:
    """What the app needs to know about one subscription, read from the mirror."""

    id: str
    customer_id: str
    status: str
    cancel_at_period_end: bool
    cancel_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_end: datetime | None
    ended_at: datetime | None
    price_id: str | None
    price_lookup_key: str | None
    product_id: str | None
    latest_invoice_id: str | None
    default_payment_method_id: str | None
    # trial_settings.end_behavior.missing_payment_method: cancel, pause or create_invoice.
    trial_missing_payment_method: str | None = None
    # pause_collection: payment collection paused (the status stays active) until resumes_at.
    collection_paused: bool = False
    collection_pause_behavior: str | None = None
    collection_resumes_at: datetime | None = None
    # The subscription schedule that manages it (a scheduled plan change), if any.
    schedule_id: str | None = None


def customer_for_team(*, team: Team | None) -> Customer | None:
    """The team's Stripe customer in the current mode (test or live), if any."""
    if team is None:
        return None
    return (
        Customer.objects.filter(
            subscriber=team, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True
        )
        .order_by("-created")
        .first()
    )


def customer_had_subscription(*, customer: Customer) -> bool:
    """One trial per customer: anyone who subscribed before pays from day one."""
    return Subscription.objects.filter(customer=customer).exists()


def trial_eligible(*, team: Team | None) -> bool:
    """Whether a Checkout for ``team`` would start with the plan's free trial.

    The rule ``services.checkout_session_create`` applies, read from the
    mirror: a visitor or a team that never subscribed gets a trial, a
    returning customer does not.
    """
    customer = customer_for_team(team=team)
    return customer is None or not customer_had_subscription(customer=customer)


def plan_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The item that says the plan: the first licensed one (metered usage items sit
    beside it on the same subscription)."""
    for item in items:
        price = item.get("price")
        recurring = (price.get("recurring") or {}) if isinstance(price, dict) else {}
        if recurring.get("usage_type") != "metered":
            return item
    return items[0] if items else {}


def subscription_state(subscription: Subscription) -> SubscriptionState:
    data: dict[str, Any] = subscription.stripe_data or {}
    items = (data.get("items") or {}).get("data") or []
    # Item-level periods since API 2025-03-31.basil; the latest end wins.
    starts = [i.get("current_period_start") for i in items if i.get("current_period_start")]
    ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
    first = plan_item(items)
    price = first.get("price") or {}
    if isinstance(price, str):
        price = {"id": price}
    product = price.get("product")
    latest_invoice = data.get("latest_invoice")
    default_pm = data.get("default_payment_method")
    customer = data.get("customer")
    pause = data.get("pause_collection") or {}
    schedule = data.get("schedule")
    return SubscriptionState(
        id=subscription.id,
        customer_id=customer if isinstance(customer, str) else (customer or {}).get("id", ""),
        status=str(data.get("status") or ""),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        cancel_at=_ts(data.get("cancel_at")),
        current_period_start=_ts(max(starts)) if starts else None,
        current_period_end=_ts(max(ends)) if ends else None,
        trial_end=_ts(data.get("trial_end")),
        ended_at=_ts(data.get("ended_at")),
        price_id=price.get("id"),
        price_lookup_key=price.get("lookup_key"),
        product_id=product if isinstance(product, str) else (product or {}).get("id"),
        latest_invoice_id=latest_invoice
        if isinstance(latest_invoice, str) or latest_invoice is None
        else latest_invoice.get("id"),
        default_payment_method_id=default_pm
        if isinstance(default_pm, str) or default_pm is None
        else default_pm.get("id"),
        trial_missing_payment_method=(
            ((data.get("trial_settings") or {}).get("end_behavior") or {}).get(
                "missing_payment_method"
            )
        ),
        collection_paused=bool(pause),
        collection_pause_behavior=pause.get("behavior"),
        collection_resumes_at=_ts(pause.get("resumes_at")),
        schedule_id=schedule if isinstance(schedule, str) or schedule is None else schedule["id"],
    )


def subscriptions_for_customer(*, customer: Customer) -> list[Subscription]:
    subs = list(Subscription.objects.filter(customer=customer))
    return sorted(
        subs,
        key=lambda s: (
            CURRENT_RANK.get(str(s.stripe_data.get("status")), 9),
            -s.created.timestamp() if s.created else 0,
        ),
    )


def subscription_current(*, team: Team | None) -> Subscription | None:
    """The team's most relevant subscription (live ones before ended ones), or None."""
    customer = customer_for_team(team=team)
    if customer is None:
        return None
    subs = subscriptions_for_customer(customer=customer)
    return subs[0] if subs else None


# Starts the cancellation comment of every subscription the webhook pipeline
# cancels as a duplicate (duplicates.subscription_duplicates_resolve), so its
# customer.subscription.deleted event says so by itself.
DUPLICATE_CANCELLATION_COMMENT = "Duplicate subscription; kept"


def subscription_canceled_as_duplicate(*, subscription: dict[str, Any]) -> bool:
    """Whether a subscription (a Stripe payload) was, or is being, canceled as a duplicate."""
    details = subscription.get("cancellation_details") or {}
    if str(details.get("comment") or "").startswith(DUPLICATE_CANCELLATION_COMMENT):
        return True
    sub_id = subscription.get("id")
    return bool(sub_id) and (
        DuplicateSubscription.objects.filter(canceled_subscription_id=str(sub_id)).exists()
    )


def invoice_past_due_since(*, invoice_id: str | None) -> datetime | None:
    """When the unpaid invoice was first attempted: the start of a past_due grace period."""
    if not invoice_id:
        return None
    invoice = Invoice.objects.filter(id=invoice_id).only("stripe_data").first()
    if invoice is None:
        return None
    data = invoice.stripe_data or {}
    transitions = data.get("status_transitions") or {}
    return _ts(transitions.get("finalized_at")) or _ts(data.get("created"))


def customer_clock_now(*, customer_id: str) -> datetime | None:
    """The time of the customer's test clock, when it has one we have seen advance."""
    customer = Customer.objects.filter(id=customer_id).only("stripe_data").first()
    clock_id = (customer.stripe_data or {}).get("test_clock") if customer else None
    if not clock_id:
        return None
    row = TestClockTime.objects.filter(clock_id=clock_id).first()
    return row.frozen_time if row else None


def entitlement_keys(*, customer_id: str) -> frozenset[str] | None:
    """Feature lookup keys Stripe last reported for the customer; None if never synced."""
    row = CustomerEntitlements.objects.filter(customer_id=customer_id).first()
    return None if row is None else frozenset(row.lookup_keys)


def catalog_feature_keys() -> frozenset[str]:
    """Lookup keys of the features the catalog manages: those in the file now and
    those billing_bootstrap created earlier (mirrored, tagged in their metadata)."""
    keys = set(get_catalog().features)
    for feature in Feature.objects.only("metadata", "stripe_data"):
        if (feature.metadata or {}).get("source") == CATALOG_TAG:
            keys.add(feature.stripe_data["lookup_key"])
    return frozenset(keys)


def price_lookup_key_for(*, price_id: str | None) -> str | None:
    if not price_id:
        return None
    price = Price.objects.filter(id=price_id).only("stripe_data").first()
    return None if price is None else price.stripe_data.get("lookup_key")


def plan_key_for_state(state: SubscriptionState) -> str | None:
    """The catalog plan of a subscription, by its price's lookup key."""
    lookup_key = state.price_lookup_key or price_lookup_key_for(price_id=state.price_id)
    if not lookup_key:
        return None
    plan = get_catalog().plan_for_lookup_key(lookup_key)
    return plan.key if plan else None


# --- Pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanCard:
    key: str
    name: str
    description: str
    feature_names: tuple[str, ...]
    quota_projects: int | None
    # Free days this visitor would get: 0 when the plan has no trial or they had one.
    trial_days: int
    highlight: bool
    is_free: bool
    lookup_key: str | None = None
    amount: int | None = None
    currency: str | None = None
    interval: str | None = None
    # Per-seat plans: ``amount`` is per seat; the seat input's limits and default.
    per_seat: bool = False
    seats_minimum: int | None = None
    seats_maximum: int | None = None
    seats: int = 1

    @property
    def period_total(self) -> int | None:
        """What one period costs: the price times the seats of a per-seat plan."""
        return None if self.amount is None else self.amount * self.seats

    @property
    def due_today(self) -> int | None:
        """What Checkout charges at once: nothing during a trial, else the first period."""
        return 0 if self.trial_days else self.period_total


# The catalog's prices as mirrored, for the plan cards: read on every pricing visit, changed
# only when a Price is mirrored (billing_bootstrap, price.* webhooks). Cached under a
# version token that every save or delete of a Price replaces (receivers.py: at once and
# again on commit, so an entry filled from a read before the commit is never current
# after it). The timeout bounds what a lost replacement (Redis down at that moment, or
# the token evicted) can leave stale.
PRICES_CACHE_SECONDS = 300
PRICES_VERSION_KEY = "pricing:prices:version"


@dataclass(frozen=True)
class MirrorPrice:
    lookup_key: str
    currency: str
    unit_amount: int | None
    interval: str | None


def catalog_prices(*, lookup_keys: list[str]) -> dict[str, MirrorPrice]:
    """The active mirrored prices with these lookup keys, by lookup key: from the cache,
    else one query."""
    version = cache.get(PRICES_VERSION_KEY) or "0"
    wanted = "\n".join(sorted(lookup_keys)).encode()
    digest = hashlib.sha256(wanted).hexdigest()[:16]
    key = f"pricing:prices:{int(settings.STRIPE_LIVE_MODE)}:{digest}:{version}"
    cached: dict[str, MirrorPrice] | None = cache.get(key)
    if cached is not None:
        return cached
    prices = {
        price.lookup_key: MirrorPrice(
            lookup_key=price.lookup_key,
            currency=price.currency,
            unit_amount=price.stripe_data.get("unit_amount"),
            interval=(price.stripe_data.get("recurring") or {}).get("interval"),
        )
        for price in Price.objects.filter(
            lookup_key__in=lookup_keys, active=True, livemode=settings.STRIPE_LIVE_MODE
        ).only("id", "lookup_key", "currency", "stripe_data")
        if price.lookup_key
    }
    cache.set(key, prices, timeout=PRICES_CACHE_SECONDS)
    return prices


def catalog_prices_invalidate() -> None:
    """Make every cached ``catalog_prices`` answer old (a new version token)."""
    cache.set(PRICES_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def pricing_cards(*, interval: str, trial_eligible: bool, members: int = 1) -> list[PlanCard]:
    """Plan cards for ``interval`` ("month" or "year"): catalog text, mirror prices.

    ``trial_eligible`` (see ``trial_eligible()``) says whether trials are
    offered; ``members`` (the team's) is the default seat count of per-seat
    plans, within their limits. One query whatever the number of plans, none when the
    prices are cached (``catalog_prices``).
    """
    catalog = get_catalog()
    wanted = {p.lookup_key: p for plan in catalog.paid_plans for p in plan.prices}
    prices = catalog_prices(lookup_keys=list(wanted))
    cards: list[PlanCard] = []
    for plan in catalog.plans:
        base: dict[str, Any] = {
            "key": plan.key,
            "name": plan.name,
            "description": plan.description,
            "feature_names": tuple(catalog.features[f].name for f in plan.features),
            "quota_projects": plan.quota("projects"),
            "trial_days": plan.trial_days if trial_eligible else 0,
            "highlight": plan.highlight,
            "is_free": plan.is_free,
        }
        if plan.is_free:
            cards.append(PlanCard(**base))
            continue
        spec = next((p for p in plan.prices if p.interval == interval), None)
        price = prices.get(spec.lookup_key) if spec else None
        if spec is None or price is None:
            continue  # not sold at this interval, or not bootstrapped yet
        cards.append(
            PlanCard(
                **base,
                lookup_key=spec.lookup_key,
                amount=price.unit_amount,
                currency=price.currency,
                interval=price.interval or interval,
                **_seat_fields(plan, members),
            )
        )
    return cards


def _seat_fields(plan: Any, members: int) -> dict[str, Any]:
    if plan.seats is None:
        return {}
    return {
        "per_seat": True,
        "seats_minimum": max(plan.seats.minimum, members),
        "seats_maximum": plan.seats.maximum,
        "seats": plan.seats.clamp(members),
    }


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    number: str
    created: datetime | None
    amount: int
    currency: str
    status: str
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    tax: int = 0  # of ``amount``: the invoice's taxes (Stripe Tax or tax rates)


@dataclass(frozen=True)
class PaymentMethodSummary:
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None


@dataclass(frozen=True)
class BillingOverview:
    customer_id: str | None
    subscription: SubscriptionState | None
    plan_name: str | None
    amount: int | None
    currency: str | None
    interval: str | None
    payment_method: PaymentMethodSummary | None
    invoices: list[InvoiceRow]


def _payment_method_summary(pm_id: str | None) -> PaymentMethodSummary | None:
    from djstripe.models import PaymentMethod

    if not pm_id:
        return None
    pm = PaymentMethod.objects.filter(id=pm_id).only("stripe_data").first()
    card = (pm.stripe_data.get("card") or {}) if pm else {}
    if not card:
        return None
    return PaymentMethodSummary(
        brand=str(card.get("brand", "card")),
        last4=str(card.get("last4", "")),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def invoices_for_customer(*, customer_id: str, limit: int = 24) -> list[InvoiceRow]:
    rows = Invoice.objects.filter(customer_id=customer_id).order_by("-created")[:limit]
    result = []
    for invoice in rows:
        data = invoice.stripe_data or {}
        if data.get("status") == "draft":
            continue
        result.append(
            InvoiceRow(
                id=invoice.id,
                number=str(data.get("number") or invoice.id),
                created=_ts(data.get("created")),
                amount=int(data.get("total") or data.get("amount_due") or 0),
                currency=str(data.get("currency") or "usd"),
                status=str(data.get("status") or ""),
                hosted_invoice_url=data.get("hosted_invoice_url"),
                invoice_pdf=data.get("invoice_pdf"),
                tax=_invoice_tax(data),
            )
        )
    return result


def _invoice_tax(data: dict[str, Any]) -> int:
    """The invoice's tax: ``total_taxes`` (API 2025-03-31 on), else the older ``tax``."""
    taxes = data.get("total_taxes")
    if isinstance(taxes, list):
        return sum(int(t.get("amount") or 0) for t in taxes if isinstance(t, dict))
    return int(data.get("tax") or 0)


def billing_overview(*, team: Team) -> BillingOverview:
    customer = customer_for_team(team=team)
    if customer is None:
        return BillingOverview(None, None, None, None, None, None, None, [])
    subscription = subscription_current(team=team)
    state = subscription_state(subscription) if subscription else None
    plan_name = amount = currency = interval = None
    if state is not None:
        plan_key = plan_key_for_state(state)
        plan_name = get_catalog().plan(plan_key).name if plan_key else None
        items = ((subscription.stripe_data if subscription else {}).get("items") or {}).get("data")
        price = plan_item(items or []).get("price") or {}
        if isinstance(price, dict):
            amount = price.get("unit_amount")
            currency = price.get("currency")
            interval = (price.get("recurring") or {}).get("interval")
    invoice_settings = (customer.stripe_data or {}).get("invoice_settings") or {}
    customer_pm = invoice_settings.get("default_payment_method")
    if isinstance(customer_pm, dict):
        customer_pm = customer_pm.get("id")
    pm_id = (state.default_payment_method_id if state else None) or customer_pm
    return BillingOverview(
        customer_id=customer.id,
        subscription=state,
        plan_name=plan_name,
        amount=amount,
        currency=currency,
        interval=interval,
        payment_method=_payment_method_summary(pm_id),
        invoices=invoices_for_customer(customer_id=customer.id),
    )


def teams_with_billing(queryset: QuerySet[Team]) -> QuerySet[Team]:
    """Annotate teams with their latest subscription's status, price lookup key, quantity and
    customer."""
    from django.db.models import OuterRef, Subquery
    from django.db.models.fields.json import KT

    latest = Subscription.objects.filter(
        customer__subscriber=OuterRef("pk"), livemode=settings.STRIPE_LIVE_MODE
    ).order_by("-created")
    return queryset.annotate(
        billing_status=Subquery(latest.annotate(s=KT("stripe_data__status")).values("s")[:1]),
        billing_price=Subquery(
            latest.annotate(k=KT("stripe_data__items__data__0__price__lookup_key")).values("k")[:1]
        ),
        # The seats paid on a per-seat plan (the first item's quantity), as text.
        billing_quantity=Subquery(
            latest.annotate(q=KT("stripe_data__items__data__0__quantity")).values("q")[:1]
        ),
        billing_customer=Subquery(
            Customer.objects.filter(
                subscriber=OuterRef("pk"), livemode=settings.STRIPE_LIVE_MODE
            ).values("id")[:1]
        ),
    )


def stripe_dashboard_url(object_id: str) -> str:
    """Where staff can look at a Stripe object: the emulator's dashboard or Stripe's."""
    if settings.STRIPE_EMULATOR:
        return f"{settings.STRIPE_API_BASE}/dashboard/objects/{object_id}"
    mode = "" if settings.STRIPE_LIVE_MODE else "test/"
    kind = {"cus": "customers", "sub": "subscriptions", "in": "invoices"}.get(
        object_id.split("_", 1)[0], "search?query="
    )
    return f"https://dashboard.stripe.com/{mode}{kind}/{object_id}"


def team_has_open_dispute(*, team: Team) -> bool:
    """Whether a payment of ``team`` is disputed and the dispute is not decided yet."""
    from djstripe.models import Dispute

    from .access.policy import DISPUTE_OPEN_STATUSES

    return Dispute.objects.filter(
        charge__customer__subscriber=team,
        livemode=settings.STRIPE_LIVE_MODE,
        stripe_data__status__in=DISPUTE_OPEN_STATUSES,
    ).exists()

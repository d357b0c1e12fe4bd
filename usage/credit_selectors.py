"""Credit reads: a team's balance and ledger page, the packs for sale, totals for staff."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Sum

from subscriptions.catalog import CreditPackSpec, get_catalog

from .models import CreditBalance, CreditEntry


def credit_balance(*, team_id: int) -> int:
    value = CreditBalance.objects.filter(team_id=team_id).values_list("credits", flat=True).first()
    return int(value or 0)


def credit_entries(*, team_id: int) -> QuerySet[CreditEntry]:
    return CreditEntry.objects.filter(team_id=team_id).select_related("created_by")


def credit_ledger_page(*, team_id: int, page: str | int | None, per_page: int) -> Page[CreditEntry]:
    """One page of the team's ledger, newest first (a bad page number gives the last/first)."""
    return Paginator(credit_entries(team_id=team_id), per_page).get_page(page)


def credit_packs() -> list[CreditPackSpec]:
    return sorted(get_catalog().credit_packs.values(), key=lambda p: p.amount)


@dataclass(frozen=True)
class CreditsHealth:
    sold: int  # credits granted by purchases, all time
    revenue: int  # what those purchases were paid (minor units, the catalog currency)
    outstanding: int  # credits teams hold now
    teams: int  # teams holding credits


def credits_health() -> CreditsHealth:
    """Two aggregate queries: purchases (all time) and the balances now."""
    currency = get_catalog().currency
    sold = CreditEntry.objects.filter(kind=CreditEntry.Kind.PURCHASE).aggregate(
        credits=Sum("credits"), paid=Sum("amount_paid", filter=Q(currency=currency))
    )
    held = CreditBalance.objects.filter(credits__gt=0).aggregate(
        credits=Sum("credits"), teams=Count("id")
    )
    return CreditsHealth(
        sold=int(sold["credits"] or 0),
        revenue=int(sold["paid"] or 0),
        outstanding=int(held["credits"] or 0),
        teams=int(held["teams"] or 0),
    )

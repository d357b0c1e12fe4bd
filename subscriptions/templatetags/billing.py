"""Template helpers: ``{% load billing %}``.

``{% if request.access|has_feature:"exports" %}`` and
``{{ request.access|quota:"projects" }}`` (empty string when unlimited).
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def has_feature(access: Any, feature: str) -> bool:
    return bool(access is not None and access.has(feature))


@register.filter
def quota(access: Any, name: str) -> int | str:
    limit = access.quota(name) if access is not None else None
    return "" if limit is None else limit


@register.filter
def money(amount: int | None, currency: str = "usd") -> str:
    """Minor units to a display amount: 2900, "usd" -> "$29"; 999, "eur" -> "€9.99"."""
    if amount is None:
        return ""
    from .. import formatting

    return formatting.format_money(amount, currency)


@register.filter
def seats_total(amount: int | None, seats: int) -> int | None:
    """A per-seat price times the seats paid: what one period costs the team."""
    return None if amount is None else amount * int(seats)

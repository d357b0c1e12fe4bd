"""The usage card of the staff billing-health page (``{% usage_health_card %}``).

A template tag, so that the billing domain's page shows usage without
``subscriptions`` importing the usage app.
"""

from __future__ import annotations

from typing import Any

from django import template

from subscriptions.catalog import get_catalog

from ..selectors import usage_health

register = template.Library()


@register.inclusion_tag("usage/_health_card.html")
def usage_health_card() -> dict[str, Any]:
    return {"health": usage_health(), "currency": get_catalog().currency}

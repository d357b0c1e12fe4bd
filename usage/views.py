"""The usage page at /t/<slug>/usage/: this period's usage per meter and the next invoice.

The team middleware answered 404 to non-members and set ``request.team``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from allauth.account.decorators import verified_email_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from subscriptions.catalog import get_catalog

from . import selectors, services
from .chart import daily_bars, usage_chart_svg

if TYPE_CHECKING:
    from teams.models import Team


def _chart(window: selectors.UsageWindow, meter: selectors.MeterUsage) -> Any:
    first = window.counted_from.date()
    last = max(first, min(timezone.now(), window.period_end - timedelta(seconds=1)).date())
    bars = daily_bars(meter.daily, first, last)
    return {
        "bars": bars,
        "svg": usage_chart_svg(
            chart_id=f"usage-chart-{meter.key}",
            title=_("%(meter)s per day this period") % {"meter": meter.name},
            bars=bars,
        ),
    }


@verified_email_required
@require_GET
def usage_page(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = cast("Team", request.team)  # type: ignore[attr-defined]
    window = selectors.usage_window(team=team)
    totals = selectors.usage_totals(team_id=team.pk, since=window.counted_from)
    meters = [
        selectors.meter_usage(window, key, totals.get(key, 0)) for key in get_catalog().meters
    ]
    context = {
        "window": window,
        "plan": get_catalog().plan(window.plan_key),
        "meters": [{"usage": m, "chart": _chart(window, m)} for m in meters],
        "currency": get_catalog().currency,
        "preview": services.invoice_preview(window=window),
        "has_subscription": window.subscription_id is not None,
    }
    response = render(request, "usage/usage.html", context)
    add_never_cache_headers(response)
    return response

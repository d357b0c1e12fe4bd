"""Pages for staff only.

Anonymous visitors are sent to the login page; signed-in users who are not
active staff get a 404, so the page's existence is not advertised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..disputes import disputes
from ..dunning.selectors import recovered_revenue
from . import health as health_report
from .sections import health_sections_render_context

# Height of the events-per-hour chart's drawing area, in SVG user units.
CHART_HEIGHT = 100
# Each hour gets a slot this wide; the bar leaves a unit of gap on each side.
CHART_SLOT_WIDTH = 10
CHART_BAR_WIDTH = 8


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login redirect for anonymous visitors, 404 for signed-in non-staff."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class ChartBar:
    """One hour of the events chart, in SVG user units (no inline styles: CSP-safe)."""

    bucket: health_report.HourBucket
    x: int
    y: int
    height: int


def _chart(buckets: list[health_report.HourBucket]) -> list[ChartBar]:
    peak = max((b.count for b in buckets), default=0)
    bars = []
    for i, bucket in enumerate(buckets):
        # A 1-unit stub for non-empty hours keeps small counts visible next to a big peak.
        height = max(1, round(bucket.count * CHART_HEIGHT / peak)) if bucket.count else 0
        x = i * CHART_SLOT_WIDTH + (CHART_SLOT_WIDTH - CHART_BAR_WIDTH) // 2
        bars.append(ChartBar(bucket=bucket, x=x, y=CHART_HEIGHT - height, height=height))
    return bars


def format_seconds(value: float | None) -> str:
    """A lag for people: "0.42 s", "12.3 s", "4 min 05 s", "2 h 03 min"; "—" for None."""
    if value is None:
        return "—"
    if value < 10:
        return _("%(s).2f s") % {"s": value}
    if value < 60:
        return _("%(s).1f s") % {"s": value}
    whole = round(value)
    if whole < 3600:
        return _("%(m)d min %(s)02d s") % {"m": whole // 60, "s": whole % 60}
    return _("%(h)d h %(m)02d min") % {"h": whole // 3600, "m": whole % 3600 // 60}


def _disputes_context() -> dict[str, object]:
    """The open-disputes section (templates/subscriptions/staff/_open_disputes.html)."""
    return {
        "open_disputes": disputes.disputes_open(),
        "dispute_reminder_days": disputes.DEADLINE_REMINDER_DAYS,
    }


@never_cache
@require_GET
@staff_required
def billing_health(request: HttpRequest) -> HttpResponse:
    """Webhook pipeline and subscription numbers at a glance (read-only)."""
    report = health_report.billing_health(
        broker_url=settings.CELERY_BROKER_URL,
        queue_name=getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"),
    )
    context = {
        "report": report,
        "bars": _chart(report.per_hour),
        "peak": max((b.count for b in report.per_hour), default=0),
        "events_24h": sum(b.count for b in report.per_hour),
        "chart_width": CHART_SLOT_WIDTH * len(report.per_hour),
        "bar_width": CHART_BAR_WIDTH,
        "chart_height": CHART_HEIGHT,
        "failed_url": "/admin/subscriptions/stripeevent/?status__exact=failed",
        "live_mode": settings.STRIPE_LIVE_MODE,
        "lag_p50": format_seconds(report.lag.p50),
        "lag_p95": format_seconds(report.lag.p95),
        "churn_pct": None if report.churn.rate is None else report.churn.rate * 100,
        **_disputes_context(),
        "recovered": recovered_revenue(),
        # Cards of the apps above this one (usage, credits), registered in their ready().
        "sections": health_sections_render_context(),
    }
    return render(request, "subscriptions/staff/billing_health.html", context)

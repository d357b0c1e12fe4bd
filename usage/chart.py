"""A bar chart of daily usage as inline SVG, rendered on the server (no script, no CDN).

Accessible as an image with a title and a description that states the numbers;
the page also lists them in a table for screen readers and for copying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 180
LEFT = 48  # room for the axis labels
BOTTOM = 22
TOP = 10


@dataclass(frozen=True)
class DailyBar:
    day: date
    units: int


def daily_bars(daily: dict[date, int], first: date, last: date) -> list[DailyBar]:
    """One bar per day from ``first`` to ``last`` (days without usage at 0)."""
    days = max(0, (last - first).days) + 1
    return [
        DailyBar(day=first + timedelta(days=i), units=daily.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


def _n(value: float) -> str:
    """A coordinate with one decimal (format_html escapes its arguments into text)."""
    return f"{value:.1f}"


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def usage_chart_svg(*, chart_id: str, title: str, bars: list[DailyBar]) -> SafeString:
    """The SVG markup; every text in it is escaped."""
    top = _nice_max(max((b.units for b in bars), default=0) or 1)
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(bars))
    rects = format_html_join(
        "",
        '<rect class="usage-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (
                _n(LEFT + i * slot + slot * 0.15),
                _n(TOP + plot_h - plot_h * bar.units / top),
                _n(slot * 0.7),
                _n(plot_h * bar.units / top),
                bar.day.isoformat(),
                f"{bar.units:,}",
            )
            for i, bar in enumerate(bars)
        ),
    )
    labels = format_html_join(
        "",
        '<text class="usage-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (_n(LEFT + i * slot + slot / 2), HEIGHT - 6, bar.day.strftime("%d %b"))
            for i, bar in enumerate(bars)
            if i in (0, len(bars) - 1) or (len(bars) > 8 and i == len(bars) // 2)
        ),
    )
    total = sum(b.units for b in bars)
    description = (
        f"{len(bars)} days from {bars[0].day.isoformat()} to {bars[-1].day.isoformat()}, "
        f"{total:,} in total, at most {max(b.units for b in bars):,} in a day."
        if bars
        else "No days yet."
    )
    return format_html(
        '<svg class="usage-chart" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        '<line class="usage-grid" x1="{left}" y1="{top}" x2="{w}" y2="{top}"></line>'
        '<line class="usage-grid" x1="{left}" y1="{base}" x2="{w}" y2="{base}"></line>'
        '<text class="usage-axis" x="{lx}" y="{ty}" text-anchor="end">{max}</text>'
        '<text class="usage-axis" x="{lx}" y="{base}" text-anchor="end">0</text>'
        "{rects}{labels}</svg>",
        w=WIDTH,
        h=HEIGHT,
        id=chart_id,
        title=title,
        desc=description,
        left=LEFT,
        top=TOP,
        base=TOP + plot_h,
        lx=LEFT - 6,
        ty=TOP + 4,
        max=f"{top:,}",
        rects=rects,
        labels=labels,
    )

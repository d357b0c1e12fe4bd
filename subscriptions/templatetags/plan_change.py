"""``{% load plan_change %}{% plan_change_panel %}``: a scheduled plan change and the pause."""

from __future__ import annotations

from typing import Any

from django import template

from ..changes.plan_change import CHANGEABLE_STATUSES, pending_upgrade, scheduled_change

register = template.Library()


@register.inclusion_tag("subscriptions/includes/plan_change_panel.html", takes_context=True)
def plan_change_panel(context: template.Context) -> dict[str, Any]:
    """A downgrade waiting for the period end ("Keep …"), the pause, or the pause form."""
    team = context["team"]
    access = context["access"]
    return {
        "team": team,
        "access": access,
        "can_manage_billing": context.get("can_manage_billing", False),
        "status_plan": getattr(context.get("overview"), "plan_name", None),
        "scheduled": scheduled_change(team=team),
        "pending": pending_upgrade(team=team),
        "can_pause": access.status in CHANGEABLE_STATUSES and not access.cancel_at_period_end,
        "csrf_token": context.get("csrf_token"),
    }

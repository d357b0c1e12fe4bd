"""Teams in the admin with their billing: plan, subscription status, Stripe customer.

``teams.admin.TeamAdmin`` knows nothing of billing (teams sits below subscriptions);
this subclass adds the billing columns and filters and is registered in its place.
Imported by ``subscriptions.admin``, so admin autodiscovery loads it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from teams.admin import TeamAdmin
from teams.models import Team

from .catalog import get_catalog
from .selectors import stripe_dashboard_url, teams_with_billing
from .status import ALL as ALL_STATUSES


class SubscriptionStatusFilter(admin.SimpleListFilter):
    title = _("subscription status")
    parameter_name = "billing_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("none", _("No subscription")), *[(s, s) for s in ALL_STATUSES]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "none":
            return queryset.filter(billing_status__isnull=True)
        if value:
            return queryset.filter(billing_status=value)
        return queryset


class PlanFilter(admin.SimpleListFilter):
    title = _("plan")
    parameter_name = "billing_plan"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(plan.key, plan.name) for plan in get_catalog().paid_plans]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        keys = [p.lookup_key for p in get_catalog().plan(value).prices]
        return queryset.filter(billing_price__in=keys)


class BillingTeamAdmin(TeamAdmin):
    list_display = (
        "name",
        "slug",
        "personal",
        "member_count",
        "plan",
        "subscription_status",
        "stripe_customer",
        "created_at",
    )
    list_filter = (PlanFilter, SubscriptionStatusFilter)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return teams_with_billing(super().get_queryset(request))

    @admin.display(description=_("plan"), ordering="billing_price")
    def plan(self, obj: Any) -> str:
        plan = get_catalog().plan_for_lookup_key(obj.billing_price or "")
        return plan.name if plan else "-"

    @admin.display(description=_("status"), ordering="billing_status")
    def subscription_status(self, obj: Any) -> str:
        return obj.billing_status or "-"

    @admin.display(description=_("Stripe customer"))
    def stripe_customer(self, obj: Any) -> str:
        if not obj.billing_customer:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            stripe_dashboard_url(obj.billing_customer),
            obj.billing_customer,
        )


# Importing teams.admin above registered the plain TeamAdmin; this one replaces it.
if admin.site.is_registered(Team):
    admin.site.unregister(Team)
admin.site.register(Team, BillingTeamAdmin)

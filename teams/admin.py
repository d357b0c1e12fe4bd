"""Teams in the admin: plan, subscription status and members; search by member email."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from subscriptions.catalog import get_catalog
from subscriptions.policy import ALL_STATUSES
from subscriptions.selectors import stripe_dashboard_url, teams_with_billing

from .models import Invitation, Membership, Team


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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    fields = ("email", "role", "sent_at", "expires_at", "accepted_at", "declined_at", "revoked_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # invitations carry a token sent by email: they are made on the team page


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "personal",
        "member_count",
        "plan",
        "subscription_status",
        "stripe_customer",
        "created_at",
        "customer_page",
    )
    list_filter = (PlanFilter, SubscriptionStatusFilter)
    search_fields = ("name", "slug", "email", "memberships__user__email")
    readonly_fields = ("billing_version", "created_at", "customer_page")
    raw_id_fields = ("personal_for",)
    inlines = [MembershipInline, InvitationInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).annotate(members=Count("memberships"))
        return teams_with_billing(queryset)

    @admin.display(description=_("personal"), boolean=True)
    def personal(self, obj: Team) -> bool:
        return obj.personal_for_id is not None

    @admin.display(description=_("members"), ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(obj.members)

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

    @admin.display(description=_("customer page"))
    def customer_page(self, obj: Team) -> str:
        if obj.pk is None:
            return "-"
        # The staff page with the plan, events, invoices, payments and notifications.
        return format_html(
            '<a href="{}">{}</a>', reverse("staff_customer_team", args=[obj.pk]), _("open")
        )

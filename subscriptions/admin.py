"""Admin for our billing tables. dj-stripe's own admin shows the mirrored Stripe objects."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from djstripe.models import APIKey

from . import team_admin  # noqa: F401  (registers the Team admin with its billing columns)
from .disputes import admin as admin_disputes  # noqa: F401 - registers the dispute and refund admins
from .models import CustomerEntitlements, DuplicateSubscription, StripeEvent, TestClockTime
from .selectors import stripe_dashboard_url
from .webhooks.pipeline import stripe_events_replay


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    # What staff look for first (what happened, did it work, how long it took) comes
    # first, and the row fits 1280 px beside the filters: the Stripe id, object id and
    # delivery count are on the event's page (and the ids are searchable).
    list_display = (
        "type",
        "status",
        "latency",
        "attempts",
        "received",
        "customer_link",
    )
    list_display_links = ("type",)
    list_filter = ("status", "type", "livemode")
    search_fields = ("stripe_id", "object_id", "customer_id", "type")
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields]
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # stored events are evidence; replay them instead of editing

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # The site's navigation sidebar would take a quarter of the width this list needs.
        return super().changelist_view(
            request, {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        )

    @admin.display(description="received", ordering="received_at")
    def received(self, obj: StripeEvent) -> str:
        return date_format(localtime(obj.received_at), "M j, H:i:s")

    @admin.display(description="latency")
    def latency(self, obj: StripeEvent) -> str:
        seconds = obj.latency_seconds
        return "-" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description="customer")
    def customer_link(self, obj: StripeEvent) -> str:
        if not obj.customer_id:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            stripe_dashboard_url(obj.customer_id),
            obj.customer_id,
        )

    @admin.action(description="Reprocess selected events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        ids = list(queryset.values_list("stripe_id", flat=True))
        replayed = stripe_events_replay(event_ids=ids)
        skipped = len(ids) - len(replayed)
        self.message_user(
            request, f"{len(replayed)} event(s) queued for processing.", messages.SUCCESS
        )
        if skipped:
            self.message_user(
                request,
                f"{skipped} event(s) are being processed right now; left alone.",
                messages.WARNING,
            )


@admin.register(CustomerEntitlements)
class CustomerEntitlementsAdmin(admin.ModelAdmin):
    list_display = ("customer_id", "lookup_keys", "synced_at")
    search_fields = ("customer_id",)
    readonly_fields = ("customer_id", "lookup_keys", "synced_at")


@admin.register(TestClockTime)
class TestClockTimeAdmin(admin.ModelAdmin):
    list_display = ("clock_id", "frozen_time")
    readonly_fields = ("clock_id", "frozen_time")


@admin.register(DuplicateSubscription)
class DuplicateSubscriptionAdmin(admin.ModelAdmin):
    """What the pipeline canceled as a second live subscription; read-only evidence."""

    list_display = (
        "canceled_link",
        "canceled_lookup_key",
        "status_before",
        "kept_link",
        "kept_lookup_key",
        "refunded_amount",
        "currency",
        "customer_id",
        "created",
    )
    list_filter = ("status_before", "livemode")
    search_fields = (
        "customer_id",
        "canceled_subscription_id",
        "kept_subscription_id",
        "stripe_event_id",
        "refund_id",
    )
    date_hierarchy = "created"
    readonly_fields = [f.name for f in DuplicateSubscription._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="canceled")
    def canceled_link(self, obj: DuplicateSubscription) -> str:
        return _stripe_link(obj.canceled_subscription_id)

    @admin.display(description="kept")
    def kept_link(self, obj: DuplicateSubscription) -> str:
        return _stripe_link(obj.kept_subscription_id)


def _stripe_link(object_id: str) -> str:
    return format_html(
        '<a href="{}" target="_blank" rel="noopener">{}</a>',
        stripe_dashboard_url(object_id),
        object_id,
    )


# Stripe keys come from the environment; dj-stripe's form would store one in plain text.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Notification, NotificationPreferences, StaffAlert


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created", "user", "kind", "title", "read_at", "emailed_at", "stripe_event_id")
    list_filter = (
        "kind",
        ("read_at", admin.EmptyFieldListFilter),
        ("emailed_at", admin.EmptyFieldListFilter),
        "livemode",
        "created",
    )
    search_fields = ("user__email", "stripe_event_id", "title")
    list_select_related = ("user",)
    date_hierarchy = "created"
    readonly_fields = (
        "user",
        "kind",
        "title",
        "body",
        "link",
        "data",
        "stripe_event_id",
        "livemode",
        "created",
        "read_at",
        "emailed_at",
    )
    actions = ("mark_read",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Notifications come from Stripe events only.
        return False

    @admin.action(description=_("Mark selected notifications as read"))
    def mark_read(self, request: HttpRequest, queryset: Any) -> None:
        updated = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        self.message_user(request, _("%(count)d marked as read.") % {"count": updated})


@admin.register(NotificationPreferences)
class NotificationPreferencesAdmin(admin.ModelAdmin):
    list_display = ("user", "email_receipts", "updated")
    list_filter = ("email_receipts",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    list_display = (
        "created",
        "event_type",
        "charge_id",
        "amount",
        "currency",
        "reason",
        "status",
        "emailed_at",
    )
    list_filter = ("event_type", "livemode", ("emailed_at", admin.EmptyFieldListFilter))
    search_fields = ("stripe_event_id", "object_id", "charge_id", "customer_id")
    date_hierarchy = "created"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Mirrors Stripe: viewable, never edited here.
        return False

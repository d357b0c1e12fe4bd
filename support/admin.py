"""The impersonation audit trail in the admin: read-only, nobody edits history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Impersonation


@admin.register(Impersonation)
class ImpersonationAdmin(admin.ModelAdmin):
    list_display = ("started_at", "ended_at", "hijacker_email", "hijacked_email", "ip_address")
    list_filter = ("started_at",)
    search_fields = ("hijacker_email", "hijacked_email")
    date_hierarchy = "started_at"
    readonly_fields = (
        "hijacker",
        "hijacker_email",
        "hijacked",
        "hijacked_email",
        "started_at",
        "ended_at",
        "ip_address",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

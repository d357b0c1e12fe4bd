"""Usage in the admin: per team and meter, with what was reported, dropped or not billed.

Read-only: buckets are written by recording and reporting only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import UsageBucket


@admin.register(UsageBucket)
class UsageBucketAdmin(admin.ModelAdmin):
    list_display = (
        "minute",
        "team",
        "meter",
        "units",
        "reported_units",
        "pending_units",
        "dropped_units",
        "unbilled_units",
        "dirty",
    )
    list_filter = ("meter", "dirty")
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug")
    date_hierarchy = "minute"
    readonly_fields = [f.name for f in UsageBucket._meta.fields]
    ordering = ("-minute",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

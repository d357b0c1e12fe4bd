from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import ApiToken, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "created_by", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "team__name", "team__slug", "created_by__email"]
    list_select_related = ["team", "created_by"]
    raw_id_fields = ["team", "created_by"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by team managers; staff can see and delete them, never the secret."""

    list_display = ["prefix", "team", "created_by", "created_at", "last_used_at"]
    search_fields = ["prefix", "team__name", "team__slug", "created_by__email"]
    list_select_related = ["team", "created_by"]
    fields = ("team", "created_by", "prefix", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

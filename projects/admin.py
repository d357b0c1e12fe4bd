from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import ApiToken, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by their owners; staff can see and delete them, never the secret."""

    list_display = ["prefix", "owner", "created_at", "last_used_at"]
    search_fields = ["prefix", "owner__email"]
    list_select_related = ["owner"]
    fields = ("owner", "prefix", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

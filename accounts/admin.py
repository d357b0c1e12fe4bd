from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    # Plans and subscriptions are the teams' (teams.admin.TeamAdmin).
    list_display = ("email", "name", "is_staff", "is_active", "date_joined", "customer_page")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name")
    readonly_fields = ("date_joined", "last_login", "customer_page")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
        (_("Support"), {"fields": ("customer_page",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    @admin.display(description=_("customer page"))
    def customer_page(self, obj: User) -> str:
        if obj.pk is None:
            return "-"
        # The staff page with the user's teams, impersonation button and audit trail.
        return format_html(
            '<a href="{}">{}</a>', reverse("staff_customer_user", args=[obj.pk]), _("open")
        )

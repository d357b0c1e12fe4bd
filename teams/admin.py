"""Teams in the admin: members and invitations; search by member email.

The billing columns and filters (plan, subscription status, Stripe customer) are added
by ``subscriptions.team_admin``, which registers its subclass of ``TeamAdmin`` instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Invitation, Membership, Team


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
    list_display: tuple[str, ...] = (
        "name",
        "slug",
        "personal",
        "member_count",
        "created_at",
    )
    search_fields = ("name", "slug", "email", "memberships__user__email")
    readonly_fields = ("billing_version", "created_at")
    raw_id_fields = ("personal_for",)
    inlines = [MembershipInline, InvitationInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description=_("personal"), boolean=True)
    def personal(self, obj: Team) -> bool:
        return obj.personal_for_id is not None

    @admin.display(description=_("members"), ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(obj.members)

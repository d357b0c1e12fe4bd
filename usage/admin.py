"""Usage in the admin: per team and meter, with what was reported, dropped or not billed;
and the prepaid credits: balances, the ledger, and the staff adjustment form.

Read-only: buckets are written by recording and reporting only, ledger entries by
the credit services (the adjustment form calls ``credits_adjust``, which records who
and why on the entry).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from teams.models import Team

from .credit_selectors import credit_balance
from .credits import InsufficientCredits, credits_adjust
from .models import CreditBalance, CreditEntry, UsageBucket


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


class CreditAdjustForm(forms.Form):
    credits = forms.IntegerField(
        label="Credits",
        help_text="Positive adds, negative takes away (never below the team's balance).",
    )
    reason = forms.CharField(label="Reason", max_length=255, help_text="Kept on the ledger entry.")

    def clean_credits(self) -> int:
        value = int(self.cleaned_data["credits"])
        if value == 0:
            raise forms.ValidationError("Give a number of credits other than 0.")
        return value


@admin.register(CreditBalance)
class CreditBalanceAdmin(admin.ModelAdmin):
    """Teams' balances (read-only); each has an "Adjust" form that appends a ledger entry."""

    list_display = ("team", "credits", "updated_at", "adjust_link")
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug")
    ordering = ("-credits",)
    readonly_fields = ("team", "credits", "updated_at")

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "adjust/<int:team_id>/",
                self.admin_site.admin_view(self.adjust_view),
                name="usage_creditbalance_adjust",
            )
        ]
        return extra + super().get_urls()

    @admin.display(description="adjust")
    def adjust_link(self, obj: CreditBalance) -> str:
        url = reverse("admin:usage_creditbalance_adjust", args=[obj.team_id])
        return format_html('<a href="{}">Adjust credits</a>', url)

    def adjust_view(self, request: HttpRequest, team_id: int) -> HttpResponse:
        if not request.user.is_staff or not self.has_view_permission(request):
            raise PermissionDenied
        team = get_object_or_404(Team, pk=team_id)
        form = CreditAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = credits_adjust(
                    team=team,
                    credits=form.cleaned_data["credits"],
                    reason=form.cleaned_data["reason"],
                    staff_user=request.user,
                )
            except InsufficientCredits as exc:
                form.add_error("credits", exc.user_message)
            else:
                self.message_user(
                    request,
                    f"{team}: {entry.credits:+,} credits, balance now {entry.balance_after:,}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:usage_creditbalance_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust the credits of {team}",
            "team": team,
            "balance": credit_balance(team_id=team.pk),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/usage/creditbalance/adjust_form.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    """The ledger, read-only: entries are appended by purchases, spends, refunds and the
    adjust form, never edited."""

    list_display = (
        "created_at",
        "team",
        "kind",
        "credits",
        "balance_after",
        "description",
        "created_by",
    )
    list_filter = ("kind",)
    list_select_related = ("team", "created_by")
    search_fields = ("team__name", "team__slug", "source", "payment_intent", "stripe_event_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in CreditEntry._meta.fields]
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

"""Admin for disputes and staff refunds.

dj-stripe registers a read-only Dispute admin showing reason, status, amount
and currency; ours replaces it with the evidence deadline, the team, a link to
where evidence is submitted and a form that submits it through the API. Staff
refunds are made from the "Staff refunds" page: its add form refunds (the
audit rows themselves are read-only).
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from djstripe.admin.admin import DisputeAdmin as DjstripeDisputeAdmin
from djstripe.models import Charge, Dispute

from ..catalog import get_catalog
from ..formatting import ZERO_DECIMAL, format_money
from ..models import StaffRefund
from ..services import BillingError
from . import disputes, refunds


class EvidenceForm(forms.Form):
    text = forms.CharField(
        label="Evidence",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        max_length=150_000,  # Stripe's limit on the evidence fields' combined length
        help_text=(
            "Sent to the card issuer as the dispute's uncategorized_text and submitted at once: "
            "Stripe takes evidence once. Files and structured fields: use the Stripe dashboard."
        ),
    )


class RefundForm(forms.Form):
    charge = forms.CharField(label="Charge id", max_length=255, help_text="ch_…")
    amount = forms.DecimalField(
        label="Amount",
        min_value=Decimal("0.01"),
        decimal_places=2,
        max_digits=12,
        help_text="In the charge's currency, e.g. 10.00 (less than the charge: a partial refund).",
    )
    reason = forms.ChoiceField(label="Reason", choices=StaffRefund.Reason.choices)
    # One per form shown: submitting the same form twice makes one refund.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_charge(self) -> str:
        value = str(self.cleaned_data["charge"]).strip()
        if not value.startswith(("ch_", "py_")):
            raise forms.ValidationError("A charge id starts with ch_.")
        return value


def amount_in_minor_units(*, charge_id: str, value: Decimal) -> int:
    """``value`` in the charge's minor units (cents, or yen for zero-decimal currencies)."""
    currency = (
        Charge.objects.filter(id=charge_id).values_list("stripe_data__currency", flat=True).first()
        or get_catalog().currency
    )
    factor = 1 if str(currency).lower() in ZERO_DECIMAL else 100
    return int((value * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


if admin.site.is_registered(Dispute):
    admin.site.unregister(Dispute)


@admin.register(Dispute)
class DisputeAdmin(DjstripeDisputeAdmin):
    list_display = ("id", "status_shown", "amount_shown", "reason", "due_by", "team", "evidence")
    list_display_links = ("id",)
    list_select_related = ("charge__customer__subscriber",)
    search_fields = ("id", "charge__id", "charge__customer__id")

    def get_list_display(self, request: HttpRequest) -> list[str]:
        # dj-stripe adds its owner account, created and livemode: a row wider than 1280 px.
        return list(self.list_display)

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "<str:dispute_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="djstripe_dispute_evidence",
            )
        ]
        return extra + super().get_urls()

    def _row(self, obj: Dispute) -> disputes.DisputeRow:
        return disputes._row(obj)

    @admin.display(description="status")
    def status_shown(self, obj: Dispute) -> str:
        return self._row(obj).status_label

    @admin.display(description="amount")
    def amount_shown(self, obj: Dispute) -> str:
        row = self._row(obj)
        return format_money(row.amount, row.currency or "usd")

    @admin.display(description="evidence due by")
    def due_by(self, obj: Dispute) -> str:
        due = self._row(obj).due_by
        return f"{due:%Y-%m-%d %H:%M} UTC" if due is not None else "-"

    @admin.display(description="team")
    def team(self, obj: Dispute) -> str:
        row = self._row(obj)
        return row.team_name or row.customer_id or "-"

    @admin.display(description="evidence")
    def evidence(self, obj: Dispute) -> str:
        row = self._row(obj)
        if not row.needs_response:
            return "-"
        return format_html(
            '<a href="{}">Submit evidence</a> · '
            '<a href="{}" target="_blank" rel="noopener">Stripe</a>',
            reverse("admin:djstripe_dispute_evidence", args=[obj.id]),
            row.evidence_url,
        )

    def evidence_view(self, request: HttpRequest, dispute_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        row = disputes.dispute_get(dispute_id=dispute_id)
        if row is None:
            raise Http404
        form = EvidenceForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and row.needs_response:
            try:
                row = disputes.dispute_evidence_submit(
                    dispute_id=dispute_id, text=form.cleaned_data["text"]
                )
            except BillingError as exc:
                form.add_error(None, exc.user_message)
            else:
                self.message_user(
                    request,
                    f"Evidence submitted: the dispute is {row.status_label}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:djstripe_dispute_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Evidence for dispute {dispute_id}",
            "dispute": row,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/djstripe/dispute/evidence_form.html", context)


@admin.register(StaffRefund)
class StaffRefundAdmin(admin.ModelAdmin):
    """Who refunded what and why; "Add" is the refund form (the only way to make a row)."""

    list_display = (
        "created",
        "amount_shown",
        "reason",
        "status",
        "charge_id",
        "stripe_refund_id",
        "credit_note_id",
        "team",
        "requested_by",
    )
    list_filter = ("status", "reason", "livemode")
    list_select_related = ("team", "requested_by")
    search_fields = ("charge_id", "stripe_refund_id", "credit_note_id", "customer_id", "invoice_id")
    date_hierarchy = "created"
    readonly_fields = [f.name for f in StaffRefund._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an audit record

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj: StaffRefund) -> str:
        return format_money(obj.amount, obj.currency or "usd")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"charge": request.GET.get("charge", ""), "request_key": uuid.uuid4().hex}
        form = RefundForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            started = timezone.now()
            try:
                row = self._refund(request, form.cleaned_data)
            except BillingError as exc:
                # A corrected form is a new request: it gets a new key.
                form = RefundForm({**request.POST.dict(), "request_key": uuid.uuid4().hex})
                form.is_valid()
                form.add_error(None, exc.user_message)
            else:
                self.message_user(request, _refund_message(row, started=started), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:subscriptions_staffrefund_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Refund a payment",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/subscriptions/staffrefund/refund_form.html", context
        )

    def _refund(self, request: HttpRequest, data: dict[str, Any]) -> StaffRefund:
        row = refunds.staff_refund_create(
            charge_id=data["charge"],
            amount=amount_in_minor_units(charge_id=data["charge"], value=data["amount"]),
            reason=data["reason"],
            requested_by=request.user,  # type: ignore[arg-type]
            request_key=data["request_key"],
        )
        if row.status == StaffRefund.Status.FAILED:
            raise refunds.RefundInvalid(
                f"Stripe refused this refund: {row.error or 'no reason given'}"
            )
        return row


def _refund_message(row: StaffRefund, *, started: Any) -> str:
    shown = format_money(row.amount, row.currency or "usd")
    if row.completed_at is not None and row.completed_at < started:
        return (
            f"This form was already submitted: {shown} of {row.charge_id} was refunded once "
            f"({row.stripe_refund_id})."
        )
    note = f" with credit note {row.credit_note_id}" if row.credit_note_id else ""
    return f"Refunded {shown} of {row.charge_id} ({row.stripe_refund_id}){note}."

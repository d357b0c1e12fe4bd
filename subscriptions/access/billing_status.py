"""What the billing page says: one statement of the user's plan, why, and what fixes it.

The page used to show the subscription's own status beside the plan the policy
grants, so a lapsed grace period read "Pro · Past due · Renews on …" next to
"Plan: Free". Here the access decision (``Access.reason``) picks the one
statement, the subscription mirror fills in its dates and amounts, and each
statement names at most one action. Pure reads of the mirror; no Stripe calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .. import selectors
from ..selectors import BillingOverview
from ..status import SubscriptionStatus
from .access import Access
from .policy import Reason

Action = Literal[
    "choose_plan", "resume", "update_payment_method", "add_payment_method", "pay_invoice"
]
Tone = Literal["success", "info", "warning", "danger", "secondary"]


@dataclass(frozen=True)
class BillingStatus:
    headline: str  # the plan the user has now: "Pro plan", "Free plan"
    message: str  # why, in one or two sentences
    tone: Tone
    action: Action | None = None
    action_url: str | None = None  # for pay_invoice: the hosted invoice page
    # The subscription is live and in good standing: plan changes and cancelling apply.
    manageable: bool = False
    can_cancel: bool = False


def _day(value: datetime | None) -> str:
    return date_format(value, "DATE_FORMAT") if value else _("an earlier date")


def billing_status(*, overview: BillingOverview, access: Access) -> BillingStatus:
    """The billing page's single statement for this user's access and subscription."""
    sub = overview.subscription
    free = _("%(plan)s plan") % {"plan": access.plan_name}
    if sub is None:
        return BillingStatus(
            free,
            _(
                "You have no subscription yet. Choose a plan to unlock the full product; "
                "you can change or cancel it at any time from this page."
            ),
            "secondary",
            action="choose_plan",
        )
    plan = overview.plan_name or _("your")
    named = {"plan": plan}
    paid = _("%(plan)s plan") % named
    reason = access.reason
    if reason == Reason.ACTIVE:
        return BillingStatus(
            paid,
            _("Active. Renews on %(date)s.") % {"date": _day(sub.current_period_end)},
            "success",
            manageable=True,
            can_cancel=True,
        )
    if reason == Reason.TRIALING:
        trial = {"date": _day(sub.trial_end), **named}
        if overview.payment_method is not None:
            message = _(
                "Free trial until %(date)s. Then %(plan)s continues at the regular price, "
                "charged to your card."
            )
            return BillingStatus(paid, message % trial, "success", manageable=True, can_cancel=True)
        if sub.trial_missing_payment_method == "pause":
            message = _(
                "Free trial until %(date)s. Add a payment method before then to keep "
                "%(plan)s; without one, your subscription is paused when the trial ends."
            )
        elif sub.trial_missing_payment_method == "create_invoice":
            message = _(
                "Free trial until %(date)s. Add a payment method before then: the first "
                "%(plan)s invoice is due when the trial ends."
            )
        else:
            message = _(
                "Free trial until %(date)s. Add a payment method before then to keep "
                "%(plan)s; without one, your subscription ends with the trial."
            )
        return BillingStatus(
            paid,
            message % trial,
            "info",
            action="add_payment_method",
            manageable=True,
            can_cancel=True,
        )
    if reason == Reason.COLLECTION_PAUSED:
        until = access.collection_resumes_at
        return BillingStatus(
            free,
            (
                _(
                    "Payments for %(plan)s are paused until %(date)s; "
                    "the free plan applies meanwhile."
                )
                % {"date": _day(until), **named}
                if until
                else _("Payments for %(plan)s are paused; the free plan applies meanwhile.") % named
            ),
            "warning",
        )
    if reason == Reason.CANCELING:
        return BillingStatus(
            paid,
            _("Canceled: %(plan)s ends on %(date)s. You keep it until then.")
            % {"date": _day(sub.cancel_at or sub.current_period_end), **named},
            "warning",
            action="resume",
            manageable=True,
        )
    # When the unpaid invoice was first attempted, as the access policy counts it.
    failed_at = (
        selectors.invoice_past_due_since(invoice_id=sub.latest_invoice_id)
        or sub.current_period_start
    )
    failed = {"failed": _day(failed_at), **named}
    if reason == Reason.GRACE:
        return BillingStatus(
            paid,
            _(
                "Your %(plan)s payment failed on %(failed)s. Update your card before "
                "%(date)s to keep %(plan)s."
            )
            % {"date": _day(access.grace_ends_at), **failed},
            "danger",
            action="update_payment_method",
        )
    if reason == Reason.GRACE_OVER:
        return BillingStatus(
            free,
            _("Your %(plan)s payment failed on %(failed)s; update your card to restore %(plan)s.")
            % failed,
            "danger",
            action="update_payment_method",
        )
    if reason == Reason.PERIOD_OVER:
        return BillingStatus(
            free,
            _("Your %(plan)s subscription ended on %(date)s.")
            % {"date": _day(sub.cancel_at or sub.current_period_end), **named},
            "secondary",
            action="choose_plan",
        )
    invoice_url = _open_invoice_url(overview, sub.latest_invoice_id)
    if sub.status == SubscriptionStatus.UNPAID:
        return BillingStatus(
            free,
            _(
                "Your %(plan)s payment failed on %(failed)s and every retry failed too; "
                "pay the open invoice to restore %(plan)s."
            )
            % failed,
            "danger",
            action="pay_invoice" if invoice_url else "update_payment_method",
            action_url=invoice_url,
        )
    if sub.status == SubscriptionStatus.PAUSED:
        return BillingStatus(
            free,
            # Stripe resumes a paused subscription only through the API (no in-app action).
            _("Your %(plan)s trial ended without a payment method, so the subscription is paused.")
            % named,
            "warning",
        )
    if sub.status == SubscriptionStatus.INCOMPLETE:
        return BillingStatus(
            free,
            _("Your %(plan)s subscription is waiting for its first payment to be confirmed.")
            % named,
            "info",
            action="pay_invoice" if invoice_url else None,
            action_url=invoice_url,
        )
    if sub.status == SubscriptionStatus.INCOMPLETE_EXPIRED:
        return BillingStatus(
            free,
            _("Your %(plan)s subscription never started: its first payment was not completed.")
            % named,
            "secondary",
            action="choose_plan",
        )
    return BillingStatus(
        free,
        _("Your %(plan)s subscription ended on %(date)s.")
        % {"date": _day(sub.ended_at or sub.current_period_end), **named},
        "secondary",
        action="choose_plan",
    )


def _open_invoice_url(overview: BillingOverview, invoice_id: str | None) -> str | None:
    """The hosted page of the subscription's latest invoice, while it is open."""
    for row in overview.invoices:
        if row.id == invoice_id and row.status == "open":
            return row.hosted_invoice_url
    return None

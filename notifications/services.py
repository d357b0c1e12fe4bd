"""Notifications from Stripe events: what each event means for the user, and the emails.

The webhook processing task calls :func:`notify_from_stripe_event` once per
processed event for the event's team: each of the team's owners and admins gets
the notification (and its email; the first of them also copies the team's
billing email when that is nobody's address), members get none. It calls
:func:`notify_staff_from_stripe_event` for every event. Both are idempotent: a
unique constraint (not an ``if``) makes a redelivered or replayed event create
nothing and send nothing.

Event type → notification kind (``obj`` is ``data.object`` under dahlia,
``previous`` is ``data.previous_attributes``):

==================================  ==============================  =======================
Stripe event                        Condition                       Kind
==================================  ==============================  =======================
customer.subscription.created       status active or trialing       subscription_started
customer.subscription.updated       previous status incomplete,     subscription_started
                                    now active or trialing
customer.subscription.trial_will_   status trialing, in the mirror  trial_ending
end                                 too (not already ended)         (trial end date; what
                                                                    happens without a card)
invoice.paid                        status paid, amount_paid > 0    payment_succeeded
                                                                    (receipt: amount,
                                                                    invoice + PDF links)
invoice.payment_failed              always                          payment_failed (link to
                                                                    /billing/, next retry)
invoice.payment_action_required     always (3-D Secure)             payment_action_required
                                                                    (hosted invoice link)
customer.subscription.updated       the item prices differ from     plan_changed
                                    previous.items                  (old → new plan)
customer.subscription.updated       cancel_at_period_end            cancellation_scheduled
                                    False→True, or cancel_at        (access ends: cancel_at
                                    None→set                        or the items' period)
customer.subscription.updated       cancel_at_period_end            subscription_resumed
                                    True→False, or cancel_at
                                    set→None, nothing scheduled
customer.subscription.resumed       status not canceled             subscription_resumed
                                                                    (from a pause)
customer.subscription.deleted       status not incomplete_expired   subscription_ended
(signal) subscription_duplicates_   a second live subscription      duplicate_canceled
canceled                            was canceled by the pipeline    (kept plan, refund)
(signal) usage_threshold_reached    usage reached 80 % or 100 % of  usage_threshold (once
                                    an included amount or a hard    per team, meter, period
                                    limit (the usage reporter)      and threshold)
==================================  ==============================  =======================

A subscription canceled as a duplicate announces nothing of its own (no
"started", "ended" or other subscription notification once it is known to be
one): the ``duplicate_canceled`` notification says what happened.

Deliberately silent: ``customer.subscription.created`` while ``incomplete``
(the update to active announces it), renewals (``previous.items`` shows only the
item periods moving, the prices are the same), trial conversion
(trialing→active; the receipt covers it), quantity-only changes, ``$0``
invoices (trial starts, full credits), ``trial_will_end`` after the trial
already ended (early, or in the same second as a card-less trial that is
canceled or paused: that event speaks), and subscriptions that never started
(``incomplete_expired``). One ``customer.subscription.updated`` can mean
several kinds (e.g. a plan change that also clears a scheduled cancellation);
each kind is its own notification.

Staff (``notify_staff_from_stripe_event``): ``charge.dispute.created``,
``charge.dispute.closed`` and ``charge.refunded`` each store one
:class:`~notifications.models.StaffAlert` per event id and email
``BILLING_STAFF_EMAILS`` (or the active staff users).
A canceled duplicate subscription stores one more kind of StaffAlert
(``subscription.duplicate_canceled``, once per resolving event).

Emails go out from Celery tasks after the transaction commits; a task sends at
most once per row (``emailed_at`` under a row lock). Receipts respect the
user's preference; everything else is always emailed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from saas.email import email_message_build
from subscriptions import status as subscription_status
from subscriptions.catalog import get_catalog
from subscriptions.formatting import format_money
from subscriptions.selectors import subscription_canceled_as_duplicate
from teams.models import Team
from teams.selectors import billing_member_ids, billing_recipients

from . import selectors
from .models import Notification, NotificationPreferences, StaffAlert

logger = logging.getLogger(__name__)

Kind = Notification.Kind

# The catch-up sweep re-enqueues unsent emails this old, and gives up on older ones.
EMAIL_REQUEUE_AFTER = timedelta(minutes=10)
EMAIL_REQUEUE_WITHIN = timedelta(days=1)

# A subscription that has started: its first payment (or trial) went through.
STARTED_STATUSES = subscription_status.ACCESS
STAFF_EVENT_TYPES = frozenset(
    {"charge.dispute.created", "charge.dispute.closed", "charge.refunded"}
)


# --- Reading dahlia payloads ------------------------------------------------------


@dataclass(frozen=True)
class NotificationDraft:
    kind: str
    title: str
    body: str
    link: str
    data: dict[str, Any] = field(default_factory=dict)
    # Unique per user and kind when set: Stripe may tell one occasion under two event ids.
    occasion: str = ""
    # The dunning occasion that turns it off (settings.BILLING_EMAILS), if any.
    setting: str = ""


def _notification_create_once(
    *,
    user: User,
    draft: NotificationDraft,
    stripe_event_id: str,
    livemode: bool,
    team: Team | None = None,
) -> Notification | None:
    """Store one notification; None when this event already notified this user of it.

    The unique constraint (user, kind, event) is what makes a redelivered event
    notify nobody twice, whichever worker gets there first.
    """
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user,
                team=team,
                kind=draft.kind,
                title=draft.title[:200],
                body=draft.body,
                link=_link_for_team(draft.link, team),
                data=draft.data,
                stripe_event_id=stripe_event_id,
                occasion=draft.occasion[:255],
                livemode=livemode,
            )
    except IntegrityError:
        logger.info(
            "notification already exists user=%s kind=%s event=%s",
            user.pk,
            draft.kind,
            stripe_event_id,
        )
        return None


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _team_billing_url(team: Team | None) -> str:
    if team is None:
        return _site_url("/billing/")
    return _site_url(reverse("billing", kwargs={"team_slug": team.slug}))


def _link_for_team(link: str, team: Team | None) -> str:
    """Drafts link to the billing page; the team's own billing page is where it is."""
    if link == _site_url("/billing/"):
        return _team_billing_url(team)
    return link


def _id_of(value: Any) -> str:
    """An id from a field that may be expanded (dict) or not (str)."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _items(subscription_like: dict[str, Any]) -> list[dict[str, Any]]:
    items = subscription_like.get("items")
    if isinstance(items, dict):
        items = items.get("data")
    return [i for i in items or [] if isinstance(i, dict)]


def _price_ids(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(_id_of(item.get("price")) for item in items)


def _price_label(price: Any) -> str:
    """The plan name for a price: catalog name from the lookup key, else the nickname."""
    if not isinstance(price, dict):
        return ""
    lookup_key = price.get("lookup_key")
    if lookup_key:
        plan = get_catalog().plan_for_lookup_key(str(lookup_key))
        if plan is not None:
            return plan.name
    return str(price.get("nickname") or "")


def _interval_of(price: Any) -> str:
    recurring = price.get("recurring") if isinstance(price, dict) else None
    return str((recurring or {}).get("interval") or "")


def _interval_label(price: Any) -> str:
    recurring = price.get("recurring") if isinstance(price, dict) else None
    interval = (recurring or {}).get("interval")
    return {"month": _("monthly"), "year": _("yearly")}.get(str(interval), "")


def _plan_label(items: list[dict[str, Any]]) -> str:
    return _price_label(items[0].get("price")) if items else ""


def _period_end(subscription: dict[str, Any]) -> int | None:
    """Since basil the period lives on each item; the subscription ends with the last one."""
    ends = [
        int(i["current_period_end"]) for i in _items(subscription) if i.get("current_period_end")
    ]
    return max(ends) if ends else None


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return ""
    return date_format(datetime.fromtimestamp(int(timestamp), tz=UTC), "DATE_FORMAT")


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    parent = invoice.get("parent") or {}
    if parent.get("type") != "subscription_details":
        return ""
    return _id_of((parent.get("subscription_details") or {}).get("subscription"))


# --- Subscription events ----------------------------------------------------------


def _started(sub: dict[str, Any]) -> NotificationDraft:
    plan = _plan_label(_items(sub))
    data: dict[str, Any] = {"subscription": sub.get("id"), "plan": plan}
    if sub.get("status") == "trialing" and sub.get("trial_end"):
        data["trial_end"] = sub["trial_end"]
        title = (
            _("Your %(plan)s trial has started") % {"plan": plan}
            if plan
            else _("Your trial has started")
        )
        body = _("Enjoy every feature of your plan until %(date)s.") % {
            "date": _date(sub["trial_end"])
        }
    else:
        title = (
            _("Welcome to %(plan)s") % {"plan": plan} if plan else _("Your subscription is active")
        )
        body = _("Your subscription is active and all features of your plan are unlocked.")
    return NotificationDraft(Kind.SUBSCRIPTION_STARTED, title, body, _site_url("/billing/"), data)


def _trial_ending(
    sub: dict[str, Any], *, has_payment_method: bool | None = None
) -> NotificationDraft | None:
    if sub.get("status") != "trialing":
        return None  # the trial already ended early (plan change, trial_end=now)
    trial_end = sub.get("trial_end")
    date = _date(trial_end)
    scheduled_to_end = bool(sub.get("cancel_at_period_end") or sub.get("cancel_at"))
    # What Stripe does at trial end when nothing can be charged (cancel, pause, create_invoice).
    missing = ((sub.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method"
    )
    if sub.get("default_payment_method") or sub.get("default_source"):
        has_payment_method = True
    if scheduled_to_end:
        body = _(
            "Your trial ends on %(date)s and your subscription ends with it. "
            "Resume it on the billing page to keep your plan."
        ) % {"date": date}
    elif has_payment_method is False and missing == "cancel":
        body = _(
            "Your trial ends on %(date)s. There is no payment method on file, so your "
            "subscription ends with the trial unless you add one on the billing page."
        ) % {"date": date}
    elif has_payment_method is False and missing == "pause":
        body = _(
            "Your trial ends on %(date)s. There is no payment method on file, so your "
            "subscription is paused when the trial ends unless you add one on the billing page."
        ) % {"date": date}
    elif has_payment_method is False:
        body = _(
            "Your trial ends on %(date)s and your first invoice is due then. There is no "
            "payment method on file: add one on the billing page so it can be paid."
        ) % {"date": date}
    else:
        body = _(
            "Your trial ends on %(date)s and your subscription continues at the regular price. "
            "Check your payment method on the billing page so nothing is interrupted."
        ) % {"date": date}
    return NotificationDraft(
        Kind.TRIAL_ENDING,
        _("Your trial ends on %(date)s") % {"date": date},
        body,
        _site_url("/billing/"),
        {"subscription": sub.get("id"), "trial_end": trial_end},
    )


def _plan_changed(sub: dict[str, Any], previous: dict[str, Any]) -> NotificationDraft | None:
    if "items" not in previous:
        return None
    old_items, new_items = _items(previous), _items(sub)
    # A renewal also lists items (their periods moved): only a different price is a plan change.
    if not old_items or _price_ids(old_items) == _price_ids(new_items):
        return None
    old_price = old_items[0].get("price")
    new_price = new_items[0].get("price") if new_items else None
    old, new = _price_label(old_price), _price_label(new_price)
    if old and old == new:  # same plan, other billing interval
        old = f"{old} ({_interval_label(old_price)})" if _interval_label(old_price) else old
        new = f"{new} ({_interval_label(new_price)})" if _interval_label(new_price) else new
    if old and new:
        title = _("Your plan changed from %(old)s to %(new)s") % {"old": old, "new": new}
    elif new:
        title = _("You are now on %(new)s") % {"new": new}
    else:
        title = _("Your plan changed")
    body = _("The change applies now. Any difference in price is prorated.")
    return NotificationDraft(
        Kind.PLAN_CHANGED,
        title,
        body,
        _site_url("/billing/"),
        {"subscription": sub.get("id"), "old_plan": old, "new_plan": new},
    )


def _cancellation_changes(sub: dict[str, Any], previous: dict[str, Any]) -> list[NotificationDraft]:
    was_period_end = previous.get("cancel_at_period_end")
    scheduled = (was_period_end is False and sub.get("cancel_at_period_end") is True) or (
        "cancel_at" in previous and previous["cancel_at"] is None and sub.get("cancel_at")
    )
    unscheduled = (was_period_end is True and sub.get("cancel_at_period_end") is False) or (
        "cancel_at" in previous and previous["cancel_at"] and not sub.get("cancel_at")
    )
    plan = _plan_label(_items(sub))
    data = {"subscription": sub.get("id"), "plan": plan}
    if scheduled and sub.get("status") != "canceled":
        ends = sub.get("cancel_at") or _period_end(sub)
        data["access_ends"] = ends
        title = _("Your subscription is canceled")
        body = (
            _(
                "You keep access to %(plan)s until %(date)s. "
                "Changed your mind? Resume it any time before then."
            )
            % {"plan": plan or _("your plan"), "date": _date(ends)}
            if ends
            else _("You keep access until the end of the current period.")
        )
        return [
            NotificationDraft(
                Kind.CANCELLATION_SCHEDULED, title, body, _site_url("/billing/"), data
            )
        ]
    still_ending = sub.get("cancel_at_period_end") or sub.get("cancel_at")
    if unscheduled and not still_ending and sub.get("status") != "canceled":
        title = _("Your subscription will continue")
        body = _("The cancellation was withdrawn: %(plan)s renews as usual.") % {
            "plan": plan or _("your subscription")
        }
        return [
            NotificationDraft(Kind.SUBSCRIPTION_RESUMED, title, body, _site_url("/billing/"), data)
        ]
    return []


def _subscription_updated(sub: dict[str, Any], previous: dict[str, Any]) -> list[NotificationDraft]:
    drafts: list[NotificationDraft] = []
    if previous.get("status") == "incomplete" and sub.get("status") in STARTED_STATUSES:
        drafts.append(_started(sub))
    else:
        # A subscription that only now became active has no "old plan" worth announcing.
        changed = _plan_changed(sub, previous)
        if changed:
            drafts.append(changed)
    drafts.extend(_cancellation_changes(sub, previous))
    return drafts


def _resumed_from_pause(sub: dict[str, Any]) -> NotificationDraft | None:
    if sub.get("status") == "canceled":
        return None
    plan = _plan_label(_items(sub))
    return NotificationDraft(
        Kind.SUBSCRIPTION_RESUMED,
        _("Your subscription is active again"),
        _("%(plan)s is resumed and billing continues from today.")
        % {"plan": plan or _("Your subscription")},
        _site_url("/billing/"),
        {"subscription": sub.get("id"), "plan": plan},
    )


def _ended(sub: dict[str, Any]) -> NotificationDraft | None:
    if sub.get("status") == "incomplete_expired":
        return None  # never started: the user was never told it had
    plan = _plan_label(_items(sub))
    if (sub.get("cancellation_details") or {}).get("reason") == "payment_failed":
        return _ended_unpaid(sub, plan)
    return NotificationDraft(
        Kind.SUBSCRIPTION_ENDED,
        _("Your %(plan)s subscription has ended") % {"plan": plan}
        if plan
        else _("Your subscription has ended"),
        _("Paid features are no longer available. You can subscribe again at any time."),
        _site_url("/pricing/"),
        {"subscription": sub.get("id"), "plan": plan, "ended_at": sub.get("ended_at")},
    )


def _ended_unpaid(sub: dict[str, Any], plan: str) -> NotificationDraft:
    """Stripe canceled the subscription after its last retry failed (the account's
    "cancel the subscription" setting): cancellation_details.reason is payment_failed."""
    return NotificationDraft(
        Kind.SUBSCRIPTION_ENDED,
        _("Your %(plan)s subscription ended: we could not collect payment") % {"plan": plan}
        if plan
        else _("Your subscription ended: we could not collect payment"),
        _(
            "We tried your card several times and every payment failed, so the subscription "
            "was canceled and its paid features are no longer available. Subscribe again "
            "with a working card to get them back."
        ),
        _site_url("/pricing/"),
        {
            "subscription": sub.get("id"),
            "plan": plan,
            "ended_at": sub.get("ended_at"),
            "reason": "payment_failed",
        },
        occasion=f"ended:{sub.get('id')}",
        setting="subscription_ended_unpaid",
    )


# --- Invoice events -------------------------------------------------------------------


def _invoice_data(invoice: dict[str, Any], amount: int) -> dict[str, Any]:
    currency = str(invoice.get("currency") or "usd")
    return {
        "invoice": invoice.get("id"),
        "number": invoice.get("number") or "",
        "subscription": _invoice_subscription_id(invoice),
        "amount": amount,
        "currency": currency,
        "amount_display": format_money(amount, currency),
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "invoice_pdf": invoice.get("invoice_pdf") or "",
    }


def _invoice_paid(invoice: dict[str, Any]) -> NotificationDraft | None:
    amount = int(invoice.get("amount_paid") or 0)
    if invoice.get("status") != "paid" or amount <= 0:
        return None  # trial starts and fully credited invoices charge nothing
    data = _invoice_data(invoice, amount)
    title = _("Receipt: %(amount)s paid") % {"amount": data["amount_display"]}
    body = (
        _("Thank you! We received your payment of %(amount)s for invoice %(number)s.")
        % {"amount": data["amount_display"], "number": data["number"]}
        if data["number"]
        else _("Thank you! We received your payment of %(amount)s.")
        % {"amount": data["amount_display"]}
    )
    body += _receipt_tax_lines(invoice, data)
    link = data["hosted_invoice_url"] or _site_url("/billing/")
    return NotificationDraft(Kind.PAYMENT_SUCCEEDED, title, body, link, data)


def _receipt_tax_lines(invoice: dict[str, Any], data: dict[str, Any]) -> str:
    """The receipt's tax sentences: the tax the payment includes and the buyer's tax IDs.

    ``total_taxes`` (API 2025-03-31 on) lists the invoice's taxes; ``customer_tax_ids``
    are the IDs printed on the invoice (a reverse-charged sale shows no tax, the ID only).
    """
    taxes = invoice.get("total_taxes") or []
    tax = sum(int(t.get("amount") or 0) for t in taxes if isinstance(t, dict))
    ids = [
        str(t.get("value"))
        for t in invoice.get("customer_tax_ids") or []
        if isinstance(t, dict) and t.get("value")
    ]
    text = ""
    if tax:
        data["tax"] = tax
        data["tax_display"] = format_money(tax, data["currency"])
        text += " " + _("It includes %(tax)s tax.") % {"tax": data["tax_display"]}
    elif any(t.get("taxability_reason") == "reverse_charge" for t in taxes if isinstance(t, dict)):
        text += " " + _("No tax was charged: reverse charge applies.")
    if ids:
        data["tax_ids"] = ids
        text += " " + _("Tax ID on the invoice: %(ids)s.") % {"ids": ", ".join(ids)}
    return text


def _is_before_last_attempt(invoice: dict[str, Any]) -> bool:
    """Whether the next scheduled attempt is the last one Stripe will make.

    Stripe does not say how many retries remain: ``next_payment_attempt`` is null
    once none is left, and ``attempt_count`` counts the automatic attempts made so
    far (manual payments after the first do not count). With
    ``BILLING_PAYMENT_ATTEMPTS`` set to the total of the account's retry settings,
    the failure whose count is one less than it has exactly one attempt ahead.
    """
    if not invoice.get("next_payment_attempt"):
        return False
    attempts = int(settings.BILLING_PAYMENT_ATTEMPTS)
    return attempts > 1 and int(invoice.get("attempt_count") or 0) == attempts - 1


def _final_notice(invoice: dict[str, Any]) -> NotificationDraft:
    amount = int(invoice.get("amount_due") or 0)
    data = _invoice_data(invoice, amount)
    last_attempt = invoice.get("next_payment_attempt")
    data["next_payment_attempt"] = last_attempt
    body = _(
        "We could not charge %(amount)s to your card again. We will make one last attempt "
        "on %(date)s; if it fails, your subscription ends. Update your card or pay the "
        "invoice now to keep your plan."
    ) % {"amount": data["amount_display"], "date": _date(last_attempt)}
    return NotificationDraft(
        Kind.FINAL_NOTICE,
        _("Final notice: last payment attempt on %(date)s") % {"date": _date(last_attempt)},
        body,
        _site_url("/billing/"),
        data,
        occasion=f"final:{invoice.get('id')}",
        setting="final_notice",
    )


def _invoice_payment_failed(invoice: dict[str, Any]) -> NotificationDraft:
    if _is_before_last_attempt(invoice):
        return _final_notice(invoice)
    amount = int(invoice.get("amount_due") or 0)
    data = _invoice_data(invoice, amount)
    next_attempt = invoice.get("next_payment_attempt")
    data["next_payment_attempt"] = next_attempt
    if invoice.get("billing_reason") == "subscription_create":
        # The first payment: there is no plan to keep yet.
        body = _(
            "We could not charge %(amount)s to your card for your new subscription. "
            "Update your payment method on the billing page to start it."
        ) % {"amount": data["amount_display"]}
    else:
        body = _(
            "We could not charge %(amount)s to your card. "
            "Update your payment method to keep your plan."
        ) % {"amount": data["amount_display"]}
    if next_attempt:
        body += " " + _("We will try again on %(date)s.") % {"date": _date(next_attempt)}
    return NotificationDraft(
        Kind.PAYMENT_FAILED,
        _("Your payment failed"),
        body,
        _site_url("/billing/"),
        data,
        # One failed attempt can come as two events: one notice per attempt.
        occasion=f"failed:{invoice.get('id')}:{invoice.get('attempt_count') or 0}",
        setting="payment_failed",
    )


def _invoice_action_required(invoice: dict[str, Any]) -> NotificationDraft:
    amount = int(invoice.get("amount_due") or 0)
    data = _invoice_data(invoice, amount)
    body = _(
        "Your bank asks you to confirm the payment of %(amount)s (3-D Secure). "
        "Open the invoice to complete it."
    ) % {"amount": data["amount_display"]}
    link = data["hosted_invoice_url"] or _site_url("/billing/")
    return NotificationDraft(
        Kind.PAYMENT_ACTION_REQUIRED,
        _("Confirm your payment"),
        body,
        link,
        data,
        occasion=f"action:{invoice.get('id')}:{invoice.get('attempt_count') or 0}",
        setting="payment_action_required",
    )


def _renewal_moment(invoice: dict[str, Any]) -> int | None:
    """When the announced renewal happens: the new period's start on the preview's lines."""
    for line in _items({"items": invoice.get("lines")}):
        start = (line.get("period") or {}).get("start")
        if start:
            return int(start)
    return invoice.get("next_payment_attempt") or invoice.get("period_end")


def _upcoming_renewal(
    invoice: dict[str, Any], subscription: dict[str, Any] | None
) -> NotificationDraft | None:
    """``invoice.upcoming``: Stripe sends it days before a subscription creates an
    automatically charged invoice (the days are an account setting); its object is
    a preview of that invoice without an id. ``subscription`` is the mirrored
    subscription it renews. Announced for the intervals in
    ``BILLING_UPCOMING_RENEWAL_INTERVALS`` (yearly: a large charge a year apart),
    for subscriptions in good standing (a trial's end has its own notice)."""
    if subscription is None or subscription.get("status") != "active":
        return None
    items = _items(subscription)
    price = items[0].get("price") if items else None
    if _interval_of(price) not in settings.BILLING_UPCOMING_RENEWAL_INTERVALS:
        return None
    amount = int(invoice.get("amount_due") or 0)
    subscription_id = _invoice_subscription_id(invoice)
    renews = _renewal_moment(invoice)
    if amount <= 0 or not subscription_id or not renews:
        return None
    data = _invoice_data(invoice, amount)
    data["renews_at"] = renews
    plan = _price_label(price)
    title = (
        _("Your %(plan)s plan renews on %(date)s") % {"plan": plan, "date": _date(renews)}
        if plan
        else _("Your subscription renews on %(date)s") % {"date": _date(renews)}
    )
    return NotificationDraft(
        Kind.UPCOMING_RENEWAL,
        title,
        _(
            "On %(date)s we will charge %(amount)s to your card for the next period. "
            "Nothing to do if that is fine; check your card or change your plan on the "
            "billing page before then."
        )
        % {"date": _date(renews), "amount": data["amount_display"]},
        _site_url("/billing/"),
        data,
        occasion=f"renewal:{subscription_id}:{renews}",
        setting="upcoming_renewal",
    )


def _dispute_lost(dispute: dict[str, Any]) -> NotificationDraft | None:
    """A chargeback decided for the cardholder: the money went back to their card.

    The team's owners hear of it (won disputes and inquiries change nothing for
    them): the cardholder may not be one of them (a fraud dispute), and a
    reversed payment can change what the team may use (BILLING_DISPUTE_ACCESS).
    """
    if dispute.get("status") != "lost":
        return None
    amount = int(dispute.get("amount") or 0)
    currency = str(dispute.get("currency") or "usd")
    shown = format_money(amount, currency)
    body = _(
        "Your card issuer reversed a payment of %(amount)s after a dispute, and the money "
        "went back to the card. If you did not expect this, reply to this email."
    ) % {"amount": shown}
    data = {
        "dispute": dispute.get("id"),
        "amount": amount,
        "currency": currency,
        "amount_display": shown,
    }
    title = _("A payment of %(amount)s was reversed") % {"amount": shown}
    return NotificationDraft(Kind.DISPUTE_LOST, title, body, _site_url("/billing/"), data)


def notification_drafts(
    *,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    has_payment_method: bool | None = None,
    renewal_subscription: dict[str, Any] | None = None,
) -> list[NotificationDraft]:
    """What a Stripe event means for its user (pure: no database, no email).

    ``has_payment_method`` says whether Stripe can charge the customer (the
    subscription's or the customer's default); ``None`` when that is unknown.
    ``renewal_subscription`` is the mirrored subscription an ``invoice.upcoming``
    announces the renewal of.
    """
    previous = previous or {}
    drafts: list[NotificationDraft | None]
    match event_type:
        case "customer.subscription.created":
            drafts = [_started(obj) if obj.get("status") in STARTED_STATUSES else None]
        case "customer.subscription.updated":
            drafts = list(_subscription_updated(obj, previous))
        case "customer.subscription.trial_will_end":
            drafts = [_trial_ending(obj, has_payment_method=has_payment_method)]
        case "customer.subscription.resumed":
            drafts = [_resumed_from_pause(obj)]
        case "customer.subscription.deleted":
            drafts = [_ended(obj)]
        case "invoice.paid":
            drafts = [_invoice_paid(obj)]
        case "invoice.payment_failed":
            drafts = [_invoice_payment_failed(obj)]
        case "invoice.payment_action_required":
            drafts = [_invoice_action_required(obj)]
        case "charge.dispute.closed":
            drafts = [_dispute_lost(obj)]
        case "invoice.upcoming":
            drafts = [_upcoming_renewal(obj, renewal_subscription)]
        case _:
            drafts = []
    unique: dict[str, NotificationDraft] = {}
    for draft in drafts:
        if draft is not None and occasion_enabled(draft.setting):
            unique.setdefault(draft.kind, draft)
    return list(unique.values())


def occasion_enabled(occasion: str) -> bool:
    """Whether a dunning occasion is on (``BILLING_EMAILS``); other kinds always are."""
    if not occasion:
        return True
    return bool(getattr(settings, "BILLING_EMAILS", {}).get(occasion, True))


# --- Writing -------------------------------------------------------------------------


def notify_from_stripe_event(
    *,
    team_id: int,
    event_id: str,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    livemode: bool = False,
) -> list[Notification]:
    """Create the notifications this Stripe event means for the team's owners and admins
    (possibly none) and queue their emails on commit. Idempotent: a unique constraint on
    (user, kind, stripe_event_id) means a duplicate event creates nothing and sends nothing."""
    if event_type.startswith("customer.subscription.") and subscription_canceled_as_duplicate(
        subscription=obj
    ):
        logger.info("event %s is about canceled duplicate %s: silent", event_id, obj.get("id"))
        return []
    has_payment_method = None
    if event_type == "customer.subscription.trial_will_end":
        current = _trial_state_now(obj)
        if current is None:
            logger.info(
                "event %s: trial of %s already over, its own event tells what happened",
                event_id,
                obj.get("id"),
            )
            return []
        obj, has_payment_method = current
    renewal_subscription = (
        _mirrored_subscription(_invoice_subscription_id(obj))
        if event_type == "invoice.upcoming"
        else None
    )
    drafts = notification_drafts(
        event_type=event_type,
        obj=obj,
        previous=previous,
        has_payment_method=has_payment_method,
        renewal_subscription=renewal_subscription,
    )
    team = Team.objects.filter(pk=team_id).first()
    if team is None or not drafts:
        return []
    created: list[Notification] = []
    for user in _billing_members(team):
        mine: list[Notification] = []
        for draft in drafts:
            notification = _notification_create_once(
                user=user, draft=draft, stripe_event_id=event_id, livemode=livemode, team=team
            )
            if notification is None:
                continue
            mine.append(notification)
            logger.info(
                "notification created id=%s team=%s user=%s kind=%s event=%s type=%s object=%s",
                notification.pk,
                team.pk,
                user.pk,
                draft.kind,
                event_id,
                event_type,
                obj.get("id"),
            )
        _queue_emails(user=user, notifications=mine)
        created.extend(mine)
    return created


def _mirrored_subscription(subscription_id: str) -> dict[str, Any] | None:
    """A subscription as dj-stripe mirrors it (its prices are expanded there)."""
    from djstripe.models import Subscription

    if not subscription_id:
        return None
    row = Subscription.objects.filter(id=subscription_id).only("stripe_data").first()
    return (row.stripe_data or None) if row is not None else None


def _billing_members(team: Team) -> list[User]:
    """The members a billing notification concerns: active owners and admins."""
    ids = billing_member_ids(team_id=team.pk)
    by_id = User.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


def _trial_state_now(sub: dict[str, Any]) -> tuple[dict[str, Any], bool | None] | None:
    """The subscription as mirrored now and whether its customer can be charged
    (None when the customer is not mirrored, so nobody knows).

    ``trial_will_end`` comes 3 days before the trial end, or at once when less is
    left, so it can arrive with (or after) the end itself: a card-less trial is
    canceled or paused in the same second. The mirror (dj-stripe re-fetched the
    subscription while processing the event) tells what actually happened; when
    the trial is over, returns None and the event that ended it speaks instead.
    """
    from djstripe.models import Customer, Subscription

    row = Subscription.objects.filter(id=str(sub.get("id") or "")).only("stripe_data").first()
    current = (row.stripe_data if row is not None else None) or sub
    if current.get("status") != "trialing":
        return None
    if current.get("default_payment_method") or current.get("default_source"):
        return current, True
    customer_id = _id_of(current.get("customer"))
    customer = Customer.objects.filter(id=customer_id).only("stripe_data").first()
    if customer is None:
        return current, None
    data = customer.stripe_data or {}
    customer_default = (data.get("invoice_settings") or {}).get("default_payment_method")
    return current, bool(customer_default or data.get("default_source"))


def _queue_emails(*, user: User, notifications: list[Notification]) -> None:
    from .tasks import notification_email_send_task

    receipts_wanted: bool | None = None
    for notification in notifications:
        if notification.is_receipt:
            if receipts_wanted is None:
                receipts_wanted = selectors.notification_preferences_get(user=user).email_receipts
            if not receipts_wanted:
                continue
        # robust: a broker outage must not fail the caller after its work committed;
        # notification_emails_requeue picks the email up later.
        transaction.on_commit(
            lambda pk=notification.pk: notification_email_send_task.delay(pk),  # type: ignore[misc]
            robust=True,
        )


def _plan_name(lookup_key: str) -> str:
    plan = get_catalog().plan_for_lookup_key(lookup_key) if lookup_key else None
    return plan.name if plan is not None else ""


def _duplicate_draft(resolutions: list[Any]) -> NotificationDraft:
    kept = _plan_name(resolutions[0].kept_lookup_key) or _("your plan")
    canceled = [_plan_name(r.canceled_lookup_key) or _("a second plan") for r in resolutions]
    refunded = sum(r.refunded_amount for r in resolutions)
    currency = next((r.currency for r in resolutions if r.currency), "usd")
    canceled_names = ", ".join(canceled)
    title = _("We canceled your duplicate %(plan)s subscription") % {"plan": canceled_names}
    body = _(
        "You had two subscriptions at the same time, so we kept %(kept)s and canceled "
        "%(canceled)s right away."
    ) % {"kept": kept, "canceled": canceled_names}
    if refunded:
        body += " " + _("%(amount)s is on its way back to your card.") % {
            "amount": format_money(refunded, currency)
        }
    else:
        body += " " + _("It will not be charged.")
    data = {
        "kept_subscription": resolutions[0].kept_subscription_id,
        "kept_plan": kept,
        "canceled_subscriptions": [r.canceled_subscription_id for r in resolutions],
        "canceled_plans": canceled,
        "refunded_amount": refunded,
        "currency": currency,
        "amount_display": format_money(refunded, currency) if refunded else "",
    }
    return NotificationDraft(Kind.DUPLICATE_CANCELED, title, body, _site_url("/billing/"), data)


def notify_duplicates_canceled(
    *, resolutions: list[Any], team_id: int | None, stripe_event_id: str, livemode: bool = False
) -> None:
    """Tell the team's owners and admins, and staff, once, that duplicates were canceled.

    ``resolutions`` are the ``subscriptions.DuplicateSubscription`` rows the
    event created (each exists once, so this runs once per canceled
    duplicate); the notification and the alert are unique per event as well.
    """
    from .tasks import staff_alert_email_send_task

    if not resolutions:
        return
    team = Team.objects.filter(pk=team_id).first() if team_id else None
    for user in _billing_members(team) if team is not None else []:
        notification = _notification_create_once(
            user=user,
            draft=_duplicate_draft(resolutions),
            stripe_event_id=stripe_event_id,
            livemode=livemode,
            team=team,
        )
        if notification is not None:
            _queue_emails(user=user, notifications=[notification])
    first = resolutions[0]
    try:
        with transaction.atomic():
            alert = StaffAlert.objects.create(
                stripe_event_id=stripe_event_id,
                event_type=StaffAlert.DUPLICATE_EVENT_TYPE,
                object_id=", ".join(r.canceled_subscription_id for r in resolutions)[:255],
                charge_id="",
                customer_id=first.customer_id,
                amount=sum(r.refunded_amount for r in resolutions),
                currency=next((r.currency for r in resolutions if r.currency), ""),
                reason="duplicate",
                status=f"kept {first.kept_subscription_id}"[:100],
                livemode=livemode,
            )
    except IntegrityError:
        logger.info("duplicate staff alert exists event=%s", stripe_event_id)
        return
    logger.warning(
        "billing staff alert event=%s type=%s object=%s customer=%s",
        stripe_event_id,
        alert.event_type,
        alert.object_id,
        alert.customer_id,
    )
    transaction.on_commit(lambda: staff_alert_email_send_task.delay(alert.pk), robust=True)


def _render_email(
    *, template: str, subject: str, to: list[str], context: dict[str, Any]
) -> EmailMultiAlternatives:
    return email_message_build(
        template_prefix=f"notifications/email/{template}", subject=subject, to=to, context=context
    )


CALL_TO_ACTION: dict[str, Any] = {
    Kind.SUBSCRIPTION_STARTED: gettext_lazy("Go to billing"),
    Kind.TRIAL_ENDING: gettext_lazy("Review billing"),
    Kind.PAYMENT_SUCCEEDED: gettext_lazy("View invoice"),
    Kind.PAYMENT_FAILED: gettext_lazy("Update payment method"),
    Kind.PAYMENT_ACTION_REQUIRED: gettext_lazy("Confirm payment"),
    Kind.PLAN_CHANGED: gettext_lazy("Go to billing"),
    Kind.CANCELLATION_SCHEDULED: gettext_lazy("Resume subscription"),
    Kind.SUBSCRIPTION_RESUMED: gettext_lazy("Go to billing"),
    Kind.SUBSCRIPTION_ENDED: gettext_lazy("See plans"),
    Kind.DUPLICATE_CANCELED: gettext_lazy("Go to billing"),
    Kind.REFUND_ISSUED: gettext_lazy("Go to billing"),
    Kind.DISPUTE_LOST: gettext_lazy("Go to billing"),
    Kind.FINAL_NOTICE: gettext_lazy("Pay now or update your card"),
    Kind.CARD_EXPIRING: gettext_lazy("Update payment method"),
    Kind.UPCOMING_RENEWAL: gettext_lazy("Review billing"),
    Kind.USAGE_THRESHOLD: gettext_lazy("See usage"),
}


def notification_email_message(*, notification: Notification) -> EmailMultiAlternatives:
    """The email (HTML and text) of one notification, as ``notification_email_send`` sends it."""
    return _render_email(
        template="notification",
        subject=notification.title,
        to=[notification.user.email, *_billing_email_copy(notification)],
        context={
            "notification": notification,
            "user": notification.user,
            "team": notification.team,
            "data": notification.data,
            "call_to_action": CALL_TO_ACTION.get(notification.kind, _("Open")),
            "billing_url": _team_billing_url(notification.team),
            "notifications_url": _site_url("/notifications/"),
        },
    )


def notification_email_send(*, notification_id: int) -> str:
    """Email one notification unless it was already emailed or is not wanted.

    Holds the row lock while sending so two workers cannot both send it, and sets
    ``emailed_at`` only after the mail server accepted the message: an SMTP error
    propagates (the task retries) and leaves the row unsent. Returns the outcome.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user", "team")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return "missing"
        if notification.emailed_at is not None:
            return "already_sent"
        user = notification.user
        if not user.is_active or not user.email:
            return "no_recipient"
        if (
            notification.is_receipt
            and not selectors.notification_preferences_get(user=user).email_receipts
        ):
            return "receipts_off"
        message = notification_email_message(notification=notification)
        message.send()
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    logger.info(
        "notification emailed id=%s user=%s kind=%s event=%s",
        notification.pk,
        user.pk,
        notification.kind,
        notification.stripe_event_id,
    )
    return "sent"


def _billing_email_copy(notification: Notification) -> list[str]:
    """The team's billing email, on the first billing member's copy only, when it is not
    already one of the owners' and admins' own addresses (which get their own copy)."""
    team = notification.team
    if team is None or not team.email:
        return []
    member_ids = billing_member_ids(team_id=team.pk)
    if not member_ids or member_ids[0] != notification.user_id:
        return []
    # billing_recipients lists the members' addresses, then the billing email if distinct.
    return [team.email] if len(billing_recipients(team=team)) > len(member_ids) else []


def notification_mark_read(*, notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])


def notification_mark_all_read(*, user: User) -> int:
    return selectors.notifications_unread(user=user).update(read_at=timezone.now())


def notification_preferences_update(*, user: User, email_receipts: bool) -> NotificationPreferences:
    preferences, _created = NotificationPreferences.objects.update_or_create(
        user=user, defaults={"email_receipts": email_receipts}
    )
    return preferences


# --- Staff alerts ---------------------------------------------------------------------


def _staff_alert_fields(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    if event_type.startswith("charge.dispute."):
        charge = obj.get("charge")
        return {
            "object_id": str(obj.get("id") or ""),
            "charge_id": _id_of(charge),
            "customer_id": _id_of(charge.get("customer")) if isinstance(charge, dict) else "",
            "amount": int(obj.get("amount") or 0),
            "currency": str(obj.get("currency") or ""),
            "reason": str(obj.get("reason") or ""),
            "status": str(obj.get("status") or ""),
            "due_by": _moment((obj.get("evidence_details") or {}).get("due_by")),
        }
    refunds = _items({"items": obj.get("refunds")})
    latest = max(refunds, key=lambda r: int(r.get("created") or 0)) if refunds else {}
    return {
        "object_id": str(obj.get("id") or ""),
        "charge_id": str(obj.get("id") or ""),
        "customer_id": _id_of(obj.get("customer")),
        "amount": int(obj.get("amount_refunded") or 0),
        "currency": str(obj.get("currency") or ""),
        "reason": str(latest.get("reason") or ""),
        "status": "refunded" if obj.get("refunded") else "partially_refunded",
    }


def notify_staff_from_stripe_event(
    *, event_id: str, event_type: str, obj: dict[str, Any], livemode: bool = False
) -> bool:
    """charge.dispute.created, charge.dispute.closed, charge.refunded: email staff once per
    event id. Returns True when this call stored the alert (and queued its email)."""
    from .tasks import staff_alert_email_send_task

    if event_type not in STAFF_EVENT_TYPES:
        return False
    try:
        with transaction.atomic():
            alert = StaffAlert.objects.create(
                stripe_event_id=event_id,
                event_type=event_type,
                livemode=livemode,
                **_staff_alert_fields(event_type, obj),
            )
    except IntegrityError:
        logger.info("staff alert already exists event=%s type=%s", event_id, event_type)
        return False
    logger.warning(
        "billing staff alert event=%s type=%s object=%s charge=%s customer=%s",
        event_id,
        event_type,
        alert.object_id,
        alert.charge_id,
        alert.customer_id,
    )
    transaction.on_commit(lambda: staff_alert_email_send_task.delay(alert.pk), robust=True)
    return True


def notify_staff_seat_drift(*, drift: Any, outcome: Any) -> bool:
    """Email staff once that the seat reconciliation fixed a team's paid quantity.

    Once per subscription, move and day (the reconciliation runs daily; a second
    run the same day finds nothing to fix). Returns True when the alert is new.
    """
    from djstripe.models import Customer

    from .tasks import staff_alert_email_send_task

    day = f"{timezone.now():%Y-%m-%d}"
    key = f"seats:{drift.subscription_id}:{outcome.before}-{outcome.after}:{day}"
    customer = Customer.objects.filter(subscriber_id=drift.team_id).values_list("id", flat=True)
    try:
        with transaction.atomic():
            alert = StaffAlert.objects.create(
                stripe_event_id=key,
                event_type=StaffAlert.SEAT_DRIFT_EVENT_TYPE,
                object_id=drift.subscription_id,
                customer_id=next(iter(customer), ""),
                reason=f"team {drift.team_id}",
                status=f"paid {outcome.before} -> {outcome.after}, {drift.members} members",
            )
    except IntegrityError:
        logger.info("seat drift alert exists key=%s", key)
        return False
    logger.warning(
        "billing staff alert type=%s subscription=%s team=%s %s",
        alert.event_type,
        alert.object_id,
        drift.team_id,
        alert.status,
    )
    transaction.on_commit(lambda: staff_alert_email_send_task.delay(alert.pk), robust=True)
    return True


STAFF_SUBJECTS: dict[str, Any] = {
    StaffAlert.DEADLINE_EVENT_TYPE: gettext_lazy(
        "Dispute %(object)s on %(charge)s: evidence due by %(due_by)s"
    ),
    "charge.dispute.created": gettext_lazy("Dispute opened on %(charge)s (%(amount)s)"),
    "charge.dispute.closed": gettext_lazy("Dispute closed on %(charge)s: %(status)s"),
    "charge.refunded": gettext_lazy("Refund on %(charge)s: %(amount)s refunded in total"),
    StaffAlert.SEAT_DRIFT_EVENT_TYPE: gettext_lazy(
        "Seats of %(object)s fixed by the reconciliation: %(status)s"
    ),
    StaffAlert.DUPLICATE_EVENT_TYPE: gettext_lazy(
        "Duplicate subscription %(object)s of %(customer)s canceled (%(amount)s refunded)"
    ),
}


def staff_alert_email_send(*, alert_id: int) -> str:
    """Email one staff alert once (same locking rules as notification emails)."""
    with transaction.atomic():
        alert = StaffAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            return "missing"
        if alert.emailed_at is not None:
            return "already_sent"
        recipients = selectors.billing_staff_emails()
        if not recipients:
            logger.warning(
                "no billing staff to email alert=%s event=%s", alert.pk, alert.stripe_event_id
            )
            return "no_recipient"
        amount = format_money(alert.amount, alert.currency or "usd")
        subject = str(STAFF_SUBJECTS[alert.event_type]) % {
            "charge": alert.charge_id,
            "amount": amount,
            "status": alert.status,
            "object": alert.object_id,
            "customer": alert.customer_id,
            "due_by": date_format(alert.due_by, "DATETIME_FORMAT") if alert.due_by else "",
        }
        message = _render_email(
            template="staff_alert",
            subject=subject,
            to=recipients,
            context={
                "alert": alert,
                "amount_display": amount,
                "dashboard_url": alert.stripe_dashboard_url(),
                "admin_url": _site_url(f"/admin/notifications/staffalert/{alert.pk}/change/"),
            },
        )
        message.send()
        alert.emailed_at = timezone.now()
        alert.save(update_fields=["emailed_at"])
    logger.info("staff alert emailed id=%s event=%s", alert.pk, alert.stripe_event_id)
    return "sent"


def _moment(timestamp: Any) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def dispute_deadline_reminders_send(*, now: datetime | None = None) -> int:
    """Alert staff once per dispute whose evidence is due within three days.

    Run daily by beat. The alert is unique per dispute (a constraint), so
    reruns, a second beat and overlapping runs alert nobody twice. Returns how
    many reminders this run stored.
    """
    from subscriptions.disputes.disputes import disputes_due_soon

    from .tasks import staff_alert_email_send_task

    stored = 0
    for dispute in disputes_due_soon(now=now or timezone.now()):
        try:
            with transaction.atomic():
                alert = StaffAlert.objects.create(
                    stripe_event_id=f"deadline:{dispute.id}",
                    event_type=StaffAlert.DEADLINE_EVENT_TYPE,
                    object_id=dispute.id,
                    charge_id=dispute.charge_id,
                    customer_id=dispute.customer_id,
                    amount=dispute.amount,
                    currency=dispute.currency,
                    reason=dispute.reason,
                    status=dispute.status,
                    due_by=dispute.due_by,
                    livemode=settings.STRIPE_LIVE_MODE,
                )
        except IntegrityError:
            continue
        stored += 1
        logger.warning(
            "dispute evidence due soon dispute=%s charge=%s customer=%s due_by=%s",
            dispute.id,
            dispute.charge_id,
            dispute.customer_id,
            dispute.due_by,
        )
        transaction.on_commit(
            lambda pk=alert.pk: staff_alert_email_send_task.delay(pk),  # type: ignore[misc]
            robust=True,
        )
    return stored


REFUND_REASON_LABELS: dict[str, Any] = {
    "requested_by_customer": gettext_lazy("as you requested"),
    "duplicate": gettext_lazy("because the payment was a duplicate"),
    "fraudulent": gettext_lazy("because the payment was fraudulent"),
}


def notify_refund_issued(*, refund: Any) -> list[Notification]:
    """Tell the team's owners and admins (and its billing email) that staff refunded them.

    ``refund`` is a ``subscriptions.StaffRefund`` just completed; the notification
    is unique per user and Stripe refund id, so it is sent once.
    """
    team = Team.objects.filter(pk=refund.team_id).first() if refund.team_id else None
    if team is None or not refund.stripe_refund_id:
        logger.warning("refund %s has no team to tell", refund.stripe_refund_id or refund.pk)
        return []
    shown = format_money(refund.amount, refund.currency or "usd")
    reason = str(REFUND_REASON_LABELS.get(refund.reason, ""))
    title = _("We refunded %(amount)s") % {"amount": shown}
    body = _("We refunded %(amount)s to your card %(reason)s.") % {
        "amount": shown,
        "reason": reason,
    }
    body += " " + _("It can take 5 to 10 business days to show on your statement.")
    if refund.credit_note_id:
        body += " " + _("A credit note on the invoice records it.")
    data = {
        "refund": refund.stripe_refund_id,
        "credit_note": refund.credit_note_id,
        "invoice": refund.invoice_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "amount_display": shown,
        "reason": refund.reason,
        "reason_display": reason,
    }
    draft = NotificationDraft(Kind.REFUND_ISSUED, title, body, _site_url("/billing/"), data)
    created: list[Notification] = []
    for user in _billing_members(team):
        notification = _notification_create_once(
            user=user,
            draft=draft,
            stripe_event_id=refund.stripe_refund_id,
            livemode=refund.livemode,
            team=team,
        )
        if notification is not None:
            _queue_emails(user=user, notifications=[notification])
            created.append(notification)
    return created


# --- Cards about to expire (a daily beat task) --------------------------------------------


def _card_expiring_draft(card: Any) -> NotificationDraft:
    month = f"{card.exp_month:02d}/{card.exp_year}"
    brand = str(card.brand).title()
    return NotificationDraft(
        Kind.CARD_EXPIRING,
        _("Your %(brand)s card ending in %(last4)s expires next month")
        % {"brand": brand, "last4": card.last4},
        _(
            "The card your subscription is charged to expires at the end of %(month)s. "
            "Add a new card on the billing page before then so your next payment goes through."
        )
        % {"month": month},
        _site_url("/billing/"),
        {
            "payment_method": card.payment_method_id,
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
        occasion=f"card:{card.payment_method_id}:{card.exp_year}-{card.exp_month:02d}",
        setting="card_expiring",
    )


def cards_expiring_notify(*, now: datetime | None = None) -> int:
    """Tell each team whose default card expires next month, once per card and month.

    Reads the default payment methods dj-stripe mirrors (the subscription's,
    else the customer's) of teams with a subscription Stripe will charge again.
    The card and its expiry month are the occasion, so running the task again
    (daily, or twice) notifies nobody twice. Returns how many notifications it made.
    """
    from subscriptions.dunning.selectors import default_cards_expiring_next_month

    if not occasion_enabled("card_expiring"):
        return 0
    created = 0
    for card in default_cards_expiring_next_month(now=now):
        team = Team.objects.filter(pk=card.team_id).first()
        if team is None:
            continue
        draft = _card_expiring_draft(card)
        for user in _billing_members(team):
            notification = _notification_create_once(
                user=user,
                draft=draft,
                stripe_event_id=f"beat:{draft.occasion}",
                livemode=settings.STRIPE_LIVE_MODE,
                team=team,
            )
            if notification is not None:
                _queue_emails(user=user, notifications=[notification])
                created += 1
    if created:
        logger.info("card expiry notifications created=%s", created)
    return created


# --- Catch-up ---------------------------------------------------------------------------


def notification_emails_requeue(*, now: datetime | None = None) -> int:
    """Enqueue the emails whose on-commit enqueue was lost (broker down at the time).

    Looks at rows between ``EMAIL_REQUEUE_AFTER`` and ``EMAIL_REQUEUE_WITHIN`` old, so a
    task that is merely queued is left alone and old rows are not mailed days later.
    Sending is idempotent, so a row enqueued twice is still emailed once.
    """
    from .tasks import notification_email_send_task, staff_alert_email_send_task

    now = now or timezone.now()
    window = {"after": now - EMAIL_REQUEUE_WITHIN, "before": now - EMAIL_REQUEUE_AFTER}
    notification_ids = list(selectors.notification_emails_pending(**window))
    alert_ids = list(selectors.staff_alert_emails_pending(**window))
    for pk in notification_ids:
        notification_email_send_task.delay(pk)
    for pk in alert_ids:
        staff_alert_email_send_task.delay(pk)
    if notification_ids or alert_ids:
        logger.warning(
            "requeued unsent emails notifications=%s staff_alerts=%s",
            len(notification_ids),
            len(alert_ids),
        )
    return len(notification_ids) + len(alert_ids)


def _usage_threshold_draft(
    *, team: Team, meter: str, percent: int, used: int, threshold: int, threshold_kind: str
) -> NotificationDraft:
    name = get_catalog().meters[meter].name
    values = {"name": name, "used": f"{used:,}", "threshold": f"{threshold:,}", "percent": percent}
    if threshold_kind == "hard_limit":
        title = _("%(percent)s%% of your %(name)s limit used") % values
        body = (
            _("You used %(used)s of the %(threshold)s %(name)s your plan allows this period.")
            % values
        )
        if percent >= 100:
            body += " " + _("More are refused until the period ends; upgrade to raise the limit.")
    else:
        title = _("%(percent)s%% of your included %(name)s used") % values
        body = _("You used %(used)s of the %(threshold)s %(name)s included this period.") % values
        if percent >= 100:
            body += " " + _("Usage past the included amount is billed on your next invoice.")
    link = _site_url(reverse("usage", kwargs={"team_slug": team.slug}))
    data = {"meter": meter, "percent": percent, "used": used, "threshold": threshold}
    return NotificationDraft(Kind.USAGE_THRESHOLD, title, body, link, data)


def notify_usage_threshold(
    *,
    team_id: int,
    meter: str,
    percent: int,
    used: int,
    threshold: int,
    threshold_kind: str,
    period_start: datetime,
    key: str,
) -> list[Notification]:
    """Tell the team's owners and admins that usage reached ``percent`` of a threshold.

    ``key`` names the team, meter, period, kind and percent: the unique
    constraint on (user, kind, key) makes it once per period, however many
    times the reporter sees the threshold passed.
    """
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return []
    draft = _usage_threshold_draft(
        team=team,
        meter=meter,
        percent=percent,
        used=used,
        threshold=threshold,
        threshold_kind=threshold_kind,
    )
    created = []
    for user in _billing_members(team):
        notification = _notification_create_once(
            user=user,
            draft=draft,
            stripe_event_id=key,
            livemode=settings.STRIPE_LIVE_MODE,
            team=team,
        )
        if notification is not None:
            logger.info(
                "notification created id=%s team=%s user=%s kind=%s key=%s",
                notification.pk, team.pk, user.pk, draft.kind, key,
            )  # fmt: skip
            _queue_emails(user=user, notifications=[notification])
            created.append(notification)
    return created

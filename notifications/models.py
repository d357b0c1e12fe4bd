"""Billing notifications for users (in-app + email) and billing alerts for staff."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    class Kind(models.TextChoices):
        SUBSCRIPTION_STARTED = "subscription_started", _("Subscription started")
        TRIAL_ENDING = "trial_ending", _("Trial ending")
        PAYMENT_SUCCEEDED = "payment_succeeded", _("Payment succeeded")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        PAYMENT_ACTION_REQUIRED = "payment_action_required", _("Payment needs action")
        PLAN_CHANGED = "plan_changed", _("Plan changed")
        CANCELLATION_SCHEDULED = "cancellation_scheduled", _("Cancellation scheduled")
        SUBSCRIPTION_RESUMED = "subscription_resumed", _("Subscription resumed")
        SUBSCRIPTION_ENDED = "subscription_ended", _("Subscription ended")
        DUPLICATE_CANCELED = "duplicate_canceled", _("Duplicate subscription canceled")
        REFUND_ISSUED = "refund_issued", _("Refund issued")
        DISPUTE_LOST = "dispute_lost", _("Payment reversed after a dispute")
        FINAL_NOTICE = "final_notice", _("Final payment attempt ahead")
        CARD_EXPIRING = "card_expiring", _("Card expiring")
        UPCOMING_RENEWAL = "upcoming_renewal", _("Upcoming renewal")
        USAGE_THRESHOLD = "usage_threshold", _("Usage threshold reached")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("user"),
    )
    # The team whose billing the notification is about (its owners and admins get one each).
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("team"),
    )
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    # Absolute URL of the main call to action (invoice page, billing page).
    link = models.URLField(_("link"), max_length=1000, blank=True)
    # Facts the email templates show besides the body (amount, invoice PDF, dates).
    data = models.JSONField(_("data"), default=dict, blank=True)
    # The Stripe event that caused it; with user and kind it makes a notification unique.
    stripe_event_id = models.CharField(_("Stripe event id"), max_length=255)
    # What the notification is about, when Stripe can say it twice under two event ids
    # (one failed attempt of one invoice, one card's expiry month); unique per user and kind.
    occasion = models.CharField(_("occasion"), max_length=255, blank=True, default="")
    livemode = models.BooleanField(_("live mode"), default=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # Set only after the email went out; stays empty when the email is not wanted.
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "stripe_event_id"],
                name="notification_once_per_user_kind_event",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "occasion"],
                condition=~Q(occasion=""),
                name="notification_once_per_user_kind_occasion",
            ),
        ]
        indexes = [
            # The navbar badge counts a user's unread rows on every page.
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread_idx"
            ),
            models.Index(fields=["user", "-created"], name="notification_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None

    @property
    def is_receipt(self) -> bool:
        return self.kind == self.Kind.PAYMENT_SUCCEEDED


class NotificationPreferences(models.Model):
    """Per-user email choices; a user without a row gets the defaults.

    Only receipts can be turned off: payment problems and subscription changes
    affect access, so those emails are always sent.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("user"),
    )
    email_receipts = models.BooleanField(_("email receipts"), default=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("notification preferences")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return f"{self.user}: receipts {'on' if self.email_receipts else 'off'}"


class StaffAlert(models.Model):
    """A dispute, refund or canceled duplicate subscription that staff are emailed about.

    Once per Stripe event id. For a duplicate (``event_type`` is
    ``DUPLICATE_EVENT_TYPE``, our own) ``stripe_event_id`` is the event whose
    processing canceled it, ``object_id`` the canceled subscription(s),
    ``status`` the subscription kept, and ``amount`` what was refunded.
    """

    DUPLICATE_EVENT_TYPE = "subscription.duplicate_canceled"
    # Our own: the daily reminder that a dispute's evidence is due within days.
    # ``stripe_event_id`` is then ``deadline:<dispute id>``.
    DEADLINE_EVENT_TYPE = "dispute.evidence_due_soon"
    # One alert per dispute for each of these, even if Stripe sends the event twice
    # under two event ids (it may: https://docs.stripe.com/webhooks, duplicates).
    ONCE_PER_DISPUTE_TYPES = (
        "charge.dispute.created",
        "charge.dispute.closed",
        DEADLINE_EVENT_TYPE,
    )
    # Ours too: the seat reconciliation fixed a per-seat quantity (``object_id`` the
    # subscription, ``status`` "paid N -> M, K members").
    SEAT_DRIFT_EVENT_TYPE = "seats.drift_fixed"

    stripe_event_id = models.CharField(_("Stripe event id"), max_length=255, unique=True)
    event_type = models.CharField(_("event type"), max_length=100)
    # The dispute (dp_) or charge (ch_) the event is about.
    object_id = models.CharField(_("object id"), max_length=255, blank=True)
    charge_id = models.CharField(_("charge id"), max_length=255, blank=True)
    customer_id = models.CharField(_("customer id"), max_length=255, blank=True)
    # Minor units, in `currency`.
    amount = models.BigIntegerField(_("amount"), default=0)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    # Dispute reason and status, or refund reason.
    reason = models.CharField(_("reason"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=100, blank=True)
    # A dispute's evidence deadline (evidence_details.due_by), when it has one.
    due_by = models.DateTimeField(_("evidence due by"), null=True, blank=True)
    livemode = models.BooleanField(_("live mode"), default=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff billing alert")
        verbose_name_plural = _("staff billing alerts")
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_type", "object_id"],
                condition=Q(
                    event_type__in=(
                        "charge.dispute.created",
                        "charge.dispute.closed",
                        "dispute.evidence_due_soon",
                    )
                ),
                name="staff_alert_once_per_dispute",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.object_id}"

    @property
    def is_dispute(self) -> bool:
        return self.event_type in self.ONCE_PER_DISPUTE_TYPES

    def stripe_dashboard_url(self) -> str:
        """Where staff act on the alert in Stripe.

        A dispute: where its evidence is submitted. A duplicate: the customer.
        Otherwise the charge.
        """
        prefix = "" if self.livemode else "test/"
        if self.is_dispute:
            from subscriptions.disputes.disputes import dispute_evidence_url

            return dispute_evidence_url(self.object_id)
        if self.event_type == self.DUPLICATE_EVENT_TYPE:
            return f"https://dashboard.stripe.com/{prefix}customers/{self.customer_id}"
        if self.event_type == self.SEAT_DRIFT_EVENT_TYPE:
            return f"https://dashboard.stripe.com/{prefix}subscriptions/{self.object_id}"
        return f"https://dashboard.stripe.com/{prefix}payments/{self.charge_id}"

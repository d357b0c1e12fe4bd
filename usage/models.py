"""Recorded usage: one counter per (team, meter, minute), reported to Stripe in deltas.

Why counters rather than a row per call: recording is one UPDATE of a row that
is almost always there already (one INSERT per team, meter and minute), the
table stays small (at most 1,440 rows per team and meter a day), and the
usage page and the limit checks sum a few rows instead of every call.

How a bucket reaches Stripe exactly once: ``units`` only grows; the reporter
first freezes the delta it will send by copying ``units`` into
``pending_units`` (one UPDATE), then sends the meter event whose identifier
is made of the bucket id and the delta's bounds, and only after Stripe
accepted it moves ``reported_units`` up to ``pending_units``. A reporter that
dies in between resends the same identifier, which Stripe refuses as a
duplicate (and the reporter takes that refusal as the acceptance it is).
Units recorded meanwhile make the next delta.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UsageBucket(models.Model):
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    meter = models.CharField(_("meter"), max_length=40)  # a key of the catalog's [meters]
    # Start of the UTC minute (wall clock) the units were recorded in.
    minute = models.DateTimeField(_("minute"))
    units = models.PositiveBigIntegerField(_("units"), default=0)
    # Units Stripe accepted, plus those dropped or not billed: never sent again.
    reported_units = models.PositiveBigIntegerField(_("reported units"), default=0)
    # The delta (reported_units, pending_units] being sent; its identifier depends on both.
    pending_units = models.PositiveBigIntegerField(_("pending units"), null=True, blank=True)
    # Older than Stripe accepts (35 days) when they could be sent: logged, never billed.
    dropped_units = models.PositiveBigIntegerField(_("dropped units"), default=0)
    # Recorded while the team's plan did not bill this meter: shown, never sent.
    unbilled_units = models.PositiveBigIntegerField(_("unbilled units"), default=0)
    # Set by every recording, cleared once all units are reported: the reporter's work list.
    dirty = models.BooleanField(_("to report"), default=True)

    class Meta:
        verbose_name = _("usage bucket")
        verbose_name_plural = _("usage buckets")
        ordering = ["-minute"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "meter", "minute"], name="usage_bucket_one_per_minute"
            ),
            models.CheckConstraint(
                condition=Q(reported_units__lte=models.F("units")),
                name="usage_bucket_reported_within_units",
            ),
        ]
        indexes = [
            models.Index(fields=["minute"], condition=Q(dirty=True), name="usage_bucket_dirty_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}/{self.meter}@{self.minute:%Y-%m-%d %H:%M}: {self.units}"


class UsagePeriod(models.Model):
    """When (wall clock) the app first saw a team's billing period, for periods that
    start on a Stripe test clock ahead of real time: buckets are stamped with real
    time, so such a period's usage is what was recorded since it was first seen."""

    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    period_start = models.DateTimeField(_("period start"))  # the customer's time
    wall_start = models.DateTimeField(_("counted from"))  # min(period_start, first seen)

    class Meta:
        verbose_name = _("usage period")
        verbose_name_plural = _("usage periods")
        constraints = [
            models.UniqueConstraint(fields=["team", "period_start"], name="usage_period_once"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} from {self.period_start:%Y-%m-%d}"


class CreditBalance(models.Model):
    """A team's prepaid credits now: the sum of its ledger, kept beside it for speed.

    Every change of ``credits`` happens in the transaction that appends the ledger
    entry saying why, so the two never disagree; spending is a conditional UPDATE
    (``credits >= n``), which is what keeps the balance from going negative when
    spends race (usage/credits.py).
    """

    team = models.OneToOneField(
        "teams.Team", on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    credits = models.BigIntegerField(_("credits"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("credit balance")
        verbose_name_plural = _("credit balances")
        constraints = [
            models.CheckConstraint(
                condition=Q(credits__gte=0), name="usage_credit_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}: {self.credits}"


class CreditEntry(models.Model):
    """One line of a team's append-only credit ledger (never updated or deleted)."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        SPEND = "spend", _("Spend")
        REFUND = "refund", _("Refund reversal")
        ADJUSTMENT = "adjustment", _("Staff adjustment")

    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    credits = models.BigIntegerField(_("credits"))  # signed: + granted, - spent or reversed
    balance_after = models.BigIntegerField(_("balance after"))
    # What made the entry, unique per team and kind: the Checkout Session (purchase),
    # "<charge>:<amount refunded so far>" (refund), the caller's idempotency key (spend).
    source = models.CharField(_("source"), max_length=255)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # Purchases: the pack, the PaymentIntent (refunds find the purchase by it) and
    # what was paid, for the refunded share.
    pack = models.CharField(_("credit pack"), max_length=100, blank=True)
    payment_intent = models.CharField(_("payment intent"), max_length=255, blank=True)
    amount_paid = models.PositiveBigIntegerField(_("amount paid"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    # Refund reversals: the charge's amount refunded so far when this entry was made.
    amount_refunded = models.PositiveBigIntegerField(_("amount refunded"), null=True, blank=True)
    stripe_event_id = models.CharField(_("Stripe event"), max_length=255, blank=True)
    # Staff adjustments: who made them (the reason is the description).
    created_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("date"), auto_now_add=True)

    class Meta:
        verbose_name = _("credit ledger entry")
        verbose_name_plural = _("credit ledger")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "kind", "source"], name="usage_credit_entry_once_per_source"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="usage_credit_entry_balance_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "-created_at", "-id"], name="usage_credit_team_idx")
        ]

    def __str__(self) -> str:
        return f"{self.team_id} {self.kind} {self.credits:+}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("credit ledger entries are never changed; append a new one")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("credit ledger entries are never deleted")

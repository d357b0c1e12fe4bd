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

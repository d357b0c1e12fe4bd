"""Billing data of our own. Stripe objects themselves are mirrored by dj-stripe."""

from __future__ import annotations

from django.db import models


class CustomerEntitlements(models.Model):
    """The feature lookup keys a Stripe customer is entitled to, as Stripe last said.

    dj-stripe 2.11 cannot answer this (its ActiveEntitlement rows carry no
    customer), so the services list the customer's active entitlements and
    store the result here.
    """

    customer_id = models.CharField(max_length=255, unique=True)  # Stripe customer id (cus_...)
    lookup_keys = models.JSONField(default=list)
    synced_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "customer entitlements"

    def __str__(self) -> str:
        return f"{self.customer_id}: {', '.join(self.lookup_keys) or '-'}"


class TestClockTime(models.Model):
    """The frozen time of a Stripe test clock, so access is judged at the customer's "now".

    Test mode only: customers on a test clock live at the clock's time, not the
    wall clock (renewals, trial ends and grace periods follow it).
    """

    __test__ = False  # not a pytest test class

    clock_id = models.CharField(max_length=255, unique=True)  # clock_...
    frozen_time = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.clock_id} @ {self.frozen_time:%Y-%m-%d %H:%M}"

"""Billing data of our own. Stripe objects themselves are mirrored by dj-stripe."""

from __future__ import annotations

from django.conf import settings
from django.db import connections, models
from django.utils import timezone


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


class StripeEvent(models.Model):
    """A verified Stripe event, stored once per Stripe event id before we answer 2xx.

    From the moment this row exists the event is ours: Celery processes it,
    retries it, marks it failed, and staff can replay it. The raw request is
    also kept in dj-stripe's WebhookEventTrigger (``trigger``).
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSING = "processing", "processing"
        PROCESSED = "processed", "processed"
        FAILED = "failed", "failed"

    stripe_id = models.CharField(max_length=255)  # evt_..., unique (Meta)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    # When Stripe created the event (event.created).
    stripe_created = models.DateTimeField()
    # Ids of data.object and its customer, for filtering and logs.
    object_id = models.CharField(max_length=255, blank=True)
    customer_id = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    # Processing attempts made by our workers.
    attempts = models.PositiveIntegerField(default=0)
    # How many times Stripe delivered it (duplicates are acknowledged, not reprocessed).
    deliveries = models.PositiveIntegerField(default=1)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the dispatcher (or the sweeper, or a replay) queued its processing task.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The Celery task id holding the claim while processing (a redelivered task keeps it).
    claimed_by = models.CharField(max_length=255, blank=True)
    # A retry is scheduled for then; the sweeper leaves the event alone until it passes.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    trigger = models.ForeignKey(
        "djstripe.WebhookEventTrigger", null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-received_at"]
        # Declared here rather than with unique=True / db_index=True on the fields:
        # on PostgreSQL those add a second, varchar_pattern_ops index to every
        # CharField for LIKE 'prefix%' lookups, which nothing here makes (the
        # admin's search is icontains, which no btree serves). Every event is
        # inserted once and updated two or three times with a new status, so
        # each index costs on every delivery and every processing step.
        constraints = [
            models.UniqueConstraint(fields=["stripe_id"], name="stripeevent_stripe_id_unique")
        ]
        indexes = [
            # Queue and sweeper (status = ...), health page counts; also serves status alone.
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["type"], name="stripeevent_type"),  # money events, replays
            models.Index(fields=["object_id"], name="stripeevent_object"),  # dunning history
            models.Index(fields=["customer_id"], name="stripeevent_customer"),  # support page
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type} ({self.status})"

    @property
    def latency_seconds(self) -> float | None:
        """Receipt to end of processing."""
        if self.processed_at is None:
            return None
        return (self.processed_at - self.received_at).total_seconds()


class DuplicateSubscription(models.Model):
    """A second live subscription of one customer, canceled by the webhook pipeline.

    One row per canceled subscription (a unique constraint, not an ``if``): the
    worker that inserts it is the one that refunds, cancels and tells people;
    any other delivery of any event of that customer finds the row and does
    nothing. See ``duplicates.subscription_duplicates_resolve`` for the rule.
    """

    customer_id = models.CharField(max_length=255, db_index=True)  # cus_...
    # The subscription that stays: the rule's winner among the live ones.
    kept_subscription_id = models.CharField(max_length=255)
    canceled_subscription_id = models.CharField(max_length=255)
    # Price lookup keys of both (empty for prices without one), for people reading the row.
    kept_lookup_key = models.CharField(max_length=255, blank=True)
    canceled_lookup_key = models.CharField(max_length=255, blank=True)
    # The canceled subscription's status when it was found (trialing, active, ...).
    status_before = models.CharField(max_length=32)
    # The refund of the unused part of its latest paid invoice, if it had one.
    refund_id = models.CharField(max_length=255, blank=True)
    # Minor units, in `currency`.
    refunded_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    # Its open invoice, voided so it can no longer be paid.
    voided_invoice_id = models.CharField(max_length=255, blank=True)
    # The event whose processing found it (evt_...).
    stripe_event_id = models.CharField(max_length=255)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["canceled_subscription_id"], name="duplicate_subscription_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.canceled_subscription_id} (kept {self.kept_subscription_id})"


def returning_supported(alias: str) -> bool:
    """Whether the database answers ``UPDATE``/``INSERT ... ON CONFLICT ... RETURNING``.

    PostgreSQL, and SQLite from 3.35 (Django's insert flag says which SQLite).
    The statements that use it are PostgreSQL's and SQLite's syntax, so no
    other database takes that path.
    """
    conn = connections[alias]
    if conn.vendor == "postgresql":
        return True
    return conn.vendor == "sqlite" and bool(conn.features.can_return_columns_from_insert)


class MirrorWatermarkManager(models.Manager["MirrorWatermark"]):
    def locked(self, object_id: str) -> MirrorWatermark:
        """The object's row, created when missing and locked until the transaction ends.

        Every writer of the object's mirror takes this lock first, before any
        dj-stripe row, so writers of one object take turns and never deadlock
        on the order of the rows they touch.
        """
        if not returning_supported(self.db):
            self.bulk_create(
                [self.model(object_id=object_id, event_created=self.model.NONE, event_id="")],
                ignore_conflicts=True,
            )
            return self.select_for_update().get(object_id=object_id)
        # One statement (one query less per event): the upsert's DO UPDATE, a
        # write of nothing, locks an existing row as SELECT ... FOR UPDATE would,
        # and RETURNING reads it. On SQLite a write holds the whole database.
        table = connections[self.db].ops.quote_name(self.model._meta.db_table)  # not input
        rows = list(
            self.raw(
                f"INSERT INTO {table} (object_id, event_created, event_id, content_hash,"  # noqa: S608
                " updated_at) VALUES (%s, %s, '', '', %s) ON CONFLICT (object_id)"
                " DO UPDATE SET object_id = EXCLUDED.object_id RETURNING *",
                [object_id, self.model.NONE, timezone.now()],
            )
        )
        return rows[0]

    def forget(self, object_id: str) -> None:
        """About to mirror the object from a read of Stripe made outside any event.

        Nothing orders that read against the events still queued, so the
        watermark is cleared: the object's next event reads Stripe again
        instead of trusting its payload. Called inside the transaction that
        writes the mirror, so an event being processed finishes first.
        """
        mark = self.locked(object_id)
        if mark.event_created != self.model.NONE or mark.event_id or mark.content_hash:
            mark.event_created, mark.event_id, mark.content_hash = self.model.NONE, "", ""
            mark.save(update_fields=["event_created", "event_id", "content_hash", "updated_at"])


class MirrorWatermark(models.Model):
    """How new the mirrored state of one Stripe object is, by the events that wrote it.

    Stripe does not deliver events in order and its objects carry no version
    number, so the newest event `created` (whole seconds) that wrote an object
    is what orders the next one (subscriptions.webhooks.mirror). ``content_hash`` is the
    hash of the payload mirrored at that second, so a second event in the same
    second with the same content is known to be a repeat; with different
    content the order is undecidable and the object is read from Stripe.
    """

    object_id = models.CharField(max_length=255, unique=True)  # sub_..., in_..., cus_...
    event_created = models.BigIntegerField()  # the event's `created`, Unix seconds
    event_id = models.CharField(max_length=255)  # the event that set it (evt_...)
    # sha256 of the payload mirrored at event_created; empty after a read from Stripe.
    content_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    NONE = -1  # the row exists (it is the lock) but no event wrote the object since a read

    objects = MirrorWatermarkManager()

    def __str__(self) -> str:
        return f"{self.object_id} @ {self.event_created} ({self.event_id})"


class StaffRefund(models.Model):
    """A refund staff made from the admin: the audit record of who refunded what, and why.

    One row per refund request (``request_key``, a unique token the refund form
    carries), so a double submit finds the row instead of refunding twice; the
    Stripe calls reuse idempotency keys derived from it for the same reason.
    """

    class Reason(models.TextChoices):
        # Stripe's refund reasons (Refund.reason, user-provided values).
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by customer"
        DUPLICATE = "duplicate", "Duplicate"
        FRAUDULENT = "fraudulent", "Fraudulent"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"  # recorded, Stripe not answered yet
        SUCCEEDED = "succeeded", "succeeded"
        # Stripe accepted it but the money moves later (refund status pending).
        PROCESSING = "processing", "processing"
        FAILED = "failed", "failed"

    request_key = models.CharField(max_length=64, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_id = models.CharField(max_length=255, blank=True)  # cus_...
    charge_id = models.CharField(max_length=255, db_index=True)  # ch_...
    invoice_id = models.CharField(max_length=255, blank=True)  # in_..., when the charge paid one
    # Minor units, in `currency`.
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, blank=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=255, blank=True)  # re_...
    # The credit note that documents the refund on the invoice (cn_...), when one was issued.
    credit_note_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id or 'refund'} of {self.charge_id} ({self.amount})"


class RecoveredInvoice(models.Model):
    """An invoice whose payment failed and that was paid later: revenue dunning brought back.

    One row per invoice. ``method`` says how it was paid (see
    ``subscriptions.dunning.services.recovery_record``): the pay-now button writes
    its row right after Stripe accepted the payment, so the ``invoice.paid``
    webhook that follows finds it and changes nothing.
    """

    class Method(models.TextChoices):
        RETRY = "retry", "Automatic retry"
        IN_APP = "in_app", "Pay now in the app"
        HOSTED_PAGE = "hosted_page", "Hosted invoice page"
        PORTAL = "portal", "Customer portal"

    invoice_id = models.CharField(max_length=255, unique=True)  # in_...
    customer_id = models.CharField(max_length=255, db_index=True)  # cus_...
    amount = models.BigIntegerField()  # amount_paid, minor units
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=20, choices=Method.choices)
    # Payment attempts the invoice had when it was paid (the failed ones and the last).
    attempt_count = models.PositiveIntegerField(default=0)
    livemode = models.BooleanField(default=False)
    recovered_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-recovered_at", "-id"]

    def __str__(self) -> str:
        return f"{self.invoice_id} ({self.method})"


class RetentionOffer(models.Model):
    """The retention coupon offered on the in-app cancel page: once per subscription."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined (canceled)"

    subscription_id = models.CharField(max_length=255, unique=True)  # sub_...
    # The team (the customer) as an id: the billing domain does not depend on teams.
    team_id = models.PositiveBigIntegerField(db_index=True)
    coupon_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.coupon_id} {self.outcome}"

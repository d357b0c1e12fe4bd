"""Compare the local mirror with Stripe and fix drift (``manage.py billing_reconcile``).

Webhooks can be lost for reasons outside our control (an endpoint disabled in
the Stripe dashboard, a outage longer than Stripe's retry window). Once a day
this re-reads the subscriptions of every customer whose mirrored subscription
is not final and re-syncs whatever differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings
from djstripe.models import Subscription

from .. import services
from .. import status as subscription_status

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    customers_checked: int = 0
    subscriptions_checked: int = 0
    fixed: list[str] = field(default_factory=list)  # "sub_x: status past_due -> active"
    errors: list[str] = field(default_factory=list)


def _fingerprint(data: dict[str, Any]) -> dict[str, Any]:
    items = (data.get("items") or {}).get("data") or []
    return {
        "status": data.get("status"),
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "cancel_at": data.get("cancel_at"),
        "prices": sorted(
            (i.get("price") or {}).get("id") if isinstance(i.get("price"), dict) else i.get("price")
            for i in items
        ),
        "period_end": max((i.get("current_period_end") or 0 for i in items), default=0),
    }


def _describe(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "missing locally"
    return ", ".join(
        f"{key} {before[key]!r} -> {after[key]!r}" for key in after if before[key] != after[key]
    )


def billing_reconcile(*, dry_run: bool = False) -> ReconcileReport:
    report = ReconcileReport()
    live = Subscription.objects.filter(livemode=settings.STRIPE_LIVE_MODE).exclude(
        stripe_data__status__in=subscription_status.ENDED
    )
    customer_ids = sorted(set(live.values_list("customer_id", flat=True)))
    client = services.stripe_client()
    for customer_id in customer_ids:
        report.customers_checked += 1
        try:
            remote = client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 100}
            )
            changed = False
            for sub in remote.auto_paging_iter():
                report.subscriptions_checked += 1
                after = _fingerprint(services._as_dict(sub))
                local = Subscription.objects.filter(id=sub.id).first()
                before = _fingerprint(local.stripe_data) if local is not None else None
                if before == after:
                    continue
                line = f"{sub.id}: {_describe(before, after)}"
                report.fixed.append(line)
                logger.warning(
                    "reconcile: drift on %s (customer %s): %s", sub.id, customer_id, line
                )
                if not dry_run:
                    services.subscription_sync_data(data=sub)
                    changed = True
            if changed:
                services.entitlements_sync(customer_id=customer_id)
        except stripe.StripeError as exc:
            report.errors.append(f"{customer_id}: {exc.__class__.__name__}: {exc}")
            logger.warning("reconcile: customer %s failed: %s", customer_id, exc)
    logger.info(
        "reconcile: %s customers, %s subscriptions checked, %s fixed, %s errors",
        report.customers_checked,
        report.subscriptions_checked,
        len(report.fixed),
        len(report.errors),
    )
    return report


@dataclass
class SeatReconcileReport:
    teams_checked: int = 0
    fixed: list[str] = field(default_factory=list)  # "team 3 sub_x: quantity 5 -> 4"
    errors: list[str] = field(default_factory=list)


def seats_reconcile(*, dry_run: bool = False) -> SeatReconcileReport:
    """Per-seat teams whose paid quantity is not ``max(members, seats bought)``: fix them.

    The mirror says which teams look drifted (a lost task, a member removed by
    staff in the admin, a webhook that lowered the quantity); the seat sync then
    reads Stripe and makes one update per drifted team. A quantity the owner set
    in the portal is adopted as seats bought, not reverted (seats.py). Each fix
    is logged and sent to staff once (``seats_drift_fixed``).
    """
    from ..changes import seats
    from ..signals import seats_drift_fixed

    report = SeatReconcileReport()
    drifts = seats.seat_drifts()
    report.teams_checked = len(drifts)
    for drift in drifts:
        line = (
            f"team {drift.team_id} {drift.subscription_id}: paid {drift.paid}, "
            f"{drift.members} members, expected {drift.target}"
        )
        if dry_run:
            report.fixed.append(line)
            continue
        try:
            outcome = seats.seats_quantity_sync(team_id=drift.team_id)
        except services.BillingError as exc:
            report.errors.append(f"{line}: {exc.__class__.__name__}: {exc}")
            logger.warning("reconcile seats: %s failed: %s", line, exc)
            continue
        if outcome.status != "updated":
            logger.info("reconcile seats: %s: %s in Stripe", line, outcome.status)
            continue
        report.fixed.append(f"{line}: quantity {outcome.before} -> {outcome.after}")
        logger.warning("reconcile seats: drift fixed: %s -> %s", line, outcome.after)
        seats_drift_fixed.send(sender=seats_reconcile, drift=drift, outcome=outcome)
    logger.info(
        "reconcile seats: %s drifted teams checked, %s fixed, %s errors",
        report.teams_checked,
        len(report.fixed),
        len(report.errors),
    )
    return report

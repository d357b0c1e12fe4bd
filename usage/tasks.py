"""Celery tasks of usage reporting, on the "usage" queue. Thin: they call services."""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)

# Rate limited or Stripe down: the next try waits this long (doubling, jittered), a
# few times; after that beat's next run (every minute) carries on, so a long outage
# never piles up retrying tasks.
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 30.0
MAX_RETRIES = 4


def retry_delay(attempt: int) -> float:
    ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@shared_task(
    bind=True,
    name="usage.report",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=180,
    max_retries=MAX_RETRIES,  # units wait in the database; a later run loses nothing
    ignore_result=True,
)
def usage_report_task(self: Any) -> int:
    """Beat, every minute (and again while batches are full): report recorded units to
    Stripe's meters, then send the usage threshold signals for the teams reported."""
    result = services.usage_report_pending()
    if result.team_ids:
        services.usage_thresholds_check(team_ids=result.team_ids)
    logger.info(
        "usage report: %s events (%s units), %s duplicates, %s dropped, %s unbilled, %s failed",
        result.events_sent, result.units_sent, result.duplicates, result.units_dropped,
        result.units_unbilled, result.failed,
    )  # fmt: skip
    if result.rate_limited or result.stripe_unavailable:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=retry_delay(self.request.retries + 1))
        logger.warning("usage report: Stripe still refusing; beat's next run carries on")
    if result.more:
        usage_report_task.apply_async()
    return result.units_sent

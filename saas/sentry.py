"""Sentry set-up, active only when SENTRY_DSN is set.

``scrub_event`` runs on every event before it leaves the process and removes
what must never reach a third party: email addresses, Stripe secrets and
anything shaped like a card number.
"""

from __future__ import annotations

import re
from typing import Any

FILTERED = "[Filtered]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Secret and restricted keys, webhook secrets (publishable keys are public).
_STRIPE_SECRET = re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+")
# 13 to 19 digits, optionally grouped by spaces or dashes.
_CARD_LIKE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def scrub_text(value: str) -> str:
    value = _STRIPE_SECRET.sub(FILTERED, value)
    value = _EMAIL.sub(FILTERED, value)
    return _CARD_LIKE.sub(FILTERED, value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry ``before_send``/``before_send_transaction`` hook."""
    scrubbed: dict[str, Any] = _scrub(event)
    user = scrubbed.get("user")
    if isinstance(user, dict):
        # Keep the opaque id for grouping; drop everything personal.
        scrubbed["user"] = {"id": user["id"]} if "id" in user else {}
    return scrubbed


def sentry_init(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[
            DjangoIntegration(),
            # monitor_beat_tasks: every beat schedule becomes a Sentry Cron monitor.
            CeleryIntegration(monitor_beat_tasks=True),
            RedisIntegration(),
            LoggingIntegration(),
        ],
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
    )

"""Project-level tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="saas.ping")
def ping() -> str:
    """Round-trip check for a worker: returns "pong"."""
    return "pong"

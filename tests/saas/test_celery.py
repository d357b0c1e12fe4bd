"""A task round-trips through a real worker process and the real Redis broker."""

from __future__ import annotations

import pytest

from saas.tasks import ping
from tests.conftest import WorkerProcess


@pytest.mark.integration
def test_ping_round_trips_through_worker(celery_worker_process: WorkerProcess) -> None:
    result = ping.delay()
    assert result.get(timeout=20) == "pong"
    assert result.status == "SUCCESS"
    assert "saas.ping" in celery_worker_process.log()


def test_celery_is_configured_for_safe_delivery() -> None:
    from saas.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit
    assert app.conf.task_soft_time_limit
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.broker_url.startswith("redis://")

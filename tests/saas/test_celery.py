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


@pytest.mark.parametrize(
    ("task_name", "concern"),
    [
        ("subscriptions.webhook_event_process", "webhooks"),
        ("subscriptions.webhook_events_dispatch", "webhooks"),
        ("subscriptions.webhook_events_sweep", "webhooks"),
        ("notifications.notification_email_send", "emails"),
        ("notifications.staff_alert_email_send", "emails"),
        ("notifications.notification_emails_requeue", "emails"),
        ("subscriptions.webhook_events_prune", "default"),
        ("subscriptions.billing_reconcile", "default"),
        ("saas.ping", "default"),
        # Reserved for the seat-sync and usage-reporting tasks of the teams work.
        ("subscriptions.seats.sync", "seats"),
        ("subscriptions.usage.report", "usage"),
    ],
)
def test_task_routes_to_the_queue_of_its_concern(task_name: str, concern: str) -> None:
    from django.conf import settings

    from saas.celery import app

    route = app.amqp.router.route({}, task_name)
    assert route["queue"].name == settings.CELERY_QUEUES_BY_CONCERN[concern]


def test_every_task_routes_to_a_declared_queue_and_workers_consume_them_all() -> None:
    import importlib

    from django.conf import settings

    from saas.celery import app

    for module in ("notifications.tasks", "saas.tasks", "subscriptions.tasks"):
        importlib.import_module(module)  # registers its tasks
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert declared == set(settings.CELERY_QUEUES_BY_CONCERN.values())
    assert {"webhooks", "emails", "seats", "usage", "celery"} == declared
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert len(ours) >= 9
    for name in ours:
        assert app.amqp.router.route({}, name)["queue"].name in declared, name
    # A worker started without -Q (make run, the tests' session worker) consumes every queue.
    assert set(app.amqp.queues.consume_from) == declared


# The names every task had before subscriptions/ was split into sub-packages. A task's
# name is what a queued message carries: a name that changed with a module move would
# leave the messages already in Redis at deploy time with no task to run them.
TASK_NAMES_BEFORE_THE_SUBPACKAGES = {
    "notifications.cards_expiring_notify",
    "notifications.dispute_deadline_reminders",
    "notifications.notification_email_send",
    "notifications.notification_emails_requeue",
    "notifications.staff_alert_email_send",
    "saas.ping",
    "subscriptions.billing_reconcile",
    "subscriptions.seats.quantity_sync",
    "subscriptions.seats.reconcile",
    "subscriptions.webhook_event_process",
    "subscriptions.webhook_events_dispatch",
    "subscriptions.webhook_events_prune",
    "subscriptions.webhook_events_sweep",
    "usage.report",
}


def test_registered_task_names_did_not_change_with_the_module_moves() -> None:
    import importlib
    import importlib.util

    from django.conf import settings

    from saas.celery import app

    # What a worker's autodiscovery imports: the tasks module of every app, and saas's.
    apps = [*settings.INSTALLED_APPS, "saas"]
    for module in (f"{name}.tasks" for name in apps if "." not in name):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == TASK_NAMES_BEFORE_THE_SUBPACKAGES
    # The beat schedule names tasks by string: each must still resolve to a task.
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= ours


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks() -> None:
    """Celery's Django fix-up runs around every task; it must not reconnect each time.

    One older than CONN_MAX_AGE, or broken, is still replaced before the next
    task (saas/celery.py's handler of ``task_postrun``).
    """
    import time
    from types import SimpleNamespace

    from celery.fixups.django import DjangoWorkerFixup  # type: ignore[attr-defined]  # not in the stubs
    from celery.signals import task_postrun
    from django.db import connection

    from saas.celery import app

    class Task:  # what the fix-up and the signal look at: the request's is_eager
        request = SimpleNamespace(is_eager=False)

    fixup = DjangoWorkerFixup(app)
    task = Task()

    def run_one_task() -> None:
        fixup.on_task_prerun(sender=task)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        fixup.on_task_postrun(sender=task)
        task_postrun.send(sender=task, task_id="t", task=task)

    connection.close()  # a fresh connection: the session's may be older than CONN_MAX_AGE
    run_one_task()
    first = connection.connection
    assert first is not None
    run_one_task()
    assert connection.connection is first  # the same connection, not a new one
    assert connection.health_check_done  # type: ignore[attr-defined]  # no SELECT 1 before the next query

    connection.close_at = time.monotonic() - 1  # older than CONN_MAX_AGE
    task_postrun.send(sender=task, task_id="t", task=task)
    assert connection.connection is None  # dropped: the next task connects anew
    run_one_task()
    second = connection.connection
    assert second is not None
    assert second is not first

    if connection.vendor == "postgresql":  # SQLite's is_usable() cannot tell
        connection.errors_occurred = True  # as after an error: the database went away
        second.close()
        task_postrun.send(sender=task, task_id="t", task=task)
        assert connection.connection is None
        run_one_task()
        assert connection.connection is not None

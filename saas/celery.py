"""The Celery application: `celery -A saas worker` / `celery -A saas beat`."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import task_postrun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.local")

app = Celery("saas")
# Every CELERY_* Django setting configures Celery (see saas/settings/base.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["saas"])  # the project package is not an installed app


@worker_init.connect
@worker_process_init.connect
def stripe_background_client_install(**kwargs: object) -> None:
    """Worker processes call Stripe within the shared background budget (not web ones).

    ``worker_init`` covers the solo and threads pools; ``worker_process_init``
    each forked pool process, which needs a client of its own after the fork.
    """
    from subscriptions.stripe_budget import background_http_client_install

    background_http_client_install()


@task_postrun.connect
def database_connections_recycle(sender: Any = None, **kwargs: object) -> None:
    """After each task, drop a connection that saw an error or outlived CONN_MAX_AGE.

    Celery's own fix-up would close every connection after every task (a new
    PostgreSQL connection per event was 7% of a webhook worker's time); with
    ``CELERY_DB_REUSE_MAX`` set it does not, and this does what Django does
    after a request (``close_if_unusable_or_obsolete``), but only for a
    connection that needs it: Django's version also re-arms the health check,
    a ``SELECT 1`` before the next task's first query (another 6%). So a
    connection that dies while idle between two tasks fails the next task's
    first query instead; that task is retried (database errors are, for
    webhook events; e-mails are re-sent from their outbox), and the error gets
    the connection replaced here.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run in the caller's process (task.apply): its connection is the caller's
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        obsolete = conn.close_at is not None and time.monotonic() >= conn.close_at
        autocommit_left_off = conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]
        if conn.errors_occurred or obsolete or autocommit_left_off:
            conn.close_if_unusable_or_obsolete()

"""The Celery application: `celery -A saas worker` / `celery -A saas beat`."""

from __future__ import annotations

import os
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
    """After each task, what Django does after each request: drop a broken or old connection.

    Celery's own fix-up would close every connection after every task; with
    ``CELERY_DB_REUSE_MAX`` set it does not, and this keeps ``CONN_MAX_AGE`` and
    ``CONN_HEALTH_CHECKS`` meaning the same in a worker as in the web process (a
    connection that saw an error, e.g. the database restarting, is checked and
    replaced before the next task uses it).
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run in the caller's process (task.apply): its connection is the caller's
    from django.db import close_old_connections

    close_old_connections()

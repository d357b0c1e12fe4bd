"""The Celery application: `celery -A saas worker` / `celery -A saas beat`."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

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

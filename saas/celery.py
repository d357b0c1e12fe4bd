"""The Celery application: `celery -A saas worker` / `celery -A saas beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.local")

app = Celery("saas")
# Every CELERY_* Django setting configures Celery (see saas/settings/base.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["saas"])  # the project package is not an installed app

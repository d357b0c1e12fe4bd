"""The webhook URL, under dj-stripe's namespace and path so its admin links keep working.

Wired as ``path("stripe/", include("subscriptions.webhooks.urls", namespace="djstripe"))``:
``/stripe/webhook/<uuid>/`` is the path dj-stripe users and ``stripe listen
--forward-to`` already know, but the view is ours (fast intake + Celery).
"""

from __future__ import annotations

from django.urls import path

from .intake import stripe_webhook

app_name = "djstripe"

urlpatterns = [
    path("webhook/<uuid:uuid>/", stripe_webhook, name="djstripe_webhook_by_uuid"),
]

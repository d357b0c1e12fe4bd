"""The app's URLs plus dj-stripe's stock webhook view (used only by bench/webhook_bench.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from djstripe.views import ProcessWebhookView

from saas.urls import urlpatterns as app_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [
    *app_urlpatterns,
    path("stripe-stock/webhook/<uuid:uuid>/", ProcessWebhookView.as_view(), name="stock_webhook"),
]

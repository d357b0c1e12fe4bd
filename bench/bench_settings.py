"""Settings for bench/webhook_bench.py: production settings plus the stock dj-stripe view.

Production settings (DEBUG off, PostgreSQL from DATABASE_URL, JSON logs) with
one change: the URLconf also routes ``/stripe-stock/webhook/<uuid>/`` to
dj-stripe's synchronous ``ProcessWebhookView``, so both views run in the same
gunicorn and can be compared on the same events.
"""

from __future__ import annotations

from saas.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.stock_urls"

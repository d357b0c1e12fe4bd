"""Flower's configuration file: `celery -A saas flower --conf=saas/flowerconfig.py`.

Flower exempts /metrics from its own authentication (its docs, "Authentication":
/healthcheck and /metrics are not protected), so with FLOWER_BASIC_AUTH set every
page asks for the password except the Prometheus metrics, which name every task,
worker and queue. Flower runs this file at start-up, before it serves anything; it
puts /metrics behind the same check as Flower's own pages, so a Prometheus scraper
needs the credentials too (`basic_auth` in its scrape config). /healthcheck stays
open: it answers "OK" and nothing else.
"""

from __future__ import annotations

from flower.views.monitor import Metrics
from tornado.web import authenticated

if not getattr(Metrics.get, "requires_flower_auth", False):
    _protected = authenticated(Metrics.get)
    _protected.requires_flower_auth = True  # type: ignore[attr-defined]
    setattr(Metrics, "get", _protected)  # noqa: B010

"""WSGI entry point for gunicorn (`gunicorn saas.wsgi:application`), with a lean path
for Stripe's webhook deliveries.

Stripe's deliveries need none of the site's middleware: no session, user, CSRF
token, locale, messages or billing access, and no URL resolving. Under a burst of
deliveries that machinery costs more CPU than storing the event. So ``application``
hands ``/stripe/webhook/<uuid>/`` straight to the intake view
(``subscriptions.webhooks.intake.stripe_webhook``), with a Django request and the request
id (for the log lines), and sends everything else, other webhook paths included,
through the full stack.

The view is the same either way and checks the Host header itself, so the test
client (which always takes the full stack) exercises the same code. Django's
request signals are not sent; ``release_connections`` does the part of them that
matters here.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.core.handlers.wsgi import WSGIRequest
from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.http import HttpResponse, JsonResponse

from saas.logging import RequestIdMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.production")

django_application = get_wsgi_application()

from subscriptions.webhooks.intake import stripe_webhook  # noqa: E402 (needs settings)

logger = logging.getLogger(__name__)

# The webhook URL as saas/urls.py mounts it (stripe/ + subscriptions.webhooks.urls'
# webhook/<uuid:uuid>/), the uuid as Django's converter matches it.
WEBHOOK_PATH = re.compile(
    r"^/stripe/webhook/"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/$"
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class IntakeRequest(WSGIRequest):
    """A ``WSGIRequest`` that leaves its Content-Type parameters unparsed.

    Django parses them with the ``email`` package, which cost more CPU than
    the rest of building the request. The intake never reads ``POST`` or
    ``encoding``: it decodes the raw body as UTF-8 itself.
    """

    def _set_content_type_params(self, meta: dict[str, Any]) -> None:
        self.content_type = meta.get("CONTENT_TYPE", "").partition(";")[0].strip()
        self.content_params = {}


def _respond(request: WSGIRequest, key: uuid.UUID) -> HttpResponse:
    try:
        return RequestIdMiddleware(partial(stripe_webhook, uuid=key))(request)
    except Exception:
        # What Django's handler would do with an exception: log it (Sentry sees
        # the error log) and answer 500, so Stripe delivers again.
        logger.exception("webhook intake: unexpected error")
        return JsonResponse({"error": "internal error"}, status=500)


def release_connections() -> None:
    """The intake's end of request: close a database connection that failed or aged out.

    What Django's ``request_finished`` does, except that a healthy connection
    keeps its health check. Django would check it again (a ``SELECT 1``) at
    the start of the next request. The intake does not need that: its one
    statement is idempotent, and is retried once on a new connection when the
    database dropped the old one (subscriptions/webhooks/store.py).
    """
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if (
            conn.errors_occurred
            or (conn.close_at is not None and now >= conn.close_at)
            or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]
        ):
            conn.close_if_unusable_or_obsolete()


def intake(
    environ: dict[str, Any], start_response: Callable[..., Any], key: uuid.UUID
) -> list[bytes]:
    """One delivery, answered without the site's middleware or URL resolver."""
    request = IntakeRequest(environ)
    try:
        response = _respond(request, key)
    finally:
        request.close()
        release_connections()
    status = f"{response.status_code} {response.reason_phrase}"
    start_response(status, list(response.items()))
    return [response.content]


def with_webhook_fast_path(application: WSGIApp) -> WSGIApp:
    """Route webhook deliveries to ``intake``, the rest to ``application``."""

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = WEBHOOK_PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            return application(environ, start_response)
        return intake(environ, start_response, uuid.UUID(match["uuid"]))

    return route


application = with_webhook_fast_path(django_application)

"""A lean WSGI path for the webhook intake.

Stripe's deliveries need none of the site's middleware: no session, user,
CSRF token, locale, messages or billing access. Under a burst of deliveries
that stack is a sixth of the intake's CPU, so ``saas.wsgi`` sends
``/stripe/webhook/…`` through a Django handler that keeps only the request
id (for the log lines); everything else goes through the full stack. The view
is the same either way and checks the Host header itself, so the test client
(which always takes the full stack) exercises the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

from saas.logging import RequestIdMiddleware

WEBHOOK_PREFIX = "/stripe/webhook/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class IntakeHandler(WSGIHandler):
    """Django's WSGI handler with the request-id middleware only."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        get_response = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        request_id = RequestIdMiddleware(get_response)  # type: ignore[arg-type]
        self._middleware_chain = convert_exception_to_response(request_id)


def with_webhook_fast_path(application: WSGIApp) -> WSGIApp:
    """Route webhook deliveries to an ``IntakeHandler``, the rest to ``application``."""
    intake = IntakeHandler()

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return intake(environ, start_response)
        return application(environ, start_response)

    return route

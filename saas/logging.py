"""Request ids on every log line of a request.

The id comes from a trusted proxy's ``X-Request-ID`` header when it looks sane,
else a fresh one; it is echoed in the response so users can quote it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
ResponseT = TypeVar("ResponseT", bound=HttpResponseBase)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # META, not request.headers: that builds a mapping of every header.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def response_logged(response: ResponseT) -> ResponseT:
    """Mark an error response that our code has just logged, with its cause.

    Django's ``django.request`` logger writes a line of its own for every 4xx
    and 5xx a view returns ("Service Unavailable: /stripe/webhook/…"), unless
    the response is marked as logged (``django.utils.log.log_response``
    checks ``_has_been_logged``). One event, one line: ours, which names the
    cause and the Stripe ids.
    """
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response

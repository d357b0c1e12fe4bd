"""saas.wsgi: webhook deliveries take the lean handler, everything else the full stack."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from subscriptions.models import StripeEvent
from tests.webhook_helpers import product_event, signature, webhook_endpoint, webhook_path

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_wsgi"


@pytest.fixture
def wsgi() -> Iterator[Any]:
    """Call saas.wsgi.application as gunicorn would (the test's transaction stays open)."""
    from saas.wsgi import application

    # As Django's test client does: keep the test's connection and transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    def call(
        method: str, path: str, body: bytes = b"", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
        }
        started: list[Any] = []
        chunks = application(environ, lambda status, hdrs, *exc: started.append((status, hdrs)))
        content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        status, hdrs = started[0]
        return int(status.split()[0]), dict(hdrs), content

    try:
        yield call
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def endpoint_path() -> str:
    return webhook_path(webhook_endpoint(stripe_id="we_wsgi", secret=SECRET))


def _signed(event_id: str) -> tuple[bytes, str]:
    body = product_event(event_id)
    return body.encode(), signature(body, SECRET)


def test_a_delivery_takes_the_lean_handler(wsgi: Any, endpoint_path: str) -> None:
    body, signature = _signed("evt_wsgi_1")
    status, headers, content = wsgi("POST", endpoint_path, body, stripe_signature=signature)
    assert status == 200, content
    assert json.loads(content)["id"] == "evt_wsgi_1"
    assert StripeEvent.objects.filter(stripe_id="evt_wsgi_1").exists()
    assert headers.get("X-Request-ID")  # the one middleware it keeps
    # None of the site's middleware ran: no clickjacking or security headers, no cookies.
    assert "X-Frame-Options" not in headers
    assert "X-Content-Type-Options" not in headers
    assert "Set-Cookie" not in headers


def test_the_lean_handler_still_rejects_bad_input(wsgi: Any, endpoint_path: str) -> None:
    body, signature = _signed("evt_wsgi_2")
    status, _, _ = wsgi(
        "POST", endpoint_path, body, stripe_signature=signature.replace("v1=", "v1=0")
    )
    assert status == 400
    status, _, _ = wsgi(
        "POST", endpoint_path, body, stripe_signature=signature, host="evil.example"
    )
    assert status == 400  # ALLOWED_HOSTS, checked by the view itself
    status, _, _ = wsgi(
        "POST", f"/stripe/webhook/{uuid.uuid4()}/", body, stripe_signature=signature
    )
    assert status == 404
    assert not StripeEvent.objects.exists()


def test_other_paths_take_the_full_stack(wsgi: Any) -> None:
    status, headers, _ = wsgi("GET", "/pricing/")
    assert status == 200
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("X-Request-ID")

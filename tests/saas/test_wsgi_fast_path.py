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
from django.db import close_old_connections, connection

from subscriptions.models import StripeEvent
from tests.webhook_helpers import (
    end_database_connection,
    product_event,
    signature,
    webhook_endpoint,
    webhook_path,
)

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_wsgi"


def call_application(
    method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """Call saas.wsgi.application with a raw environ, as gunicorn would."""
    from saas.wsgi import application

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


@pytest.fixture
def wsgi(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """call_application, keeping the test's connection and transaction open.

    As Django's test client does: the end-of-request connection handling would
    close the connection that holds the test's transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    monkeypatch.setattr("saas.wsgi.release_connections", lambda: None)
    try:
        yield call_application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _dispatch_to_no_worker(settings: Any) -> None:
    """The stored events' dispatch goes to a queue no worker consumes.

    These tests are about the intake alone. A session Celery worker that an
    earlier test of this process started would otherwise process the events
    while a transactional test's flush truncates the tables (a deadlock on
    PostgreSQL).
    """
    settings.BILLING_WEBHOOK_QUEUE = "tests-wsgi-fast-path-unconsumed"


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


def test_a_malformed_webhook_path_takes_the_full_stack(wsgi: Any) -> None:
    status, headers, _ = wsgi("POST", "/stripe/webhook/not-a-uuid/", b"{}")
    assert status == 404
    assert headers.get("X-Frame-Options") == "DENY"  # the site's middleware answered


def test_an_unexpected_error_is_a_logged_500(
    wsgi: Any, endpoint_path: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("subscriptions.webhooks.intake.webhook_store.store", broken)
    body, signature = _signed("evt_wsgi_bug")
    status, _, content = wsgi("POST", endpoint_path, body, stripe_signature=signature)
    assert status == 500  # Stripe delivers again
    assert json.loads(content) == {"error": "internal error"}
    assert "webhook intake: unexpected error" in caplog.text
    assert "RuntimeError: a bug" in caplog.text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_the_connection_is_kept_and_replaced_when_the_database_drops_it(
    endpoint_path: str,
) -> None:
    body, sig = _signed("evt_conn_1")
    assert call_application("POST", endpoint_path, body, stripe_signature=sig)[0] == 200
    kept = connection.connection
    body, sig = _signed("evt_conn_2")
    assert call_application("POST", endpoint_path, body, stripe_signature=sig)[0] == 200
    assert kept is not None
    assert connection.connection is kept  # persistent, as CONN_MAX_AGE says
    # A database restart ends every connection; the next delivery must not fail.
    end_database_connection()
    body, sig = _signed("evt_conn_3")
    assert call_application("POST", endpoint_path, body, stripe_signature=sig)[0] == 200
    assert connection.connection is not kept
    assert StripeEvent.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_connection_left_in_a_transaction_is_closed_after_the_delivery(
    endpoint_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from subscriptions.webhooks import intake as webhooks

    original = webhooks.webhook_store.store

    def leaves_a_transaction_open(**kwargs: Any) -> Any:
        connection.set_autocommit(False)  # a bug that forgets to commit
        return original(**kwargs)

    monkeypatch.setattr(webhooks.webhook_store, "store", leaves_a_transaction_open)
    body, sig = _signed("evt_open_tx")
    call_application("POST", endpoint_path, body, stripe_signature=sig)
    assert connection.connection is None  # dropped, as Django's request_finished would

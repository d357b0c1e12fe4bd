"""Webhook endpoints and signed deliveries for the intake tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import psycopg
from django.db import connection
from djstripe.models import WebhookEndpoint


def webhook_endpoint(*, stripe_id: str, secret: str, livemode: bool = False) -> WebhookEndpoint:
    """A dj-stripe endpoint as billing_bootstrap stores it; its URL path is ``webhook_path``."""
    endpoint_uuid = uuid.uuid4()
    return WebhookEndpoint.objects.create(
        id=stripe_id,
        livemode=livemode,
        secret=secret,
        url=f"http://testserver/stripe/webhook/{endpoint_uuid}/",
        djstripe_uuid=endpoint_uuid,
        enabled_events=["*"],
        stripe_data={"id": stripe_id, "object": "webhook_endpoint"},
    )


def webhook_path(endpoint: WebhookEndpoint) -> str:
    return f"/stripe/webhook/{endpoint.djstripe_uuid}/"


def signature_hex(payload: str | bytes, secret: str) -> str:
    """Stripe's v1 scheme: lowercase hex HMAC-SHA256 of the payload, keyed with the secret."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def signature(body: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends: t=<ts>,v1=<HMAC-SHA256 of "t.body">."""
    t = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    return f"t={t},v1={signature_hex(f'{t}.'.encode() + raw, secret)}"


def product_event(event_id: str) -> str:
    """The JSON body of a small, valid ``product.updated`` event."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "product.updated",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": "prod_1", "object": "product"}},
        }
    )


def end_database_connection() -> None:
    """Terminate this process's PostgreSQL backend, as a database restart would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

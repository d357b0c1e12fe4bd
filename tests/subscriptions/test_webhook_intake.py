"""The webhook intake: verify, store once, enqueue on commit, answer fast; reject bad input."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from djstripe.models import WebhookEndpoint, WebhookEventTrigger
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from subscriptions.models import StripeEvent
from subscriptions.webhooks.intake import ENDPOINT_REFRESH_SECONDS
from tests.conftest import celery_broker
from tests.webhook_helpers import signature, signature_hex, webhook_endpoint

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_intake_secret"


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return webhook_endpoint(stripe_id="we_intake", secret=SECRET)


def make_event(event_id: str = "evt_intake_1", **overrides: Any) -> dict[str, Any]:
    event = {
        "id": event_id,
        "object": "event",
        "type": "customer.subscription.updated",
        "api_version": "2026-05-27.dahlia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {"id": "sub_123", "object": "subscription", "customer": "cus_123"},
            "previous_attributes": {"status": "trialing"},
        },
    }
    event.update(overrides)
    return event


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    return signature(body, secret, timestamp) + ",v0=0000"


Post = Callable[..., Any]


@pytest.fixture
def post(client: Client, endpoint: WebhookEndpoint) -> Post:
    def _post(body: str, signature: str | None = None, **extra: Any) -> Any:
        headers: dict[str, Any] = {
            "HTTP_STRIPE_SIGNATURE": sign(body) if signature is None else signature
        }
        if signature == "":
            headers = {}
        return client.post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            **headers,
            **extra,
        )

    return _post


def test_valid_event_is_stored_once_and_enqueued_on_commit(
    post: Post, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    body = json.dumps(make_event())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(body)
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": "evt_intake_1", "duplicate": False}
    event = StripeEvent.objects.get()
    assert event.status == StripeEvent.Status.RECEIVED
    assert event.type == "customer.subscription.updated"
    assert event.object_id == "sub_123"
    assert event.customer_id == "cus_123"
    assert event.trigger is not None
    assert event.trigger.body == body  # the raw request is kept in dj-stripe's table
    assert len(callbacks) == 1  # processing is enqueued only once the row is committed


def test_duplicate_delivery_is_acknowledged_without_new_work(
    post: Post, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    body = json.dumps(make_event())
    post(body)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(body, signature=sign(body, timestamp=int(time.time()) - 5))
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1
    assert StripeEvent.objects.get().deliveries == 2
    assert WebhookEventTrigger.objects.count() == 1
    assert callbacks == []


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("", "missing Stripe-Signature"),
        ("t=1,v1=deadbeef", "invalid signature"),
        ("garbage", "invalid signature"),
    ],
)
def test_bad_signatures_are_400_and_store_nothing(post: Post, signature: str, reason: str) -> None:
    response = post(json.dumps(make_event()), signature=signature)
    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert not StripeEvent.objects.exists()
    assert not WebhookEventTrigger.objects.exists()


def test_wrong_secret_and_stale_timestamp_are_rejected(post: Post) -> None:
    body = json.dumps(make_event())
    assert post(body, signature=sign(body, secret="whsec_other")).status_code == 400
    stale = sign(body, timestamp=int(time.time()) - 301)
    assert post(body, signature=stale).status_code == 400
    assert not StripeEvent.objects.exists()


def test_only_v1_counts_v0_is_ignored(post: Post) -> None:
    body = json.dumps(make_event())
    t = int(time.time())
    only_v0 = f"t={t},v0={signature_hex(f'{t}.{body}', SECRET)}"
    assert post(body, signature=only_v0).status_code == 400


def test_tampered_body_is_rejected(post: Post) -> None:
    body = json.dumps(make_event())
    signature = sign(body)
    tampered = body.replace("sub_123", "sub_999")
    assert post(tampered, signature=signature).status_code == 400
    assert not StripeEvent.objects.exists()


def test_malformed_json_and_non_events_are_400(post: Post) -> None:
    assert post("{not json").status_code == 400
    assert post(json.dumps([1, 2])).status_code == 400
    assert post(json.dumps({"id": "evt_x", "object": "charge"})).status_code == 400
    assert post(json.dumps(make_event("not_an_event_id"))).status_code == 400
    assert not StripeEvent.objects.exists()


def test_livemode_mismatch_is_400(post: Post) -> None:
    response = post(json.dumps(make_event(livemode=True)))
    assert response.status_code == 400
    assert "livemode" in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_oversized_body_is_413(post: Post) -> None:
    huge = make_event()
    huge["data"]["object"]["metadata"] = {"blob": "x" * (600 * 1024)}
    response = post(json.dumps(huge))
    assert response.status_code == 413
    assert not StripeEvent.objects.exists()


def test_unknown_endpoint_is_404(client: Client) -> None:
    body = json.dumps(make_event())
    response = client.post(
        f"/stripe/webhook/{uuid.uuid4()}/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
    )
    assert response.status_code == 404


def test_other_methods_are_405(client: Client, endpoint: WebhookEndpoint) -> None:
    url = f"/stripe/webhook/{endpoint.djstripe_uuid}/"
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(url)
        assert response.status_code == 405
        assert response["Allow"] == "POST"


def test_broker_down_still_acknowledges(
    post: Post,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        celery_broker("redis://127.0.0.1:1/0"),  # nothing listens there
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post(json.dumps(make_event("evt_broker_down")))
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == StripeEvent.Status.RECEIVED
    assert "could not enqueue stored event pk=" in caplog.text  # the sweeper's job now
    assert "OperationalError" in caplog.text or "ConnectionError" in caplog.text


def test_database_down_is_503(post: Post, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("subscriptions.webhooks.store.store", broken)
    response = post(json.dumps(make_event("evt_db_down")))
    assert response.status_code == 503


def test_database_down_is_logged_once_at_error(
    post: Post, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ERROR, not WARNING: Stripe retries, but our database is down, which needs a person
    (and Sentry's logging integration makes an event of ERROR lines only)."""
    from django.db import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("subscriptions.webhooks.store.store", broken)
    caplog.set_level(logging.INFO)
    assert post(json.dumps(make_event("evt_db_down_log"))).status_code == 503
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.name == "subscriptions.webhooks.intake"
    assert "evt_db_down_log" in record.getMessage()
    assert record.exc_info is not None  # the cause, with its traceback


def test_a_rejected_delivery_is_logged_once(post: Post, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert post(json.dumps(make_event()), signature="t=1,v1=00").status_code == 400
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.name == "subscriptions.webhooks.intake"
    assert "invalid signature" in record.getMessage()


def test_endpoint_is_read_once_then_from_memory(post: Post) -> None:
    with CaptureQueriesContext(connection) as first:
        assert post(json.dumps(make_event("evt_cache_1"))).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert post(json.dumps(make_event("evt_cache_2"))).status_code == 200
    endpoint_reads = [
        [q for q in queries.captured_queries if "djstripe_webhookendpoint" in q["sql"]]
        for queries in (first, warm)
    ]
    assert len(endpoint_reads[0]) == 1
    assert endpoint_reads[1] == []
    assert StripeEvent.objects.count() == 2


def test_a_rolled_secret_is_picked_up_at_the_first_failing_signature(
    post: Post, endpoint: WebhookEndpoint
) -> None:
    assert post(json.dumps(make_event("evt_roll_1"))).status_code == 200  # cached
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret="whsec_rolled")
    body = json.dumps(make_event("evt_roll_2"))
    time.sleep(ENDPOINT_REFRESH_SECONDS)
    assert post(body, signature=sign(body, secret="whsec_rolled")).status_code == 200
    body = json.dumps(make_event("evt_roll_3"))
    assert post(body).status_code == 400  # the old secret no longer works
    assert set(StripeEvent.objects.values_list("stripe_id", flat=True)) == {
        "evt_roll_1",
        "evt_roll_2",
    }


def test_a_deleted_endpoint_is_404_once_its_cache_entry_expires(
    post: Post, endpoint: WebhookEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(json.dumps(make_event("evt_gone_1"))).status_code == 200
    WebhookEventTrigger.objects.all().delete()
    StripeEvent.objects.all().delete()
    endpoint.delete()
    monkeypatch.setattr("subscriptions.webhooks.intake.ENDPOINT_CACHE_SECONDS", 0.0)
    response = post(json.dumps(make_event("evt_gone_2")))
    assert response.status_code == 404
    assert not StripeEvent.objects.exists()

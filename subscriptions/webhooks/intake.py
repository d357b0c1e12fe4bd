"""Stripe webhook intake: verify, store once, enqueue, answer 2xx.

A 2xx means "stored and owned by us": from then on our Celery retries, the
``failed`` state and replay make sure the event is processed, not Stripe's
retries. Stripe's own guidance is to answer before doing complex work, which
is what this view does. Everything that cannot be stored gets a 4xx (bad
request, never retried usefully) or a 5xx (our database is down: Stripe retries).

Rejections are logged with the reason and the endpoint, never with the body.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import stripe
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint

from saas.logging import response_logged

from ..models import StripeEvent
from . import store as webhook_store

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
DEFAULT_TOLERANCE_SECONDS = 300
# Headers worth keeping with the raw request (never cookies or auth), by their
# WSGI names: reading them from META skips building ``request.headers``.
KEPT_HEADERS = {
    "HTTP_STRIPE_SIGNATURE": "Stripe-Signature",
    "HTTP_USER_AGENT": "User-Agent",
    "CONTENT_TYPE": "Content-Type",
    "CONTENT_LENGTH": "Content-Length",
}


def _reject(status: int, reason: str, **log: Any) -> JsonResponse:
    logger.warning(
        "webhook rejected (%s): %s %s",
        status,
        reason,
        " ".join(f"{k}={v}" for k, v in log.items()),
    )
    return response_logged(JsonResponse({"error": reason}, status=status))


# Column sizes of StripeEvent: longer values are not Stripe's.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 100
MAX_API_VERSION_LENGTH = 64
# Event ``created`` must be a Unix time a datetime can hold (years 1970 to 9999).
MAX_CREATED = 253_402_300_799


def _short_str(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _event_problem(payload: Any) -> str | None:
    """Why a signed body is not an event we can store, or None when it is one."""
    if not isinstance(payload, dict) or payload.get("object") != "event":
        return "not an event object"
    if not _short_str(payload.get("id"), MAX_ID_LENGTH) or not payload["id"].startswith("evt_"):
        return "bad id"
    if not _short_str(payload.get("type"), MAX_TYPE_LENGTH) or not payload["type"]:
        return "bad type"
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "no data.object"
    created = payload.get("created")
    if created is not None and (
        type(created) is not int or not 0 <= created <= MAX_CREATED  # bools are not times
    ):
        return "bad created"
    version = payload.get("api_version")
    if version is not None and not _short_str(version, MAX_API_VERSION_LENGTH):
        return "bad api_version"
    return None


def _stripe_id(value: Any) -> str:
    """An id as Stripe sends it (a string, or an expanded object's id); else empty."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if _short_str(value, MAX_ID_LENGTH) else ""


def _object_ids(payload: dict[str, Any]) -> tuple[str, str]:
    obj = payload["data"]["object"]
    object_id = _stripe_id(obj.get("id"))
    if obj.get("object") == "customer":
        return object_id, object_id
    return object_id, _stripe_id(obj.get("customer"))


@dataclass(frozen=True)
class Endpoint:
    """What the intake needs of a dj-stripe ``WebhookEndpoint`` row."""

    id: str  # Stripe's; dj-stripe's foreign keys point at it
    secret: str
    tolerance: int
    livemode: bool


# uuid -> (endpoint, loaded at): one query per endpoint per process and minute,
# not one per delivery. A rolled secret is picked up at the first signature
# that fails with the cached one (see stripe_webhook).
_endpoints: dict[uuid.UUID, tuple[Endpoint, float]] = {}
ENDPOINT_CACHE_SECONDS = 60.0
# A flood of bad signatures re-reads an endpoint at most this often.
ENDPOINT_REFRESH_SECONDS = 1.0


def endpoint_for(key: uuid.UUID, *, refresh: bool = False) -> Endpoint | None:
    """The endpoint for a URL's uuid, from this process's memory when recent."""
    now = time.monotonic()
    cached = _endpoints.get(key)
    if cached is not None:
        endpoint, loaded = cached
        age = now - loaded
        if age < (ENDPOINT_REFRESH_SECONDS if refresh else ENDPOINT_CACHE_SECONDS):
            return endpoint
    row = (
        WebhookEndpoint.objects.filter(djstripe_uuid=key)
        .values_list("id", "secret", "djstripe_tolerance", "livemode")
        .first()
    )
    if row is None:
        _endpoints.pop(key, None)
        return None
    stripe_id, secret, tolerance, livemode = row
    endpoint = Endpoint(
        id=stripe_id,
        secret=secret,
        tolerance=tolerance or DEFAULT_TOLERANCE_SECONDS,
        livemode=bool(livemode),
    )
    _endpoints[key] = (endpoint, now)
    return endpoint


def endpoint_cache_clear() -> None:
    _endpoints.clear()


def _verify(body: str, signature: str, endpoint: Endpoint) -> None:
    if not signature.isascii():
        # The SDK's constant-time compare raises TypeError on non-ASCII text.
        raise stripe.SignatureVerificationError("signature is not ASCII", signature, body)
    stripe.WebhookSignature.verify_header(body, signature, endpoint.secret, endpoint.tolerance)


def _remote_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")  # noqa: S104


# Set while a dispatch task is queued and has not started yet (see request_dispatch).
# A key of the default cache (so cache.get(DISPATCH_FLAG) reads it), written
# through a Redis client of its own: Django's cache builds a new client per call,
# which costs the intake more than the SET itself.
DISPATCH_FLAG = "billing:webhook-dispatch-pending"
DISPATCH_FLAG_SECONDS = 30


@functools.cache
def _flag_redis() -> redis.Redis:
    config = settings.CACHES["default"]
    location = config["LOCATION"]
    url = (location if isinstance(location, str) else location[0]).split(",")[0]
    return redis.Redis.from_url(url, **config.get("OPTIONS", {}))


@functools.cache
def _flag_key() -> str:
    from django.core.cache import cache

    return cache.make_and_validate_key(DISPATCH_FLAG)


# Each thread's own connection for the flag, with the SET NX command packed once.
_flag_local = threading.local()


def _flag_connection() -> tuple[redis.connection.AbstractConnection, list[bytes]]:
    client = _flag_redis()
    held = getattr(_flag_local, "held", None)
    if held is None or held[0] is not client:  # first use, or the settings changed (tests)
        if held is not None:
            held[1].disconnect()
        pool = client.connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        packed = conn.pack_command("SET", _flag_key(), 1, "NX", "EX", DISPATCH_FLAG_SECONDS)
        held = _flag_local.held = (client, conn, packed)
    return held[1], held[2]


def dispatch_flag_set() -> bool:
    """SET NX the flag: True when no dispatch was pending (the caller queues one).

    Every stored delivery sends this command. Sent through the client (a
    connection from the pool, the retry wrapper, the command packed each
    time) it cost three times the CPU of sending the packed command on the
    thread's own connection. A connection that Redis dropped while idle (a
    restart) is replaced once; a timeout is not retried, so a frozen Redis
    costs one socket timeout, and the caller only logs (the sweeper queues
    what was stored).
    """
    conn, packed = _flag_connection()
    try:
        try:
            conn.send_packed_command(packed)
            reply = conn.read_response()
        except redis.ConnectionError:
            conn.disconnect()
            conn.send_packed_command(packed)
            reply = conn.read_response()
    except BaseException:
        conn.disconnect()  # never leave a reply unread on the connection
        raise
    return reply is not None  # nil: the flag was already set


def dispatch_flag_clear() -> None:
    _flag_redis().delete(_flag_key())


@functools.cache
def _dispatch_task() -> Any:
    # Imported on first use (tasks imports this module); an import statement in
    # request_dispatch went through the import machinery on every delivery.
    from ..tasks import webhook_events_dispatch_task

    return webhook_events_dispatch_task


def request_dispatch(event_pk: int) -> bool:
    """After the intake's commit: make sure a dispatch task will queue this event.

    Queuing a Celery task costs the intake more CPU than everything else it
    does, so the intake does not queue one per event: it sets a flag in Redis
    (SET NX) and queues a dispatch task only when no dispatch is pending. The
    dispatch task clears the flag *before* it reads the stored events, so an
    event committed before a failed SET NX is always seen (pipeline.py,
    ``stripe_events_dispatch``). Under a burst, one dispatch task queues the
    processing tasks of hundreds of events. A broker or Redis outage only logs:
    the sweeper queues what was stored.
    """
    flagged = False
    try:
        flagged = dispatch_flag_set()
        if flagged:
            _dispatch_task().apply_async(queue=settings.BILLING_WEBHOOK_QUEUE, retry=False)
    except Exception as exc:
        logger.warning(
            "could not enqueue stored event pk=%s (%s); the sweeper will pick it up",
            event_pk,
            exc.__class__.__name__,
        )
        if flagged:
            with contextlib.suppress(Exception):
                dispatch_flag_clear()  # let the next delivery try again
        return False
    return True


def enqueue(event_pk: int) -> bool:
    """Queue processing of one stored event; a broker outage only logs."""
    return enqueue_many([event_pk]) == 1


def enqueue_many(event_pks: list[int]) -> int:
    """Queue a processing task per stored event over one broker connection.

    Marks them ``enqueued_at`` first, so the dispatcher and the sweeper leave
    them alone; a broker outage only logs and unmarks the ones not sent (the
    sweeper queues them again). Returns how many were queued.
    """
    from celery import current_app
    from django.utils import timezone

    from ..tasks import webhook_event_process_task

    if not event_pks:
        return 0
    StripeEvent.objects.filter(pk__in=event_pks).update(enqueued_at=timezone.now())
    sent = 0
    try:
        with current_app.producer_or_acquire() as producer:
            for pk in event_pks:
                webhook_event_process_task.apply_async(
                    (pk,), queue=settings.BILLING_WEBHOOK_QUEUE, retry=False, producer=producer
                )
                sent += 1
    except Exception as exc:
        logger.warning(
            "could not enqueue stored event pk=%s (%s); the sweeper will pick it up",
            event_pks[sent],
            exc.__class__.__name__,
        )
        StripeEvent.objects.filter(pk__in=event_pks[sent:]).update(enqueued_at=None)
    return sent


@csrf_exempt
def stripe_webhook(request: HttpRequest, uuid: uuid.UUID) -> HttpResponse:
    started = time.perf_counter()
    try:
        request.get_host()  # ALLOWED_HOSTS, also on the lean WSGI path (saas/wsgi.py)
    except DisallowedHost:
        return _reject(400, "host not allowed", endpoint=uuid)
    if request.method != "POST":
        response = _reject(405, "method not allowed", method=request.method)
        response["Allow"] = "POST"
        return response
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        return _reject(413, "body too large", declared=declared, endpoint=uuid)
    try:
        raw = request.body
    except RequestDataTooBig:
        return _reject(413, "body too large", endpoint=uuid)
    if len(raw) > MAX_BODY_BYTES:
        return _reject(413, "body too large", size=len(raw), endpoint=uuid)

    try:
        endpoint = endpoint_for(uuid)
    except DatabaseError:
        logger.exception("webhook intake: database unavailable")
        return response_logged(JsonResponse({"error": "temporarily unavailable"}, status=503))
    if endpoint is None:
        return _reject(404, "unknown endpoint", endpoint=uuid)

    signature = request.META.get("HTTP_STRIPE_SIGNATURE", "")
    if not signature:
        return _reject(400, "missing Stripe-Signature", endpoint=endpoint.id)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8", endpoint=endpoint.id)
    try:
        try:
            _verify(body, signature, endpoint)
        except stripe.SignatureVerificationError:
            # The secret may have been rolled since it was cached: ask the database once.
            fresh = endpoint_for(uuid, refresh=True)
            if fresh is None or fresh == endpoint:
                raise
            endpoint = fresh
            _verify(body, signature, endpoint)
    except stripe.SignatureVerificationError as exc:
        return _reject(400, "invalid signature", endpoint=endpoint.id, detail=str(exc)[:80])
    except DatabaseError:
        logger.exception("webhook intake: database unavailable")
        return response_logged(JsonResponse({"error": "temporarily unavailable"}, status=503))

    try:
        payload = json.loads(body)
    except ValueError:
        return _reject(400, "malformed JSON", endpoint=endpoint.id)
    problem = _event_problem(payload)
    if problem:
        return _reject(400, "not a Stripe event", endpoint=endpoint.id, problem=problem)
    if bool(payload.get("livemode")) != bool(endpoint.livemode):
        return _reject(
            400,
            "livemode does not match the endpoint",
            endpoint=endpoint.id,
            event=payload["id"],
            event_livemode=payload.get("livemode"),
        )

    object_id, customer_id = _object_ids(payload)
    created_ts = payload.get("created")
    stripe_created = (
        datetime.fromtimestamp(created_ts, tz=UTC)
        if created_ts is not None
        else datetime.now(tz=UTC)
    )
    try:
        pk = webhook_store.store(
            event={
                "stripe_id": payload["id"],
                "type": payload["type"],
                "livemode": bool(payload.get("livemode")),
                "api_version": payload.get("api_version") or "",
                "stripe_created": stripe_created,
                "object_id": object_id,
                "customer_id": customer_id,
                "payload": payload,
            },
            trigger={
                "headers": {
                    name: request.META[key]
                    for key, name in KEPT_HEADERS.items()
                    if key in request.META
                },
                "body": body,
                "remote_ip": _remote_ip(request),
                "valid": True,
                "processed": False,
                "webhook_endpoint_id": endpoint.id,
            },
            payload_text=body,
        )
    except (DataError, UnicodeEncodeError) as exc:
        # Signed, but holding text the database cannot keep (a NUL, a lone
        # surrogate): retrying would fail the same way, so no 5xx.
        logger.error(
            "webhook intake: %s cannot be stored (%s)", payload["id"], exc.__class__.__name__
        )
        return _reject(400, "event cannot be stored", endpoint=endpoint.id, event=payload["id"])
    except DatabaseError as exc:
        if isinstance(exc, IntegrityError):
            endpoint_cache_clear()  # not a duplicate: did the endpoint row go away?
        logger.exception("webhook intake: could not store %s", payload["id"])
        return response_logged(JsonResponse({"error": "temporarily unavailable"}, status=503))
    duplicate = pk is None
    if pk is not None:
        transaction.on_commit(lambda: request_dispatch(pk))

    logger.info(
        "webhook %s %s event=%s type=%s object=%s customer=%s endpoint=%s in %.1f ms",
        "duplicate" if duplicate else "stored",
        "(acknowledged)",
        payload["id"],
        payload["type"],
        object_id,
        customer_id,
        endpoint.id,
        (time.perf_counter() - started) * 1000,
    )
    return JsonResponse({"received": True, "id": payload["id"], "duplicate": duplicate})

"""Stripe webhook intake: verify, store once, enqueue, answer 2xx.

A 2xx means "stored and owned by us": from then on our Celery retries, the
``failed`` state and replay make sure the event is processed, not Stripe's
retries. Stripe's own guidance is to answer before doing complex work, which
is what this view does. Everything that cannot be stored gets a 4xx (bad
request, never retried usefully) or a 5xx (our database is down: Stripe retries).

Rejections are logged with the reason and the endpoint, never with the body.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint, WebhookEventTrigger

from .models import StripeEvent

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
DEFAULT_TOLERANCE_SECONDS = 300
# Headers worth keeping with the raw request (never cookies or auth).
KEPT_HEADERS = ("Stripe-Signature", "User-Agent", "Content-Type", "Content-Length")


def _reject(status: int, reason: str, **log: Any) -> JsonResponse:
    logger.warning(
        "webhook rejected (%s): %s %s",
        status,
        reason,
        " ".join(f"{k}={v}" for k, v in log.items()),
    )
    return JsonResponse({"error": reason}, status=status)


def _object_ids(payload: dict[str, Any]) -> tuple[str, str]:
    obj = (payload.get("data") or {}).get("object") or {}
    object_id = str(obj.get("id") or "")
    if obj.get("object") == "customer":
        return object_id, object_id
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return object_id, str(customer or "")


def _remote_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")  # noqa: S104


def enqueue(event_pk: int) -> bool:
    """Queue processing; a broker outage only logs (the sweeper re-enqueues)."""
    from django.conf import settings

    from .tasks import webhook_event_process_task

    try:
        webhook_event_process_task.apply_async(
            (event_pk,), queue=settings.BILLING_WEBHOOK_QUEUE, retry=False
        )
    except Exception as exc:
        logger.warning(
            "could not enqueue stored event pk=%s (%s); the sweeper will pick it up",
            event_pk,
            exc.__class__.__name__,
        )
        return False
    return True


@csrf_exempt
def stripe_webhook(request: HttpRequest, uuid: uuid.UUID) -> HttpResponse:
    started = time.perf_counter()
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
        endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
    except DatabaseError:
        logger.exception("webhook intake: database unavailable")
        return JsonResponse({"error": "temporarily unavailable"}, status=503)
    if endpoint is None:
        return _reject(404, "unknown endpoint", endpoint=uuid)

    signature = request.headers.get("Stripe-Signature", "")
    if not signature:
        return _reject(400, "missing Stripe-Signature", endpoint=endpoint.id)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8", endpoint=endpoint.id)
    tolerance = endpoint.djstripe_tolerance or DEFAULT_TOLERANCE_SECONDS
    try:
        stripe.WebhookSignature.verify_header(body, signature, endpoint.secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        return _reject(400, "invalid signature", endpoint=endpoint.id, detail=str(exc)[:80])

    try:
        payload = json.loads(body)
    except ValueError:
        return _reject(400, "malformed JSON", endpoint=endpoint.id)
    if (
        not isinstance(payload, dict)
        or payload.get("object") != "event"
        or not str(payload.get("id", "")).startswith("evt_")
        or not isinstance(payload.get("type"), str)
        or not isinstance((payload.get("data") or {}).get("object"), dict)
    ):
        return _reject(400, "not a Stripe event", endpoint=endpoint.id)
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
        datetime.fromtimestamp(int(created_ts), tz=UTC)
        if isinstance(created_ts, int)
        else datetime.now(tz=UTC)
    )
    try:
        try:
            # Insert first: a new event costs two INSERTs; a redelivery hits the
            # unique stripe_id, rolls back (trigger included) and is counted below.
            with transaction.atomic():
                trigger = WebhookEventTrigger.objects.create(
                    headers={k: v for k, v in request.headers.items() if k in KEPT_HEADERS},
                    body=body,
                    remote_ip=_remote_ip(request),
                    valid=True,
                    processed=False,
                    webhook_endpoint=endpoint,
                )
                event = StripeEvent.objects.create(
                    stripe_id=payload["id"],
                    type=payload["type"],
                    livemode=bool(payload.get("livemode")),
                    api_version=str(payload.get("api_version") or ""),
                    stripe_created=stripe_created,
                    object_id=object_id,
                    customer_id=customer_id,
                    payload=payload,
                    trigger=trigger,
                )
                pk = event.pk
                transaction.on_commit(lambda: enqueue(pk))
            duplicate = False
        except IntegrityError:
            # Stored already (a redelivery, or a concurrent delivery): acknowledge, no new work.
            StripeEvent.objects.filter(stripe_id=payload["id"]).update(
                deliveries=F("deliveries") + 1
            )
            event = StripeEvent.objects.get(stripe_id=payload["id"])
            duplicate = True
    except DatabaseError:
        logger.exception("webhook intake: could not store %s", payload["id"])
        return JsonResponse({"error": "temporarily unavailable"}, status=503)

    logger.info(
        "webhook %s %s event=%s type=%s object=%s customer=%s endpoint=%s in %.1f ms",
        "duplicate" if duplicate else "stored",
        "(acknowledged)",
        event.stripe_id,
        event.type,
        object_id,
        customer_id,
        endpoint.id,
        (time.perf_counter() - started) * 1000,
    )
    return JsonResponse({"received": True, "id": event.stripe_id, "duplicate": duplicate})

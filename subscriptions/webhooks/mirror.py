"""Payload-first mirroring: an event newer than the mirror is mirrored from its payload.

dj-stripe's handlers (``djstripe.event_handlers._handle_crud_like_event``)
re-read the event's object from Stripe (``api_retrieve``) and mirror what they
read, because Stripe does not deliver events in order. That is one Stripe
request per event, and on renewal day Stripe's rate limit (25/s in test mode)
is the bottleneck. Stripe's ``data.object`` is the object as it was when the
event was created, so the read is needed only when the mirror may already hold
a newer state than the payload.

Stripe objects carry no version number and Stripe documents no delivery order;
what orders two events is their ``created`` (whole seconds). So each mirrored
object keeps a watermark (``MirrorWatermark``): the newest event ``created``
that wrote it and the hash of the payload it wrote. For the event's own object:

* newer than the watermark, or not mirrored yet: mirror the payload, no request;
* mirrored with no watermark (by a read from Stripe outside the pipeline):
  read from Stripe, as nothing orders that read against the event;
* older: the mirror already holds a newer state; it is mirrored again from its
  own stored data (so dj-stripe's handlers and signals run as before) and the
  payload is not applied;
* the same second: the same content is a repeat (mirror the payload); an
  invoice, payment intent or charge further along its one-way lifecycle is
  newer (``progress``); other content cannot be ordered, so it is read from
  Stripe as dj-stripe does;
* a payload that is not the full object dj-stripe expects (thin events, a
  different API version, fields dj-stripe expands left as ids, truncated
  lists, a ``*.deleted`` event) is read from Stripe as before.

The decision is served to dj-stripe through its own ``api_retrieve``: while an
event is processed, a request for that event's object returns the chosen data
instead of calling Stripe (``payload_first``). Everything else in dj-stripe,
its signals and our receivers run unchanged. Events of one object take turns
on its watermark row, locked before anything is mirrored. Related objects (customer,
price, product) are looked up in the mirror first by dj-stripe itself and only
fetched when the mirror does not hold them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from djstripe.models.base import StripeModel
from djstripe.settings import djstripe_settings

from ..models import MirrorWatermark, StripeEvent

logger = logging.getLogger(__name__)

# Objects whose events carry the whole object and that dj-stripe mirrors by
# re-reading it (event_handlers.handle_*): the model that mirrors each one.
_MIRRORED_OBJECTS = frozenset(
    {
        "customer",
        "subscription",
        "invoice",
        "invoiceitem",
        "charge",
        "payment_intent",
        "setup_intent",
        "payment_method",
        "price",
        "product",
        "coupon",
        "promotion_code",
        "tax_rate",
        "subscription_schedule",
    }
)
# Fields without which dj-stripe's sync of the object would be incomplete.
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "subscription": ("status", "customer", "items"),
    "invoice": ("status", "customer", "lines", "total", "amount_due", "amount_paid"),
    "charge": ("status", "amount", "customer"),
    "payment_intent": ("status", "amount", "customer"),
}
# Lists that dj-stripe mirrors from the object itself (sub items, invoice lines).
_EMBEDDED_LISTS = ("items", "lines")


@dataclass
class MirrorPlan:
    """What dj-stripe gets when it asks Stripe for the event's object."""

    object_id: str
    object_name: str
    source: str  # "payload" | "mirror" | "stripe" | "prefetched"
    reason: str
    data: dict[str, Any] | None = None
    served: bool = False
    mark: MirrorWatermark | None = None  # the object's watermark row, locked by mirror_plan


_current_plan: ContextVar[MirrorPlan | None] = ContextVar("mirror_plan", default=None)


def payload_hash(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _object_of(event: StripeEvent) -> dict[str, Any]:
    return (event.payload.get("data") or {}).get("object") or {}


def _expanded(value: Any, path: list[str]) -> bool:
    """Whether a field dj-stripe retrieves expanded is expanded (or empty) in the payload."""
    if not value:
        return True
    if isinstance(value, str):
        return False  # an id where dj-stripe expects the object
    if isinstance(value, list):
        return all(_expanded(v, path) for v in value)
    if not isinstance(value, dict) or not path:
        return True
    head, rest = path[0], path[1:]
    return _expanded(value.get(head), rest)


def _unusable_payload(event: StripeEvent, obj: dict[str, Any]) -> str:
    """Why the payload cannot stand in for a read from Stripe ('' if it can)."""
    name = str(obj.get("object") or "")
    if event.type.endswith(".deleted"):
        return "deleted object"
    if event.api_version and event.api_version != settings.STRIPE_API_VERSION:
        return f"payload in API version {event.api_version}"
    missing = [f for f in _REQUIRED_FIELDS.get(name, ()) if f not in obj]
    if missing:
        return f"fields missing: {', '.join(missing)}"
    if any((obj.get(key) or {}).get("has_more") for key in _EMBEDDED_LISTS if key in obj):
        return "embedded list truncated"
    model = _model_for(name)
    return _unexpanded_field(model, obj) if model is not None else ""


def _unexpanded_field(model: type[StripeModel], obj: dict[str, Any]) -> str:
    """A field dj-stripe reads expanded that the payload lacks or holds as an id ('' if none)."""
    for dotted in model.expand_fields:
        head, *rest = dotted.split(".")
        if head not in obj:
            return f"{dotted} missing"
        if not _expanded(obj[head], rest) and not (not rest and _is_foreign_key(model, head)):
            # A foreign key left as an id is fine: dj-stripe looks it up in the
            # mirror and fetches only a related object the mirror does not hold.
            return f"{dotted} not expanded"
    return ""


def _is_foreign_key(model: type[StripeModel], name: str) -> bool:
    try:
        return bool(model._meta.get_field(name).many_to_one)
    except FieldDoesNotExist:
        return False


def _model_for(object_name: str) -> type[StripeModel] | None:
    """The dj-stripe model that mirrors this kind of Stripe object."""
    from djstripe import models as djstripe_models

    for model in (
        djstripe_models.Customer,
        djstripe_models.Subscription,
        djstripe_models.Invoice,
        djstripe_models.InvoiceItem,
        djstripe_models.Charge,
        djstripe_models.PaymentIntent,
        djstripe_models.SetupIntent,
        djstripe_models.PaymentMethod,
        djstripe_models.Price,
        djstripe_models.Product,
        djstripe_models.Coupon,
        djstripe_models.PromotionCode,
        djstripe_models.TaxRate,
        djstripe_models.SubscriptionSchedule,
    ):
        if getattr(model.stripe_class, "OBJECT_NAME", None) == object_name:
            return model
    return None


def _stored_data(object_name: str, object_id: str) -> dict[str, Any] | None:
    """The mirror's own copy of an object (dj-stripe keeps the raw object in stripe_data)."""
    model = _model_for(object_name)
    if model is None:
        return None
    data = model.objects.filter(id=object_id).values_list("stripe_data", flat=True).first()
    return dict(data) if data else None


def mirror_plan(event: StripeEvent) -> MirrorPlan | None:
    """Decide where the event's object comes from (None: not an object dj-stripe re-reads)."""
    obj = _object_of(event)
    object_id, name = str(obj.get("id") or ""), str(obj.get("object") or "")
    if not object_id or name not in _MIRRORED_OBJECTS:
        return None  # nothing dj-stripe re-reads by this id: stock processing
    # Locked before dj-stripe touches any mirrored row, so the object's events (and
    # pages mirroring a read of it) take turns here; waiting for the watermark while
    # holding dj-stripe rows deadlocked on PostgreSQL.
    mark = MirrorWatermark.objects.locked(object_id)
    plan = _plan_for(event, obj, mark)
    plan.mark = mark  # still locked: recording the event needs no second read
    return plan


def _plan_for(event: StripeEvent, obj: dict[str, Any], mark: MirrorWatermark) -> MirrorPlan:
    object_id, name = str(obj["id"]), str(obj["object"])
    unusable = _unusable_payload(event, obj)
    if unusable:
        return MirrorPlan(object_id, name, "stripe", unusable)
    created = int(event.payload.get("created") or 0)
    if mark.event_created == MirrorWatermark.NONE:
        # The mirror's copy is read only when the watermark cannot decide: on
        # renewal day nearly every event is newer than its watermark.
        if _stored_data(name, object_id) is not None:
            # Written by a read from Stripe (checkout success, portal return, the
            # reconciliation) at a moment no event orders: read again.
            return MirrorPlan(object_id, name, "stripe", "mirrored without a watermark")
        return MirrorPlan(object_id, name, "payload", "newer than the mirror", obj)
    if created > mark.event_created:
        return MirrorPlan(object_id, name, "payload", "newer than the mirror", obj)
    stored = _stored_data(name, object_id)
    if created == mark.event_created:
        return _same_second_plan(mark, obj, stored)
    if stored is None:
        return MirrorPlan(object_id, name, "stripe", "older than the mirror, not mirrored")
    return MirrorPlan(object_id, name, "mirror", "older than the mirror", stored)


def _same_second_plan(
    mark: MirrorWatermark, obj: dict[str, Any], stored: dict[str, Any] | None
) -> MirrorPlan:
    """Two states of one object in the same second: ordered only by a one-way progression."""
    object_id, name = str(obj["id"]), str(obj["object"])
    content = payload_hash(obj)
    if content in (mark.content_hash, payload_hash(stored) if stored is not None else None):
        return MirrorPlan(object_id, name, "payload", "repeat of the mirrored state", obj)
    new, held = progress(obj), progress(stored) if stored is not None else None
    if new is not None and held is not None and new != held:
        if new > held:
            return MirrorPlan(object_id, name, "payload", "same second, further on", obj)
        return MirrorPlan(object_id, name, "mirror", "same second, behind the mirror", stored)
    return MirrorPlan(object_id, name, "stripe", "same second, other content")


# Stripe's documented one-way status progressions: a state further on is newer.
# Invoices: draft -> open -> paid | void | uncollectible (uncollectible -> paid | void).
_INVOICE_STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
# PaymentIntents end in succeeded or canceled; charges leave pending once.
_PAYMENT_INTENT_FINAL = frozenset({"succeeded", "canceled"})
_CHARGE_FINAL = frozenset({"succeeded", "failed"})


def progress(obj: dict[str, Any]) -> tuple[int, ...] | None:
    """How far along its one-way lifecycle an object is, for objects that have one.

    Only fields that never move backwards: status ranks from Stripe's
    documented lifecycles and amounts that only grow (paid, received,
    refunded) or counters (payment attempts). None: no such order (a
    subscription can go from active to past_due and back).
    """
    kind = obj.get("object")
    if kind == "invoice":
        return (
            _INVOICE_STATUS_RANK.get(str(obj.get("status")), -1),
            int(obj.get("amount_paid") or 0),
            int(obj.get("attempt_count") or 0),
        )
    if kind == "payment_intent":
        return (
            int(obj.get("status") in _PAYMENT_INTENT_FINAL),
            int(obj.get("amount_received") or 0),
        )
    if kind == "charge":
        return (
            int(obj.get("status") in _CHARGE_FINAL),
            int(obj.get("amount_captured") or 0),
            int(obj.get("amount_refunded") or 0),
        )
    return None


def _watermark_record(event: StripeEvent, plan: MirrorPlan) -> None:
    """Move the object's watermark to this event if it is newer; never backwards."""
    created = int(event.payload.get("created") or 0)
    content = payload_hash(plan.data) if plan.source == "payload" and plan.data else ""
    # Locked by mirror_plan in this transaction, so nobody moved it since.
    mark = plan.mark or MirrorWatermark.objects.select_for_update().get(object_id=plan.object_id)
    if created < mark.event_created:
        return
    if created > mark.event_created or plan.source == "stripe":
        # A read from Stripe holds a state at least as new as this second but
        # of unknown content: a later same-second event is read again.
        mark.event_created, mark.event_id, mark.content_hash = created, event.stripe_id, content
        mark.save(update_fields=["event_created", "event_id", "content_hash", "updated_at"])


def stripe_prefetch(event: StripeEvent) -> MirrorPlan | None:
    """Stock processing: read the event's object from Stripe before the event's transaction.

    With ``BILLING_MIRROR_FROM_PAYLOAD`` off, dj-stripe reads the object inside
    the transaction. On SQLite a transaction takes the database's only write lock
    when it begins (IMMEDIATE), so every other process's writes (an email's, a
    web request's) waited out Stripe's latency event after event, and SQLite's
    busy handler, which polls, could lose the lock to the next event again and
    again. This is the same read a moment earlier, served to dj-stripe by
    ``payload_first``; nothing orders it against the transaction in stock mode.
    None when dj-stripe will not read the object (payload-first mode decides
    inside the transaction, under the watermark lock).
    """
    if settings.BILLING_MIRROR_FROM_PAYLOAD:
        return None
    obj = _object_of(event)
    object_id, name = str(obj.get("id") or ""), str(obj.get("object") or "")
    model = _model_for(name) if name in _MIRRORED_OBJECTS else None
    if not object_id or model is None or event.type.endswith(".deleted"):
        return None
    account = event.payload.get("account")
    try:
        data = _stock_api_retrieve(
            model(id=object_id), stripe_account=account if isinstance(account, str) else None
        )
    except stripe.InvalidRequestError:
        return None  # gone from Stripe: dj-stripe's own read decides what to do
    return MirrorPlan(object_id, name, "prefetched", "read before the transaction", data)


@contextmanager
def payload_first(
    event: StripeEvent, prefetched: MirrorPlan | None = None
) -> Iterator[MirrorPlan | None]:
    """Within this block, dj-stripe's read of the event's object follows ``mirror_plan``.

    Must run inside the event's transaction (the watermark row is locked so two
    workers with events for the same object take turns). In stock mode the
    object ``stripe_prefetch`` read, if any, is served instead.
    """
    if not settings.BILLING_MIRROR_FROM_PAYLOAD:
        token = _current_plan.set(prefetched)
        try:
            yield None
        finally:
            _current_plan.reset(token)
        return
    plan = mirror_plan(event)
    token = _current_plan.set(plan)
    try:
        yield plan
    finally:
        _current_plan.reset(token)
    if plan is not None and (plan.served or plan.source == "stripe"):
        _watermark_record(event, plan)
    if plan is not None:
        logger.debug(
            "event %s object %s from %s (%s)",
            event.stripe_id,
            plan.object_id,
            plan.source,
            plan.reason,
        )


_stock_api_retrieve = StripeModel.api_retrieve


def _api_retrieve_payload_first(self: StripeModel, *args: Any, **kwargs: Any) -> Any:
    plan = _current_plan.get()
    if (
        plan is not None
        and plan.data is not None
        and plan.source != "stripe"
        and self.id == plan.object_id
        and getattr(self.stripe_class, "OBJECT_NAME", None) == plan.object_name
    ):
        plan.served = True
        if plan.source == "prefetched":
            return plan.data  # already the SDK's object
        # As the SDK would return it: dj-stripe pages embedded lists (items,
        # lines) with auto_paging_iter, which a plain dict has not.
        return self.stripe_class.construct_from(
            plan.data,
            kwargs.get("api_key") or self.default_api_key,
            stripe_version=djstripe_settings.STRIPE_API_VERSION,
        )
    return _stock_api_retrieve(self, *args, **kwargs)


def payload_first_install() -> None:
    """Route dj-stripe's object reads through the current plan (AppConfig.ready).

    Outside ``payload_first`` no plan is set and every read goes to Stripe.
    """
    if StripeModel.api_retrieve is not _api_retrieve_payload_first:
        StripeModel.api_retrieve = _api_retrieve_payload_first

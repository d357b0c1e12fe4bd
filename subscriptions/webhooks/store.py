"""Storing a verified delivery: dj-stripe's trigger row and our ``StripeEvent``.

Each event id is stored once. A redelivery stores nothing new; it only counts
one more delivery on the stored event.

On PostgreSQL a single statement stores both rows, in one round trip, with no
explicit transaction and with server-side binding. Two ORM inserts inside
``transaction.atomic`` take four round trips (BEGIN, INSERT, INSERT, COMMIT)
and about five times the CPU, and under a burst of deliveries that is most of
what the intake spends.

- The event is inserted ``ON CONFLICT (stripe_id) DO NOTHING``.
- Its ``trigger_id`` is taken from the trigger table's own identity sequence.
- The trigger row is inserted from the event's ``RETURNING`` row. A redelivery
  therefore adds no trigger either.

The values of both rows come from Django's field definitions: defaults,
``auto_now`` and each field's database preparation. A field added to either
model later is stored the same way as the ORM would store it. What does not
change between deliveries is prepared once per process (constant defaults),
and the payload is stored from the JSON text received (``RawJSON``) rather
than serialised again: under a burst, that preparation was a good part of
what a delivery cost.

Other databases (SQLite, the embedded default) use the two ORM inserts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.models import F
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from ..models import StripeEvent


def store(
    *, event: dict[str, Any], trigger: dict[str, Any], payload_text: str | None = None
) -> int | None:
    """Store a delivery: the new ``StripeEvent``'s pk, or None when the event id is stored.

    ``event`` and ``trigger`` are field values of ``StripeEvent`` (without
    ``trigger``) and ``WebhookEventTrigger``. ``payload_text``, when given, is
    the JSON text that ``event["payload"]`` was parsed from (the body): on
    PostgreSQL it is stored as received instead of serialising the payload
    again. Raises ``IntegrityError`` for any conflict other than the event id
    (a deleted endpoint, say), and ``DatabaseError`` when the database is
    unavailable.
    """
    if connection.vendor == "postgresql":
        if payload_text is not None:
            event = {**event, "payload": RawJSON(payload_text)}
        pk = _store_in_one_statement(event, trigger)
    else:
        pk = _store_with_orm(event, trigger)
    if pk is None:
        # Counted on the stored row. Should it be gone (pruned in between), it was
        # processed: only processed events are pruned.
        StripeEvent.objects.filter(stripe_id=event["stripe_id"]).update(
            deliveries=F("deliveries") + 1
        )
    return pk


def _store_with_orm(event: dict[str, Any], trigger: dict[str, Any]) -> int | None:
    try:
        with transaction.atomic():
            row = WebhookEventTrigger.objects.create(**trigger)
            return StripeEvent.objects.create(**event, trigger=row).pk
    except IntegrityError:
        if StripeEvent.objects.filter(stripe_id=event["stripe_id"]).exists():
            return None  # a redelivery (or a concurrent delivery of the same event)
        raise


@functools.cache
def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _column(model: type[models.Model], name: str | None = None) -> str:
    field = model._meta.pk if name is None else model._meta.get_field(name)
    column = getattr(field, "column", None)
    assert isinstance(column, str), (model, name)
    return column


@functools.cache
def _statement() -> str:
    """The single INSERT of both rows; identifiers come from the models' metadata only."""
    quote = connection.ops.quote_name
    event_meta, trigger_meta = StripeEvent._meta, WebhookEventTrigger._meta
    event_fields, trigger_fields = _fields(StripeEvent), _fields(WebhookEventTrigger)
    event_pk, trigger_pk = quote(_column(StripeEvent)), _column(WebhookEventTrigger)
    link = quote(_column(StripeEvent, "trigger"))
    stripe_id = quote(_column(StripeEvent, "stripe_id"))
    next_trigger_id = f"nextval(pg_get_serial_sequence('{trigger_meta.db_table}', '{trigger_pk}'))"
    event_values = [next_trigger_id if f.name == "trigger" else "%s" for f in event_fields]
    # No value is formatted in (they are all parameters), hence the noqa.
    return (
        f"WITH stored AS ("  # noqa: S608
        f"INSERT INTO {quote(event_meta.db_table)} "
        f"({', '.join(quote(_column(StripeEvent, f.name)) for f in event_fields)}) "
        f"VALUES ({', '.join(event_values)}) "
        f"ON CONFLICT ({stripe_id}) DO NOTHING "
        f"RETURNING {event_pk}, {link}), "
        f"raw AS ("
        f"INSERT INTO {quote(trigger_meta.db_table)} "
        f"({quote(trigger_pk)}, "
        f"{', '.join(quote(_column(WebhookEventTrigger, f.name)) for f in trigger_fields)}) "
        f"SELECT stored.{link}, {', '.join(['%s'] * len(trigger_fields))} FROM stored) "
        f"SELECT {event_pk} FROM stored"
    )


@dataclass(frozen=True)
class RawJSON:
    """A JSON column's value given as the JSON text received, stored without a round trip.

    The intake has parsed the body to check it, but serialising the parsed
    payload again for the INSERT costs as much as the rest of the statement;
    PostgreSQL parses the text into ``jsonb`` itself. Text it cannot store (a
    ``\\u0000``, a lone surrogate) is a ``DataError``, as with the ORM.
    """

    text: str

    def adapted(self) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(self.text, dumps=_as_is)


def _as_is(text: str) -> str:
    return text


# Django's own text and boolean fields (not subclasses, which may prepare values
# their own way) send a str or a bool to the database unchanged.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.BooleanField)

# How the INSERT finds a field's value when the caller does not give it.
_NOW, _CALL = object(), object()


@functools.cache
def _fallbacks(model: type[models.Model], alias: str) -> tuple[Any, ...]:
    """Per field: _NOW (auto_now), _CALL (a callable default) or the default, prepared once.

    Preparing every default of ~30 fields through Django's field API on each
    delivery cost more than the rest of the statement's building; a constant
    default prepares to the same value every time.
    """
    db = connections[alias]
    out: list[Any] = []
    for f in _fields(model):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            out.append(_NOW)
        elif f.has_default() and callable(f.default):
            out.append(_CALL)
        else:
            out.append(f.get_db_prep_save(f.get_default(), db))
    return tuple(out)


def _prepared(model: type[models.Model], values: dict[str, Any], db: Any, now: Any) -> list[Any]:
    """Each field's value as the ORM's INSERT would send it: given, auto_now, or default."""
    params = []
    for f, fallback in zip(_fields(model), _fallbacks(model, db.alias), strict=True):
        if f.name == "trigger":  # taken from the sequence in the statement
            continue
        if f.attname in values:
            given = values[f.attname]
            if isinstance(given, RawJSON):
                value = given.adapted()
            elif type(given) in (str, bool) and type(f) in _PLAIN_FIELDS:
                value = given  # what these fields' preparation returns for them
            else:
                value = f.get_db_prep_save(given, db)
        elif fallback is _NOW:
            value = f.get_db_prep_save(now, db)
        elif fallback is _CALL:
            value = f.get_db_prep_save(f.get_default(), db)
        else:
            value = fallback
        params.append(value)
    return params


def _store_in_one_statement(event: dict[str, Any], trigger: dict[str, Any]) -> int | None:
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of `connection` is a lookup
    now = timezone.now()
    params = [
        *_prepared(StripeEvent, event, db, now),
        *_prepared(WebhookEventTrigger, trigger, db, now),
    ]
    if db.in_atomic_block:
        # Inside a caller's transaction (tests, a management command): a savepoint,
        # so that a failure does not break it.
        with transaction.atomic():
            return _execute(db, params)
    try:
        return _execute(db, params)
    except (OperationalError, InterfaceError):
        if db.is_usable():
            raise
        # The database dropped this persistent connection (a restart, an idle
        # timeout). The statement is idempotent: one more try on a new connection.
        db.close()
        return _execute(db, params)


def _execute(db: Any, params: list[Any]) -> int | None:
    """Run the statement with server-side binding.

    Django's cursors quote every value into the SQL text in Python (client-side
    binding). Here the values, the raw body among them, travel apart from the
    SQL. psycopg also prepares the statement once it has run a few times on a
    connection (its ``prepare_threshold``; None in the database OPTIONS turns
    that off, for PgBouncer in transaction mode). Errors become Django's
    database errors, as from a Django cursor.
    """
    import psycopg

    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(_statement(), params)
        row = cursor.fetchone()
    return int(row[0]) if row else None

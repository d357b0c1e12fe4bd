"""The per-request context handed to every handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import events
from .clock import real_now
from .config import DEFAULT_API_VERSION
from .errors import resource_missing

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .faults import Faults
    from .limits import RequestStats
    from .store import Store
    from .webhooks import Dispatcher

JSONDict = dict[str, Any]


class EmulatorCore(Protocol):
    """What code below the app uses of the running emulator (`app.Emulator` is one).

    Typed here, not by importing `app`, so that nothing below the app depends on it.
    """

    config: EmulatorConfig
    store: Store
    faults: Faults
    dispatcher: Dispatcher
    stats: RequestStats

    def context(self, **kwargs: Any) -> Ctx: ...

    def reset(self) -> None: ...


@dataclass
class Ctx:
    """What a handler may use: storage, time, events, request metadata.

    Handlers run inside `store.atomic()`: everything they write (objects,
    events, queued webhook deliveries) commits together or not at all.
    """

    app: EmulatorCore
    request_id: str | None = None
    idempotency_key: str | None = None
    api_version: str = DEFAULT_API_VERSION
    method: str = "GET"
    path: str = ""
    emitted: list[JSONDict] = field(default_factory=list)
    # While set, an event for which it returns False is not recorded (the
    # engine's pending updates drop the subscription changes a failed payment
    # keeps from happening).
    event_filter: Callable[[str, JSONDict], bool] | None = None

    @property
    def store(self) -> Store:
        return self.app.store

    # -- time ----------------------------------------------------------------

    def now(self) -> int:
        """Real wall-clock time (for objects not on a test clock)."""
        return real_now()

    def now_for_clock(self, clock_id: str | None) -> int:
        if not clock_id:
            return real_now()
        clock = self.store.get(clock_id)
        if clock is None or clock.get("deleted"):
            return real_now()
        return int(clock["frozen_time"])

    def now_for_customer(self, customer: str | JSONDict | None) -> int:
        """Business time for a customer (its test clock's time, if any)."""
        if isinstance(customer, str):
            customer = self.store.get(customer)
        if not customer:
            return real_now()
        clock = customer.get("test_clock")
        if isinstance(clock, dict):
            clock = clock.get("id")
        return self.now_for_clock(clock if isinstance(clock, str) else None)

    # -- storage -------------------------------------------------------------

    def get(self, object_type: str, object_id: str, *, param: str = "id") -> JSONDict:
        """Load an object of `object_type` or raise Stripe's 404 resource_missing."""
        obj = self.store.get_typed(object_type, object_id)
        if obj is None:
            raise resource_missing(_label(object_type), object_id, param=param)
        return obj

    def find(self, object_type: str, object_id: str) -> JSONDict | None:
        return self.store.get_typed(object_type, object_id)

    def save(self, obj: JSONDict) -> JSONDict:
        return self.store.put(obj)

    # -- events --------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: JSONDict,
        *,
        previous: JSONDict | None = None,
        automatic: bool = False,
        created: int | None = None,
    ) -> JSONDict:
        """Record an Event for `obj` and queue its webhook deliveries.

        `previous` is the object before the change: the event then carries
        `data.previous_attributes` (the changed fields' old values).
        `automatic=True` marks events not caused by this request (renewals,
        clock advancement): their `request` is null as on Stripe.
        """
        if self.event_filter is not None and not self.event_filter(event_type, obj):
            return {}
        request = (
            None
            if automatic or self.request_id is None
            else {"id": self.request_id, "idempotency_key": self.idempotency_key}
        )
        evt = events.record(
            self,
            event_type,
            json.loads(json.dumps(obj)),  # a deep copy; much faster than copy.deepcopy
            previous=previous,
            request=request,
            created=created if created is not None else self.now_for_object(obj),
        )
        self.emitted.append(evt)
        return evt

    def now_for_object(self, obj: JSONDict) -> int:
        clock = obj.get("test_clock")
        if isinstance(clock, dict):
            clock = clock.get("id")
        if isinstance(clock, str):
            return self.now_for_clock(clock)
        customer = obj.get("customer")
        if isinstance(customer, str | dict) and obj.get("object") != "customer":
            return self.now_for_customer(customer)
        return real_now()


_LABELS = {
    "test_helpers.test_clock": "test clock",
    "entitlements.feature": "feature",
    "entitlements.active_entitlement": "active entitlement",
    "checkout.session": "checkout session",
    "billing_portal.configuration": "configuration",
    "billing_portal.session": "session",
    "invoiceitem": "invoiceitem",
    "webhook_endpoint": "webhook endpoint",
    "billing.meter": "billing meter",
    "radar.early_fraud_warning": "early_fraud_warning",
}


def _label(object_type: str) -> str:
    return _LABELS.get(object_type, object_type)

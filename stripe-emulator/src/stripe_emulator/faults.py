"""Injected failures for chaos tests, configured through /_emulator/faults/*."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DeliveryFaults:
    duplicate: bool = False  # every successful delivery is sent a second time
    shuffle_window_ms: int = 0  # each delivery waits a random 0..window before its first try
    delay_ms: int = 0  # fixed delay before the first try
    fail_first_attempt: bool = False  # first attempt of each delivery fails without sending

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ApiFault:
    mode: str  # "500", "429", "503", "drop" (before processing) or "drop_after" (after)
    count: int | None = None  # next N matching requests; None = no count limit
    rate: float | None = None  # share of matching requests (0..1)
    route: str | None = None  # regex searched in the request path
    method: str | None = None
    hits: int = 0

    def applies(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.route and not re.search(self.route, path))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Faults:
    delivery: DeliveryFaults = field(default_factory=DeliveryFaults)
    api: list[ApiFault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pick_api_fault(self, method: str, path: str) -> ApiFault | None:
        """The fault to inject into this request, if any (consumes one count)."""
        with self._lock:
            for fault in list(self.api):
                if not fault.applies(method, path):
                    continue
                if fault.rate is not None and random.random() >= fault.rate:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.api.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.api.clear()
            self.delivery = DeliveryFaults()

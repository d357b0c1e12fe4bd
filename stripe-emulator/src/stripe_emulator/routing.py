"""Route registry shared by every resource module.

Resource modules declare endpoints with `@route(...)`; the registry is global
(modules register at import) and `resources/__init__.py` imports them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]
Handler = Callable[..., Any]


@dataclass
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    params: str | None  # name under stripe.params, e.g. "CustomerCreateParams"
    helper: bool  # /_emulator/ test helper: no auth, JSON in and out, no validation
    order: int


ROUTES: list[Route] = []
_PARAM = re.compile(r"\{(\w+)\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts = _PARAM.split(pattern)
    out = ""
    for i, part in enumerate(parts):
        out += f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part)
    return re.compile(f"^{out}$")


def route(method: str, pattern: str, *, params: str | None = None) -> Callable[[Handler], Handler]:
    """Register a Stripe API endpoint.

    The handler is called as `handler(ctx, params, **path_params)` with the
    validated params dict and returns a JSON-able dict (the response object).
    `params` names the SDK TypedDict used for validation; without it only
    `expand` is accepted.
    """

    def deco(fn: Handler) -> Handler:
        ROUTES.append(
            Route(method, pattern, compile_pattern(pattern), fn, params, False, len(ROUTES))
        )
        return fn

    return deco


def helper_route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a test-helper endpoint under /_emulator/ (handler(ctx, body, **path))."""

    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, pattern, compile_pattern(pattern), fn, None, True, len(ROUTES)))
        return fn

    return deco


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    # Literal segments beat placeholders (/v1/customers/search vs /{id}).
    candidates = sorted(ROUTES, key=lambda r: (r.pattern.count("{"), r.order))
    for r in candidates:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m:
            return r, m.groupdict()
    return None

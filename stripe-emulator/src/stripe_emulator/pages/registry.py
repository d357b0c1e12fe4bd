"""The page registry: `@page(method, pattern)`, `PageRequest`, `PageNotFound`.

Kept apart from `pages/__init__.py` (which dispatches to the page modules) so
the page modules import the registry without importing the package that
imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..routing import Route, compile_pattern

if TYPE_CHECKING:
    from ..response import Response

PageHandler = Callable[..., "Response"]


PAGES: list[Route] = []


@dataclass
class PageRequest:
    """What a page handler gets besides the context."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    base_url: str

    def value(self, key: str, default: str = "") -> str:
        """A form field (POST) or query parameter (GET), stripped."""
        raw = self.form.get(key, self.query.get(key, default))
        return raw.strip()


class PageNotFound(Exception):
    """Raised by a page handler for an unknown object: rendered as a 404 page."""


def page(method: str, pattern: str) -> Callable[[PageHandler], PageHandler]:
    def deco(fn: PageHandler) -> PageHandler:
        PAGES.append(Route(method, pattern, compile_pattern(pattern), fn, None, False, len(PAGES)))
        return fn

    return deco


def match_page(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for r in sorted(PAGES, key=lambda r: (r.pattern.count("{"), r.order)):
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m:
            return r, m.groupdict()
    return None

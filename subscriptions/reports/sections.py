"""Sections that other apps add to the staff billing-health page.

``subscriptions`` sits below the apps that bill for more (usage, credits), so it
cannot name them, not even in a template. An app registers a section in its
``AppConfig.ready`` (a template and a function that returns its context); the
page renders every registered section, in ``order``, without knowing whose it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HealthSection:
    key: str
    template: str
    context: Callable[[], dict[str, Any]]
    order: int = 100


_sections: dict[str, HealthSection] = {}


def health_section_register(
    *, key: str, template: str, context: Callable[[], dict[str, Any]], order: int = 100
) -> None:
    """Add (or replace, by ``key``) a section of the billing-health page."""
    _sections[key] = HealthSection(key=key, template=template, context=context, order=order)


def health_sections_render_context() -> list[dict[str, Any]]:
    """Each registered section's template and context, in order, for the page."""
    return [
        {"key": s.key, "template": s.template, "context": s.context()}
        for s in sorted(_sections.values(), key=lambda s: (s.order, s.key))
    ]

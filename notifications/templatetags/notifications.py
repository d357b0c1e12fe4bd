"""``{% load notifications %}``: the navbar bell's unread count."""

from __future__ import annotations

from typing import Any

from django import template

from .. import selectors

register = template.Library()

_CACHE_ATTR = "_notifications_unread_count"


@register.simple_tag(takes_context=True)
def unread_notification_count(context: dict[str, Any]) -> int:
    """Unread notifications of the request's user: one COUNT per request at most, none
    for anonymous users (the value is kept on the request for later uses)."""
    request = context.get("request")
    if request is None:
        return 0
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = selectors.notification_unread_count(user=request.user)
        setattr(request, _CACHE_ATTR, cached)
    return int(cached)

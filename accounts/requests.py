"""The logged-in user of a request, typed (views behind login_required)."""

from __future__ import annotations

from django.http import HttpRequest

from .models import User


def request_user(request: HttpRequest) -> User:
    """``request.user`` as a ``User``: only for views that require a login."""
    user = request.user
    if not isinstance(user, User):
        raise TypeError("request_user() is for views that require a login")
    return user

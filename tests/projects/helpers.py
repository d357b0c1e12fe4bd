"""Shared helpers for the demo app tests."""

from __future__ import annotations

from typing import Any

from djstripe.models import Subscription

from projects.models import Project
from subscriptions.access.access import Access, access_for, access_invalidate
from tests.billing_helpers import give_plan, personal_team
from tests.factories import make_user


def new_user(**fields: Any) -> Any:
    """A verified user (the caches are emptied before each test, see tests/conftest.py)."""
    return make_user(**fields)


def change_plan(user: Any, lookup_key: str | None) -> Access:
    """Replace the user's subscription (None = back to the free tier) and return the new access."""
    Subscription.objects.filter(customer__subscriber__personal_for=user).delete()
    if lookup_key is None:
        access_invalidate(team=personal_team(user))
    else:
        give_plan(user, lookup_key=lookup_key)
    return access_for(personal_team(user))


def make_projects(user: Any, count: int, *, prefix: str = "Project") -> list[Project]:
    """``count`` projects, oldest first, created directly (the quota is not consulted)."""
    return [
        Project.objects.create(team=personal_team(user), created_by=user, name=f"{prefix} {i}")
        for i in range(1, count + 1)
    ]

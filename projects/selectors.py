"""Reads for the demo app: the user's projects and which of them the plan lets them edit.

Read-only rule: when a user has more projects than their plan's ``projects``
quota (after a downgrade or a lapsed subscription), the oldest ``quota``
projects (by creation time, then id) stay editable and the rest are read-only.
Nothing is deleted; deleting or upgrading brings projects back within quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from subscriptions.access import Access
from subscriptions.catalog import PlanSpec, get_catalog

from .models import ApiToken, Project

QUOTA_NAME = "projects"
# Above this many slots the usage meter is a plain bar instead of one segment per project.
MAX_METER_SLOTS = 12


@dataclass(frozen=True)
class ProjectUsage:
    """How many projects a user has against the plan's limit (None = unlimited)."""

    used: int
    limit: int | None

    @property
    def unlimited(self) -> bool:
        return self.limit is None

    @property
    def at_limit(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.used > self.limit

    @property
    def locked(self) -> int:
        """How many projects are read-only."""
        return 0 if self.limit is None else max(0, self.used - self.limit)

    @property
    def slots(self) -> list[bool]:
        """One flag per project slot (True = used) for small limits; drawn as a meter."""
        if self.limit is None or self.limit > MAX_METER_SLOTS:
            return []
        return [i < self.used for i in range(self.limit)]

    @property
    def percent(self) -> int:
        if self.limit is None:
            return 0
        if self.limit == 0:
            return 100
        return min(100, round(100 * self.used / self.limit))

    @property
    def bar_width_class(self) -> str:
        """A Bootstrap width utility near ``percent`` (inline styles would break a strict CSP)."""
        if self.percent == 0:
            return ""
        return f"w-{min(100, max(25, 25 * round(self.percent / 25)))}"


def projects_for(*, user: Any) -> QuerySet[Project]:
    """The user's projects, oldest first."""
    return Project.objects.filter(owner=user).order_by("created_at", "id")


def project_count(*, user: Any) -> int:
    return Project.objects.filter(owner=user).count()


def project_usage(*, user: Any, access: Access) -> ProjectUsage:
    return ProjectUsage(used=project_count(user=user), limit=access.quota(QUOTA_NAME))


def editable_ids_among(projects: list[Project], *, access: Access) -> frozenset[int]:
    """The read-only rule applied to an already loaded, oldest-first list of all projects."""
    limit = access.quota(QUOTA_NAME)
    within = projects if limit is None else projects[:limit]
    return frozenset(p.pk for p in within)


def project_editable_ids(*, user: Any, access: Access) -> frozenset[int]:
    """Ids of the user's projects that may be edited under ``access`` (one query)."""
    ids = projects_for(user=user).values_list("id", flat=True)
    limit = access.quota(QUOTA_NAME)
    return frozenset(ids if limit is None else ids[:limit])


def project_is_editable(*, project: Project, access: Access) -> bool:
    return project.pk in project_editable_ids(user=project.owner_id, access=access)


def plan_for_more_projects(*, access: Access) -> PlanSpec | None:
    """The cheapest paid plan that allows more projects than the user's plan does."""
    limit = access.quota(QUOTA_NAME)
    if limit is None:
        return None
    candidates = [
        plan
        for plan in get_catalog().paid_plans
        if plan.quota(QUOTA_NAME) is None or (plan.quota(QUOTA_NAME) or 0) > limit
    ]
    return min(candidates, key=lambda p: min(x.amount for x in p.prices), default=None)


def plan_with_feature(feature: str) -> PlanSpec | None:
    return get_catalog().cheapest_plan_with(feature)


def api_token_for(*, user: Any) -> ApiToken | None:
    return ApiToken.objects.filter(owner=user).first()

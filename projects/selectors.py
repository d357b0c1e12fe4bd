"""Reads for the demo app: a team's projects and which of them the plan lets it edit.

Read-only rule: when a team has more projects than its plan's ``projects``
quota (after a downgrade or a lapsed subscription), the oldest ``quota``
projects (by creation time, then id) stay editable and the rest are read-only.
Nothing is deleted; deleting or upgrading brings projects back within quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import F, QuerySet

from subscriptions.access.access import Access
from subscriptions.catalog import PlanSpec, get_catalog

from .models import ApiToken, Project

if TYPE_CHECKING:
    from teams.models import Team

QUOTA_NAME = "projects"
# Above this many slots the usage meter is a plain bar instead of one segment per project.
MAX_METER_SLOTS = 12


@dataclass(frozen=True)
class ProjectUsage:
    """How many projects a team has against the plan's limit (None = unlimited)."""

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


def projects_for(*, team: Team | int) -> QuerySet[Project]:
    """The team's projects (a team or its id), oldest first."""
    return Project.objects.filter(team=team).order_by("created_at", "id")


def project_count(*, team: Team | int) -> int:
    return Project.objects.filter(team=team).count()


def project_usage(*, team: Team, access: Access) -> ProjectUsage:
    """The quota counts per team: every member's projects in it."""
    return ProjectUsage(used=project_count(team=team), limit=access.quota(QUOTA_NAME))


def editable_ids_among(projects: list[Project], *, access: Access) -> frozenset[int]:
    """The read-only rule applied to an already loaded, oldest-first list of all projects."""
    limit = access.quota(QUOTA_NAME)
    within = projects if limit is None else projects[:limit]
    return frozenset(p.pk for p in within)


def project_editable_ids(*, team: Team | int, access: Access) -> frozenset[int]:
    """Ids of the team's projects that may be edited under ``access`` (one query)."""
    ids = projects_for(team=team).values_list("id", flat=True)
    limit = access.quota(QUOTA_NAME)
    return frozenset(ids if limit is None else ids[:limit])


def project_is_editable(*, project: Project, access: Access) -> bool:
    return project.pk in project_editable_ids(team=project.team_id, access=access)


def plan_for_more_projects(*, access: Access) -> PlanSpec | None:
    """The cheapest paid plan that allows more projects than the team's plan does."""
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


def api_token_for(*, team: Team) -> ApiToken | None:
    return ApiToken.objects.filter(team=team).select_related("created_by").first()


def api_token_usable(queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    """Tokens that still act: their creator is active and still a member of their team
    (a member who leaves or is removed takes the token's power with them)."""
    return queryset.filter(
        created_by__is_active=True, created_by__memberships__team=F("team")
    ).select_related("team")

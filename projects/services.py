"""Writes for the demo app. Quotas and read-only projects are enforced here, not in views."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from subscriptions.access.access import Access

from . import selectors
from .models import ApiToken, Project

if TYPE_CHECKING:
    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

# Every token starts with this public marker, so leaked tokens are easy to recognise.
TOKEN_MARKER = "saas_pat_"  # noqa: S105
TOKEN_PREFIX_LENGTH = len(TOKEN_MARKER) + 6
# Writing last_used_at on every API call would make each read a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ProjectError(Exception):
    """A project change the user is not allowed to make; ``str()`` is safe to show."""


class QuotaExceeded(ProjectError):
    def __init__(self, *, limit: int, used: int, plan_name: str) -> None:
        self.limit = limit
        self.used = used
        self.plan_name = plan_name
        super().__init__(
            ngettext(
                "Your %(plan)s plan includes %(limit)d project and you have %(used)d.",
                "Your %(plan)s plan includes %(limit)d projects and you have %(used)d.",
                limit,
            )
            % {"plan": plan_name, "limit": limit, "used": used}
        )


class ProjectLocked(ProjectError):
    def __init__(self, project: Project) -> None:
        self.project = project
        super().__init__(
            _("“%(name)s” is read-only because your plan has fewer projects than you own.")
            % {"name": project.name}
        )


class ProjectNameTaken(ProjectError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(_("This team already has a project called “%(name)s”.") % {"name": name})


def _name_taken(*, team: Team | int, name: str, exclude_pk: int | None = None) -> bool:
    projects = selectors.projects_for(team=team).filter(name__iexact=name)
    if exclude_pk is not None:
        projects = projects.exclude(pk=exclude_pk)
    return projects.exists()


@transaction.atomic
def project_create(
    *, team: Team, user: User, access: Access, name: str, description: str = ""
) -> Project:
    """Create a project in ``team`` if the team's ``projects`` quota allows one more.

    Raises ``QuotaExceeded`` (nothing is created) or ``ProjectNameTaken``.
    """
    from teams.models import Team

    # Serialise creations per team so two concurrent requests (by any members) cannot
    # both pass the quota check (a row lock on PostgreSQL; SQLite serialises writers).
    Team.objects.select_for_update().filter(pk=team.pk).first()
    used = selectors.project_count(team=team)
    if not access.allows(selectors.QUOTA_NAME, used=used):
        limit = access.quota(selectors.QUOTA_NAME)
        assert limit is not None  # allows() only refuses when there is a limit
        logger.info(
            "project quota reached team=%s user=%s plan=%s used=%s limit=%s",
            team.pk,
            user.pk,
            access.plan_key,
            used,
            limit,
        )
        raise QuotaExceeded(limit=limit, used=used, plan_name=access.plan_name)
    name = name.strip()
    if _name_taken(team=team, name=name):
        raise ProjectNameTaken(name)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                team=team, created_by=user, name=name, description=description.strip()
            )
    except IntegrityError as exc:  # a concurrent request took the name
        raise ProjectNameTaken(name) from exc
    logger.info("project created team=%s user=%s project=%s", team.pk, user.pk, project.pk)
    return project


@transaction.atomic
def project_update(*, project: Project, access: Access, name: str, description: str) -> Project:
    """Rename or describe a project. Read-only projects raise ``ProjectLocked``."""
    if not selectors.project_is_editable(project=project, access=access):
        raise ProjectLocked(project)
    name = name.strip()
    if _name_taken(team=project.team_id, name=name, exclude_pk=project.pk):
        raise ProjectNameTaken(name)
    project.name = name
    project.description = description.strip()
    try:
        with transaction.atomic():
            project.save(update_fields=["name", "description", "updated_at"])
    except IntegrityError as exc:
        raise ProjectNameTaken(name) from exc
    return project


def project_delete(*, project: Project) -> None:
    """Delete a project. Always allowed, read-only or not, so users can get back within quota."""
    pk, team_id = project.pk, project.team_id
    project.delete()
    logger.info("project deleted team=%s project=%s", team_id, pk)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the full token; shown to the user once and never stored


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_generate(*, team: Team, user: User) -> IssuedToken:
    """Issue the team's API token (it acts for this team only), replacing any previous one."""
    ApiToken.objects.filter(team=team).delete()
    secret = TOKEN_MARKER + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        team=team,
        created_by=user,
        prefix=secret[:TOKEN_PREFIX_LENGTH],
        key_hash=token_hash(secret),
    )
    logger.info("api token generated team=%s user=%s prefix=%s", team.pk, user.pk, token.prefix)
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, team: Team) -> bool:
    """Delete the team's token; True if there was one."""
    deleted, _counts = ApiToken.objects.filter(team=team).delete()
    if deleted:
        logger.info("api token revoked team=%s", team.pk)
    return bool(deleted)


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The token for ``secret`` (with its team) and note its use, or None when unknown
    or no longer usable (its creator left the team or was deactivated)."""
    if not secret.startswith(TOKEN_MARKER):
        return None
    token = selectors.api_token_usable(ApiToken.objects.filter(key_hash=token_hash(secret))).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- Exports: the plan's limit, then prepaid credits -------------------------------------


@dataclass(frozen=True)
class ExportPayment:
    """How an export was paid: within the plan (``credits`` 0) or with prepaid credits."""

    credits: int = 0
    balance: int | None = None  # the team's credits left after a paid export


class ExportRefused(ProjectError):
    """Past the plan's limit and not enough credits; ``str()`` is safe to show."""


def export_pay(*, team: Team, export_id: str) -> ExportPayment:
    """Count one export against the plan's limit; past it, spend the team's credits.

    An export paid with credits is not recorded on the exports meter: the credits
    paid for it, so it is never billed a second time at the period's end.
    """
    from django.conf import settings

    from usage.credits import InsufficientCredits, credits_spend
    from usage.services import UsageLimitReached, usage_consume

    try:
        usage_consume(team, "exports")
        return ExportPayment()
    except UsageLimitReached as limit:
        cost = settings.CREDITS_PER_EXPORT
        try:
            entry = credits_spend(
                team, cost, _("Export past the plan's limit"), f"export:{export_id}"
            )
        except InsufficientCredits as exc:
            raise ExportRefused(
                _(
                    "%(limit)s Exports past the limit spend %(cost)s prepaid credits each and "
                    "your team has %(balance)s: buy credits to export now."
                )
                % {"limit": limit.user_message, "cost": cost, "balance": f"{exc.balance:,}"}
            ) from exc
        return ExportPayment(credits=cost, balance=entry.balance_after)

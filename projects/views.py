"""The demo app at /t/<slug>/app/: a team's projects counted against its plan, exports
and the team's API token.

The team middleware answered 404 to non-members and set ``request.team``. Views
validate input, call one service or selector and render; quota and read-only
rules live in ``services`` and ``selectors``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.requests import request_user
from accounts.services import onboarding_checklist_hide
from subscriptions.access.access import Access, access_for
from subscriptions.access.gating import FeatureRequiredMixin, feature_required
from usage.credit_selectors import credit_balance
from usage.services import UsageLimitReached, usage_consume, usage_limit_reached

from . import selectors, services
from .exports import projects_csv_write
from .forms import ProjectForm
from .models import Project
from .onboarding import onboarding_checklist
from .selectors import ProjectUsage

if TYPE_CHECKING:
    from teams.models import Membership, Team

API_FEATURE = "api_access"
EXPORTS_FEATURE = "exports"


def _access(request: HttpRequest) -> Access:
    return cast(Access, request.access)  # type: ignore[attr-defined]


def _team(request: HttpRequest) -> Team:
    return cast("Team", request.team)  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return cast("Membership", request.membership)  # type: ignore[attr-defined]


def _to_list(request: HttpRequest) -> HttpResponse:
    return redirect("project_list", team_slug=_team(request).slug)


def _upgrade_context(access: Access) -> dict[str, Any]:
    return {
        "access": access,
        "upgrade_plan": selectors.plan_for_more_projects(access=access),
    }


@verified_email_required
def app_home(request: HttpRequest, team_slug: str) -> HttpResponse:
    access = _access(request)
    usage = selectors.project_usage(team=_team(request), access=access)
    recent = list(selectors.projects_for(team=_team(request)).order_by("-created_at", "-id")[:3])
    # Bounded queries however many projects there are: ids are only needed when some are locked.
    editable = (
        selectors.project_editable_ids(team=_team(request), access=access)
        if usage.over_limit
        else None
    )
    context = {
        **_upgrade_context(access),
        "usage": usage,
        "recent_projects": [(p, editable is not None and p.pk not in editable) for p in recent],
        "exports_plan": selectors.plan_with_feature(EXPORTS_FEATURE),
        "api_plan": selectors.plan_with_feature(API_FEATURE),
        "checklist": onboarding_checklist(
            user=request_user(request),
            team=_team(request),
            membership=_membership(request),
            access=access,
            usage=usage,
            user_team_count=len(request.user_teams()),  # type: ignore[attr-defined]
        ),
    }
    return render(request, "app/home.html", context)


@verified_email_required
@require_POST
def onboarding_hide(request: HttpRequest, team_slug: str) -> HttpResponse:
    onboarding_checklist_hide(user=request_user(request))
    return redirect("app_home", team_slug=_team(request).slug)


@verified_email_required
@require_GET
def project_list(request: HttpRequest, team_slug: str) -> HttpResponse:
    access = _access(request)
    projects = list(selectors.projects_for(team=_team(request)))
    editable = selectors.editable_ids_among(projects, access=access)
    context = {
        **_upgrade_context(access),
        "rows": [(p, p.pk not in editable) for p in projects],
        "usage": ProjectUsage(used=len(projects), limit=access.quota(selectors.QUOTA_NAME)),
    }
    return render(request, "projects/list.html", context)


@verified_email_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest, team_slug: str) -> HttpResponse:
    access = _access(request)
    usage = selectors.project_usage(team=_team(request), access=access)
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                team=_team(request),
                user=request_user(request),
                access=access,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except services.QuotaExceeded:
            usage = selectors.project_usage(team=_team(request), access=access)
        except services.ProjectNameTaken as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, _("Project “%(name)s” created.") % {"name": project.name})
            return _to_list(request)
    return render(
        request,
        "projects/form.html",
        {**_upgrade_context(access), "form": form, "usage": usage, "creating": True},
    )


def _locked_response(request: HttpRequest, project: Project, access: Access) -> HttpResponse:
    usage = selectors.project_usage(team=_team(request), access=access)
    return render(
        request,
        "projects/locked.html",
        {**_upgrade_context(access), "project": project, "usage": usage},
        status=403,
    )


@verified_email_required
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    project = get_object_or_404(selectors.projects_for(team=_team(request)), pk=pk)
    access = _access(request)
    if not selectors.project_is_editable(project=project, access=access):
        return _locked_response(request, project, access)
    form = ProjectForm(
        request.POST if request.method == "POST" else None,
        initial={"name": project.name, "description": project.description},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(
                project=project,
                access=access,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except services.ProjectLocked:
            return _locked_response(request, project, access)
        except services.ProjectNameTaken as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, _("Project “%(name)s” saved.") % {"name": project.name})
            return _to_list(request)
    return render(
        request,
        "projects/form.html",
        {**_upgrade_context(access), "form": form, "project": project, "creating": False},
    )


@verified_email_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    project = get_object_or_404(selectors.projects_for(team=_team(request)), pk=pk)
    if request.method == "POST":
        name = project.name
        services.project_delete(project=project)
        messages.success(request, _("Project “%(name)s” deleted.") % {"name": name})
        return _to_list(request)
    return render(request, "projects/delete.html", {"project": project})


@verified_email_required
@feature_required(EXPORTS_FEATURE)
@require_GET
def exports(request: HttpRequest, team_slug: str) -> HttpResponse:
    access = _access(request)
    team = _team(request)
    usage = selectors.project_usage(team=team, access=access)
    context = {
        "access": access,
        "usage": usage,
        # Past the plan's export limit, each export spends prepaid credits.
        "limit_reached": usage_limit_reached(team, "exports"),
        "credit_balance": credit_balance(team_id=team.pk),
        "credits_per_export": settings.CREDITS_PER_EXPORT,
    }
    return render(request, "projects/exports.html", context)


@verified_email_required
@feature_required(EXPORTS_FEATURE)
@require_GET
def export_projects_csv(request: HttpRequest, team_slug: str) -> HttpResponse:
    access = _access(request)
    try:
        paid = services.export_pay(team=_team(request), export_id=uuid.uuid4().hex)
    except services.ExportRefused as exc:
        messages.error(request, str(exc))
        return redirect("exports", team_slug=_team(request).slug)
    if paid.credits:
        # Shown on the next page the user opens (the download itself is not a page).
        messages.info(
            request,
            _("This export spent %(credits)s credits; %(balance)s left.")
            % {"credits": paid.credits, "balance": f"{paid.balance or 0:,}"},
        )
    projects = list(selectors.projects_for(team=_team(request)))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="projects.csv"'
    add_never_cache_headers(response)
    projects_csv_write(
        response, projects, editable_ids=selectors.editable_ids_among(projects, access=access)
    )
    return response


@method_decorator(verified_email_required, name="dispatch")
class ApiAccessView(FeatureRequiredMixin, View):
    """Show, generate and revoke the team's API token (owners and admins). The secret is
    shown once."""

    required_feature = API_FEATURE
    template_name = "projects/api.html"
    http_method_names = ["get", "post"]

    def _render(self, request: HttpRequest, **extra: Any) -> HttpResponse:
        context = {
            "token": selectors.api_token_for(team=_team(request)),
            "can_manage": _membership(request).manages_billing,
            "api_url": request.build_absolute_uri(reverse("api_projects")),
            **extra,
        }
        response = render(request, self.template_name, context)
        add_never_cache_headers(response)
        return response

    def get(self, request: HttpRequest, team_slug: str) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest, team_slug: str) -> HttpResponseBase:
        if not _membership(request).manages_billing:
            raise PermissionDenied("Only the team's owners and admins manage its API token.")
        action = request.POST.get("action")
        if action == "generate":
            issued = services.api_token_generate(team=_team(request), user=request_user(request))
            # Rendered, not redirected: the secret must not be stored anywhere to show it later.
            return self._render(request, new_secret=issued.secret)
        if action == "revoke":
            if services.api_token_revoke(team=_team(request)):
                messages.success(request, _("The team's API token was revoked."))
            return redirect("api_access", team_slug=_team(request).slug)
        return HttpResponse(_("Unknown action."), status=400)


def _api_error(status: int, error: str, message: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"error": error, "message": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@require_GET
def api_projects(request: HttpRequest) -> JsonResponse:
    """``GET /app/api/v1/projects`` with ``Authorization: Bearer <token>``."""
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    token = (
        services.api_token_authenticate(secret=secret.strip())
        if scheme.lower() == "bearer" and secret.strip()
        else None
    )
    if token is None:
        response = _api_error(401, "invalid_token", _("A valid API token is required."))
    else:
        team = token.team  # the token acts for this team only
        access = access_for(team)
        if not access.has(API_FEATURE):
            plan = selectors.plan_with_feature(API_FEATURE)
            message = (
                _("API access is part of the %(plan)s plan. Upgrade to unlock it.")
                % {"plan": plan.name}
                if plan
                else _("Your plan does not include API access.")
            )
            response = _api_error(
                403,
                "upgrade_required",
                message,
                feature=API_FEATURE,
                plan=plan.key if plan else None,
            )
        else:
            response = _api_projects_metered(team, access)
    add_never_cache_headers(response)
    patch_vary_headers(response, ["Authorization"])
    return response


def _api_projects_metered(team: Team, access: Access) -> JsonResponse:
    """The projects, as one metered API call (429 past the plan's hard limit)."""
    try:
        usage_consume(team, "api_calls")
    except UsageLimitReached as exc:
        return _api_error(
            429,
            "usage_limit_reached",
            exc.user_message,
            meter=exc.meter,
            limit=exc.limit,
            resets_at=exc.period_end.isoformat(),
        )
    projects = list(selectors.projects_for(team=team))
    editable = selectors.editable_ids_among(projects, access=access)
    limit = access.quota(selectors.QUOTA_NAME)
    return JsonResponse(
        {
            "projects": [
                {
                    "id": p.pk,
                    "name": p.name,
                    "description": p.description,
                    "created_at": p.created_at.isoformat(),
                    "updated_at": p.updated_at.isoformat(),
                    "read_only": p.pk not in editable,
                }
                for p in projects
            ],
            "usage": {"used": len(projects), "limit": limit},
        }
    )

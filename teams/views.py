"""Team pages: create, settings, members, invitations, and the invitation link.

Team pages (``/t/<slug>/...``) come after the team middleware's membership check
(404 for non-members). Every rule (who may do what, the last owner) is in
``services``; a refused action becomes a message, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from allauth.account.decorators import verified_email_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.requests import request_user

from . import selectors, services
from .forms import InvitationForm, TeamCreateForm, TeamUpdateForm
from .models import Invitation, Membership, Team
from .receivers import PENDING_INVITATION_SESSION_KEY

if TYPE_CHECKING:
    from accounts.models import User


def _membership(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _user(request: HttpRequest) -> User:
    return request_user(request)


def _to_settings(team: Team) -> HttpResponse:
    return redirect("team_settings", team_slug=team.slug)


def _attempt(request: HttpRequest, action: Callable[[], object], success: str) -> bool:
    """Run a service call; its refusal (``TeamError``) becomes an error message."""
    try:
        action()
    except services.TeamError as exc:
        messages.error(request, str(exc))
        return False
    messages.success(request, success)
    return True


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    """The user's teams and a form to create one."""
    form = TeamCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(owner=_user(request), name=form.cleaned_data["name"])
        messages.success(request, _("Team “%(name)s” created.") % {"name": team.name})
        return _to_settings(team)
    memberships = Membership.objects.filter(user=_user(request)).select_related("team")
    return render(request, "teams/list.html", {"memberships": memberships, "form": form})


@verified_email_required
@require_GET
def team_settings(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = _membership(request)
    team = membership.team
    context = {
        "team": team,
        "membership": membership,
        "can_manage": membership.manages_billing,
        "is_owner": membership.role == Membership.Role.OWNER,
        "members": selectors.memberships_of_team(team=team),
        "invitations": selectors.invitations_open(team=team) if membership.manages_billing else [],
        "roles": Membership.Role.choices,
        "update_form": TeamUpdateForm(initial={"name": team.name, "billing_email": team.email}),
        "invite_form": InvitationForm(),
    }
    return render(request, "teams/settings.html", context)


@verified_email_required
@require_POST
def team_update(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = _membership(request)
    form = TeamUpdateForm(request.POST)
    if form.is_valid():
        _attempt(
            request,
            lambda: services.team_update(
                actor=membership,
                name=form.cleaned_data["name"],
                billing_email=form.cleaned_data["billing_email"],
            ),
            _("Team settings saved."),
        )
    else:
        messages.error(request, _("Enter a name and a valid billing email."))
    return _to_settings(membership.team)


def _member(request: HttpRequest, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("team", "user"), pk=pk, team=_membership(request).team
    )


@verified_email_required
@require_POST
def member_role(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    actor = _membership(request)
    target = _member(request, pk)
    role = request.POST.get("role", "")
    _attempt(
        request,
        lambda: services.membership_role_change(actor=actor, target=target, role=role),
        _("Role changed."),
    )
    return _to_settings(actor.team)


@verified_email_required
@require_POST
def member_remove(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    actor = _membership(request)
    target = _member(request, pk)
    _attempt(
        request,
        lambda: services.membership_remove(actor=actor, target=target),
        _("%(email)s was removed from the team.") % {"email": target.user.email},
    )
    return _to_settings(actor.team)


@verified_email_required
@require_POST
def team_transfer(request: HttpRequest, team_slug: str) -> HttpResponse:
    actor = _membership(request)
    target = _member(request, int(request.POST.get("membership") or 0))
    _attempt(
        request,
        lambda: services.team_ownership_transfer(actor=actor, to=target),
        _("%(email)s is now an owner; you are an admin.") % {"email": target.user.email},
    )
    return _to_settings(actor.team)


@verified_email_required
@require_POST
def team_leave(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = _membership(request)
    if _attempt(
        request,
        lambda: services.team_leave(membership=membership),
        _("You left %(team)s.") % {"team": membership.team.name},
    ):
        return redirect("team_list")
    return _to_settings(membership.team)


@verified_email_required
@require_POST
def team_delete(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = _membership(request)
    team = membership.team
    if request.POST.get("confirm_slug") != team.slug:
        messages.error(request, _("Type the team's address to confirm."))
        return _to_settings(team)
    ok = _attempt(
        request,
        lambda: services.team_delete(actor=membership),
        _("Team “%(name)s” deleted; its subscription was canceled.") % {"name": team.name},
    )
    return redirect("team_list") if ok else _to_settings(team)


@verified_email_required
@require_POST
def invitation_create(request: HttpRequest, team_slug: str) -> HttpResponse:
    actor = _membership(request)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a valid email address and role."))
        return _to_settings(actor.team)
    email = form.cleaned_data["email"]
    _attempt(
        request,
        lambda: services.invitation_create(
            actor=actor, email=email, role=form.cleaned_data["role"]
        ),
        _("Invitation sent to %(email)s.") % {"email": email},
    )
    return _to_settings(actor.team)


def _invitation(request: HttpRequest, pk: int) -> Invitation:
    return get_object_or_404(Invitation, pk=pk, team=_membership(request).team)


@verified_email_required
@require_POST
def invitation_resend(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    actor = _membership(request)
    invitation = _invitation(request, pk)
    _attempt(
        request,
        lambda: services.invitation_resend(actor=actor, invitation=invitation),
        _("Invitation sent again to %(email)s; the earlier link no longer works.")
        % {"email": invitation.email},
    )
    return _to_settings(actor.team)


@verified_email_required
@require_POST
def invitation_revoke(request: HttpRequest, team_slug: str, pk: int) -> HttpResponse:
    actor = _membership(request)
    invitation = _invitation(request, pk)
    _attempt(
        request,
        lambda: services.invitation_revoke(actor=actor, invitation=invitation),
        _("Invitation to %(email)s revoked.") % {"email": invitation.email},
    )
    return _to_settings(actor.team)


def _joined_with(request: HttpRequest, token: str) -> Team | None:
    """The team this user joined with ``token``, if they did."""
    if not request.user.is_authenticated:
        return None
    accepted = (
        Invitation.objects.filter(
            token_hash=services.invitation_token_hash(token), accepted_by=_user(request)
        )
        .select_related("team")
        .first()
    )
    return accepted.team if accepted is not None else None


def pending_invitation_url(request: HttpRequest) -> str | None:
    """After login: back to the invitation followed before signing up (LOGIN_CONTINUATIONS).

    It was accepted on verification, or is accepted there once logged in with the invited
    address.
    """
    token = request.session.get(PENDING_INVITATION_SESSION_KEY)
    return reverse("team_invitation", kwargs={"token": token}) if token else None


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation email: accept or decline.

    A visitor is sent to sign up (or log in) with the token kept in the session; once
    the invited address is verified the invitation is accepted (``receivers``). The
    token must match a verified email of the user who accepts it.
    """
    try:
        found = services.invitation_by_token(token=token)
    except services.InvitationInvalid as exc:
        joined = _joined_with(request, token)
        if joined is not None:  # this user accepted it already (e.g. on verifying the email)
            return redirect("app_home", team_slug=joined.slug)
        return render(request, "teams/invitation.html", {"error": str(exc)}, status=404)
    if request.method == "GET":
        if not request.user.is_authenticated:
            # Signup or login come back here (accounts.adapter), and verifying the
            # invited address accepts it (receivers.on_email_confirmed).
            request.session[PENDING_INVITATION_SESSION_KEY] = token
        signup_url = reverse("account_signup")
        login_url = reverse("account_login")
        return render(
            request,
            "teams/invitation.html",
            {"invitation": found, "signup_url": signup_url, "login_url": login_url},
        )
    if request.POST.get("action") == "decline":
        services.invitation_decline(token=token)
        messages.info(request, _("Invitation declined."))
        return redirect("home")
    if not request.user.is_authenticated:
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        return redirect("account_login")
    try:
        membership = services.invitation_accept(user=_user(request), token=token)
    except services.TeamError as exc:
        return render(
            request, "teams/invitation.html", {"invitation": found, "error": str(exc)}, status=403
        )
    request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
    messages.success(request, _("You joined %(team)s.") % {"team": membership.team.name})
    return redirect("app_home", team_slug=membership.team.slug)

"""A user's whole account: download the data, delete the account.

Both are behind allauth's reauthentication (``reauthentication_required``): the
password (or a second factor) is asked again unless it was confirmed in the last
few minutes (``ACCOUNT_REAUTHENTICATION_TIMEOUT``).
Neither is offered while staff impersonate the user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.requests import request_user
from teams.services import TeamError

from . import exports, services


def not_while_impersonating(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """404 while staff work as the user: the account is the user's to take or close."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.session.get("hijack_history"):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@login_required
@not_while_impersonating
@reauthentication_required
@require_http_methods(["GET", "POST"])
def account_export(request: HttpRequest) -> HttpResponse:
    """GET: what the download holds. POST: the JSON file."""
    if request.method == "GET":
        return render(request, "support/account_export.html")
    data = exports.user_data_export(user=request_user(request))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="my-data-{stamp}.json"'
    return response


@never_cache
@login_required
@not_while_impersonating
@reauthentication_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    """GET: the consequences and a form. POST (the email typed again): delete."""
    user = request_user(request)
    blocking = services.teams_blocking_account_delete(user=user)
    context = {"blocking": blocking}
    if request.method == "GET":
        return render(request, "support/account_delete.html", context)
    if request.POST.get("confirm_email", "").strip().lower() != user.email.lower():
        messages.error(request, _("Type your email address to confirm."))
        return render(request, "support/account_delete.html", context, status=400)
    try:
        services.account_delete(user=user)
    except services.AccountDeleteRefused as exc:
        messages.error(request, str(exc))
        return render(request, "support/account_delete.html", context, status=409)
    except TeamError as exc:  # e.g. Stripe unavailable: the subscription could not be canceled
        messages.error(request, str(exc))
        return render(request, "support/account_delete.html", context, status=503)
    logout(request)
    messages.success(request, _("Your account was deleted. A confirmation is on its way."))
    return redirect("home")

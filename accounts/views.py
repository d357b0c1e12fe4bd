"""Account settings pages that are not allauth's own (allauth has email and password)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .forms import ProfileForm
from .requests import request_user


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The user's name (the email is on allauth's email page)."""
    form = ProfileForm(request.POST or None, instance=request_user(request))
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Profile saved."))
        return redirect("account_profile")
    return render(request, "account/profile.html", {"form": form})

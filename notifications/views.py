"""The notifications page: list, mark read, mark all read and the receipts preference."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import request_user

from . import selectors, services

PAGE_SIZE = 20


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page the form was on (same site only), else the list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(reverse("notifications:list"))


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_for(user=request_user(request)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "notifications": page.object_list,
        "preferences": selectors.notification_preferences_get(user=request_user(request)),
    }
    return render(request, "notifications/list.html", context)


@require_POST
@login_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(selectors.notifications_for(user=request_user(request)), pk=pk)
    services.notification_mark_read(notification=notification)
    return _back(request)


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_all_read(user=request_user(request))
    if count:
        messages.success(request, _("All notifications are marked as read."))
    return _back(request)


@require_POST
@login_required
def preferences_update(request: HttpRequest) -> HttpResponse:
    email_receipts = request.POST.get("email_receipts") == "on"
    services.notification_preferences_update(
        user=request_user(request), email_receipts=email_receipts
    )
    if email_receipts:
        messages.success(request, _("Payment receipts will be emailed to you."))
    else:
        messages.success(
            request,
            _("Receipts are no longer emailed. Payment problems are always emailed."),
        )
    return redirect(reverse("notifications:list"))

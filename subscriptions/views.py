"""Billing pages. Plans, checkout and the portal arrive with the billing issue."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def pricing(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/pricing.html")


@login_required
def billing(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/billing.html")

"""Site pages that belong to no app."""

from __future__ import annotations

from allauth.account.decorators import verified_email_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/home.html")


@verified_email_required
def app_home(request: HttpRequest) -> HttpResponse:
    return render(request, "app/home.html")

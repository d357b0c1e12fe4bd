from __future__ import annotations

from django.urls import path

from . import views

# Mounted under /accounts/ beside allauth's pages.
urlpatterns = [
    path("export/", views.account_export, name="account_export"),
    path("delete/", views.account_delete, name="account_delete"),
]

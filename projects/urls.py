"""The demo app, a team's: mounted under /t/<slug:team_slug>/app/ by saas/urls.py.

URL names are global (no namespace) so ``app_home`` keeps working; the same names
without a team (``/app/...``, from before teams) redirect to the current team's page.
"""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.app_home, name="app_home"),
    path("checklist/hide/", views.onboarding_hide, name="onboarding_hide"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("projects/<int:pk>/delete/", views.project_delete, name="project_delete"),
    path("exports/", views.exports, name="exports"),
    path("exports/projects.csv", views.export_projects_csv, name="export_projects_csv"),
    path("api/", views.ApiAccessView.as_view(), name="api_access"),
]

# The token says which team it acts for: the API has no team in its URL.
api_urlpatterns = [
    path("api/v1/projects", views.api_projects, name="api_projects"),
]

legacy_routes = [
    ("", "app_home"),
    ("projects/", "project_list"),
    ("projects/new/", "project_create"),
    ("projects/<int:pk>/edit/", "project_edit"),
    ("projects/<int:pk>/delete/", "project_delete"),
    ("exports/", "exports"),
    ("exports/projects.csv", "export_projects_csv"),
    ("api/", "api_access"),
]

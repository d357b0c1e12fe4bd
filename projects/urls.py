"""The demo app under /app/. URL names are global (no namespace) so ``app_home`` keeps working."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.app_home, name="app_home"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("projects/<int:pk>/delete/", views.project_delete, name="project_delete"),
    path("exports/", views.exports, name="exports"),
    path("exports/projects.csv", views.export_projects_csv, name="export_projects_csv"),
    path("api/", views.ApiAccessView.as_view(), name="api_access"),
    path("api/v1/projects", views.api_projects, name="api_projects"),
]

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class SaasAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose ``admin.site`` is ours (saas/admin.py: the index's sections)."""

    default_site = "saas.admin.SaasAdminSite"

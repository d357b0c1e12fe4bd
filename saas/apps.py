from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class SaasAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose ``admin.site`` is ours (``saas.admin.SaasAdminSite``)."""

    default_site = "saas.admin.SaasAdminSite"

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SaasConfig(AppConfig):
    """The project package as an app: its ``migrate`` command upgrades databases
    that predate teams (``saas/management/commands/migrate.py``)."""

    name = "saas"
    default = True


class SaasAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` whose ``admin.site`` is ours (``saas.admin.SaasAdminSite``).

    Installed by its dotted path; not the default config of the ``saas`` app.
    """

    default = False
    default_site = "saas.admin.SaasAdminSite"

"""The admin site: the apps staff open daily first, the rest one click away.

dj-stripe registers 40 mirrored Stripe models and django-celery-beat five; listed
alphabetically they made the admin index several screens long, with the billing
tables staff need at the bottom. The index and the sidebar list the sections in
``SECTION_ORDER`` and, for dj-stripe and celery-beat, only the models in
``INDEX_MODELS``; every model stays registered, and each app's own page
(``/admin/djstripe/``, ``/admin/django_celery_beat/``) lists all of them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

# Sections in the order staff use them; apps not named here follow alphabetically.
SECTION_ORDER = (
    "subscriptions",
    "accounts",
    "djstripe",
    "notifications",
    "projects",
    "django_celery_beat",
)
# allauth's email addresses and MFA authenticators, and Django's groups, are about
# the user: shown in the Accounts section (their own app pages still list them).
MERGED_INTO_ACCOUNTS = ("account", "mfa", "auth")
# Apps whose index section lists only these models (by object name), in this order.
INDEX_MODELS = {
    "djstripe": (
        "Customer",
        "Subscription",
        "Invoice",
        "Charge",
        "Refund",
        "Dispute",
        "PaymentMethod",
        "Session",
        "Product",
        "Price",
        "Coupon",
        "PromotionCode",
        "Event",
        "WebhookEndpoint",
        "WebhookEventTrigger",
    ),
    "django_celery_beat": ("PeriodicTask",),
}
SECTION_NAMES = {"djstripe": "Stripe (mirror)", "django_celery_beat": "Periodic tasks"}


class SaasAdminSite(admin.AdminSite):
    site_header = site_title = "SaaS admin"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list  # an app's own page lists every model it has
        return index_sections(app_list)


def index_sections(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index's sections: merged, trimmed to ``INDEX_MODELS`` and ordered."""
    apps = {app["app_label"]: app for app in app_list}
    accounts = apps.get("accounts")
    if accounts is not None:
        for label in MERGED_INTO_ACCOUNTS:
            merged = apps.pop(label, None)
            if merged is not None:
                accounts["models"] = accounts["models"] + merged["models"]
    for label, keep in INDEX_MODELS.items():
        app = apps.get(label)
        if app is None:
            continue
        app["models"] = _models_in_order(app["models"], keep)
    for label, name in SECTION_NAMES.items():
        if label in apps:
            apps[label]["name"] = name

    def position(app: dict[str, Any]) -> tuple[int, str]:
        label = app["app_label"]
        rank = SECTION_ORDER.index(label) if label in SECTION_ORDER else len(SECTION_ORDER)
        return rank, app["name"].lower()

    return sorted(apps.values(), key=position)


def _models_in_order(models: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The models named in ``names``, in that order (others are left to the app's page)."""
    by_name = {model["object_name"]: model for model in models}
    return [by_name[name] for name in names if name in by_name]

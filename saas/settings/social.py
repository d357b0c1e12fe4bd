"""Optional social login: allauth providers named in the environment.

``SOCIAL_LOGIN_PROVIDERS=google,github`` turns on those allauth providers; each
needs ``SOCIAL_<PROVIDER>_CLIENT_ID`` and ``SOCIAL_<PROVIDER>_SECRET`` (the OAuth
app's credentials, created on the provider's developer site with the callback
``<SITE_URL>/accounts/<provider>/login/callback/``). The credentials live in
settings (allauth's settings-based apps), never in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.util import find_spec
from typing import Any

from django.core.exceptions import ImproperlyConfigured

PROVIDER_PACKAGE = "allauth.socialaccount.providers"


def social_provider_apps(providers: Iterable[str]) -> list[str]:
    """The INSTALLED_APPS entries of the named providers; an unknown name is an error."""
    apps = []
    for provider in providers:
        module = f"{PROVIDER_PACKAGE}.{provider}"
        if not provider.isidentifier() or find_spec(module) is None:
            raise ImproperlyConfigured(
                f"SOCIAL_LOGIN_PROVIDERS names {provider!r}, which is not an allauth provider "
                f"(expected a module {module})."
            )
        apps.append(module)
    return apps


def social_provider_settings(
    providers: Iterable[str], read: Callable[[str], str]
) -> dict[str, dict[str, Any]]:
    """SOCIALACCOUNT_PROVIDERS for the named providers, credentials read with ``read``."""
    configured: dict[str, dict[str, Any]] = {}
    for provider in providers:
        prefix = f"SOCIAL_{provider.upper()}_"
        client_id, secret = read(f"{prefix}CLIENT_ID"), read(f"{prefix}SECRET")
        if not client_id or not secret:
            raise ImproperlyConfigured(
                f"Social login with {provider} needs {prefix}CLIENT_ID and {prefix}SECRET."
            )
        configured[provider] = {"APPS": [{"client_id": client_id, "secret": secret}]}
    return configured

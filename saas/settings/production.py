"""Production settings: gunicorn, the Celery containers and `check --deploy`.

Refuses to start without the variables a real deployment cannot guess.
"""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from saas.checks import stripe_emulator_in_production

from .base import *  # noqa: F403
from .base import SITE_URL, STRIPE_API_BASE, STRIPE_EMULATOR, env

_REQUIRED = ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL")
_problems: list[str] = []
_missing = [name for name in _REQUIRED if not env.str(name, default="")]
if _missing:
    _problems.append(
        "Production settings need these environment variables: "
        + ", ".join(_missing)
        + " (see .env.example)."
    )
# Without a key base.py points Stripe at the offline emulator with a dummy key: in
# production that would take no money and tell nobody. A staging site may run on the
# emulator, but only when it says so and names the emulator's address.
STRIPE_EMULATOR_IN_PRODUCTION = env.bool("STRIPE_EMULATOR_IN_PRODUCTION", default=False)
if STRIPE_EMULATOR and not (
    STRIPE_EMULATOR_IN_PRODUCTION and env.str("STRIPE_API_BASE", default="")
):
    _problems.append(
        "Production settings need STRIPE_SECRET_KEY (sk_test_... or sk_live_...): without "
        "it billing would go to the offline Stripe emulator. For a staging site that "
        "must use the emulator, set STRIPE_EMULATOR_IN_PRODUCTION=true and "
        "STRIPE_API_BASE to the emulator's URL."
    )
# Stripe's return URLs, the webhook endpoint and every email link are built on it.
_site = urlsplit(SITE_URL)
if _site.scheme != "https" or not _site.hostname:
    _problems.append(
        f"SITE_URL must be the site's public https:// address, not {SITE_URL!r}: "
        "Stripe redirects, the webhook endpoint and email links are built from it."
    )
if _problems:
    raise ImproperlyConfigured(" ".join(_problems))

if STRIPE_EMULATOR:
    warnings.warn(
        f"STRIPE_EMULATOR_IN_PRODUCTION: billing goes to the Stripe emulator at "
        f"{STRIPE_API_BASE}, not to Stripe. No real payment will be taken.",
        RuntimeWarning,
        stacklevel=1,
    )
    # And saas.W001 from `manage.py check`, `migrate` and every other command that checks.
    checks.register(stripe_emulator_in_production, checks.Tags.security)

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# HTTPS behind a proxy that sets X-Forwarded-Proto (docker/compose.yaml, any PaaS).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# /healthz and /readyz are probed over plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
# X-Content-Type-Options, Referrer-Policy, X-Frame-Options and the
# Content-Security-Policy come from base.py.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
vars().update(EMAIL_CONFIG)

LOG_JSON = env.bool("LOG_JSON", default=True)
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_JSON else "text"  # type: ignore[index]  # noqa: F405

"""Settings for pytest.

Uses DATABASE_URL / REDIS_URL when they are set (CI points them at the local
PostgreSQL and Redis). Without REDIS_URL a private Redis server is started for
the test run, so the suite talks to a real Redis either way.
"""

from __future__ import annotations

import os
import re

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, env

DEBUG = False
# The social login tests drive allauth's GitHub provider against a local fake
# GitHub (tests/accounts/test_social_login.py); without credentials it shows nowhere.
INSTALLED_APPS = [*INSTALLED_APPS, "allauth.socialaccount.providers.github"]  # noqa: F405
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789-abcdefghij"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if not env.str("REDIS_URL", default=""):
    from saas.devtools.redis_server import start_ephemeral_redis

    # Exported so Celery workers started by the tests share this server.
    os.environ["REDIS_URL"] = start_ephemeral_redis()
REDIS_URL = os.environ["REDIS_URL"]
# The cache gets a Redis database of its own so tests can clear it without
# touching Celery's queues.
CACHE_REDIS_URL = re.sub(r"/\d*$", "", REDIS_URL.rstrip("/")) + "/3"
CACHES = {
    "default": {
        "BACKEND": "saas.cache.ResilientRedisCache",
        "LOCATION": CACHE_REDIS_URL,
        # One prefix per run: tests never see a previous run's rate limits or cache.
        # Exported, so the Celery workers a test starts share it (the webhook
        # dispatch flag is set by the intake and cleared by a worker).
        "KEY_PREFIX": os.environ.setdefault("TEST_CACHE_PREFIX", f"test-{os.getpid()}"),
        "OPTIONS": CACHES["default"]["OPTIONS"],  # noqa: F405 (the timeouts of base)
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so that Celery worker processes see the test data;
    # one per pytest process so that concurrent runs do not share it.
    # TEST_DB_NAME pins it, e.g. for `pytest --reuse-db` while developing.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TEST_DB_NAME")
        or str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")
    }

# The in-process emulator logs every webhook attempt; tests only need its warnings.
LOGGING["loggers"]["stripe_emulator"] = {"level": "WARNING"}  # type: ignore[index]  # noqa: F405

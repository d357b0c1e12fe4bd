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

# pytest-xdist runs the suite in several worker processes (gw0, gw1, ...). The
# controller process imports these settings too, and its workers inherit its
# environment, so each worker gives itself its own Redis (server, or database
# numbers on a given server), cache prefix and Celery queues here; the Celery
# workers a test starts inherit the xdist worker's environment and keep them.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# Which pytest process the exported REDIS_URL and TEST_CACHE_PREFIX were made for:
# unset in the first process, the xdist worker's id once a worker made its own.
_SETUP_FOR = os.environ.get("TEST_SETTINGS_FOR")
_INHERITED = _SETUP_FOR is not None and _SETUP_FOR != XDIST_WORKER


def _redis_db(url: str, db: int) -> str:
    """``url`` with its database number replaced by ``db``."""
    return re.sub(r"/\d*$", "", url.rstrip("/")) + f"/{db}"


def _redis_db_of(url: str) -> int:
    match = re.search(r"/(\d+)$", url.rstrip("/"))
    return int(match.group(1)) if match else 0


# The worker's index offsets the Redis database numbers on a shared server (CI's).
_WORKER_INDEX = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") else 0
# The cache's own database, so tests can clear it without touching Celery's queues
# (a clear empties the whole database, whatever the key prefix).
CACHE_REDIS_DB = 3 + _WORKER_INDEX

if not env.str("REDIS_URL", default="") or (
    _INHERITED and os.environ.get("TEST_REDIS_EPHEMERAL") == "1"
):
    from saas.devtools.redis_server import start_ephemeral_redis

    # Exported so Celery workers started by the tests share this server; an xdist
    # worker starts its own rather than share the controller's.
    os.environ["REDIS_URL"] = start_ephemeral_redis()
    os.environ["TEST_REDIS_EPHEMERAL"] = "1"
elif _INHERITED:
    # A Redis server named by the environment (CI): each xdist worker takes the
    # next database numbers, for its Celery queues and results and for its cache.
    base = _redis_db_of(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = _redis_db(os.environ["REDIS_URL"], (base + _WORKER_INDEX) % 16)
if _INHERITED:
    # One prefix per worker, as per run: a worker never sees another's rate limits.
    os.environ["TEST_CACHE_PREFIX"] = f"test-{os.getpid()}-{XDIST_WORKER}"
os.environ["TEST_SETTINGS_FOR"] = XDIST_WORKER
REDIS_URL = os.environ["REDIS_URL"]
CACHE_REDIS_URL = _redis_db(REDIS_URL, CACHE_REDIS_DB)
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

"""Settings shared by every environment. Everything comes from the environment.

Read by ``local``, ``test`` and ``production``; nothing here is secret and
nothing secret has a default.
"""

from __future__ import annotations

from pathlib import Path

import environ
import stripe
from celery.schedules import crontab
from csp.constants import NONE, SELF
from kombu import Queue

from saas.settings.social import social_provider_apps, social_provider_settings
from saas.stripe_bases import stripe_bases_route

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
# An optional .env file for local overrides; the real environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
SITE_NAME = env("SITE_NAME", default="Acme SaaS")
# Public base URL of the site: used in emails, Stripe redirect URLs and the webhook endpoint.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SITE_ID = 1
# Optional social login: allauth provider ids, e.g. "google,github" (see "Accounts" in the README).
SOCIAL_LOGIN_PROVIDERS: list[str] = env.list("SOCIAL_LOGIN_PROVIDERS", default=[])
SOCIAL_PROVIDER_APPS = social_provider_apps(SOCIAL_LOGIN_PROVIDERS)

INSTALLED_APPS = [
    "saas.apps.SaasAdminConfig",  # django.contrib.admin with our index (saas/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    # third party
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    *SOCIAL_PROVIDER_APPS,
    "djstripe",
    "django_celery_beat",
    "bootstrap",  # Bootstrap 5 static files (django-bootstrap-static), served by whitenoise
    "csp",  # Content-Security-Policy header (django-csp), see "Security headers" below
    "hijack",  # staff impersonation for support (django-hijack); audited by support/
    # ours
    "saas",  # the project: its ``migrate`` command upgrades databases that predate teams
    "accounts",
    "teams",
    "subscriptions",
    "projects",
    "notifications",
    "usage",
    "support",  # account export/deletion, staff customer page, impersonation audit
]

MIDDLEWARE = [
    "saas.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks request.user.is_hijacked and injects the "working as" banner with its stop
    # button (templates/hijack/notification.html).
    "hijack.middleware.HijackUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "teams.middleware.TeamMiddleware",
    "subscriptions.access.gating.AccessMiddleware",
]

ROOT_URLCONF = "saas.urls"
WSGI_APPLICATION = "saas.wsgi.application"
ASGI_APPLICATION = "saas.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "saas.context_processors.site",
                "teams.context_processors.teams",
                "saas.context_processors.billing_banner",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker, beat and webhook deliveries write at the same time:
    # WAL lets readers run beside the writer, IMMEDIATE transactions take the write
    # lock up front (no deadlock on upgrade), and writers wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, result backend and Django cache ----------------------

# `make run` starts a local Redis on 6380 (see saas/devtools/redis_server.py) so it
# never collides with a system Redis on the standard port.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6380/0")

# Seconds a cache call waits for Redis (connect and reply). Pages call the cache,
# so keep it short: while Redis is down the cache serves from process memory
# (saas/cache.py) and a frozen Redis costs one timeout per process every few seconds.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
# The Celery broker and result backend (publish, ack, results): a little longer, as
# the worker treats a timeout as a lost connection.
CELERY_REDIS_SOCKET_TIMEOUT = env.float("CELERY_REDIS_SOCKET_TIMEOUT", default=1.0)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_REDIS_SOCKET_TIMEOUT  # result backend

CACHES = {
    "default": {
        "BACKEND": "saas.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "saas",
        # Passed to redis-py as is (the webhook dispatch flag client reuses them).
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

# --- Security headers -------------------------------------------------------------

# Content-Security-Policy on every response (django-csp 4). Every script and
# stylesheet is a static file of this site (Bootstrap from django-bootstrap-static,
# allauth's and the admin's own scripts; allauth's <script type="application/json">
# blocks are data, not code): no inline script or style, no style="" attribute, no
# CDN. data: images are what Bootstrap's CSS draws its select arrows, check marks,
# navbar toggler and close buttons with, and what allauth's TOTP QR code is.
# No form-action: Checkout and the Customer Portal are a POST here that redirects
# to Stripe, and browsers hold that redirect to form-action too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}
# Django's defaults, stated: X-Content-Type-Options, Referrer-Policy, X-Frame-Options.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Auth and accounts (django-allauth) -----------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
# Impersonation (django-hijack): superusers, or staff with support.impersonate_user;
# only superusers may impersonate staff. Start and stop are POST with CSRF.
HIJACK_PERMISSION_CHECK = "support.permissions.impersonation_allowed"
LOGIN_REDIRECT_URL = "app_home"

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Where a login goes when the visitor started something before signing in: each callable
# takes the request and returns a URL or None; the first URL wins (accounts.adapter).
LOGIN_CONTINUATIONS = [
    "teams.views.pending_invitation_url",  # an invitation followed before signing up
    "subscriptions.views.pending_checkout_url",  # a plan picked before signing up
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# allauth's own rate limits (login failures, signups, password resets) stay on
# their defaults; they are kept in the Redis cache above and counted per client
# address. Behind a proxy REMOTE_ADDR is the proxy, the same for everyone, and ten
# bad passwords a minute from anyone would lock everybody out: give the number of
# proxies in front of the app that append to X-Forwarded-For (1 for the one TLS
# proxy of docker/compose.yaml), or the header your proxy puts the client address
# in (e.g. CF-Connecting-IP). Off by default: a client that reaches the app
# directly can forge both headers.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER: str | None = env("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", default=None)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Social login (optional, saas/settings/social.py): off unless SOCIAL_LOGIN_PROVIDERS
# names providers. A social signup lands in the same flow as a form signup (personal
# team, verified email: the provider's verified address, else allauth's email).
SOCIALACCOUNT_PROVIDERS = social_provider_settings(
    SOCIAL_LOGIN_PROVIDERS, lambda name: env.str(name, default="")
)
# Never join a social login to an existing account on a matching email alone: the
# user logs in with their password and connects the provider from their account.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
MFA_TOTP_ISSUER = SITE_NAME

# --- Email ---------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # One INFO record per email rather than raw stdout (a WARNING in the worker).
    EMAIL_BACKEND = "saas.mail.LoggingEmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"{SITE_NAME} <noreply@example.com>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
ADMINS = [("Ops", a) for a in env.list("DJANGO_ADMINS", default=[])]

# --- i18n and static files ------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Stripe / dj-stripe -----------------------------------------------------------

# Pinned so the SDK, dj-stripe and the emulator agree (see shared docs STRIPE.md §1.1).
STRIPE_API_VERSION = "2026-05-27.dahlia"
stripe.api_version = STRIPE_API_VERSION
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLIC_KEY = env("STRIPE_PUBLIC_KEY", default="")
# With no secret key the app talks to the offline emulator (stripe-emulator/).
STRIPE_EMULATOR = not STRIPE_SECRET_KEY
STRIPE_API_BASE = env(
    "STRIPE_API_BASE", default="http://127.0.0.1:12111" if STRIPE_EMULATOR else ""
)
if STRIPE_EMULATOR:
    # Any sk_test_ key works with the emulator; dj-stripe wants 24+ characters after the prefix.
    STRIPE_SECRET_KEY = "sk_test_emulator000000000000000000"  # noqa: S105
    STRIPE_PUBLIC_KEY = STRIPE_PUBLIC_KEY or "pk_test_emulator000000000000000000"
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE  # dj-stripe copies it to stripe.api_base
    stripe.api_base = STRIPE_API_BASE
if STRIPE_EMULATOR and STRIPE_API_BASE:
    # Every SDK base, and bare StripeClient()s (dj-stripe's Accounts v2), too.
    stripe_bases_route(base=STRIPE_API_BASE)
if STRIPE_LIVE_MODE:
    STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY
else:
    STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# The Stripe customer is a team (its ``email`` is the billing email). dj-stripe's first
# migration then depends on the teams migration that creates Team; databases created
# before teams existed are upgraded by ``saas/management/commands/migrate.py`` and
# ``teams/migrations/0003_customers_to_teams.py``.
DJSTRIPE_SUBSCRIBER_MODEL = "teams.Team"
DJSTRIPE_SUBSCRIBER_MODEL_MIGRATION_DEPENDENCY = "0001_initial"
# The metadata key dj-stripe reads to attach a Stripe customer to its subscriber. Not
# the default "djstripe_subscriber": customers created when users were the subscriber
# carry a user id under it, which dj-stripe would otherwise attach to the team with
# that id on their next sync.
DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY = "djstripe_team"

# --- Celery ---------------------------------------------------------------------

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# Celery's Django fix-up closes every database connection before and after each
# task unless this is set: a new PostgreSQL connection per event was 7% of a
# webhook worker's time on renewal day. With it set this high the fix-up leaves
# connections alone, and saas/celery.py closes one after a task when it is
# broken or older than CONN_MAX_AGE, as Django does after a request.
CELERY_DB_REUSE_MAX = 1_000_000
# A task is acknowledged only after it ran, and is redelivered if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
# Must exceed the longest task so Redis does not redeliver a task still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # Fail fast when Redis is down or frozen: the webhook intake must still answer.
    "socket_connect_timeout": CELERY_REDIS_SOCKET_TIMEOUT,
    "socket_timeout": CELERY_REDIS_SOCKET_TIMEOUT,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower's live view
# No "task-sent" events: they cost the webhook intake a second Redis write per
# event, and Flower shows tasks from the moment a worker receives them anyway.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queues per concern, so a backlog in one never delays the others and each can
# have workers of its own, on hosts of its own (README: "Running on several
# machines"). A worker started without -Q consumes them all (`make run`).
CELERY_TASK_DEFAULT_QUEUE = "celery"  # maintenance: ping, prune, reconcile
CELERY_QUEUES_BY_CONCERN = {
    "webhooks": env("BILLING_WEBHOOK_QUEUE", default="webhooks"),
    "emails": "emails",
    # Seat quantities of per-seat plans synced to Stripe (subscriptions.changes.seats),
    # usage reported.
    "seats": "seats",
    "usage": "usage",
    "default": CELERY_TASK_DEFAULT_QUEUE,
}
CELERY_TASK_QUEUES = [Queue(name) for name in dict.fromkeys(CELERY_QUEUES_BY_CONCERN.values())]
CELERY_TASK_ROUTES = {
    "subscriptions.webhook_event_process": {"queue": CELERY_QUEUES_BY_CONCERN["webhooks"]},
    "subscriptions.webhook_events_dispatch": {"queue": CELERY_QUEUES_BY_CONCERN["webhooks"]},
    "subscriptions.webhook_events_sweep": {"queue": CELERY_QUEUES_BY_CONCERN["webhooks"]},
    "notifications.*": {"queue": CELERY_QUEUES_BY_CONCERN["emails"]},
    # Seat sync (subscriptions/changes/seats.py) and usage reporting.
    "subscriptions.seats.*": {"queue": CELERY_QUEUES_BY_CONCERN["seats"]},
    "subscriptions.usage.*": {"queue": CELERY_QUEUES_BY_CONCERN["usage"]},
    "usage.*": {"queue": CELERY_QUEUES_BY_CONCERN["usage"]},
}

# --- Logging --------------------------------------------------------------------

LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "saas.logging.RequestIdFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_JSON else "text",
        },
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's default "django" handlers: its own console handler
        # (under DEBUG) printed every django.request/django.server line a
        # second time next to the root's. Errors still email DJANGO_ADMINS.
        "django": {"handlers": ["mail_admins"]},
        "django.db.backends": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}

# --- Monitoring -----------------------------------------------------------------

SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="development")
SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from saas.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# --- Billing ----------------------------------------------------------------------

BILLING_PAST_DUE_GRACE_DAYS = env.int("BILLING_PAST_DUE_GRACE_DAYS", default=7)
# Pausing payment collection: what Stripe does with the invoices of the paused months
# (void or keep_as_draft) and what the team keeps meanwhile ("free" tier, or its "plan").
BILLING_PAUSE_BEHAVIOR = env("BILLING_PAUSE_BEHAVIOR", default="void")
BILLING_PAUSED_ACCESS = env("BILLING_PAUSED_ACCESS", default="free")
# What a team keeps while one of its payments is disputed: "unchanged" (staff decide)
# or "free_tier" (paid features wait until the dispute is won or closed).
BILLING_DISPUTE_ACCESS = env.str("BILLING_DISPUTE_ACCESS", default="unchanged")
# Stripe Tax (subscriptions/tax/tax.py): Checkout calculates tax from the billing address it
# collects, and the subscription keeps calculating it. Turn it on once Stripe Tax is set
# up on the account (origin address, registrations).
BILLING_TAX_AUTOMATIC = env.bool("BILLING_TAX_AUTOMATIC", default=False)
# Checkout lets the customer buy as a business with a tax ID (VAT number...): it prints on
# invoices and, with Stripe Tax, makes cross-border EU sales reverse charge.
BILLING_TAX_ID_COLLECTION = env.bool("BILLING_TAX_ID_COLLECTION", default=BILLING_TAX_AUTOMATIC)
# Who is emailed about disputes and refunds; empty means every active staff user.
BILLING_STAFF_EMAILS: list[str] = env.list("BILLING_STAFF_EMAILS", default=[])
# Webhook pipeline: processing attempts per event before it is marked failed.
BILLING_WEBHOOK_MAX_ATTEMPTS = env.int("BILLING_WEBHOOK_MAX_ATTEMPTS", default=8)
BILLING_WEBHOOK_RETRY_BASE_SECONDS = env.float("BILLING_WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
BILLING_WEBHOOK_RETRY_MAX_SECONDS = env.float("BILLING_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# A "processing" claim older than this belongs to a dead worker (> the task time limit).
BILLING_WEBHOOK_PROCESSING_TIMEOUT = env.int("BILLING_WEBHOOK_PROCESSING_TIMEOUT", default=300)
# The sweeper leaves freshly stored events to the task enqueued at intake for this long.
BILLING_WEBHOOK_SWEEP_GRACE_SECONDS = env.int("BILLING_WEBHOOK_SWEEP_GRACE_SECONDS", default=60)
# A queued processing task not started within this long is presumed lost and queued again.
BILLING_WEBHOOK_ENQUEUE_LEASE_SECONDS = env.int(
    "BILLING_WEBHOOK_ENQUEUE_LEASE_SECONDS", default=600
)
# Celery queue for event processing (CELERY_QUEUES_BY_CONCERN above).
BILLING_WEBHOOK_QUEUE = CELERY_QUEUES_BY_CONCERN["webhooks"]
# Background work's share of Stripe's rate limit (25 requests/s in test mode, 100 in
# live mode, shared with Checkout and the portal): worker processes stay under this
# many requests per second together (subscriptions/stripe_budget.py). Each worker
# process keeps to the fallback on its own while Redis is unreachable (default: a
# quarter of the budget). A 429 is retried with backoff for up to the patience.
STRIPE_BACKGROUND_REQUESTS_PER_SECOND = env.float(
    "STRIPE_BACKGROUND_REQUESTS_PER_SECOND", default=10.0
)
STRIPE_BACKGROUND_FALLBACK_REQUESTS_PER_SECOND = env.float(
    "STRIPE_BACKGROUND_FALLBACK_REQUESTS_PER_SECOND",
    default=STRIPE_BACKGROUND_REQUESTS_PER_SECOND / 4,
)
STRIPE_BACKGROUND_RATE_LIMIT_PATIENCE_SECONDS = env.float(
    "STRIPE_BACKGROUND_RATE_LIMIT_PATIENCE_SECONDS", default=20.0
)
# Mirror an event's object from its payload when it is newer than the mirror
# (subscriptions.webhooks.mirror); false falls back to dj-stripe's stock processing,
# which re-reads every object from Stripe.
BILLING_MIRROR_FROM_PAYLOAD = env.bool("BILLING_MIRROR_FROM_PAYLOAD", default=True)
# Processed events (and their raw requests) are deleted after this many days.
BILLING_EVENT_RETENTION_DAYS = env.int("BILLING_EVENT_RETENTION_DAYS", default=30)

# Dunning (README "Dunning"): each occasion's in-app notification and email can be
# turned off with BILLING_EMAIL_<OCCASION>=false (e.g. BILLING_EMAIL_CARD_EXPIRING).
BILLING_DUNNING_OCCASIONS = (
    "payment_failed",
    "payment_action_required",
    "final_notice",
    "subscription_ended_unpaid",
    "card_expiring",
    "upcoming_renewal",
)
BILLING_EMAILS: dict[str, bool] = {
    occasion: env.bool(f"BILLING_EMAIL_{occasion.upper()}", default=True)
    for occasion in BILLING_DUNNING_OCCASIONS
}
# Payment attempts per failed invoice, the first one included, as set in Stripe's
# Dashboard (Billing > Revenue recovery > Retries). The emulator's default schedule
# (retries 3, 5 and 7 days apart) makes 4; Stripe recommends 8 tries in 2 weeks. The
# final notice goes out after the attempt before the last one.
BILLING_PAYMENT_ATTEMPTS = env.int("BILLING_PAYMENT_ATTEMPTS", default=4)
# Billing intervals whose renewals are announced from invoice.upcoming.
BILLING_UPCOMING_RENEWAL_INTERVALS: list[str] = env.list(
    "BILLING_UPCOMING_RENEWAL_INTERVALS", default=["year"]
)

CELERY_BEAT_SCHEDULE = {
    "webhook-events-sweep": {
        "task": "subscriptions.webhook_events_sweep",
        "schedule": 60.0,
    },
    "webhook-events-prune": {
        "task": "subscriptions.webhook_events_prune",
        "schedule": crontab(hour=3, minute=17),
    },
    "notification-emails-requeue": {
        "task": "notifications.notification_emails_requeue",
        "schedule": 300.0,
    },
    "billing-reconcile": {
        "task": "subscriptions.billing_reconcile",
        "schedule": crontab(hour=4, minute=7),
    },
    # Once a day is enough for a three-day warning; each dispute is reminded once.
    "dispute-deadline-reminders": {
        "task": "notifications.dispute_deadline_reminders",
        "schedule": crontab(hour=8, minute=13),
    },
    "cards-expiring-notify": {
        "task": "notifications.cards_expiring_notify",
        "schedule": crontab(hour=9, minute=13),
    },
    "usage-report": {
        "task": "usage.report",
        "schedule": 60.0,
    },
    # After the mirror's reconciliation, so it compares members with fresh quantities.
    "seats-reconcile": {
        "task": "subscriptions.seats.reconcile",
        "schedule": crontab(hour=4, minute=37),
    },
}

# Usage-based billing (usage app). Meter events carry "<prefix>-<bucket>-<from>-<to>"
# identifiers: give each database that reports to one Stripe account its own prefix.
USAGE_IDENTIFIER_PREFIX = env("USAGE_IDENTIFIER_PREFIX", default="usage")
# Buckets are reported once their minute is this many seconds past (fewer, larger events).
USAGE_REPORT_SETTLE_SECONDS = env.int("USAGE_REPORT_SETTLE_SECONDS", default=60)
# Buckets per report task run (one meter event each).
USAGE_REPORT_BATCH_SIZE = env.int("USAGE_REPORT_BATCH_SIZE", default=200)
# Prepaid credits (usage app): what one export past the plan's limit costs in credits,
# and the ledger entries per page of the team's credits page.
CREDITS_PER_EXPORT = env.int("CREDITS_PER_EXPORT", default=10)
CREDITS_LEDGER_PAGE_SIZE = env.int("CREDITS_LEDGER_PAGE_SIZE", default=20)

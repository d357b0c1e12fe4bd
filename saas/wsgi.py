"""WSGI entry point for gunicorn (`gunicorn saas.wsgi:application`).

Webhook deliveries skip the site's middleware (subscriptions/webhook_wsgi.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.production")

django_application = get_wsgi_application()

from subscriptions.webhook_wsgi import with_webhook_fast_path  # noqa: E402 (needs settings)

application = with_webhook_fast_path(django_application)

"""WSGI entry point for gunicorn (`gunicorn saas.wsgi:application`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.production")

application = get_wsgi_application()

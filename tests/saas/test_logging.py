"""One log line per event, at the level it deserves, with the development settings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from pytest_django.fixtures import Settings as SettingsWrapper

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# What `make run` does with the development settings: an email (the console
# default, EMAIL_URL unset) and a 503 that Django's request handler logs.
SCRIPT = """
import django
django.setup()
from django.core.mail import send_mail
from django.http import HttpResponse
from django.test.client import RequestFactory
from django.utils.log import log_response
send_mail("Verify your email", "Open http://127.0.0.1:8000/confirm/abc/", "a@x.test", ["b@x.test"])
log_response(
    "Service Unavailable: %s", "/x", response=HttpResponse(status=503),
    request=RequestFactory().get("/x"),
)
"""


def test_local_settings_log_an_email_at_info_and_a_503_once() -> None:
    scrubbed = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SENTRY_", "LOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "saas.settings.local", "PYTHONPATH": "."},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Not raw text on stdout, which the Celery worker logs as a WARNING.
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    [email] = [line for line in lines if "Verify your email" in line]
    assert " INFO " in email
    assert "saas.mail" in email
    assert "Open http://127.0.0.1:8000/confirm/abc/" in lines  # the link is there to click
    # Django's own console handler used to print django.request lines a second time.
    assert [line for line in lines if "Service Unavailable: /x" in line] == [
        next(line for line in lines if "ERROR" in line and "django.request" in line)
    ]


def test_logging_email_backend_logs_each_email_once_at_info(
    settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = "saas.mail.LoggingEmailBackend"
    caplog.set_level(logging.DEBUG)
    sent = mail.send_mail("Welcome", "Hello there", "a@x.test", ["b@x.test", "c@x.test"])
    assert sent == 1
    [record] = [r for r in caplog.records if r.name == "saas.mail"]
    assert record.levelno == logging.INFO
    assert "b@x.test, c@x.test" in record.getMessage()
    assert "Hello there" in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

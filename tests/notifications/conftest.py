"""Celery runs tasks in-process here, so emails land in ``mail.outbox`` on commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import count
from typing import Any

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from notifications.models import Notification
from notifications.services import notify_from_stripe_event
from tests.billing_helpers import personal_team

_event_ids = count(1)


@pytest.fixture(autouse=True)
def eager_celery(settings: SettingsWrapper, request: pytest.FixtureRequest) -> Iterator[None]:
    """The Celery app read Django settings already: switch the app itself, then restore.

    Integration tests keep the real worker."""
    from saas.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return

    # Read before touching Django settings: on first access app.conf loads them,
    # and would then "restore" the eager values for every later test.
    previous = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    settings.SITE_URL = "https://app.example.com"
    settings.SITE_NAME = "Acme SaaS"
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


Deliver = Callable[..., list[Notification]]


@pytest.fixture
def deliver(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> Deliver:
    """Call the service as the processing task does, running on-commit callbacks."""

    def _deliver(
        user: User,
        event_type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        *,
        event_id: str | None = None,
    ) -> list[Notification]:
        with django_capture_on_commit_callbacks(execute=True):
            return notify_from_stripe_event(
                team_id=personal_team(user).pk,
                event_id=event_id or f"evt_test_{next(_event_ids)}",
                event_type=event_type,
                obj=obj,
                previous=previous,
            )

    return _deliver


def html_of(message: EmailMessage) -> str:
    """The HTML alternative of a multipart email."""
    assert isinstance(message, EmailMultiAlternatives)
    content, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    return str(content)

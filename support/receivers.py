"""django-hijack's signals -> the impersonation audit trail (rows and log lines)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from . import services


def on_impersonation_started(
    *, request: HttpRequest, hijacker: Any, hijacked: Any, **kwargs: Any
) -> None:
    services.impersonation_record_start(request=request, hijacker=hijacker, hijacked=hijacked)


def on_impersonation_ended(
    *, request: HttpRequest, hijacker: Any, hijacked: Any, **kwargs: Any
) -> None:
    services.impersonation_record_end(request=request, hijacker=hijacker, hijacked=hijacked)

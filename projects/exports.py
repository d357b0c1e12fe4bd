"""CSV export of a user's projects, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from .models import Project

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HEADER = ["id", "name", "description", "created_at", "updated_at", "read_only"]


class Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def csv_safe(value: str) -> str:
    """Neutralise a value a spreadsheet would run as a formula by prefixing a quote."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def projects_csv_write(
    out: Writable, projects: Iterable[Project], *, editable_ids: frozenset[int]
) -> None:
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for project in projects:
        writer.writerow(
            [
                project.pk,
                csv_safe(project.name),
                csv_safe(project.description),
                _timestamp(project.created_at),
                _timestamp(project.updated_at),
                "no" if project.pk in editable_ids else "yes",
            ]
        )

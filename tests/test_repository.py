"""The repository is self-contained: a clone in any folder of any machine runs.

Nothing in it may read a file outside the checkout (the developers' reference
material lives beside the repository on their machines, not on a newcomer's).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "staticfiles", "__pycache__", "htmlcov"}
TEXT_SUFFIXES = {".py", ".toml", ".md", ".cfg", ".ini", ".yaml", ".yml", ".sh", ".cjs", ".json"}
# Absolute paths of the machines the kit was built on, or the reference folder beside it.
OUTSIDE = re.compile(r"/work/|\.\./shared\b|/root/|/home/\w+/")


def _text_files() -> list[Path]:
    files = []
    for root, dirs, names in os.walk(BASE_DIR):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        for name in names:
            path = Path(root) / name
            if path.suffix in TEXT_SUFFIXES or name in {"Makefile", "Procfile.dev", "run"}:
                files.append(path)
    return files


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = _text_files()
    assert len(files) > 100  # the walk found the project
    offenders = [
        f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()[:80]}"
        for path in files
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_stripe_sample_objects_ship_inside_the_repository() -> None:
    from stripe_emulator.conformance import FIXTURES_PATH, fixtures

    assert FIXTURES_PATH.resolve().is_relative_to(BASE_DIR)
    assert (FIXTURES_PATH.parent / "LICENSE").read_text().startswith("The MIT License")
    assert {"customer", "subscription", "invoice", "checkout.session"} <= set(fixtures())


def test_coverage_measures_every_app_of_the_project() -> None:
    import tomllib

    from django.apps import apps

    def is_ours(path: str) -> bool:
        resolved = Path(path).resolve()
        # Installed packages live in .venv, inside the checkout but not the project's.
        return resolved.is_relative_to(BASE_DIR) and not resolved.is_relative_to(BASE_DIR / ".venv")

    ours = {config.name.split(".")[0] for config in apps.get_app_configs() if is_ours(config.path)}
    config = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
    sources = set(config["tool"]["coverage"]["run"]["source"])
    assert {"accounts", "subscriptions", "notifications", "projects"} <= ours
    assert ours - sources == set()

"""The apps depend in one direction, as pyproject.toml's import-linter contract says.

``make lint`` runs ``lint-imports``; these tests keep its contract honest: every app of
ours and every module of the project package is placed in a layer (a new one left out
would go unchecked), the repository keeps the contract, and the contract does catch an
upward import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _config() -> dict:
    return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layers_contract() -> dict:
    [contract] = [c for c in _config()["contracts"] if c["name"] == "Apps depend in one direction"]
    assert contract["type"] == "layers"
    return contract


def _layer_modules() -> list[str]:
    names = []
    for layer in _layers_contract()["layers"]:
        for separator in ("|", ":"):
            layer = layer.replace(separator, " ")
        names.extend(layer.split())
    return names


def _our_apps() -> set[str]:
    """INSTALLED_APPS that live in this repository (not Django's or third parties')."""
    return {
        app.split(".")[0]
        for app in settings.INSTALLED_APPS
        if (BASE_DIR / app.split(".")[0] / "apps.py").exists()
    }


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_every_app_is_a_root_package_of_the_contract() -> None:
    assert _our_apps() >= {"saas", "accounts", "teams", "subscriptions", "notifications"}
    assert set(_config()["root_packages"]) == _our_apps()


def test_every_app_and_every_project_module_is_in_one_layer() -> None:
    names = _layer_modules()
    assert len(names) == len(set(names)), "a module is in two layers"
    saas_modules = {
        f"saas.{path.stem}"
        for path in (BASE_DIR / "saas").iterdir()
        if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert set(names) == (_our_apps() - {"saas"}) | saas_modules


def test_the_repository_keeps_the_contract() -> None:
    result = _lint_imports(BASE_DIR)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Apps depend in one direction KEPT" in result.stdout
    # The contracts between billing's own sub-packages.
    assert "Billing logic imports no view KEPT" in result.stdout
    assert "Access depends on no other billing concern KEPT" in result.stdout


def test_the_contract_catches_an_import_from_a_lower_app_to_a_higher_one(
    tmp_path: Path,
) -> None:
    # A copy of the apps, where teams imports billing inside a function (the kind of
    # edge that hides from a module-level reading).
    for package in _config()["root_packages"]:
        shutil.copytree(
            BASE_DIR / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "migrations"),
        )
    shutil.copy(BASE_DIR / "pyproject.toml", tmp_path)
    (tmp_path / "teams" / "upward.py").write_text(
        "def cancel(team):\n    from subscriptions.services import team_subscriptions_cancel_now\n"
    )
    # And, in the same copy, webhook processing that reaches for a page inside billing.
    (tmp_path / "subscriptions" / "webhooks" / "leak.py").write_text(
        "def page():\n    from subscriptions.views import pricing\n"
    )

    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "teams is not allowed to import subscriptions" in result.stdout
    assert "teams.upward -> subscriptions.services" in result.stdout
    assert "Billing logic imports no view BROKEN" in result.stdout
    assert "subscriptions.webhooks.leak -> subscriptions.views" in result.stdout

"""The stock stripe-python, pinned and current, runs a subscription lifecycle unchanged.

`sdk_lifecycle.py` (beside this file) runs in a subprocess against the
in-process emulator with no API version set, so each SDK sends its own pin:

* the project's pinned SDK (stripe 15.6.x, 2026-08-26.dahlia), from this venv;
* the current stripe release on PyPI, pip-installed into a throwaway virtualenv
  cached under `stripe-emulator/var/sdk-venvs/stripe-<release>/`. Each run asks
  pip for the current release (one index query) and builds a venv only when the
  release is new; without PyPI the newest cached venv is used. Deselect with
  `-m "not pypi"`.

The `conformance` fixture checks every response against the schema snapshot
of the version it was rendered in. `tests/test_node_sdk.py` checks the Node
SDK's run of the same lifecycle with `assert_lifecycle`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stripe_emulator import DEFAULT_API_VERSION, EmulatorServer
from stripe_emulator.versions import RELEASED_VERSIONS

from .conftest import SDK_RUNS

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("sdk_lifecycle.py")
VENV_ROOT = PACKAGE_DIR / "var" / "sdk-venvs"
READY = ".sdk.json"  # written last: a venv without it is incomplete

PINNED_SDK_API_VERSION = "2026-08-26.dahlia"  # stripe 15.6.x, the project's pin
PAUSE_STATUS_DETAILS_FROM = "2026-09-30.endive"  # versions.CHANGES

T0 = 1767225600  # sdk_lifecycle.T0
DAY = 86400

# Events that must appear, in this order, among the run's events.
MILESTONES = (
    "customer.created",
    "payment_method.attached",
    "customer.subscription.created",
    "invoice.paid",  # the trial's $0 invoice
    "customer.subscription.trial_will_end",
    "invoice.paid",  # the first period
    "invoiceitem.created",  # the upgrade's prorations
    "invoice.paid",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
)


def _invoice(total: int, reason: str, lines: list[int]) -> dict[str, Any]:
    return {
        "status": "paid",
        "total": total,
        "amount_paid": total,
        "billing_reason": reason,
        "lines": lines,
    }


def _is_subsequence(wanted: tuple[str, ...], seen: list[str]) -> bool:
    it = iter(seen)
    return all(name in it for name in wanted)


def assert_lifecycle(result: dict[str, Any]) -> None:
    """What a run of the lifecycle (any SDK, no version pinned) must have produced."""
    version = result["sdk_api_version"]
    assert version in RELEASED_VERSIONS, f"the SDK pins {version}, which the emulator rejects"
    # Every response came back in the SDK's own pinned version.
    assert result["stripe_versions"] == {version: result["calls"]}
    assert result["card"] == {"brand": "visa", "last4": "4242"}
    period_start = T0 + 7 * DAY
    assert result["created"] == {
        "status": "trialing",
        "trial_end": period_start,
        "invoice": _invoice(0, "subscription_create", [0]),
    }
    assert result["after_trial"] == {
        "status": "active",
        "period": [period_start, period_start + 31 * DAY],
        "invoice": _invoice(1000, "subscription_cycle", [1000]),
    }
    assert result["paid_invoices"] == 2
    # 10 of 31 days left: -1000 * 10/31 unused, +3100 * 10/31 for the new price.
    assert result["upgraded"] == {
        "status": "active",
        "price": "lifecycle_pro",
        "invoice": _invoice(677, "subscription_update", [-323, 1000]),
    }
    assert result["cancel_at_period_end"] == {
        "status": "active",
        "cancel_at_period_end": True,
        "cancel_at_is_period_end": True,
    }
    assert result["renewed"] == {
        "status": "active",
        "cancel_at_period_end": False,
        "cancel_at": None,
    }
    assert result["canceled"] == {"status": "canceled", "ended_at_is_now": True}
    endive = RELEASED_VERSIONS.index(version) >= RELEASED_VERSIONS.index(PAUSE_STATUS_DETAILS_FROM)
    assert result["paused"] == {"status": "paused", "has_status_details": endive}
    assert result["resumed"]["status"] == "active"
    assert result["resumed"]["invoice"]["status"] == "paid"
    assert result["resumed"]["invoice"]["amount_paid"] == 1000
    assert _is_subsequence(MILESTONES, result["events"]), result["events"]
    # Events are rendered in the account's version, whatever the request's.
    assert result["event_api_versions"] == [DEFAULT_API_VERSION]


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would point Python back at this repository."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _pip(python: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_clean_env(),
        cwd=VENV_ROOT,
        check=False,
    )


def _make_venv(path: Path) -> Path:
    # From inside a venv this is based on the underlying interpreter: nothing inherited.
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin" / "python"


def _current_release() -> str | None:
    """The stripe release pip would install now, or None when PyPI cannot be asked."""
    finder = VENV_ROOT / "pip"
    python = finder / "bin" / "python"
    if not python.exists():
        shutil.rmtree(finder, ignore_errors=True)
        _make_venv(finder)
    found = _pip(
        python,
        "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet",
        "--retries", "1", "--timeout", "15", "--report", "-", "stripe",
        timeout=120,
    )  # fmt: skip
    if found.returncode != 0:
        return None
    report = json.loads(found.stdout)
    version: str = report["install"][0]["metadata"]["version"]
    return version


def _cached() -> list[tuple[tuple[int, ...], Path]]:
    ready = []
    for marker in VENV_ROOT.glob(f"stripe-*/{READY}"):
        release = json.loads(marker.read_text())["sdk"]
        ready.append((tuple(int(p) for p in release.split(".") if p.isdigit()), marker.parent))
    return sorted(ready)


def current_sdk_python() -> Path:
    """A venv's python with the current stripe release from PyPI (cached per release).

    Under an exclusive lock on the cache: pytest-xdist workers (or two runs) that
    need it at once would otherwise build and prune the same venvs under each other.
    """
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    with (VENV_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _current_sdk_python()


def _current_sdk_python() -> Path:
    release = _current_release()
    if release is None:
        cached = _cached()
        if not cached:
            pytest.fail("PyPI is unreachable and no stripe venv is cached: deselect -m 'not pypi'")
        return cached[-1][1] / "bin" / "python"
    venv = VENV_ROOT / f"stripe-{release}"
    if (venv / READY).is_file():
        return venv / "bin" / "python"
    shutil.rmtree(venv, ignore_errors=True)
    python = _make_venv(venv)
    installed = _pip(python, "install", "--quiet", f"stripe=={release}")
    assert installed.returncode == 0, installed.stderr
    probe = subprocess.run(
        [str(python), "-c", "import stripe; print(stripe.VERSION, stripe.api_version)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        check=True,
    )
    sdk, api_version = probe.stdout.split()
    assert sdk == release
    (venv / READY).write_text(json.dumps({"sdk": sdk, "api_version": api_version}) + "\n")
    for _, old in _cached():
        if old != venv:
            shutil.rmtree(old, ignore_errors=True)
    return python


def _run_lifecycle(python: Path, emulator: EmulatorServer, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(SCRIPT), emulator.url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=VENV_ROOT if VENV_ROOT.is_dir() else PACKAGE_DIR,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_sdk_lifecycle_pinned_stripe_python_unpinned_version(emulator: EmulatorServer) -> None:
    result = _run_lifecycle(Path(sys.executable), emulator, dict(os.environ))
    assert result["sdk"].startswith("15.6.")
    assert result["sdk_api_version"] == PINNED_SDK_API_VERSION
    assert_lifecycle(result)
    SDK_RUNS.append(f"stripe-python {result['sdk']} ({result['sdk_api_version']})")


@pytest.mark.pypi
def test_sdk_lifecycle_current_stripe_python_unpinned_version(emulator: EmulatorServer) -> None:
    python = current_sdk_python()
    result = _run_lifecycle(python, emulator, _clean_env())
    recorded = json.loads((python.parent.parent / READY).read_text())
    assert result["sdk"] == recorded["sdk"]
    assert result["sdk_api_version"] == recorded["api_version"]
    # Newer than the project's pin: the point of this test.
    assert int(result["sdk"].split(".")[0]) >= 16
    assert_lifecycle(result)
    SDK_RUNS.append(f"stripe-python {result['sdk']} ({result['sdk_api_version']}, current)")

"""`make run` helpers for Stripe: the emulator process and the catalog bootstrap.

``python -m saas.devtools.stripe_dev emulator`` runs the offline emulator when
no STRIPE_SECRET_KEY is set (else it idles, because honcho stops every process
when one exits). ``... bootstrap`` waits for the API, runs billing_bootstrap
once and then idles. Nothing here imports Django settings at import time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
EMULATOR_PORT = 12111


def _idle(message: str) -> None:
    print(message)
    sys.stdout.flush()
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


def _emulator_mode() -> bool:
    return not os.environ.get("STRIPE_SECRET_KEY")


def site_name() -> str:
    """The app's SITE_NAME, read from the Django settings manage.py uses."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings.local")
    from django.conf import settings

    return str(settings.SITE_NAME)


def emulator_args() -> list[str]:
    """The emulator's command line: its hosted pages name the business SITE_NAME."""
    data = BASE_DIR / "var" / "stripe_emulator.sqlite3"
    return [
        sys.executable, "-m", "stripe_emulator",
        "--port", str(EMULATOR_PORT),
        "--data", str(data),
        "--webhook-retry-schedule", "5,30,120,600",
        "--business-name", site_name(),
    ]  # fmt: skip


def emulator() -> None:
    if not _emulator_mode():
        _idle("STRIPE_SECRET_KEY is set: using Stripe, not starting the emulator.")
        return
    args = emulator_args()
    os.execv(sys.executable, args)  # noqa: S606 (fixed arguments)


def bootstrap() -> None:
    base = os.environ.get("STRIPE_API_BASE", f"http://127.0.0.1:{EMULATOR_PORT}")
    if _emulator_mode():
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_emulator/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    print(f"The emulator at {base} did not start; billing is not bootstrapped.")
                    sys.exit(1)
                time.sleep(0.3)
    result = subprocess.run(
        [sys.executable, "manage.py", "billing_bootstrap"], cwd=BASE_DIR, check=False
    )
    if result.returncode != 0:
        sys.exit(result.returncode)
    _idle("Billing catalog is in place (subscriptions/catalog.toml).")


if __name__ == "__main__":
    {"emulator": emulator, "bootstrap": bootstrap}[sys.argv[1]]()

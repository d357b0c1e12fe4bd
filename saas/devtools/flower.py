"""Run Flower for development behind basic auth.

Uses FLOWER_BASIC_AUTH ("user:password") when set; otherwise generates
credentials once, keeps them in var/flower-credentials and prints them.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def credentials() -> str:
    configured = os.environ.get("FLOWER_BASIC_AUTH", "")
    if configured:
        return configured
    path = BASE_DIR / "var" / "flower-credentials"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ops:{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> None:
    auth = credentials()
    port = os.environ.get("FLOWER_PORT", "5555")
    print(f"Flower on http://127.0.0.1:{port}/  (basic auth {auth})")
    sys.stdout.flush()
    os.environ["FLOWER_BASIC_AUTH"] = auth
    celery = str(Path(sys.executable).with_name("celery"))
    # The same configuration as docker/compose.yaml: /metrics needs the credentials too.
    conf = BASE_DIR / "saas" / "flowerconfig.py"
    argv = ["-A", "saas", "flower", f"--port={port}", "--address=127.0.0.1", f"--conf={conf}"]
    os.execv(celery, [celery, *argv])  # noqa: S606


if __name__ == "__main__":
    main()

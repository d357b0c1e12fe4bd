"""Stripe's official Node SDK against the emulator, so the wire format is not tied to Python.

`make test` installs the pinned npm `stripe` into stripe-emulator/tests/node/ when node
and npm are present; STRIPE_NODE_MODULES can point elsewhere. Skipped without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stripe_emulator import EmulatorServer

SCRIPT = Path(__file__).with_name("node_smoke.cjs")


def _node_modules() -> str | None:
    candidates = [
        os.environ.get("STRIPE_NODE_MODULES", ""),
        # `make test` installs the pinned SDK here (tests/node/package-lock.json).
        str(Path(__file__).with_name("node") / "node_modules"),
        str(Path(__file__).resolve().parents[1] / "node_modules"),
    ]
    for path in candidates:
        if path and (Path(path) / "stripe").is_dir():
            return path
    return None


def test_node_sdk_smoke(emulator: EmulatorServer) -> None:
    modules = _node_modules()
    if shutil.which("node") is None or modules is None:
        pytest.skip("node or the npm `stripe` package is not available")
    result = subprocess.run(
        ["node", str(SCRIPT), emulator.url],
        env={**os.environ, "NODE_PATH": modules},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"ok":true' in result.stdout

"""Stripe's official Node SDK against the emulator (skipped without node + npm `stripe`).

Set STRIPE_NODE_MODULES to a node_modules directory holding the npm `stripe`
package (e.g. after `npm install --prefix /tmp/stripe-node stripe`).
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
        str(Path(__file__).resolve().parents[2] / "node_modules"),
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

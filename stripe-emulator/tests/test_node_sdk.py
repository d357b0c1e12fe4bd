"""Stripe's official Node SDK against the emulator, so the wire format is not tied to Python.

`tests/node/package.json` pins the current npm `stripe` (with its lockfile, so
`npm ci` is reproducible); `make test` installs it into tests/node/ (`make
node-sdk`), and this test runs `npm ci` itself when that copy is missing or
stale. STRIPE_NODE_MODULES can point at another node_modules. Skipped only
when node or npm is absent.

`node_smoke.cjs` runs the smoke checks, then the subscription lifecycle of
`sdk_lifecycle.py` with no apiVersion set (the SDK sends its own pin), checked
here with the same assertions as stripe-python's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stripe_emulator import EmulatorServer

from .conftest import SDK_RUNS
from .test_sdk_lifecycle import assert_lifecycle

SCRIPT = Path(__file__).with_name("node_smoke.cjs")
NODE_DIR = Path(__file__).with_name("node")


def _pinned() -> str:
    version: str = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["stripe"]
    return version


def _installed(modules: Path) -> str | None:
    manifest = modules / "stripe" / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def _node_modules() -> Path:
    """node_modules holding the npm `stripe`: STRIPE_NODE_MODULES, or tests/node's pinned copy."""
    if os.environ.get("STRIPE_NODE_MODULES"):
        return Path(os.environ["STRIPE_NODE_MODULES"])
    modules = NODE_DIR / "node_modules"
    if _installed(modules) != _pinned():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: the Node SDK (tests/node) cannot be installed")
        subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent"],
            check=True,
            timeout=300,
        )
    return modules


def test_node_sdk_smoke_and_lifecycle(emulator: EmulatorServer) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Node SDK smoke test needs it")
    modules = _node_modules()
    installed = _installed(modules)
    assert installed is not None, f"no npm `stripe` in {modules}"
    result = subprocess.run(
        ["node", str(SCRIPT), emulator.url],
        env={**os.environ, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    lifecycle = report["lifecycle"]
    assert lifecycle["sdk"] == installed
    if "STRIPE_NODE_MODULES" not in os.environ:
        assert installed == _pinned()
    assert_lifecycle(lifecycle)
    SDK_RUNS.append(f"stripe-node {lifecycle['sdk']} ({lifecycle['sdk_api_version']})")

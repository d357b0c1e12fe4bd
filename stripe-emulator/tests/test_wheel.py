"""The distribution works outside this repository.

Builds the wheel with `uv build`, installs it with pip into a fresh virtualenv
(its dependencies come from PyPI, so this needs the network; pip's cache keeps
it quick), starts `python -m stripe_emulator` from that virtualenv and creates a
customer with the stock stripe SDK installed there. Deselect with `-m "not wheel"`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel

CLIENT_SCRIPT = """
import sys
import stripe
import stripe_emulator
from stripe_emulator.conformance import FIXTURES_PATH, fixtures

client = stripe.StripeClient(
    "sk_test_wheel",
    base_addresses={"api": sys.argv[1]},
    stripe_version=stripe_emulator.DEFAULT_API_VERSION,
)
customer = client.v1.customers.create({"email": "wheel@example.com"})
assert client.v1.customers.retrieve(customer.id).email == "wheel@example.com"
assert "customer" in fixtures()
print(customer.id, stripe_emulator.__file__, FIXTURES_PATH, sep="\\n")
"""


def _uv() -> list[str]:
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would point Python back at this repository."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "STRIPE_FIXTURES", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*_uv(), "build", "--wheel", "--out-dir", str(out), str(PACKAGE_DIR)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("stripe_emulator-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    # A venv made from inside one is based on the underlying interpreter: nothing inherited.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel)],
        check=True,
        timeout=600,
        env=_clean_env(),
        cwd=venv,
    )  # fmt: skip
    return python


@pytest.fixture
def served(venv_python: Path, tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [str(venv_python), "-m", "stripe_emulator", "--port", str(_free_port()),
         "--data", ":memory:"],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_wheel_ships_the_sample_fixtures_with_their_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "stripe_emulator/reference/fixtures3.json" in names
    assert "stripe_emulator/reference/LICENSE" in names
    assert "stripe_emulator/py.typed" in names
    assert not any(name.startswith(("tests/", "stripe_emulator/tests/")) for name in names)


def test_installed_wheel_serves_the_stock_sdk(
    served: str, venv_python: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(venv_python), "-c", CLIENT_SCRIPT, served],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    customer_id, module_file, fixtures_path = result.stdout.split()
    assert customer_id.startswith("cus_")
    venv = venv_python.parent.parent
    # Imported from the virtualenv, not from this checkout.
    assert Path(module_file).is_relative_to(venv)
    assert Path(fixtures_path).is_relative_to(venv)
    assert Path(fixtures_path).is_file()

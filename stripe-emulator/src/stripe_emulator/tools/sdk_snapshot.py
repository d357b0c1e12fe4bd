"""Schema snapshots of the stripe-python release pinned to each API version.

    python -m stripe_emulator.tools.sdk_snapshot            # every version in RELEASES
    python -m stripe_emulator.tools.sdk_snapshot 15.6.2     # one release
    python -m stripe_emulator.tools.sdk_snapshot --pin 16.1.0   # print its pinned version

For each release it downloads the wheel from PyPI (``pip download``), reads the
API version it pins (``stripe/_api_version.py``), imports that copy in a
subprocess and writes ``stripe_emulator/schemas/<version>.json``: per object
type (``OBJECT_NAME``) the declared fields, their types, whether they are
Optional, and enum values. Only public surface is read: the names the package
``__init__`` files re-export, the resource classes' ``OBJECT_NAME`` and their
annotations (resolved like ``typing.get_type_hints``).

Snapshot format (compact JSON, keys sorted):

    {"api_version": "...", "sdk": "15.6.2",
     "objects": {"customer": "Customer", ...},            # object name -> class key
     "classes": {"Customer": {"address": ["?", ["ref", "Customer.Address"]], ...}}}

A field is ``[optional_flag, type]`` with ``optional_flag`` ``"?"`` (Optional:
nullable or absent) or ``""``. Types: ``"str" "int" "float" "bool" "decimal"
"any" "null"``, ``["enum", v...]`` (closed; the SDK's ``| str`` widening is
dropped), ``["list", T]``, ``["map", T]``, ``["union", T...]``, ``["ref", key]``
(a class, nested or resource), ``["listobj", T]``, ``["searchobj", T]``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

EXTRACTOR = Path(__file__).resolve().parent / "sdk_extract.py"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# The stripe-python release whose pin is each API version, found by reading
# `stripe/_api_version.py` of each release (latest patch of each pin):
# 15.2.x -> 2026-05-27.dahlia, 15.3.x -> 06-24, 15.4.0..15.5.1 -> 07-29,
# 15.6.x -> 08-26, 16.0.x -> 2026-09-30.endive, 16.1.0 -> 2026-10-28.endive.
RELEASES: dict[str, str] = {
    "2026-05-27.dahlia": "15.2.1",
    "2026-06-24.dahlia": "15.3.1",
    "2026-07-29.dahlia": "15.5.1",
    "2026-08-26.dahlia": "15.6.2",
    "2026-09-30.endive": "16.0.1",
    "2026-10-28.endive": "16.1.0",
}


# Object types the emulator returns (responses, expansions, event payloads).
# A snapshot holds these and every class reachable from their fields.
ROOTS: tuple[str, ...] = (
    "account", "balance", "balance_transaction", "billing.meter", "billing.meter_event",
    "billing.meter_event_summary", "billing_portal.configuration", "billing_portal.session",
    "card", "cash_balance", "charge", "checkout.session", "coupon", "customer",
    "customer_balance_transaction", "discount", "dispute", "entitlements.active_entitlement",
    "entitlements.active_entitlement_summary", "entitlements.feature", "event", "invoice",
    "invoice_payment", "invoiceitem", "item", "line_item", "payment_intent", "payment_method",
    "plan", "price", "product", "product_feature", "promotion_code", "radar.early_fraud_warning",
    "refund", "setup_intent", "subscription", "subscription_item", "tax_id",
    "test_helpers.test_clock", "webhook_endpoint",
)  # fmt: skip


def reachable(data: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    """`data` cut down to the classes reachable from the root object types."""
    classes: dict[str, dict[str, Any]] = data["classes"]
    objects: dict[str, str] = data["objects"]
    keep: set[str] = set()
    stack = [objects[r] for r in roots if r in objects]
    while stack:
        key = stack.pop()
        if key in keep:
            continue
        keep.add(key)
        for _flag, tp in classes[key].values():
            stack.extend(_refs(tp))
    return {
        **data,
        "objects": {n: k for n, k in objects.items() if k in keep},
        "classes": {k: v for k, v in classes.items() if k in keep},
    }


def _refs(tp: Any) -> list[str]:
    if not isinstance(tp, list) or tp[0] == "enum":
        return []
    if tp[0] == "ref":
        return [tp[1]]
    return [r for sub in tp[1:] for r in _refs(sub)]


def download(release: str, into: Path) -> Path:
    """The wheel of stripe==release, downloaded (without dependencies) into `into`."""
    subprocess.run(  # noqa: S603 - fixed argv, release is a version string
        [
            *_pip(),
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(into),
            f"stripe=={release}",
        ],
        check=True,
    )
    wheels = sorted(into.glob(f"stripe-{release}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip did not download stripe {release}")
    return wheels[0]


def _pip() -> list[str]:
    """pip of this interpreter, else the one on PATH (uv environments have none)."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    if found is None:
        raise SystemExit("pip is needed to download stripe releases")
    return [found]


def pinned_version(wheel: Path) -> str:
    source = zipfile.ZipFile(wheel).read("stripe/_api_version.py").decode()
    for token in source.replace("'", '"').split('"'):
        if token[:4].isdigit() and token.count("-") == 2 and "." in token:
            return token
    raise SystemExit(f"{wheel.name}: no API version in stripe/_api_version.py")


def snapshot(release: str, workdir: Path) -> tuple[str, dict[str, Any]]:
    wheel = download(release, workdir)
    version = pinned_version(wheel)
    site = workdir / f"site-{release}"
    zipfile.ZipFile(wheel).extractall(site)
    # A fresh interpreter with the extracted release first on sys.path, so it
    # shadows any installed stripe; its dependencies come from this environment.
    out = subprocess.run(  # noqa: S603
        [sys.executable, str(EXTRACTOR), str(site)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    data: dict[str, Any] = reachable(json.loads(out), ROOTS)
    if data.get("sdk") != release:
        raise SystemExit(f"imported stripe {data.get('sdk')}, expected {release}")
    data["api_version"] = version
    return version, data


def write(version: str, data: dict[str, Any]) -> Path:
    """Compact JSON, one class per line so that versions diff line by line."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    path = SCHEMA_DIR / f"{version}.json"

    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    head = {k: v for k, v in sorted(data.items()) if k != "classes"}
    lines = [f"{dump(k)}:{dump(v)}" for k, v in head.items()]
    body = ",\n".join(f"{dump(k)}:{dump(v)}" for k, v in sorted(data["classes"].items()))
    path.write_text("{" + ",\n".join(lines) + ',\n"classes":{\n' + body + "}}\n")
    return path


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if argv[:1] == ["--pin"]:
            for release in argv[1:]:
                print(release, pinned_version(download(release, work)))
            return 0
        releases = argv or list(RELEASES.values())
        for release in releases:
            version, data = snapshot(release, work)
            expected = [v for v, r in RELEASES.items() if r == release]
            if expected and expected != [version]:
                raise SystemExit(f"stripe {release} pins {version}, RELEASES says {expected}")
            path = write(version, data)
            size = path.stat().st_size
            print(f"{release} -> {version}: {len(data['classes'])} classes, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

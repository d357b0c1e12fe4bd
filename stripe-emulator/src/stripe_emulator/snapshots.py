"""Conformance per API version, against the schema snapshots in `schemas/`.

Each snapshot holds the resource classes of the stripe-python release pinned
to that version (written by `tools/sdk_snapshot.py`; format there). The rules
are those of `conformance.check`: no undeclared field, every non-Optional
field present, values of the declared type, enums closed. Nothing here
imports the SDK, so any version can be checked whatever stripe is installed.

    python -m stripe_emulator.snapshots VERSION FILE.json   # check a saved object
"""

from __future__ import annotations

import decimal
import functools
import json
import sys
import threading
from pathlib import Path
from typing import Any

from .events import EVENT_OBJECT_WITHOUT
from .versions import NEWEST_VERSION, RELEASED_VERSIONS

JSONDict = dict[str, Any]
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# Fields the emulator returns beyond a snapshot, on purpose (object type -> names).
ALLOWED_EXTRA: dict[str, set[str]] = {}


@functools.cache
def snapshot(version: str) -> JSONDict:
    """The snapshot of `version`; a version newer than the snapshots uses the newest."""
    path = SCHEMA_DIR / f"{version}.json"
    if not path.exists() and version in RELEASED_VERSIONS:
        path = SCHEMA_DIR / f"{NEWEST_VERSION}.json"
    data: JSONDict = json.loads(path.read_text())
    return data


def versions() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


class Checker:
    """Checks objects against one version's snapshot."""

    def __init__(self, version: str) -> None:
        data = snapshot(version)
        self.version = version
        self.objects: dict[str, str] = data["objects"]
        self.classes: dict[str, dict[str, list[Any]]] = data["classes"]

    def check(
        self, obj: Any, path: str = "$", *, may_lack: frozenset[str] = frozenset()
    ) -> list[str]:
        """Violations for one object (recursively), as human-readable strings."""
        if not isinstance(obj, dict):
            return [f"{path}: expected an object, got {type(obj).__name__}"]
        name = obj.get("object")
        if name in ("list", "search_result"):
            out: list[str] = []
            for i, item in enumerate(obj.get("data") or []):
                out += self.check(item, f"{path}.data[{i}]")
            return out
        if obj.get("deleted") is True:
            return [f"{path}: deleted object lacks {k}" for k in ("id", "object") if k not in obj]
        key = self.objects.get(str(name))
        if key is None:
            return [f"{path}: unknown object type {name!r} in {self.version}"]
        problems = self._check_class(key, obj, path, may_lack)
        if name == "event":
            inner = (obj.get("data") or {}).get("object")
            lacks = frozenset(EVENT_OBJECT_WITHOUT.get(str(obj.get("type")), ()))
            problems += self.check(inner, f"{path}.data.object", may_lack=lacks)
        return problems

    def _check_class(
        self, key: str, value: JSONDict, path: str, may_lack: frozenset[str] = frozenset()
    ) -> list[str]:
        fields = self.classes[key]
        problems: list[str] = []
        extra_ok = ALLOWED_EXTRA.get(str(value.get("object")), set())
        for name in value:
            if name not in fields and name not in extra_ok:
                problems.append(f"{path}.{name}: not a field of {key} in {self.version}")
        for name, (flag, tp) in fields.items():
            if name not in value:
                if flag != "?" and name not in may_lack:
                    problems.append(f"{path}.{name}: required field missing ({key})")
                continue
            if value[name] is None:
                if flag != "?":
                    problems.append(f"{path}.{name}: null but not Optional ({key})")
                continue
            problems += self._check_type(tp, value[name], f"{path}.{name}")
        return problems

    def _check_type(self, tp: Any, value: Any, path: str) -> list[str]:
        if tp == "any":
            return []
        if tp == "null":
            return [] if value is None else [f"{path}: expected null"]
        if isinstance(tp, str):
            return _scalar(tp, value, path)
        kind = tp[0]
        if kind == "enum":
            return [] if value in tp[1:] else [f"{path}: {value!r} not in {tp[1:]}"]
        if kind == "union":
            return self._check_union(tp, value, path)
        if value is None:
            return [f"{path}: null not allowed"]
        if kind in ("list", "map", "listobj", "searchobj"):
            return self._check_collection(kind, tp[1], value, path)
        if kind == "ref":
            if not isinstance(value, dict):
                return [f"{path}: expected {tp[1]} object, got {value!r:.60}"]
            if tp[1] in self.objects and isinstance(value.get("object"), str):
                return self.check(value, path)
            return self._check_class(tp[1], value, path)
        return [f"{path}: unknown snapshot type {tp!r}"]

    def _check_union(self, tp: Any, value: Any, path: str) -> list[str]:
        """Fine if any member fits; else the shortest list of problems (an expanded
        object is judged as that object, not as an id)."""
        if value is None and "null" in tp[1:]:
            return []
        attempts = [self._check_type(t, value, path) for t in tp[1:]]
        if any(not a for a in attempts):
            return []
        if isinstance(value, dict):
            # An expanded object: report why it fails as that object, not as an id.
            typed = [a for t, a in zip(tp[1:], attempts, strict=True) if isinstance(t, list)]
            attempts = typed or attempts
        return min(attempts, key=len)

    def _check_collection(self, kind: str, item_tp: Any, value: Any, path: str) -> list[str]:
        """An array, a hash, or a list/search-result object, item by item."""
        out: list[str] = []
        if kind == "list":
            if not isinstance(value, list):
                return [f"{path}: expected array, got {type(value).__name__}"]
            for i, item in enumerate(value):
                out += self._check_type(item_tp, item, f"{path}[{i}]")
            return out
        if kind == "map":
            if not isinstance(value, dict):
                return [f"{path}: expected hash"]
            for k, v in value.items():
                out += self._check_type(item_tp, v, f"{path}.{k}")
            return out
        if not isinstance(value, dict) or value.get("object") not in ("list", "search_result"):
            return [f"{path}: expected a list object"]
        for i, item in enumerate(value.get("data") or []):
            out += self._check_type(item_tp, item, f"{path}.data[{i}]")
        return out


def _scalar(tp: str, value: Any, path: str) -> list[str]:
    if tp == "str":
        return [] if isinstance(value, str) else [f"{path}: expected string, got {value!r}"]
    if tp == "bool":
        return [] if isinstance(value, bool) else [f"{path}: expected boolean, got {value!r}"]
    if tp == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected integer, got {value!r}"]
    if tp == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {value!r}"]
    if tp == "decimal":
        # Decimal fields travel as strings on the wire ("2000" / "12.5").
        try:
            decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return [f"{path}: expected decimal string, got {value!r}"]
        return [] if isinstance(value, str) else [f"{path}: decimal must be a string"]
    return [f"{path}: unknown snapshot type {tp!r}"]


@functools.cache
def checker(version: str) -> Checker:
    return Checker(version)


def check(obj: Any, version: str) -> list[str]:
    return checker(version).check(obj)


class VersionedCollector:
    """A versioned response hook: checks every response against its version's snapshot."""

    def __init__(self) -> None:
        self._problems: list[str] = []
        self.checked: dict[str, int] = {}
        self._lock = threading.Lock()

    def hook(self, method: str, path: str, status: int, body: Any, version: str) -> None:
        if status >= 400 or not isinstance(body, dict) or "object" not in body:
            return
        if version not in RELEASED_VERSIONS:
            return
        problems = check(body, version)
        with self._lock:
            self.checked[version] = self.checked.get(version, 0) + 1
            self._problems += [f"{method} {path} ({status}) [{version}]: {p}" for p in problems]

    def violations(self) -> list[str]:
        with self._lock:
            return list(self._problems)


def main(argv: list[str]) -> int:
    version, *files = argv
    failed = 0
    for name in files:
        for problem in check(json.loads(Path(name).read_text()), version):
            print(f"{name}: {problem}")
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

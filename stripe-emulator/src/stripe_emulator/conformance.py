"""Response conformance against the stripe SDK's generated resource classes.

`check(obj)` validates one Stripe object dict: every non-Optional field the
SDK declares is present, no undeclared field appears, and values match the
declared types (str/int/bool, Literal enums, nested objects, lists,
expandable ids, list envelopes). `coverage(obj)` lists the fields Stripe's
own sample (fixtures3.json) has that the object lacks.

    python -m stripe_emulator.conformance FILE.json   # check a saved object
"""

from __future__ import annotations

import ast
import decimal
import functools
import json
import os
import pkgutil
import sys
import threading
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import stripe

from .events import EVENT_OBJECT_WITHOUT

JSONDict = dict[str, Any]

# Stripe's published sample objects, kept in the package with their licence
# (reference/README.md); STRIPE_FIXTURES points at another copy.
FIXTURES_PATH = Path(
    os.environ.get("STRIPE_FIXTURES") or Path(__file__).parent / "reference" / "fixtures3.json"
)

# Fields the emulator returns that the SDK classes do not declare, on purpose.
ALLOWED_EXTRA: dict[str, set[str]] = {}


# Object names whose public class name is not the CamelCase of the name's last part.
_CLASS_NAMES = {
    "list": "ListObject",
    "search_result": "SearchResultObject",
    "file_upload": "File",  # the older name of `file`
    "fee_refund": "ApplicationFeeRefund",
    "invoiceitem": "InvoiceItem",
    "line_item": "InvoiceLineItem",
    "item": "LineItem",
    "transfer_reversal": "Reversal",
    "scheduled_query_run": "sigma.ScheduledQueryRun",
}


def _public_namespace(dotted: str) -> Any:
    """`stripe` or one of its public sub-packages (`stripe.checkout`, ...), or None."""
    module: Any = stripe
    for part in dotted.split(".") if dotted else ():
        module = getattr(module, part, None)
        if not isinstance(module, types.ModuleType):
            return None
    return module


@functools.cache
def resource_class(object_name: str) -> type | None:
    """The SDK's public resource class for an object name (its `OBJECT_NAME`)."""
    namespace, _, last = object_name.rpartition(".")
    path = _CLASS_NAMES.get(object_name) or "".join(p.capitalize() for p in last.split("_"))
    package, _, cls_name = f"{namespace}.{path}".strip(".").rpartition(".")
    cls = getattr(_public_namespace(package), cls_name, None)
    if not isinstance(cls, type) or not issubclass(cls, stripe.StripeObject):
        return None
    if object_name in _CLASS_NAMES or getattr(cls, "OBJECT_NAME", None) == object_name:
        return cls
    return None


@functools.cache
def _public_packages() -> tuple[Any, ...]:
    """`stripe` and its public v1 sub-packages, where forward refs are looked up."""
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(stripe.__path__)
        if m.ispkg and not m.name.startswith("_") and m.name not in _NOT_RESOURCE_PACKAGES
    )
    found = (_public_namespace(name) for name in names)
    return (stripe, *(m for m in found if m is not None))


# Sub-packages of `stripe` that hold no v1 resource classes.
_NOT_RESOURCE_PACKAGES = {"params", "v2", "events"}


def _class_named(key: str, module: str) -> type | None:
    """A public SDK class named `key`: first in `module`'s package, then anywhere."""
    package = _public_namespace(module.rsplit(".", 1)[0].removeprefix("stripe").lstrip("."))
    for namespace in (package, *_public_packages()):
        cls = getattr(namespace, key, None) if namespace is not None else None
        if isinstance(cls, type) and issubclass(cls, stripe.StripeObject):
            return cls
    return None


class _Namespace(dict[str, Any]):
    """Locals for evaluating forward refs: the module, then any SDK resource class."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, key: str) -> Any:
        aliased = _import_aliases(self.module).get(key)
        if aliased is not None:
            return aliased
        cls = _class_named(key, self.module)
        if cls is None:
            raise KeyError(key)
        return cls


@functools.cache
def _import_aliases(module: str) -> dict[str, Any]:
    """`from stripe._dispute import Dispute as DisputeResource` (under TYPE_CHECKING) in `module`.

    Such names are not in the module's namespace at run time; resolve them to
    the public class of that name in the public package the private module
    belongs to (`stripe.Dispute`, `stripe.issuing.Dispute`).
    """
    path = getattr(sys.modules.get(module), "__file__", None)
    found: dict[str, Any] = {}
    if not path:
        return found
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        for alias in node.names:
            if alias.asname and alias.asname != alias.name:
                package = node.module.rsplit(".", 1)[0].removeprefix("stripe").lstrip(".")
                target = getattr(_public_namespace(package), alias.name, None)
                if isinstance(target, type):
                    found[alias.asname] = target
    return found


def _resolve(tp: Any, module: str) -> Any:
    if isinstance(tp, typing.ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        mod = sys.modules.get(module)
        return eval(tp, dict(vars(mod)) if mod else {}, _Namespace(module))  # noqa: S307
    return tp


_lock = threading.Lock()


@functools.cache
def _fields(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ann in getattr(cls, "__annotations__", {}).items():
        if name.startswith("_") or name == "OBJECT_NAME":
            continue
        if typing.get_origin(ann) is typing.ClassVar:
            continue
        out[name] = ann
    return out


def _is_optional(tp: Any, module: str) -> bool:
    tp = _resolve(tp, module)
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def check(obj: Any, path: str = "$", *, may_lack: frozenset[str] = frozenset()) -> list[str]:
    """Violations for one object (recursively), as human-readable strings."""
    if not isinstance(obj, dict):
        return [f"{path}: expected an object, got {type(obj).__name__}"]
    name = obj.get("object")
    if name in ("list", "search_result"):
        problems = []
        for i, item in enumerate(obj.get("data") or []):
            problems += check(item, f"{path}.data[{i}]")
        return problems
    if obj.get("deleted") is True:
        missing = [k for k in ("id", "object") if k not in obj]
        return [f"{path}: deleted object lacks {k}" for k in missing]
    cls = resource_class(str(name))
    if cls is None:
        return [f"{path}: unknown object type {name!r}"]
    problems = _check_class(cls, obj, path, may_lack)
    if name == "event":
        inner = (obj.get("data") or {}).get("object")
        lacks = frozenset(EVENT_OBJECT_WITHOUT.get(str(obj.get("type")), ()))
        problems += check(inner, f"{path}.data.object", may_lack=lacks)
    return problems


def _check_class(
    cls: type, value: JSONDict, path: str, may_lack: frozenset[str] = frozenset()
) -> list[str]:
    problems: list[str] = []
    fields = _fields(cls)
    extra_ok = ALLOWED_EXTRA.get(str(value.get("object")), set())
    for key in value:
        if key not in fields and key not in extra_ok:
            problems.append(f"{path}.{key}: not a field of {cls.__qualname__}")
    for key, ann in fields.items():
        if key not in value:
            if not _is_optional(ann, cls.__module__) and key not in may_lack:
                problems.append(f"{path}.{key}: required field missing ({cls.__qualname__})")
            continue
        problems += _check_type(ann, value[key], f"{path}.{key}", cls.__module__)
    return problems


def _check_type(tp: Any, value: Any, path: str, module: str) -> list[str]:
    tp = _resolve(tp, module)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return []
    if _is_union(tp):
        return _check_union(args, value, path, module)
    if value is None:
        return [f"{path}: null but the SDK type is not Optional ({_name(tp)})"]
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} not in {list(args)}"]
    scalar = _check_scalar(tp, value, path)
    if scalar is not None:
        return scalar
    collection = _check_collection(origin, args, value, path, module)
    if collection is not None:
        return collection
    if isinstance(tp, type):
        if not isinstance(value, dict):
            return [f"{path}: expected {tp.__qualname__} object, got {value!r:.60}"]
        if isinstance(value.get("object"), str) and getattr(tp, "OBJECT_NAME", None):
            return check(value, path)
        return _check_class(tp, value, path)
    return []


def _check_union(args: tuple[Any, ...], value: Any, path: str, module: str) -> list[str]:
    """Fine if any member fits; else the shortest list of problems."""
    if value is None and type(None) in args:
        return []
    options = [a for a in args if a is not type(None)]
    if str in options and any(typing.get_origin(a) is typing.Literal for a in options):
        # The SDK widens enums with `str` for forward compatibility; the
        # emulator must still only produce values of the closed set.
        options.remove(str)
    attempts = [_check_type(a, value, path, module) for a in options]
    if any(not a for a in attempts):
        return []
    if not attempts:
        return [f"{path}: null not allowed"]
    if isinstance(value, dict):
        # An expanded object: report why it fails as that object, not as an id.
        structured = [
            errs
            for opt, errs in zip(options, attempts, strict=True)
            if opt not in (str, int, float, bool)
        ]
        attempts = structured or attempts
    return min(attempts, key=len)


def _check_scalar(tp: Any, value: Any, path: str) -> list[str] | None:
    """Problems with a str/bool/int/float/Decimal value; None when `tp` is none of them."""
    if tp is str:
        return [] if isinstance(value, str) else [f"{path}: expected string, got {value!r}"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected boolean, got {value!r}"]
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected integer, got {value!r}"]
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {value!r}"]
    if tp is decimal.Decimal:
        # Decimal fields travel as strings on the wire ("2000" / "12.5").
        try:
            decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return [f"{path}: expected decimal string, got {value!r}"]
        return [] if isinstance(value, str) else [f"{path}: decimal must be a string"]
    return None


def _check_collection(
    origin: Any, args: tuple[Any, ...], value: Any, path: str, module: str
) -> list[str] | None:
    """Problems in a list, a dict or one of the SDK's containers (StripeObject maps,
    ListObject, SearchResultObject); None when `origin` is none of them."""
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            return [f"{path}: expected array, got {type(value).__name__}"]
        out: list[str] = []
        for i, item in enumerate(value):
            out += _check_type(args[0], item, f"{path}[{i}]", module)
        return out
    if origin in (dict, typing.Dict, Mapping):  # noqa: UP006
        if not isinstance(value, dict):
            return [f"{path}: expected hash"]
        out = []
        for k, v in value.items():
            out += _check_type(args[1], v, f"{path}.{k}", module)
        return out
    origin_name = getattr(origin, "__name__", "") if origin is not None else ""
    if origin_name == "UntypedStripeObject":
        if not isinstance(value, dict):
            return [f"{path}: expected hash"]
        out = []
        for k, v in value.items():
            out += _check_type(args[0], v, f"{path}.{k}", module) if args else []
        return out
    if origin_name in ("ListObject", "SearchResultObject"):
        if not isinstance(value, dict) or value.get("object") not in ("list", "search_result"):
            return [f"{path}: expected a list object"]
        out = []
        for i, item in enumerate(value.get("data") or []):
            out += _check_type(args[0], item, f"{path}.data[{i}]", module)
        return out
    return None


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


# --------------------------------------------------------------------------
# coverage against Stripe's sample objects


@functools.cache
def fixtures() -> dict[str, JSONDict]:
    """Stripe's sample object per resource name (raises if the file is missing)."""
    data: dict[str, dict[str, JSONDict]] = json.loads(FIXTURES_PATH.read_text())
    return data.get("resources", {})


def coverage(obj: JSONDict, prefix: str = "") -> list[str]:
    """Fields (dotted paths) in Stripe's sample for this type that `obj` lacks.

    Only fields the SDK still declares count (the samples lag behind API
    changes, e.g. `invoice.subscription`); metadata keys never count.
    """
    name = str(obj.get("object"))
    sample = fixtures().get(name)
    if sample is None:
        return []
    return _missing(sample, obj, prefix, resource_class(name))


def _nested_class(cls: type | None, key: str) -> type | None:
    if cls is None:
        return None
    ann = _fields(cls).get(key)
    if ann is None:
        return None
    ann = _resolve(ann, cls.__module__)
    candidates = typing.get_args(ann) if _is_union(ann) else (ann,)
    for cand in candidates:
        if isinstance(cand, type) and _fields(cand):
            return cand
    return None


def _missing(sample: Any, obj: Any, prefix: str, cls: type | None) -> list[str]:
    if not isinstance(sample, dict) or not isinstance(obj, dict):
        return []
    out: list[str] = []
    declared = _fields(cls) if cls is not None else None
    for key, sub in sample.items():
        if declared is not None and key not in declared:
            continue
        here = f"{prefix}{key}"
        if key not in obj:
            out.append(here)
        elif (
            key != "metadata"
            and isinstance(sub, dict)
            and isinstance(obj[key], dict)
            and "object" not in sub
        ):
            out += _missing(sub, obj[key], here + ".", _nested_class(cls, key))
    return out


class ConformanceCollector:
    """A response hook that checks every returned object and keeps a coverage tally."""

    def __init__(self) -> None:
        self._problems: list[str] = []
        self.seen: dict[str, int] = {}
        self.missing: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def hook(self, method: str, path: str, status: int, body: Any) -> None:
        where = f"{method} {path} ({status})"
        if status >= 400 or not isinstance(body, dict) or "object" not in body:
            problems = _check_error(body) if status >= 400 else []
        else:
            problems = check(body)
        with self._lock:
            self._problems += [f"{where}: {p}" for p in problems]
            if status < 400 and isinstance(body, dict):
                listed = body.get("object") in ("list", "search_result")
                for obj in body.get("data", []) if listed else [body]:
                    if isinstance(obj, dict) and "object" in obj and not obj.get("deleted"):
                        name = str(obj["object"])
                        self.seen[name] = self.seen.get(name, 0) + 1
                        self.missing.setdefault(name, set()).update(coverage(obj))

    def merge(self, other: ConformanceCollector) -> None:
        """Add another collector's coverage tally (not its violations) to this one."""
        with self._lock:
            for name, count in other.seen.items():
                self.seen[name] = self.seen.get(name, 0) + count
                self.missing.setdefault(name, set()).update(other.missing.get(name, set()))

    def violations(self) -> list[str]:
        with self._lock:
            return list(self._problems)

    def report(self) -> str:
        lines = []
        for name in sorted(self.seen):
            missing = sorted(self.missing.get(name, ()))
            lines.append(f"{name}: {self.seen[name]} seen; missing vs fixtures: {missing or '-'}")
        return "\n".join(lines)


def _check_error(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return ["error response without an `error` hash"]
    err = body["error"]
    problems = []
    if err.get("type") not in (
        "api_error",
        "card_error",
        "idempotency_error",
        "invalid_request_error",
    ):
        problems.append(f"error.type {err.get('type')!r} is not a Stripe error type")
    if not isinstance(err.get("message"), str):
        problems.append("error.message missing")
    return problems


def main(argv: list[str]) -> int:
    failed = 0
    for name in argv:
        obj = json.loads(Path(name).read_text())
        for problem in check(obj):
            print(f"{name}: {problem}")
            failed = 1
        for field in coverage(obj):
            print(f"{name}: missing vs fixtures: {field}")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

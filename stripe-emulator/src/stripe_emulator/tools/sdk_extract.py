"""Run by sdk_snapshot.py in a fresh interpreter: `python sdk_extract.py SITE` prints
the schema of the stripe package found in SITE as JSON (format in sdk_snapshot.py).

Not imported by the emulator; a script, so that each run reads one SDK release.
Only public surface is read: the names package `__init__` files re-export,
`OBJECT_NAME`, and class annotations, resolved in the class's own module and
scopes as `typing.get_type_hints` does (names imported only for type checking
are looked up among the public resource classes).
"""

from __future__ import annotations

import ast
import decimal
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

Encoded = Any  # str | list[Encoded]


class Extractor:
    def __init__(self, stripe: types.ModuleType) -> None:
        self.stripe = stripe
        self.resources: dict[str, type] = {}
        self.walk(stripe)
        self.by_name: dict[str, list[type]] = {}
        for cls in self.resources.values():
            self.by_name.setdefault(cls.__name__, []).append(cls)
        self.classes: dict[str, dict[str, list[Encoded]] | None] = {}
        self._aliases: dict[str, dict[str, str]] = {}

    # -- discovery -----------------------------------------------------------

    @staticmethod
    def public_names(module: types.ModuleType) -> list[str]:
        """Names re-exported by a package __init__ (its TYPE_CHECKING imports)."""
        path = getattr(module, "__file__", None)
        if not path or not path.endswith("__init__.py"):
            return []
        names: list[str] = []
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stripe"):
                names += [a.asname or a.name for a in node.names]
        return [n for n in names if not n.startswith("_")]

    def walk(self, pkg: types.ModuleType) -> None:
        for name in self.public_names(pkg):
            try:
                obj = getattr(pkg, name)
            except (AttributeError, ImportError):
                print(f"{pkg.__name__}.{name}: not importable, skipped", file=sys.stderr)
                continue
            if isinstance(obj, types.ModuleType):
                sub = obj.__name__
                if sub.startswith("stripe.") and sub != "stripe.v2" and obj is not pkg:
                    self.walk(obj)
            elif isinstance(obj, type) and issubclass(obj, self.stripe.StripeObject):
                object_name = obj.__dict__.get("OBJECT_NAME")
                if isinstance(object_name, str) and not object_name.startswith("v2."):
                    self.resources.setdefault(object_name, obj)

    def key_of(self, cls: type) -> str:
        object_name = cls.__dict__.get("OBJECT_NAME")
        if isinstance(object_name, str) and self.resources.get(object_name) is cls:
            return object_name
        top, _, rest = cls.__qualname__.partition(".")
        for name, resource in self.resources.items():
            if resource.__module__ == cls.__module__ and resource.__qualname__ == top:
                return name + ("." + rest if rest else "")
        return cls.__module__.removeprefix("stripe.") + ":" + cls.__qualname__

    # -- annotations -----------------------------------------------------------

    def aliases(self, module: str) -> dict[str, str]:
        """`from stripe.x import Card as CardResource` in a module: {"CardResource": "Card"}."""
        if module not in self._aliases:
            found: dict[str, str] = {}
            path = getattr(sys.modules.get(module), "__file__", None)
            if path:
                for node in ast.walk(ast.parse(Path(path).read_text())):
                    if isinstance(node, ast.ImportFrom):
                        for a in node.names:
                            if a.asname and a.asname != a.name:
                                found[a.asname] = a.name
            self._aliases[module] = found
        return self._aliases[module]

    def resolve(self, text: str, module: str, scopes: list[dict[str, Any]]) -> Any:
        extractor = self

        class Names(dict[str, Any]):
            def __missing__(self, key: str) -> Any:
                key = extractor.aliases(module).get(key, key)
                for scope in scopes:
                    if key in scope:
                        return scope[key]
                candidates = extractor.by_name.get(key, [])
                package = module.rsplit(".", 1)[0]
                for cls in candidates:
                    if cls.__module__.rsplit(".", 1)[0] == package:
                        return cls
                if candidates:
                    return candidates[0]
                raise KeyError(key)

        # The SDK's own annotation strings, evaluated as get_type_hints would.
        return eval(text, dict(vars(sys.modules[module])), Names())  # noqa: S307

    def encode(self, tp: Any, module: str, scopes: list[dict[str, Any]]) -> Encoded:
        if isinstance(tp, typing.ForwardRef):
            tp = tp.__forward_arg__
        if isinstance(tp, str):
            tp = self.resolve(tp, module, scopes)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        simple = {str: "str", bool: "bool", int: "int", float: "float", decimal.Decimal: "decimal"}
        if tp is Any:
            return "any"
        if tp is type(None):
            return "null"
        if isinstance(tp, type) and tp in simple:
            return simple[tp]
        if origin in (typing.Union, types.UnionType):
            options = list(args)
            if str in options and any(typing.get_origin(a) is typing.Literal for a in options):
                options.remove(str)  # the SDK's forward-compatible widening of enums
            encoded = [self.encode(a, module, scopes) for a in options]
            return encoded[0] if len(encoded) == 1 else ["union", *encoded]
        if origin is typing.Literal:
            return ["enum", *args]
        if origin is list:
            return ["list", self.encode(args[0], module, scopes)]
        if origin is dict or getattr(origin, "__name__", "") == "Mapping":
            return ["map", self.encode(args[1], module, scopes)]
        if origin is not None:
            return self.encode_stripe_generic(origin, args, module, scopes)
        if isinstance(tp, type):
            self.add(tp)
            return ["ref", self.key_of(tp)]
        return "any"

    def encode_stripe_generic(
        self, origin: Any, args: tuple[Any, ...], module: str, scopes: list[dict[str, Any]]
    ) -> Encoded:
        """The SDK's generic containers: StripeObject maps, ListObject, SearchResultObject."""
        name = getattr(origin, "__name__", "")
        if name == "UntypedStripeObject":
            return ["map", self.encode(args[0], module, scopes) if args else "any"]
        if name == "ListObject":
            return ["listobj", self.encode(args[0], module, scopes)]
        if name == "SearchResultObject":
            return ["searchobj", self.encode(args[0], module, scopes)]
        return "any"

    def add(self, cls: type) -> None:
        key = self.key_of(cls)
        if key in self.classes:
            return
        self.classes[key] = None  # recursion guard
        scopes: list[dict[str, Any]] = []
        node: Any = sys.modules[cls.__module__]
        for part in cls.__qualname__.split("."):
            node = getattr(node, part)
            scopes.insert(0, dict(vars(node)))
        fields: dict[str, list[Encoded]] = {}
        for name, ann in inspect.get_annotations(cls).items():
            if name.startswith("_") or name == "OBJECT_NAME":
                continue
            if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            try:
                encoded = self.encode(ann, cls.__module__, scopes)
            except (NameError, KeyError, AttributeError, SyntaxError) as exc:
                print(f"{key}.{name}: unresolved ({exc}); recorded as any", file=sys.stderr)
                encoded = "any"
            optional = isinstance(encoded, list) and encoded[0] == "union" and "null" in encoded
            if optional:
                rest = [e for e in encoded[1:] if e != "null"]
                encoded = rest[0] if len(rest) == 1 else ["union", *rest]
            fields[name] = ["?" if optional else "", encoded]
        self.classes[key] = fields

    def run(self) -> dict[str, Any]:
        for cls in self.resources.values():
            self.add(cls)
        return {
            "sdk": self.stripe.VERSION,
            "objects": {n: self.key_of(c) for n, c in sorted(self.resources.items())},
            "classes": self.classes,
        }


def main(site: str) -> None:
    sys.path.insert(0, site)
    import stripe

    json.dump(Extractor(stripe).run(), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])

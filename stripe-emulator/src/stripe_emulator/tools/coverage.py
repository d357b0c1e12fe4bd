"""Endpoint coverage against the installed stripe SDK: which of the endpoints
its services call the emulator answers, per resource family.

    python -m stripe_emulator.tools.coverage            # print the table
    python -m stripe_emulator.tools.coverage --write README.md
    python -m stripe_emulator.tools.coverage --check README.md

The SDK's endpoint list is read from its public service classes (each method
calls `_request("get", "/v1/...")`), so the total moves with the SDK release,
not with a list kept here. `--write` replaces the table between the README's
`coverage:begin`/`coverage:end` markers; `--check` fails when it is stale
(the package's tests run it).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import stripe

from .. import resources  # noqa: F401 - registers every route
from ..routing import match
from .sdk_extract import Extractor

BEGIN = "<!-- coverage:begin (python -m stripe_emulator.tools.coverage --write README.md) -->"
END = "<!-- coverage:end -->"

_REQUEST = re.compile(r'_request(?:_async)?\(\s*"(get|post|delete)",\s*"(/v[12]/[^"]+)"')
_PLACEHOLDER = re.compile(r"\{\w+\}")
# Namespaces whose second segment is the resource (billing/meters, issuing/cards).
_NAMESPACES = frozenset(
    {
        "apps",
        "billing",
        "checkout",
        "climate",
        "entitlements",
        "financial_connections",
        "forwarding",
        "identity",
        "issuing",
        "radar",
        "reporting",
        "sigma",
        "tax",
        "terminal",
        "treasury",
        "core",
        "commerce",
        "money_management",
        "payments",
    }
)
# Handlers that answer for a feature the emulator does not model (empty list, 404).
_PLACEHOLDER_MODULES = frozenset({"stripe_emulator.resources.not_emulated"})


@dataclass
class Family:
    name: str
    total: int = 0
    answered: int = 0
    placeholders: int = 0
    missing: list[str] = field(default_factory=list)


def sdk_endpoints() -> set[tuple[str, str]]:
    """(METHOD, path template) of every endpoint the installed SDK's services call."""
    found: set[tuple[str, str]] = set()
    seen: set[object] = set()

    def walk(package: types.ModuleType) -> None:
        for name in Extractor.public_names(package):
            try:
                obj = getattr(package, name)
            except (AttributeError, ImportError):
                continue
            if obj in seen:
                continue
            seen.add(obj)
            if isinstance(obj, types.ModuleType) and obj.__name__.startswith("stripe."):
                walk(obj)
            elif isinstance(obj, type) and name.endswith("Service"):
                for method, path in _REQUEST.findall(inspect.getsource(obj)):
                    found.add((method.upper(), path))

    walk(stripe)
    return found


def family_of(path: str) -> str:
    segments = path.strip("/").split("/")
    version, rest = segments[0], segments[1:]
    if rest and rest[0] == "test_helpers":
        rest = rest[1:]
    head = rest[0] if rest else ""
    if head in _NAMESPACES and len(rest) > 1 and not rest[1].startswith("{"):
        head = f"{head}/{rest[1]}"
    return f"{version}/{head}"


def coverage() -> list[Family]:
    families: dict[str, Family] = defaultdict(lambda: Family(""))
    for method, template in sorted(sdk_endpoints()):
        name = family_of(template)
        family = families[name]
        family.name = name
        family.total += 1
        found = match(method, _PLACEHOLDER.sub("x_1", template))
        if found is None or found[0].helper:
            family.missing.append(f"{method} {template}")
        elif found[0].handler.__module__ in _PLACEHOLDER_MODULES:
            family.placeholders += 1
        else:
            family.answered += 1
    return sorted(families.values(), key=lambda f: f.name)


def table(families: list[Family]) -> str:
    served = [f for f in families if f.answered or f.placeholders]
    unserved = [f for f in families if not (f.answered or f.placeholders)]
    lines = [
        f"Endpoints of stripe-python {stripe.VERSION}'s services, per resource family: "
        "answered by the emulator / called by the SDK. Placeholders answer an empty "
        "list or a 404 for a feature the emulator does not model.",
        "",
        "| Family | Answered | Placeholders | Not served |",
        "| --- | --- | --- | --- |",
    ]
    for f in served:
        lines.append(
            f"| `{f.name}` | {f.answered} / {f.total} | {f.placeholders or ''} "
            f"| {len(f.missing) or ''} |"
        )
    answered = sum(f.answered for f in families)
    total = sum(f.total for f in families)
    lines += [
        "",
        f"In all: {answered} of the SDK's {total} endpoints answered, in {len(served)} "
        f"families; {len(unserved)} families are not served at all "
        f"({', '.join(f'`{f.name}`' for f in unserved)}).",
    ]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="replace the table in this README")
    group.add_argument("--check", type=Path, help="fail if this README's table is stale")
    args = parser.parse_args(argv)
    block = table(coverage())
    if args.write:
        args.write.write_text(replace_block(args.write.read_text(), block))
    elif args.check:
        text = args.check.read_text()
        if replace_block(text, block) != text:
            print(f"{args.check}: the coverage table is stale; run with --write", file=sys.stderr)
            return 1
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

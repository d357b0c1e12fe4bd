"""Request decoding and validation driven by the stripe SDK's param TypedDicts.

`decode_form` turns `a[b][0][c]=v` bodies into nested dicts/lists of strings;
`schema_for("CustomerCreateParams")` builds (once, cached) a small tree of
nodes from `stripe.params`, and `validate` walks the decoded params along it,
coercing strings to ints/bools and raising Stripe-shaped 400s.
"""

from __future__ import annotations

import functools
import importlib
import sys
import typing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import stripe

from .errors import StripeAPIError, invalid_request, missing_parameter, unknown_parameter

# Keys the SDK's RequestOptions adds to *Params classes used by class methods;
# they are options, never sent as form params.
_REQUEST_OPTION_KEYS = frozenset(
    {
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
    }
)

UNSET = ""  # Stripe's "empty string unsets the field" marker, kept as-is


# --------------------------------------------------------------------------
# form decoding


def _split_key(key: str) -> list[str]:
    if "[" not in key:
        return [key]
    head, _, rest = key.partition("[")
    parts = [head]
    for piece in rest.split("["):
        parts.append(piece[:-1] if piece.endswith("]") else piece)
    return parts


def decode_form(raw: str) -> dict[str, Any]:
    """Decode an x-www-form-urlencoded body or query string with bracket keys."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = _split_key(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                # `[]` list: each `[]` segment appends a new element
                if last:
                    node.append(value)
                    break
                nxt: Any = [] if parts[i + 1] == "" else {}
                node.append(nxt)
                node = nxt
                continue
            if part == "" and i > 0:
                raise invalid_request(f"Invalid array parameter: {key}", param=key)
            if last:
                node[part] = value
                break
            child = node.get(part)
            if child is None or isinstance(child, str):
                child = [] if parts[i + 1] == "" else {}
                node[part] = child
            node = child
    return _fix_lists(root)


def _fix_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fix_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_lists(v) for v in value]
    return value


# --------------------------------------------------------------------------
# schema nodes


@dataclass(frozen=True)
class Scalar:
    kind: str  # "str" | "int" | "bool" | "float" | "any"


@dataclass(frozen=True)
class Enum:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ListOf:
    item: Node


@dataclass(frozen=True)
class MapOf:
    value: Node


@dataclass(frozen=True)
class OneOf:
    options: tuple[Node, ...]
    allow_empty: bool


@dataclass(eq=False)
class Obj:
    """A TypedDict; fields are resolved lazily because params can be recursive."""

    cls: type
    _fields: dict[str, Node] | None = field(default=None, repr=False)
    _required: frozenset[str] = field(default=frozenset(), repr=False)

    def fields(self) -> dict[str, Node]:
        if self._fields is None:
            self._fields, self._required = _typed_dict_fields(self.cls)
        return self._fields

    def required(self) -> frozenset[str]:
        self.fields()
        return self._required


Node = Scalar | Enum | ListOf | MapOf | OneOf | Obj

_ANY = Scalar("any")
_obj_cache: dict[type, Obj] = {}


def _eval_ref(ref: Any, module: str) -> Any:
    if isinstance(ref, typing.ForwardRef):
        ref = ref.__forward_arg__
    if isinstance(ref, str):
        namespace = dict(vars(sys.modules[module]))
        namespace.setdefault("UntypedStripeObject", _StripeObjectOf)
        return eval(ref, namespace)  # noqa: S307 - SDK-generated annotations only
    return ref


_T = typing.TypeVar("_T")


class _StripeObjectOf(typing.Generic[_T]):
    """Stands in for the SDK's private generic StripeObject in the few annotations
    that name it without importing it: `...|UntypedStripeObject[str]` is a map of str."""


def _is_stripe_object_map(origin: Any) -> bool:
    """`UntypedStripeObject[T]` (a StripeObject used as a map of T) or its stand-in."""
    if not isinstance(origin, type):
        return False
    return origin is _StripeObjectOf or issubclass(origin, stripe.StripeObject)


def _is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def to_node(tp: Any, module: str) -> Node:
    tp = _eval_ref(tp, module)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.NotRequired, typing.Required):
        return to_node(args[0], module)
    if tp is str:
        return Scalar("str")
    if tp is bool:
        return Scalar("bool")
    if tp is int:
        return Scalar("int")
    if tp is float:
        return Scalar("float")
    if tp is typing.Any or tp is object:
        return _ANY
    if origin is typing.Literal:
        return Enum(tuple(args))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return _union_node(args, module)
    if origin in (list, typing.List, tuple, typing.Sequence):  # noqa: UP006
        return ListOf(to_node(args[0], module) if args else _ANY)
    if origin in (dict, typing.Dict, typing.Mapping):  # noqa: UP006
        return MapOf(to_node(args[1], module) if len(args) == 2 else _ANY)
    if _is_stripe_object_map(origin):
        return MapOf(to_node(args[0], module) if args else _ANY)
    if _is_typed_dict(tp):
        if tp not in _obj_cache:
            _obj_cache[tp] = Obj(tp)
        return _obj_cache[tp]
    return _ANY


def _union_node(args: tuple[Any, ...], module: str) -> Node:
    """`A | B | Literal[""]`: one of the options; `Literal[""]` allows the empty string."""
    allow_empty = False
    options: list[Node] = []
    for arg in args:
        node = to_node(arg, module)
        if isinstance(node, Enum) and node.values == ("",):
            allow_empty = True
            continue
        options.append(node)
    if any(isinstance(o, Enum) for o in options) and Scalar("str") in options:
        # The SDK widens enums with `str` for forward compatibility; the
        # server knows the closed set, so the emulator enforces it.
        options.remove(Scalar("str"))
    if len(options) == 1 and not allow_empty:
        return options[0]
    return OneOf(tuple(options), allow_empty)


def _typed_dict_fields(cls: type) -> tuple[dict[str, Node], frozenset[str]]:
    options = stripe.RequestOptions
    inherits_options = options in getattr(cls, "__orig_bases__", ()) or (
        issubclass(cls, dict) and any(b is options for b in cls.__mro__)
    )
    fields: dict[str, Node] = {}
    required: set[str] = set()
    for name, ann in cls.__annotations__.items():
        if inherits_options and name in _REQUEST_OPTION_KEYS:
            continue
        fields[name] = to_node(ann, cls.__module__)
        if name in getattr(cls, "__required_keys__", frozenset()):
            required.add(name)
    return fields, frozenset(required)


@functools.cache
def schema_for(name: str) -> Obj:
    """The schema of `stripe.params[.<sub>].<Name>`, e.g. "entitlements.FeatureCreateParams".

    `"module:Class"` names a TypedDict an emulator module defines itself, for
    the few requests whose parameters the SDK does not declare.
    """
    if ":" in name:
        package, _, cls_name = name.partition(":")
    else:
        package, _, cls_name = ("stripe.params." + name).rpartition(".")
    cls = getattr(importlib.import_module(package), cls_name)
    node = to_node(cls, cls.__module__)
    if not isinstance(node, Obj):
        raise TypeError(f"{name} is not a TypedDict")
    node.fields()
    return node


# --------------------------------------------------------------------------
# validation


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


def _fmt_choices(values: tuple[Any, ...]) -> str:
    shown = [str(v).lower() if isinstance(v, bool) else str(v) for v in values if v != ""]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + ", or " + shown[-1]


def validate(schema: Obj, params: dict[str, Any]) -> dict[str, Any]:
    """Coerce decoded form params along `schema`; raise Stripe's 400 on problems."""
    out = _coerce(schema, params, "")
    assert isinstance(out, dict)
    return out


def _coerce(node: Node, value: Any, path: str) -> Any:
    if isinstance(node, Scalar):
        return _coerce_scalar(node.kind, value, path)
    if isinstance(node, Enum):
        return _coerce_enum(node, value, path)
    if isinstance(node, OneOf):
        return _coerce_one_of(node, value, path)
    if isinstance(node, ListOf):
        return _coerce_list(node, value, path)
    if isinstance(node, MapOf):
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {path}", param=path)
        return {k: _coerce(node.value, v, _child(path, k)) for k, v in value.items()}
    return _coerce_object(node, value, path)


def _coerce_enum(node: Enum, value: Any, path: str) -> Any:
    if isinstance(value, str):
        for choice in node.values:
            rendered = str(choice).lower() if isinstance(choice, bool) else str(choice)
            if rendered == value:
                return choice
    raise invalid_request(
        f"Invalid {path}: must be one of {_fmt_choices(node.values)}",
        param=path,
        code="parameter_invalid_string" if isinstance(value, str) else None,
    )


def _coerce_one_of(node: OneOf, value: Any, path: str) -> Any:
    """The first option the value fits (shape-matching options first), else its error."""
    if value == UNSET and node.allow_empty:
        return UNSET
    first: StripeAPIError | None = None
    for option in sorted(node.options, key=lambda o: _preference(o, value)):
        try:
            return _coerce(option, value, path)
        except StripeAPIError as exc:
            if first is None:
                first = exc
    if first is None:
        raise invalid_request(f"Invalid {path}", param=path)
    raise first


def _coerce_list(node: ListOf, value: Any, path: str) -> list[Any]:
    """A list, or a form-encoded `{"0": .., "1": ..}` map, item by item."""
    items: list[Any]
    if isinstance(value, list):
        items = value
    elif isinstance(value, dict) and all(k.isdigit() for k in value):
        items = [value[k] for k in sorted(value, key=int)]
    else:
        raise invalid_request(f"Invalid array: {path}", param=path)
    return [_coerce(node.item, v, _child(path, i)) for i, v in enumerate(items)]


def _coerce_object(node: Obj, value: Any, path: str) -> dict[str, Any]:
    """A TypedDict: unknown keys and missing required ones are refused."""
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {path}", param=path)
    fields = node.fields()
    out: dict[str, Any] = {}
    for key, sub in value.items():
        spec = fields.get(key)
        if spec is None:
            raise unknown_parameter(_child(path, key))
        out[key] = _coerce(spec, sub, _child(path, key))
    for key in sorted(node.required()):
        if key not in out:
            raise missing_parameter(_child(path, key))
    return out


def _preference(node: Node, value: Any) -> int:
    """Try union members that match the value's shape first (better errors)."""
    structured = isinstance(value, dict | list)
    if isinstance(node, Obj | MapOf | ListOf):
        return 0 if structured else 1
    return 1 if structured else 0


def _coerce_scalar(kind: str, value: Any, path: str) -> Any:
    if kind == "any":
        return value
    if not isinstance(value, str):
        raise invalid_request(f"Invalid {kind_name(kind)}: {path}", param=path)
    if kind == "str":
        return value
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise invalid_request(f"Invalid integer: {value}", param=path) from None
    if kind == "float":
        try:
            return float(value)
        except ValueError:
            raise invalid_request(f"Invalid decimal: {value}", param=path) from None
    if value in ("true", "false"):
        return value == "true"
    raise invalid_request(f"Invalid boolean: {value}", param=path)


def kind_name(kind: str) -> str:
    return {"str": "string", "int": "integer", "bool": "boolean", "float": "decimal"}.get(
        kind, kind
    )

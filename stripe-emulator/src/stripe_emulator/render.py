"""Turning stored objects into responses: private keys, includables, expansion."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import invalid_request

if TYPE_CHECKING:
    from .context import Ctx

JSONDict = dict[str, Any]

# (object type, field) -> producer. "Includable" fields are absent from
# responses unless named in expand[] (price.currency_options, price.tiers,
# checkout.session.line_items, ...). A producer of None means "the value kept
# in the stored object under that key".
Includer = Callable[["Ctx", JSONDict], Any]
INCLUDABLE: dict[tuple[str, str], Includer | None] = {}

MAX_EXPAND_DEPTH = 4


def register_includable(object_type: str, field: str, producer: Includer | None = None) -> None:
    INCLUDABLE[(object_type, field)] = producer


def strip(value: Any) -> Any:
    """Drop private `_...` keys and unrequested includables, recursively, in place."""
    if isinstance(value, dict):
        obj_type = value.get("object")
        typed = isinstance(obj_type, str)
        for key in [k for k in value if k[:1] == "_" or (typed and (obj_type, k) in INCLUDABLE)]:
            del value[key]
        # Recurse only into containers: events strip large objects on a hot path.
        for item in value.values():
            if isinstance(item, dict | list):
                strip(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                strip(item)
    return value


def expand_tree(paths: list[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid_request(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                f"Property: {path}",
                param="expand",
            )
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
    return tree


def expand(
    ctx: Ctx, value: Any, tree: dict[str, Any], trail: str = "", inner_type: str | None = None
) -> Any:
    """Expand ``value`` along ``tree``.

    ``inner_type`` names a plain hash inside an object (``checkout.session.total_details``)
    so includable fields of such hashes (``total_details.breakdown``) can be registered.
    """
    if not tree:
        return value
    if isinstance(value, list):
        return [expand(ctx, v, tree, trail) for v in value]
    if not isinstance(value, dict):
        return value
    obj_type = value.get("object") or inner_type
    for key, sub in tree.items():
        here = f"{trail}.{key}" if trail else key
        includer_key = (obj_type, key) if isinstance(obj_type, str) else None
        if includer_key is not None and includer_key in INCLUDABLE:
            producer = INCLUDABLE[includer_key]
            if producer is None:
                stored = ctx.store.get(value.get("id", "")) or {}
                produced = stored.get(key)
            else:
                produced = producer(ctx, value)
            value[key] = expand(ctx, strip(produced), sub, here)
            continue
        if key not in value:
            raise invalid_request(f"This property cannot be expanded ({here}).", param="expand")
        current = value[key]
        if isinstance(current, str):
            loaded = ctx.store.get(current)
            if loaded is None:
                raise invalid_request(f"This property cannot be expanded ({here}).", param="expand")
            value[key] = expand(ctx, strip(loaded), sub, here)
        elif isinstance(current, list):
            # A list of ids (subscription.discounts, invoice.discounts) expands item by item.
            value[key] = [_expand_member(ctx, v, sub, here) for v in current]
        elif isinstance(current, dict):
            nested = f"{obj_type}.{key}" if isinstance(obj_type, str) else None
            value[key] = expand(ctx, current, sub, here, nested)
    return value


def _expand_member(ctx: Ctx, member: Any, tree: dict[str, Any], trail: str) -> Any:
    if isinstance(member, str):
        loaded = ctx.store.get(member)
        if loaded is None:
            raise invalid_request(f"This property cannot be expanded ({trail}).", param="expand")
        return expand(ctx, strip(loaded), tree, trail)
    return expand(ctx, member, tree, trail)


def render(ctx: Ctx, obj: Any, expand_paths: list[str] | None = None) -> Any:
    """The response form of `obj`: stripped, then expanded per `expand_paths`."""
    strip(obj)
    if expand_paths:
        obj = expand(ctx, obj, expand_tree(expand_paths))
    return obj


def diff(old: Any, new: Any) -> Any:
    """Stripe's `previous_attributes`: old values of changed fields.

    Nested hashes are diffed key by key (a key added since has previous value
    null); arrays and scalars are reported whole.
    """
    out: JSONDict = {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        return old
    for key in set(old) | set(new):
        if key.startswith("_"):
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            out[key] = diff(before, after)
        else:
            out[key] = before
    return out

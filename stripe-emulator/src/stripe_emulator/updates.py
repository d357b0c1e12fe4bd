"""Applying create/update params to stored objects with Stripe's semantics."""

from __future__ import annotations

import copy
from typing import Any

from .params import UNSET

JSONDict = dict[str, Any]


def apply_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """`metadata=""` clears all keys; `metadata[k]=""` deletes k; others set/merge."""
    result = dict(current or {})
    if update == UNSET:
        return {}
    if isinstance(update, dict):
        for key, value in update.items():
            if value == UNSET:
                result.pop(key, None)
            else:
                result[key] = str(value)
    return result


def merge_hash(current: Any, update: Any) -> Any:
    """Nested hash update: given keys replace, "" unsets (null), others are kept."""
    if update == UNSET:
        return None
    if not isinstance(update, dict):
        return update
    out = dict(current) if isinstance(current, dict) else {}
    for key, value in update.items():
        if value == UNSET:
            out[key] = None
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_hash(out[key], value)
        else:
            out[key] = value
    return out


def apply_simple(obj: JSONDict, params: JSONDict, fields: tuple[str, ...]) -> JSONDict:
    """Copy scalar `fields` from params; "" means null (unset) as on Stripe."""
    for name in fields:
        if name in params:
            obj[name] = None if params[name] == UNSET else params[name]
    return obj


def snapshot(obj: JSONDict) -> JSONDict:
    return copy.deepcopy(obj)

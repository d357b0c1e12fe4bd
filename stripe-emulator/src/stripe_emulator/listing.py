"""List pagination, `created` range filters and the search query language."""

from __future__ import annotations

import base64
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from .errors import invalid_request, resource_missing

JSONDict = dict[str, Any]


def list_object(data: list[JSONDict], url: str, has_more: bool) -> JSONDict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def match_range(value: Any, spec: Any) -> bool:
    """`created=123` or `created[gte]=...&created[lt]=...` style filters."""
    if spec is None:
        return True
    if not isinstance(value, int):
        return False
    if isinstance(spec, int):
        return value == spec
    if isinstance(spec, dict):
        checks = {
            "gt": lambda b: value > b,
            "gte": lambda b: value >= b,
            "lt": lambda b: value < b,
            "lte": lambda b: value <= b,
        }
        return all(checks[k](int(v)) for k, v in spec.items() if k in checks)
    return True


def paginate(
    items: Iterable[JSONDict], params: JSONDict, url: str, *, object_label: str = "object"
) -> JSONDict:
    """Cursor pagination over ``items`` (newest first), Stripe style.

    ``items`` may be a lazy iterable (``Store.iter_all``): only what the page
    needs is consumed, plus one object to tell ``has_more``.
    """
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid_request(
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    remaining = iter(items)
    if after:
        if not any(obj["id"] == after for obj in remaining):
            raise resource_missing(object_label, after, param="starting_after")
    elif before:
        return _page_before(remaining, before, limit, url, object_label)
    page = list(islice(remaining, limit + 1))
    return list_object(page[:limit], url, len(page) > limit)


def _page_before(
    items: Iterator[JSONDict], before: str, limit: int, url: str, object_label: str
) -> JSONDict:
    """The ``limit`` objects just newer than ``before`` (ending_before)."""
    window: deque[JSONDict] = deque(maxlen=limit)
    dropped = False
    for obj in items:
        if obj["id"] == before:
            return list_object(list(window), url, dropped)
        dropped = dropped or len(window) == limit
        window.append(obj)
    raise resource_missing(object_label, before, param="ending_before")


# --------------------------------------------------------------------------
# search: `email:'a@b.c' AND metadata['plan']:'pro'`, `name~'acme'`, `created>1700000000`

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>[a-z_.]+(?:\[['"][^'"]+['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s]+)\s*"""
)


def _parse_query(query: str) -> tuple[str, list[tuple[bool, str, str, str]]]:
    tokens = re.split(r"\s+(AND|OR)\s+", query.strip())
    clauses: list[tuple[bool, str, str, str]] = []
    joiners = set(tokens[1::2])
    if len(joiners) > 1:
        raise invalid_request("Search queries cannot mix AND and OR.", param="query")
    for raw in tokens[0::2]:
        m = _CLAUSE.fullmatch(raw)
        if not m:
            raise invalid_request(f"Invalid search query: could not parse '{raw}'.", param="query")
        value = m["value"]
        if value[:1] in ("'", '"'):
            value = value[1:-1].replace("\\'", "'").replace('\\"', '"')
        clauses.append((bool(m["neg"]), m["field"], m["op"], value))
    return (joiners.pop() if joiners else "AND"), clauses


def _lookup(obj: JSONDict, field: str) -> Any:
    m = re.fullmatch(r"metadata\[['\"](.+)['\"]\]", field)
    if m:
        return (obj.get("metadata") or {}).get(m.group(1))
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if op in (">", "<", ">=", "<="):
        try:
            a, w = float(actual), float(wanted)
        except (TypeError, ValueError):
            return False
        return {">": a > w, "<": a < w, ">=": a >= w, "<=": a <= w}[op]
    if actual is None:
        return wanted == "null" and op == ":"
    if isinstance(actual, bool):
        actual = "true" if actual else "false"
    text = str(actual)
    if op == "~":
        return wanted.lower() in text.lower()
    return text.lower() == wanted.lower()


def search(
    items: Iterable[JSONDict],
    params: JSONDict,
    url: str,
    allowed_fields: set[str],
    field_map: dict[str, Callable[[JSONDict], Any]] | None = None,
) -> JSONDict:
    """Evaluate a Stripe search `query` over `items` and page the result."""
    query = params.get("query", "")
    joiner, clauses = _parse_query(query)
    for _neg, field, _op, _value in clauses:
        base = "metadata" if field.startswith("metadata[") else field
        if base not in allowed_fields:
            raise invalid_request(
                f"Field '{field}' is an unsupported search field for this resource. "
                f"Supported fields: {', '.join(sorted(allowed_fields))}.",
                param="query",
            )
    field_map = field_map or {}

    def ok(obj: JSONDict) -> bool:
        results = []
        for neg, field, op, value in clauses:
            getter = field_map.get(field)
            actual = getter(obj) if getter else _lookup(obj, field)
            hit = _compare(actual, op, value)
            results.append(hit != neg)
        return all(results) if joiner == "AND" else any(results)

    matched = [o for o in items if ok(o)]
    limit = params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid_request("Invalid limit: must be between 1 and 100", param="limit")
    offset = 0
    if params.get("page"):
        try:
            offset = int(base64.urlsafe_b64decode(params["page"].encode()).decode())
        except ValueError:
            raise invalid_request("Invalid page token.", param="page") from None
    page = matched[offset : offset + limit]
    has_more = len(matched) > offset + limit
    next_page = (
        base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if has_more else None
    )
    return {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": next_page,
        "url": url,
        "total_count": len(matched),
    }

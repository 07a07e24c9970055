"""WanGP v2's model search and pager, as `shared/mcp_v2.py` (13.x) does it, for the stand-in.

* Arguments are validated against the action's schema: unknown keys are refused (`additionalProperties: false`),
  `limit` is 1..100 (default 20); the error names the path and the allowed arguments, as WanGP's does.
* Filters are case-insensitive `*`/`?` globs on the compact record (a list field matches when any item does);
  `capabilities` must all be true.
* The first call stores the whole result under an opaque cursor (valid 10 minutes) and returns the first page:
  `{models, count, has_more, next_cursor}`; a later call with `cursor` (and the same filters) continues.
* `summary_only` returns the stored count without items (the trap issue 17.5 was about): no `models` key at all.
"""

from __future__ import annotations

import fnmatch
import time
import uuid
from typing import Any

from .common import ToolFailure

PAGE_SIZE = 20
MAX_LIMIT = 100
CURSOR_TTL_S = 600.0
SEARCH_ARGUMENTS = ("query", "filters", "specialities", "preferences", "limit", "cursor", "summary_only")
FILTER_KEYS = ("family", "base_model_type", "finetune", "model_type", "main_output", "inputs", "name", "capabilities")


class ResultPages:
    """Stored result lists behind opaque cursors (what WanGP's `shared/mcp_paging.ResultPages` keeps)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._stored: dict[str, tuple[Any, list[Any], float]] = {}

    def page(
        self, query: Any, records: list[Any] | None, *, key: str, limit: int, cursor: str | None, summary_only: bool
    ) -> dict[str, Any]:
        now = self._clock()
        self._stored = {c: v for c, v in self._stored.items() if v[2] > now}
        if cursor:
            stored = self._stored.get(cursor)
            if stored is None:
                raise ToolFailure("Unknown or expired cursor; repeat the call without cursor.")
            if stored[0] != query:
                raise ToolFailure("cursor belongs to a different query; continue with unchanged filters.")
            start = int(cursor.rsplit(":", 1)[1])
            records = stored[1]
        else:
            start, records = 0, list(records or [])
        if summary_only:
            return {"count": len(records), "has_more": False, "next_cursor": None}
        page = records[start : start + limit]
        more = start + limit < len(records)
        next_cursor = None
        if more:
            next_cursor = f"{uuid.uuid4().hex}:{start + limit}"
            self._stored[next_cursor] = (query, records, now + CURSOR_TTL_S)
        return {key: page, "count": len(page), "has_more": more, "next_cursor": next_cursor}


def _check_arguments(arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        raise ToolFailure("arguments: must be an object. Allowed arguments: " + ", ".join(SEARCH_ARGUMENTS) + ".")
    for name in arguments:
        if name not in SEARCH_ARGUMENTS:
            raise ToolFailure(
                f"arguments: Additional properties are not allowed ('{name}' was unexpected). "
                f"Allowed arguments: {', '.join(SEARCH_ARGUMENTS)}."
            )
    limit = arguments.get("limit", PAGE_SIZE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ToolFailure(f"limit: {limit!r} is not an integer from 1 to {MAX_LIMIT}. Required arguments: none.")
    filters = arguments.get("filters") or {}
    for name in filters:
        if name not in FILTER_KEYS:
            raise ToolFailure(
                f"filters: Additional properties are not allowed ('{name}' was unexpected). "
                f"Allowed arguments: {', '.join(SEARCH_ARGUMENTS)}."
            )
    return arguments


def _matches(record: dict[str, Any], filters: dict[str, Any], query: str) -> bool:
    for name, pattern in filters.items():
        if name == "capabilities":
            caps = record.get("capabilities") or {}
            if not all(caps.get(c, False) for c in pattern):
                return False
            continue
        value = record.get(name)
        values = value if isinstance(value, list) else [value]
        if not any(fnmatch.fnmatch(str(v).lower(), str(pattern).lower()) for v in values):
            return False
    if query:
        text = " ".join(str(record.get(k, "")) for k in ("name", "model_type", "family", "description")).lower()
        return query.lower() in text
    return True


def compact_v2(record: dict[str, Any]) -> dict[str, Any]:
    """A v2 compact model record: capabilities as a list of names, media inputs as lists of roles."""
    caps = record.get("capabilities") or {}
    media = record.get("media_inputs") or {"image": {"start": "image" in record.get("inputs", [])}}
    return {
        "model_type": record["model_type"],
        "name": record.get("name", record["model_type"]),
        "capabilities": [name for name, on in caps.items() if on],
        "media_inputs": {kind: [role for role, on in roles.items() if on] for kind, roles in media.items()},
        "accelerated": "native" if "distill" in record["model_type"] else "none",
    }


def search_v2(pages: ResultPages, catalog: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    """`wangp_models` on v2: the query shortcut or action="search" with arguments, paged."""
    for name in args:
        if name not in ("action", "arguments", "query"):
            raise ToolFailure(f"1 validation error for wangp_models: {name}: Extra inputs are not permitted")
    if args.get("query") is not None:
        action, arguments = "search", {"query": args["query"]}
    else:
        action, arguments = args.get("action"), args.get("arguments")
    if action is None:
        return {"status": "discovery", "actions": {"search": "Find models.", "specialities": "List specialities."}}
    if action != "search":
        raise ToolFailure(f"Unknown or unavailable action: {action}. Available actions: search, specialities.")
    if arguments is None:
        return {"status": "schema", "action": {"name": "search", "parameters": {"properties": list(SEARCH_ARGUMENTS)}}}
    arguments = _check_arguments(arguments)
    filters = dict(arguments.get("filters") or {})
    query = str(arguments.get("query") or "")
    records = None
    if not arguments.get("cursor"):
        records = [compact_v2(r) for r in catalog if _matches(r, filters, query)]
    result = pages.page(
        ["models", action, filters, query],
        records,
        key="models",
        limit=arguments.get("limit", PAGE_SIZE),
        cursor=arguments.get("cursor"),
        summary_only=bool(arguments.get("summary_only", False)),
    )
    if result["has_more"]:
        result["next_call"] = {"action": action, "arguments": {**arguments, "cursor": result["next_cursor"]}}
    return result

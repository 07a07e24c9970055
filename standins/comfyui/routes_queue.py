"""Submit, queue and history routes: `POST /prompt` (validated like the server), `/queue`, `/interrupt`,
`/free`, `/history`. Shapes and quirks as captured (`06`, `08`, `12`): the number counter also counts
rejected prompts, `200 {}` for unknown history, empty-bodied 200s for the "just act" POSTs. Runs on the loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .validation import err, validate_prompt

SERVER_TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


def canonical_uuid(value: Any) -> bool:
    """0.38's `validate_job_id`: a string that round-trips unchanged through UUID parsing."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class QueueRoutesMixin:
    """Submit/queue/history handlers for `ComfyUIStandIn`."""

    v038: bool
    dirs: dict[str, Path]
    object_info: dict[str, Any]
    queue: list[list[Any]]
    running: list[Any] | None
    history: dict[str, Any]
    cache: dict[str, Any]
    vram_free_gb: float
    vram_total_gb: float
    _number: int
    _interrupt: str | None
    _wake: asyncio.Event

    if TYPE_CHECKING:

        async def _broadcast_status(self) -> None: ...  # provided by ws

        def _exec_info(self) -> dict[str, Any]: ...  # provided by ws

    def file_exists(self, name: str) -> bool:
        """`folder_paths.exists_annotated_filepath`: `name [output]` etc., default input/; never outside."""
        kind = "input"
        m = re.match(r"^(.*) \[(output|input|temp)\]$", name)
        if m:
            name, kind = m.group(1), m.group(2)
        base = self.dirs[kind].resolve()
        path = (base / name).resolve()
        return path.is_file() and os.path.commonpath([base, path]) == str(base)

    async def h_post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=500, text=SERVER_TROUBLE)
        if not isinstance(body, dict):
            body = {}
        if "number" in body:
            try:
                number: float | int = float(body["number"])
            except (TypeError, ValueError):
                return web.Response(status=500, text=SERVER_TROUBLE)
        else:
            number = -self._number if body.get("front") else self._number
            self._number += 1  # counts rejected prompts too (captured)
        if "prompt" not in body:
            error = err("no_prompt", "No prompt provided", "No prompt provided")
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        if self.v038:
            raw = body.get("prompt_id")
            if raw is not None and not canonical_uuid(raw):
                details = f"prompt_id {raw!r} is not a canonical lowercase hyphenated UUID"
                error = err("invalid_prompt_id", "prompt_id must be a valid UUID", details)
                return web.json_response({"error": error, "node_errors": {}}, status=400)
            pid = raw or str(uuid.uuid4())
        else:
            pid = str(body["prompt_id"]) if "prompt_id" in body else str(uuid.uuid4())  # null -> "None"
        graph = copy.deepcopy(body["prompt"])
        verdict = validate_prompt(
            graph,
            self.object_info,
            body.get("partial_execution_targets"),
            v038=self.v038,
            file_exists=self.file_exists,
        )
        if not verdict.ok:
            return web.json_response({"error": verdict.error, "node_errors": verdict.node_errors}, status=400)
        extra = body.get("extra_data") if isinstance(body.get("extra_data"), dict) else {}
        extra = dict(extra or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        if self.v038:
            extra["create_time"] = int(time.time() * 1000)
            source = request.headers.get("Comfy-Usage-Source")
            if source and "comfy_usage_source" not in extra:
                extra["comfy_usage_source"] = source
        self.queue.append([number, pid, graph, extra, verdict.outputs])
        await self._broadcast_status()
        self._wake.set()
        return web.json_response({"prompt_id": pid, "number": number, "node_errors": verdict.node_errors})

    async def h_get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._exec_info())

    async def h_get_queue(self, request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [self.running] if self.running else [], "queue_pending": self.queue})

    async def h_post_queue(self, request: web.Request) -> web.Response:
        body = await json_or_empty(request)
        if body.get("clear"):
            self.queue.clear()
        ids = set(body.get("delete") or [])
        if ids:
            self.queue = [item for item in self.queue if item[1] not in ids]
        await self._broadcast_status()
        return web.Response(status=200)

    async def h_interrupt(self, request: web.Request) -> web.Response:
        body = await json_or_empty(request)
        pid = body.get("prompt_id")
        if self.running is not None and (not pid or pid == self.running[1]):
            self._interrupt = self.running[1]
        return web.Response(status=200)

    async def h_free(self, request: web.Request) -> web.Response:
        body = await json_or_empty(request)
        if body.get("free_memory"):
            self.cache.clear()
        if body.get("unload_models") or body.get("free_memory"):
            self.vram_free_gb = self.vram_total_gb
        return web.Response(status=200)

    async def h_history(self, request: web.Request) -> web.Response:
        items = list(self.history.items())
        offset = int(request.query.get("offset", 0) or 0)
        if "max_items" in request.query:
            n = int(request.query["max_items"])
            items = items[offset : offset + n] if "offset" in request.query else (items[-n:] if n else [])
        else:
            items = items[offset:]
        return web.json_response(dict(items))

    async def h_history_one(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def h_post_history(self, request: web.Request) -> web.Response:
        body = await json_or_empty(request)
        if body.get("clear"):
            self.history.clear()
        for pid in body.get("delete") or []:
            self.history.pop(pid, None)
        return web.Response(status=200)


async def json_or_empty(request: web.Request) -> dict[str, Any]:
    """The JSON body, or {} when it is missing or not an object (the real handlers tolerate that)."""
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}

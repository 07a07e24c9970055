"""0.38's jobs API (`server.py` get_jobs / get_job_by_id / cancel routes, `comfy_execution/jobs.py`):
`GET /api/jobs`, `GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`, `POST /api/jobs/cancel`.

Status names, the 404 JSON body, the pagination object and the atomic cancel are as in `comfyui-0.38.md` §1.2;
None-valued fields are dropped like the server's `prune_dict`. Registered only in 0.38 mode. Runs on the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .routes_queue import canonical_uuid, json_or_empty

STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]
VISUAL_KEYS = ("images", "video", "gifs", "3d")


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _queued(item: list[Any], status: str) -> dict[str, Any]:
    number, pid, _, extra, _ = item[:5]
    workflow = (extra.get("extra_pnginfo") or {}).get("workflow") or {}
    return _prune(
        {
            "id": pid,
            "status": status,
            "priority": number,
            "create_time": extra.get("create_time"),
            "outputs_count": 0,
            "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
        }
    )


def _outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """`normalize_outputs`: bare 3D file strings in `result` become file items."""
    out: dict[str, Any] = {}
    for nid, ui in outputs.items():
        ui = dict(ui or {})
        files = []
        for value in ui.get("result") or []:
            if isinstance(value, str):
                name = value.removesuffix(" [output]")
                if name.lower().endswith((".obj", ".fbx", ".gltf", ".glb", ".usdz")):
                    sub, _, base = name.rpartition("/")
                    files.append({"filename": base, "type": "output", "subfolder": sub, "mediaType": "3d"})
        if files and "3d" not in ui:
            ui["3d"] = files
        out[nid] = ui
    return out


def _summary(outputs: dict[str, Any]) -> tuple[int, int, dict[str, Any] | None]:
    count = previewable = 0
    first_saved = first_temp = None
    for nid, ui in outputs.items():
        for key, items in (ui or {}).items():
            if key == "animated" or not isinstance(items, list):
                continue
            for item in items:
                count += 1
                if isinstance(item, dict) and key in VISUAL_KEYS:
                    previewable += 1
                    entry = {**item, "nodeId": nid, "mediaType": key}
                    if item.get("type") == "output" and first_saved is None:
                        first_saved = entry
                    elif item.get("type") == "temp" and first_temp is None:
                        first_temp = entry
    return count, previewable, first_saved or first_temp


def _finished(pid: str, entry: dict[str, Any], *, detail: bool) -> dict[str, Any]:
    number, _, graph, extra, _ = entry["prompt"][:5]
    status_info = entry.get("status") or {}
    messages = status_info.get("messages") or []
    names = [m[0] for m in messages if isinstance(m, list) and m]
    if status_info.get("status_str") == "error":
        status = "cancelled" if "execution_interrupted" in names else "failed"
    else:
        status = "completed"
    start = end = error = None
    for name, data in (m for m in messages if isinstance(m, list) and len(m) >= 2):
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            if name == "execution_error":
                error = data
    outputs = _outputs(entry.get("outputs") or {})
    count, previewable, preview = _summary(outputs)
    workflow = (extra.get("extra_pnginfo") or {}).get("workflow") or {}
    job = _prune(
        {
            "id": pid,
            "status": status,
            "priority": number,
            "create_time": extra.get("create_time"),
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": count,
            "previewable_outputs_count": previewable,
            "preview_output": preview,
            "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
        }
    )
    if detail:
        job |= {"outputs": outputs, "execution_status": status_info, "workflow": {"prompt": graph, "extra_data": extra}}
    return job


class JobsApiMixin:
    """Jobs API handlers for `ComfyUIStandIn` (0.38 mode only)."""

    queue: list[list[Any]]
    running: list[Any] | None
    history: dict[str, Any]
    _interrupt: str | None

    if TYPE_CHECKING:

        async def _broadcast_status(self) -> None: ...  # provided by ws

    def _all_jobs(self) -> list[dict[str, Any]]:
        jobs = [_queued(self.running, "in_progress")] if self.running else []
        jobs += [_queued(item, "pending") for item in self.queue]
        jobs += [_finished(pid, entry, detail=False) for pid, entry in self.history.items()]
        return jobs

    async def h_jobs(self, request: web.Request) -> web.Response:
        q = request.query
        statuses = None
        if q.get("status"):
            statuses = [s.strip().lower() for s in q["status"].split(",") if s.strip()]
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                message = f"Invalid status value(s): {', '.join(bad)}. Valid values: {', '.join(STATUSES)}"
                return web.json_response({"error": message}, status=400)
        sort_by, order = q.get("sort_by", "created_at").lower(), q.get("sort_order", "desc").lower()
        if sort_by not in ("created_at", "execution_duration"):
            return web.json_response({"error": "sort_by must be 'created_at' or 'execution_duration'"}, status=400)
        if order not in ("asc", "desc"):
            return web.json_response({"error": "sort_order must be 'asc' or 'desc'"}, status=400)
        limit: int | None = None
        if "limit" in q:
            try:
                limit = int(q["limit"])
            except ValueError:
                return web.json_response({"error": "limit must be an integer"}, status=400)
            if limit <= 0:
                return web.json_response({"error": "limit must be a positive integer"}, status=400)
        try:
            offset = max(0, int(q.get("offset", 0)))
        except ValueError:
            return web.json_response({"error": "offset must be an integer"}, status=400)
        jobs = [j for j in self._all_jobs() if statuses is None or j["status"] in statuses]
        if q.get("workflow_id"):
            jobs = [j for j in jobs if j.get("workflow_id") == q["workflow_id"]]

        def key(job: dict[str, Any]) -> float:
            if sort_by == "execution_duration":
                return float(job.get("execution_end_time", 0) - job.get("execution_start_time", 0))
            return float(job.get("create_time", 0))

        jobs.sort(key=key, reverse=order == "desc")
        total = len(jobs)
        page = jobs[offset : offset + limit] if limit is not None else jobs[offset:]
        pagination = {"offset": offset, "limit": limit, "total": total, "has_more": offset + len(page) < total}
        return web.json_response({"jobs": page, "pagination": pagination})

    def job(self, pid: str) -> dict[str, Any] | None:
        """One job in full, looked up like the server: running and pending first, then history."""
        if self.running and self.running[1] == pid:
            return _queued(self.running, "in_progress")
        for item in self.queue:
            if item[1] == pid:
                return _queued(item, "pending")
        if pid in self.history:
            return _finished(pid, self.history[pid], detail=True)
        return None

    async def h_job(self, request: web.Request) -> web.Response:
        job = self.job(request.match_info["id"])
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    async def _cancel(self, pid: str) -> bool:
        """Dequeue if pending, else interrupt if (still) running: one atomic step on the loop."""
        before = len(self.queue)
        self.queue = [item for item in self.queue if item[1] != pid]
        if len(self.queue) != before:
            await self._broadcast_status()
            return True
        if self.running is not None and self.running[1] == pid:
            self._interrupt = pid
            return True
        return False

    async def h_job_cancel(self, request: web.Request) -> web.Response:
        return web.json_response({"cancelled": await self._cancel(request.match_info["id"])})

    async def h_jobs_cancel_batch(self, request: web.Request) -> web.Response:
        body = await json_or_empty(request)
        ids = body.get("job_ids")
        if not isinstance(ids, list) or not all(canonical_uuid(i) for i in ids):
            return web.json_response({"error": "job_ids must be a list of valid UUIDs"}, status=400)
        cancelled = [pid for pid in ids if await self._cancel(pid)]
        return web.json_response({"cancelled": cancelled})

"""Where a prompt is on the server, and cancelling it: the jobs API (ComfyUI 0.36+), else /history and /queue.

Loop thread only. The jobs API answers "queued, running, finished or unknown" in one call and cancels
atomically; older servers need /history (200 `{}` for unknown *and* unfinished), /queue, and a short second look
for the history race, and cancelling there must handle a job that starts between the queue read and the delete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ...runtime.errors import GenBridgeError
from . import errors
from .models import HistoryEntry, JobRecord, QueueState
from .transport import ComfyHTTP

QUEUED, RUNNING, FINISHED, LOST = "queued", "running", "finished", "lost"
HISTORY_RACE_S = 0.2  # history is written a moment after execution_success


@dataclass
class Where:
    """A prompt's place: QUEUED, RUNNING, FINISHED (with outputs, or the error it ended with) or LOST."""

    state: str
    outputs: dict[str, Any] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    error: GenBridgeError | None = None


def jobs_path(http: ComfyHTTP, rest: str = "") -> str:
    """The jobs API lives at `/api/jobs` on the server root: never add the `/api` prefix twice."""
    return ("/jobs" if http.prefix == "/api" else "/api/jobs") + rest


async def has_jobs_api(http: ComfyHTTP) -> bool:
    status, body = await http.request("GET", jobs_path(http), params={"limit": "1"})
    return status == 200 and isinstance(body, dict) and "jobs" in body and "pagination" in body


async def locate(http: ComfyHTTP, prompt_id: str, graph: dict[str, Any], *, jobs_api: bool) -> Where:
    if jobs_api:
        where = await _from_jobs_api(http, prompt_id, graph)
        if where is not None:
            return where
    return await _from_history_and_queue(http, prompt_id, graph)


async def _from_jobs_api(http: ComfyHTTP, prompt_id: str, graph: dict[str, Any]) -> Where | None:
    status, body = await http.request("GET", jobs_path(http, f"/{prompt_id}"))
    if status == 404:
        # 404 with a JSON `error` = unknown to the server; a bare 404 = no jobs API after all (a proxy in between).
        return Where(LOST) if isinstance(body, dict) and "error" in body else None
    if status != 200 or not isinstance(body, dict):
        return None
    record = JobRecord.model_validate(body)
    if record.status == "pending":
        return Where(QUEUED)
    if record.status == "in_progress":
        return Where(RUNNING)
    where = Where(FINISHED, outputs=record.outputs, cached=record.cached_nodes())
    if record.status == "failed":
        where.error = errors.execution_error(
            record.execution_error or {}, graph, endpoint=http.base, prompt_id=prompt_id
        )
    elif record.status == "cancelled":
        where.error = errors.interrupted(endpoint=http.base, prompt_id=prompt_id)
    elif record.status != "completed":
        return None
    return where


async def _from_history_and_queue(http: ComfyHTTP, prompt_id: str, graph: dict[str, Any]) -> Where:
    entry = await history(http, prompt_id)
    if entry is not None:
        return finished(entry, http, prompt_id, graph)
    q = await queue(http)
    if prompt_id in q.running_ids():
        return Where(RUNNING)
    if prompt_id in q.pending_ids():
        return Where(QUEUED)
    await asyncio.sleep(HISTORY_RACE_S)
    entry = await history(http, prompt_id)
    return finished(entry, http, prompt_id, graph) if entry is not None else Where(LOST)


def finished(entry: HistoryEntry, http: ComfyHTTP, prompt_id: str, graph: dict[str, Any]) -> Where:
    cached = entry.message("execution_cached") or {}
    where = Where(FINISHED, outputs=entry.outputs, cached=[str(n) for n in cached.get("nodes") or []])
    if entry.status.status_str == "error":
        last = entry.status.messages[-1] if entry.status.messages else ["", {}]
        if last[0] == "execution_interrupted":
            where.error = errors.interrupted(endpoint=http.base, prompt_id=prompt_id)
        else:
            data = last[1] if len(last) > 1 and isinstance(last[1], dict) else {}
            where.error = errors.execution_error(data, graph, endpoint=http.base, prompt_id=prompt_id)
    return where


async def history(http: ComfyHTTP, prompt_id: str) -> HistoryEntry | None:
    """The finished prompt's entry, or None: `200 {}` means unknown or not finished, never failed."""
    status, body = await http.request("GET", f"/history/{prompt_id}")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get(prompt_id), dict):
        return None
    return HistoryEntry.model_validate(body[prompt_id])


async def queue(http: ComfyHTTP) -> QueueState:
    _, body = await http.request("GET", "/queue")
    return QueueState.model_validate(body if isinstance(body, dict) else {})


async def cancel(http: ComfyHTTP, prompt_id: str, *, jobs_api: bool, wait_s: float) -> None:
    """Dequeue or interrupt the prompt (only ours, never the global interrupt); wait at most `wait_s` for it."""
    if jobs_api:
        status, body = await http.request("POST", jobs_path(http, f"/{prompt_id}/cancel"))
        if status == 200 and isinstance(body, dict):
            if not body.get("cancelled"):
                return  # already finished, or unknown
            await _wait_gone(http, prompt_id, wait_s, jobs_api=True)
            return
    q = await queue(http)
    if prompt_id in q.pending_ids():
        await http.request("POST", "/queue", json={"delete": [prompt_id]})
        q = await queue(http)  # it may have started between the read and the delete
    if prompt_id in q.running_ids():
        await http.request("POST", "/interrupt", json={"prompt_id": prompt_id})
    elif prompt_id not in q.pending_ids():
        return
    await _wait_gone(http, prompt_id, wait_s, jobs_api=False)


async def withdraw(http: ComfyHTTP, prompt_id: str) -> bool:
    """Take back a prompt the server has not started (to run it elsewhere): True when it will not run here.

    A prompt that starts between the queue read and the delete keeps running and we say False; the second read
    tells the two apart. Works on every version: the jobs API cancel would also interrupt a running prompt.
    """
    if prompt_id not in (await queue(http)).pending_ids():
        return False
    await http.request("POST", "/queue", json={"delete": [prompt_id]})
    q = await queue(http)
    return prompt_id not in q.running_ids() and prompt_id not in q.pending_ids()


async def _wait_gone(http: ComfyHTTP, prompt_id: str, wait_s: float, *, jobs_api: bool) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if jobs_api:
            where = await _from_jobs_api(http, prompt_id, {})
            if where is None or where.state in (FINISHED, LOST):
                return
        else:
            q = await queue(http)
            if prompt_id not in q.running_ids() and prompt_id not in q.pending_ids():
                return
        await asyncio.sleep(0.1)

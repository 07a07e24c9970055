"""Pure draw functions: `draw_x(layout, state)` with plain data, so tests can call them with a recording layout."""

from __future__ import annotations

from typing import Any

from ..runtime.services import SERVICE_TITLES

STATE_ICONS = {
    "queued": "TIME",
    "submitted": "EXPORT",
    "running": "PLAY",
    "downloading": "IMPORT",
    "done": "CHECKMARK",
    "failed": "ERROR",
    "cancelled": "CANCEL",
    "interrupted": "PAUSE",
}


def draw_status(layout: Any, services: dict[str, dict[str, Any]], checking: bool) -> None:
    box = layout.box()
    row = box.row()
    row.label(text="Services", icon="WORLD")
    row.operator("genbridge.check_services", text="Checking..." if checking else "Check", icon="FILE_REFRESH")
    if not services:
        box.label(text="Not checked yet" if not checking else "Checking...", icon="INFO")
        return
    for result in services.values():
        title = SERVICE_TITLES.get(result.get("service", ""), result.get("service", ""))
        ok = result.get("reachable")
        line = box.row()
        line.label(text=f"{title} {result.get('label') or result.get('url')}", icon="CHECKMARK" if ok else "ERROR")
        if ok:
            free, total = result.get("vram_free_gb"), result.get("vram_total_gb")
            vram = f"{free:.1f}/{total:.1f} GB" if free is not None and total is not None else "VRAM ?"
            line.label(text=f"{result.get('version') or '?'}  {vram}")
        elif result.get("error"):
            box.label(text=result["error"].get("message", ""), icon="BLANK1")


def draw_jobs(layout: Any, jobs: dict[str, dict[str, Any]], *, limit: int = 8) -> None:
    box = layout.box()
    box.label(text="Jobs", icon="SEQ_STRIP_DUPLICATE")
    if not jobs:
        box.label(text="No jobs yet")
        return
    for job in sorted(jobs.values(), key=lambda j: j.get("created_at", 0), reverse=True)[:limit]:
        state = job.get("state", "queued")
        col = box.column(align=True)
        head = col.row()
        head.label(text=f"{job.get('task', '')} {job.get('id', '')[:8]}", icon=STATE_ICONS.get(state, "QUESTION"))
        if state in ("queued", "submitted", "running", "downloading"):
            head.operator("genbridge.cancel_job", text="", icon="X").job_id = job["id"]
        col.progress(factor=float(job.get("progress", 0.0)), text=job.get("phase", state))
        plan = job.get("plan") or []
        if plan:
            col.label(text=plan[0].get("reason", ""), icon="FORWARD")
        if state == "failed" and job.get("error"):
            col.label(text=job["error"].get("hint", ""), icon="INFO")

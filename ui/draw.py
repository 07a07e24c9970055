"""Pure draw functions: `draw_x(layout, data)` with plain data, so tests call them with a recording layout.

Nothing here imports bpy or does I/O: every value comes from the bridge's plain-data caches (filled on the
main thread by the timer) or from property owners passed in (drawn with `layout.prop`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..runtime.services import SERVICE_TITLES
from .choices import TASKS, TEXT_TASKS, VIDEO_TASKS

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
ACTIVE_STATES = frozenset({"queued", "submitted", "running", "downloading"})
RETRY_STATES = frozenset({"done", "failed", "cancelled", "interrupted"})
TASK_TITLES = {key: title for key, title, _ in TASKS}
NOTICE_SECONDS = 30.0  # how long the panel repeats the last notification
JOB_LIST = "GENBRIDGE_UL_jobs"


@dataclass
class PanelState:
    """Everything the GenBridge panel shows, gathered by the panel class from the session and the context."""

    enabled: bool = True
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    checking: bool = False
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    active_job_id: str | None = None
    settings: Any = None  # the Scene's generate settings (drawn with layout.prop)
    list_owner: Any = None  # the WindowManager holding the job list rows
    notice: dict[str, Any] | None = None
    now: float = 0.0
    dependency_problems: list[str] = field(default_factory=list)


def draw_panel(layout: Any, state: PanelState) -> None:
    """The whole sidebar panel: notice, services, generate section, job list with the active job's details."""
    if not state.enabled:
        layout.label(text="GenBridge is not enabled", icon="ERROR")
        return
    draw_notice(layout, state.notice, state.now)
    draw_dependency_problems(layout, state.dependency_problems)
    draw_status(layout, state.services, state.checking)
    if state.settings is not None:
        draw_generate(layout, state.settings)
    draw_jobs(layout, state)


def draw_notice(layout: Any, notice: dict[str, Any] | None, now: float) -> None:
    if not notice or now - notice.get("at", 0.0) > NOTICE_SECONDS:
        return
    layout.label(text=notice.get("text", ""), icon="ERROR" if notice.get("level") == "ERROR" else "INFO")


def draw_dependency_problems(layout: Any, problems: list[str]) -> None:
    """A missing or broken bundled library: say which and how to fix it, instead of a traceback."""
    if not problems:
        return
    box = layout.box()
    box.label(text="GenBridge cannot run jobs:", icon="ERROR")
    for problem in problems:
        box.label(text=problem)


def checked_text(stamp: float | None) -> str:
    if not stamp:
        return "never checked"
    return "checked " + time.strftime("%H:%M:%S", time.localtime(stamp))


def vram_text(result: dict[str, Any]) -> str:
    free, total = result.get("vram_free_gb"), result.get("vram_total_gb")
    if free is None:
        return "VRAM unknown"
    return f"{free:.1f}/{total:.1f} GB free" if total else f"{free:.1f} GB free"


def draw_status(layout: Any, services: dict[str, dict[str, Any]], checking: bool) -> None:
    """Service status: one line per endpoint (icon, name, version, VRAM, last check) and the Check button."""
    box = layout.box()
    row = box.row()
    row.label(text="Services", icon="WORLD")
    row.operator("genbridge.check_services", text="Checking..." if checking else "Check", icon="FILE_REFRESH")
    if not services:
        if checking:
            box.label(text="Checking services...", icon="SORTTIME")
        else:
            box.label(text="Not checked yet: press Check", icon="INFO")
        return
    for result in services.values():
        service = result.get("service", "")
        name = result.get("label") or result.get("url", "")
        ok = bool(result.get("reachable"))
        col = box.column(align=True)
        col.label(text=f"{SERVICE_TITLES.get(service, service)}  {name}", icon="CHECKMARK" if ok else "ERROR")
        if ok:
            col.label(text=f"{result.get('version') or 'version ?'}  {vram_text(result)}", icon="BLANK1")
        error = result.get("error") or {}
        if error.get("message"):
            col.label(text=error["message"], icon="BLANK1")
        if error.get("hint"):
            col.label(text=error["hint"], icon="INFO")
        col.label(text=checked_text(result.get("checked_at")), icon="BLANK1")
    if checking:
        box.label(text="Checking again...", icon="SORTTIME")


def draw_generate(layout: Any, settings: Any) -> None:
    """The generate inputs (only those that matter for the chosen task) and the one Generate button."""
    box = layout.box()
    box.label(text="Generate", icon="RENDER_STILL")
    col = box.column(align=False)
    col.prop(settings, "task")
    col.prop(settings, "prompt")
    task = getattr(settings, "task", "image")
    if task not in TEXT_TASKS:
        col.prop(settings, "negative_prompt")
    col.prop(settings, "template")
    if task not in TEXT_TASKS:
        size = col.row(align=True)
        size.prop(settings, "width")
        size.prop(settings, "height")
        if task in VIDEO_TASKS:
            col.prop(settings, "frames")
        col.prop(settings, "steps")
        col.prop(settings, "seed")
    col.prop(settings, "service")
    col.prop(settings, "result_name")
    button = box.row()
    button.scale_y = 1.4
    button.operator("genbridge.generate", text="Generate", icon="PLAY")


def job_title(job: dict[str, Any]) -> str:
    task = job.get("task", "")
    return f"{TASK_TITLES.get(task, task)} {job.get('id', '')[:8]}"


def backend_text(job: dict[str, Any]) -> str:
    """Which service runs the job (or will), and why: the reason of the plan's first step."""
    plan = job.get("plan") or []
    service = job.get("service") or (plan[0].get("service") if plan else "")
    if not service:
        return "Not routed yet"
    title = SERVICE_TITLES.get(service, service)
    label = plan[0].get("label") if plan else ""
    return f"{title} {label}".strip()


def draw_job_item(layout: Any, job: dict[str, Any] | None) -> None:
    """One job list row: state icon, title, progress bar with the phase, and Cancel or Retry."""
    if job is None:
        layout.label(text="(job gone)", icon="QUESTION")
        return
    state = job.get("state", "queued")
    row = layout.row(align=True)
    row.label(text=job_title(job), icon=STATE_ICONS.get(state, "QUESTION"))
    row.progress(factor=float(job.get("progress") or 0.0), type="BAR", text=job.get("phase") or state)
    if state in ACTIVE_STATES:
        row.operator("genbridge.cancel_job", text="", icon="X").job_id = job["id"]
    elif state in RETRY_STATES:
        row.operator("genbridge.retry_job", text="", icon="FILE_REFRESH").job_id = job["id"]


def draw_job_detail(layout: Any, job: dict[str, Any]) -> None:
    """The active job: progress, phase, backend and why, error with its hint, actions, and the step preview."""
    state = job.get("state", "queued")
    box = layout.box()
    box.label(text=f"{job_title(job)}: {state}", icon=STATE_ICONS.get(state, "QUESTION"))
    box.progress(factor=float(job.get("progress") or 0.0), type="BAR", text=job.get("phase") or state)
    box.label(text=backend_text(job), icon="NETWORK_DRIVE")
    plan = job.get("plan") or []
    if plan and plan[0].get("reason"):
        box.label(text=plan[0]["reason"], icon="FORWARD")
    for change in plan[0].get("changes", ()) if plan else ():
        box.label(text=change, icon="MODIFIER")
    error = job.get("error") or {}
    if state == "failed" and error:
        box.label(text=error.get("message", "Failed"), icon="ERROR")
        if error.get("hint"):
            box.label(text=error["hint"], icon="INFO")
    for note in (job.get("notes") or [])[-2:]:
        box.label(text=note, icon="TEXT")
    actions = box.row(align=True)
    if state in ACTIVE_STATES:
        actions.operator("genbridge.cancel_job", text="Cancel", icon="X").job_id = job["id"]
    if state in RETRY_STATES:
        actions.operator("genbridge.retry_job", text="Retry", icon="FILE_REFRESH").job_id = job["id"]
    if job.get("outputs"):
        actions.operator("genbridge.open_output", text="Open Output", icon="FILE_FOLDER").job_id = job["id"]
    if job.get("preview_icon"):
        box.template_icon(icon_value=job["preview_icon"], scale=6.0)


def draw_jobs(layout: Any, state: PanelState) -> None:
    """The job list (a UIList over the WindowManager rows) and the details of its active job."""
    box = layout.box()
    header = box.row()
    header.label(text="Jobs", icon="SEQ_STRIP_DUPLICATE")
    if not state.jobs:
        box.label(text="No jobs yet")
        return
    header.operator("genbridge.clear_jobs", text="", icon="TRASH")
    if state.list_owner is not None:
        box.template_list(JOB_LIST, "", state.list_owner, "genbridge_jobs", state.list_owner, "genbridge_job_index")
    job = state.jobs.get(state.active_job_id or "")
    if job is not None:
        draw_job_detail(box, job)

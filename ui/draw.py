"""Pure draw functions: `draw_x(layout, data)` with plain data, so tests call them with a recording layout.

Nothing here imports bpy or does I/O: every value comes from the session's plain-data caches (filled on the
main thread by the timer) or from property owners passed in (drawn with `layout.prop`). Long messages are
wrapped to `chars` characters per line (worked out from the region width by the panel), so none is cut.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..blender.choices import CAMERA_SOURCES, FRAME_SOURCES, TEXT_TASKS, VIDEO_TASKS, task_title
from ..blender.template_fields import template_rows
from ..runtime.services import SERVICE_TITLES
from ..runtime.vocabulary import ACTIVE_STATES, STOPPED_STATES
from .wrap import DEFAULT_CHARS, draw_wrapped

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
NOTICE_SECONDS = 30.0  # how long the panel repeats the last notification
JOB_LIST = "GENBRIDGE_UL_jobs"
ROW_PHASE_CHARS = 18  # a job row's progress text; the full phase is in the detail box


@dataclass
class PanelState:
    """Everything the GenBridge panel shows, gathered by the panel class from the session and the context."""

    enabled: bool = True
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # "service|url" -> configured endpoint
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # "service|url" -> its latest check
    checking: bool = False
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    active_job_id: str | None = None
    settings: Any = None  # the Scene's generate settings (drawn with layout.prop)
    list_owner: Any = None  # the WindowManager holding the job list rows
    notice: dict[str, Any] | None = None
    now: float = 0.0
    dependency_problems: list[str] = field(default_factory=list)
    chars: int = DEFAULT_CHARS  # characters per label line in this region


def draw_panel(layout: Any, state: PanelState) -> None:
    """The whole panel in one column: notice, services, generate section, job list with the active job."""
    if not draw_head(layout, state):
        return
    draw_status(layout, state)
    if state.settings is not None:
        draw_generate(layout, state.settings)
    draw_jobs(layout, state)


def draw_head(layout: Any, state: PanelState) -> bool:
    """The parent panel: "not enabled", else the last notice and missing dependencies. False if not enabled."""
    if not state.enabled:
        layout.label(text="GenBridge is not enabled", icon="ERROR")
        return False
    draw_notice(layout, state.notice, state.now, state.chars)
    draw_dependency_problems(layout, state.dependency_problems, chars=state.chars)
    return True


def draw_notice(layout: Any, notice: dict[str, Any] | None, now: float, chars: int = DEFAULT_CHARS) -> None:
    if not notice or now - notice.get("at", 0.0) > NOTICE_SECONDS:
        return
    icon = "ERROR" if notice.get("level") == "ERROR" else "INFO"
    draw_wrapped(layout, notice.get("text", ""), chars, icon)


def draw_dependency_problems(
    layout: Any, problems: list[str], *, chars: int = DEFAULT_CHARS, width: float | None = None
) -> None:
    """A missing or broken bundled library: say which and how to fix it, instead of a traceback."""
    if not problems:
        return
    if width:
        from .wrap import chars_per_line

        chars = chars_per_line(width)
    box = layout.box()
    box.label(text="GenBridge cannot run jobs:", icon="ERROR")
    for problem in problems:
        draw_wrapped(box, problem, chars)


def checked_text(stamp: float | None) -> str:
    if not stamp:
        return "never checked"
    return "checked " + time.strftime("%H:%M:%S", time.localtime(stamp))


def vram_text(result: dict[str, Any]) -> str:
    free, total = result.get("vram_free_gb"), result.get("vram_total_gb")
    if free is None:
        return "VRAM unknown"
    return f"{free:.1f}/{total:.1f} GB free" if total else f"{free:.1f} GB free"


def check_ok(result: dict[str, Any]) -> bool:
    """A check passed only if the server answered AND raised nothing (a refused key is not a green check)."""
    return bool(result.get("reachable")) and not result.get("error")


def status_rows(state: PanelState) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(endpoint, its latest check or None) for exactly the configured endpoints, in preferences order."""
    if state.endpoints:
        return [(ep, state.services.get(key)) for key, ep in state.endpoints.items()]
    # No configuration known yet (first draw): the checked endpoints are all there is to show.
    return [(result, result) for result in state.services.values()]


def draw_status(layout: Any, state: PanelState, *, title: bool = True) -> None:
    """Service status: one block per configured endpoint (icon, name, version, VRAM, error, last check).
    `title=False` in the Services sub-panel, whose header already says it."""
    box = layout.box()
    row = box.row()
    if title:
        row.label(text="Services", icon="WORLD")
    row.operator("genbridge.check_services", text="Checking..." if state.checking else "Check", icon="FILE_REFRESH")
    rows = status_rows(state)
    if not any(result for _ep, result in rows):
        if state.checking:
            box.label(text="Checking services...", icon="SORTTIME")
        else:
            box.label(text="Not checked yet: press Check", icon="INFO")
        if not rows:
            return
    for endpoint, result in rows:
        draw_endpoint_status(box, endpoint, result, state)
    if state.checking and any(result for _ep, result in rows):
        box.label(text="Checking again...", icon="SORTTIME")


def draw_endpoint_status(
    layout: Any, endpoint: dict[str, Any], result: dict[str, Any] | None, state: PanelState
) -> None:
    service = endpoint.get("service", "")
    name = endpoint.get("label") or endpoint.get("url", "")
    col = layout.column(align=True)
    title = f"{SERVICE_TITLES.get(service, service)}  {name}"
    problem = endpoint.get("problem")
    if problem:  # left out of the runtime until fixed: say why and how, whatever an older check said
        draw_wrapped(col, title, state.chars, "ERROR")
        draw_wrapped(col, problem.get("message", ""), state.chars, "BLANK1")
        draw_wrapped(col, problem.get("hint", ""), state.chars, "INFO")
        return
    if result is None:
        draw_wrapped(col, title, state.chars, "SORTTIME" if state.checking else "QUESTION")
        col.label(text="checking..." if state.checking else "not checked yet", icon="BLANK1")
        return
    ok = check_ok(result)
    draw_wrapped(col, title, state.chars, "CHECKMARK" if ok else "ERROR")
    if ok:
        draw_wrapped(col, f"{result.get('version') or 'version ?'}  {vram_text(result)}", state.chars, "BLANK1")
    error = result.get("error") or {}
    if error.get("message"):
        draw_wrapped(col, error["message"], state.chars, "BLANK1")
    if error.get("hint"):
        draw_wrapped(col, error["hint"], state.chars, "INFO")
    col.label(text=checked_text(result.get("checked_at")), icon="BLANK1")


def draw_generate(layout: Any, settings: Any, capturing: str = "") -> None:
    """The generate inputs (only those that matter for the chosen task) and the one Generate button; `capturing`
    says which capture the Generate operator is making now (the session's cached text).

    With a template chosen, its own parameters replace the generic prompt, size, steps, seed and image fields."""
    col = layout.column(align=False)
    col.prop(settings, "task")
    line = col.row(align=True)
    line.prop(settings, "template")
    line.operator("genbridge.pick_template", text="", icon="VIEWZOOM")  # bundled and user templates
    error = getattr(settings, "params_error", "")
    if error:
        draw_wrapped(col, error, DEFAULT_CHARS, "ERROR")
    rows = template_rows(settings)
    task = getattr(settings, "task", "image")
    if rows:
        draw_template_params(col, rows)
    else:
        col.prop(settings, "prompt")
        if task not in TEXT_TASKS:
            col.prop(settings, "negative_prompt", text="Negative")  # the full name is in the tooltip
    if task not in TEXT_TASKS and not rows:
        size = col.row(align=True)
        size.prop(settings, "width")
        size.prop(settings, "height")
        if task in VIDEO_TASKS:
            col.prop(settings, "frames")
        col.prop(settings, "steps")
        col.prop(settings, "seed")
        draw_image_source(col, settings)
    col.prop(settings, "service")
    col.prop(settings, "result_name", text="Name")
    if capturing:
        text, _, hint = capturing.removeprefix("GenBridge: ").partition(" — ")  # two lines: the sidebar is narrow
        layout.label(text=text[:1].upper() + text[1:], icon="RENDER_STILL")
        if hint:
            layout.label(text=hint, icon="BLANK1")
    button = layout.row()
    button.scale_y = 1.4
    button.operator("genbridge.generate", text="Generate", icon="PLAY")


def param_label(row: Any) -> str:
    """ "negative_prompt" -> "Negative Prompt" (a required one is marked with *)."""
    return row.name.replace("_", " ").title() + (" *" if getattr(row, "required", False) else "")


def draw_template_params(layout: Any, rows: list[Any]) -> None:
    """One typed field per template parameter, drawn by kind (values live in the row's field for that kind)."""
    box = layout.box()
    for row in rows:
        label = param_label(row)
        if row.kind == "prompt":
            # Blender has no multi-line text field in a panel: a full-width field under its own label, taller.
            box.label(text=label)
            field = box.row()
            field.scale_y = 1.6
            field.prop(row, "string_value", text="")
        elif row.kind == "choice":
            box.prop(row, "choice", text=label)
        elif row.kind == "int":
            limits = f" ({row.int_min}..{row.int_max})" if row.has_min and row.has_max else ""
            box.prop(row, "int_value", text=label + limits)
        elif row.kind == "seed":
            line = box.row(align=True)
            line.prop(row, "int_value", text=label)
            line.label(text="", icon="QUESTION" if row.int_value < 0 else "LOCKED")  # -1: random per job
        elif row.kind == "float":
            box.prop(row, "float_value", text=label)
        elif row.kind == "image":
            draw_image_param(box, row, label)
        else:
            box.prop(row, "string_value", text=label)


def draw_image_param(layout: Any, row: Any, label: str) -> None:
    """An image parameter's source picker and what the source needs: a file, an Image Editor image, or for a scene
    capture the camera (camera renders and passes; empty = the scene's active camera) and the frame (those, the
    viewport and the Sequencer; a number field beside it for Frame Number)."""
    col = layout.column(align=True)
    col.prop(row, "image_source", text=label)
    source = row.image_source
    if source == "FILE":
        col.prop(row, "image_path", text="File")
    elif source == "IMAGE_EDITOR":
        col.prop(row, "image_name", text="Image", icon="IMAGE_DATA")
    if source in CAMERA_SOURCES:
        col.prop(row, "image_camera", text="Camera", icon="CAMERA_DATA")
    if source in FRAME_SOURCES:
        line = col.row(align=True)
        line.prop(row, "image_frame", text="Frame")
        if getattr(row, "image_frame", "CURRENT") == "NUMBER":
            line.prop(row, "image_frame_number", text="")


def draw_image_source(layout: Any, settings: Any) -> None:
    """The image input's source picker, and what that source needs (a file, an image, the parameter it feeds)."""
    source = getattr(settings, "image_source", "NONE")
    layout.prop(settings, "image_source", text="Image")
    if source == "FILE":
        layout.prop(settings, "image_path", text="File")
    elif source == "IMAGE_EDITOR":
        layout.prop(settings, "image_name", text="Image", icon="IMAGE_DATA")
    if source != "NONE":
        layout.prop(settings, "image_param", text="Feeds")


def job_title(job: dict[str, Any]) -> str:
    """ "Keyframe: Shot 01 key T1" or "Image 1a2b3c4d": the task's title, then the result's name or the id."""
    title = task_title(job.get("task", ""))
    name = (job.get("target") or {}).get("name")
    if name and name.lower().startswith(title.lower()):
        return name  # "Shot List 1a2b", not "Shot List: Shot List 1a2b"
    return f"{title}: {name}" if name else f"{title} {job.get('id', '')[:8]}"


def backend_text(job: dict[str, Any]) -> str:
    """Which service runs the job (or will): "ComfyUI at gpu-box" (plan labels already name the service)."""
    plan = job.get("plan") or []
    service = job.get("service") or (plan[0].get("service") if plan else "")
    if not service:
        return "Not routed yet"
    title = SERVICE_TITLES.get(service, service)
    step = next((s for s in plan if s.get("instance") == job.get("instance")), plan[0] if plan else {})
    label = step.get("label") or ""
    if label.lower().startswith(title.lower()):
        return label
    return f"{title} {label}".strip()


def row_phase(job: dict[str, Any]) -> str:
    """A job row's short progress text: the state for a finished job, else the phase (the detail box has all)."""
    state = job.get("state", "queued")
    if state in STOPPED_STATES:
        return state.capitalize()
    phase = job.get("phase") or state.capitalize()
    return phase if len(phase) <= ROW_PHASE_CHARS else phase[: ROW_PHASE_CHARS - 1] + "…"


def draw_job_item(layout: Any, job: dict[str, Any] | None) -> None:
    """One job list row: state icon, title, progress bar with a short phase, and Cancel or Retry."""
    if job is None:
        layout.label(text="(job gone)", icon="QUESTION")
        return
    state = job.get("state", "queued")
    split = layout.split(factor=0.6, align=True)  # the title gets most of a narrow sidebar's row
    split.label(text=job_title(job), icon=STATE_ICONS.get(state, "QUESTION"))
    row = split.row(align=True)
    row.progress(factor=float(job.get("progress") or 0.0), type="BAR", text=row_phase(job))
    if state in ACTIVE_STATES:
        row.operator("genbridge.cancel_job", text="", icon="X").job_id = job["id"]
    elif state in STOPPED_STATES:
        row.operator("genbridge.retry_job", text="", icon="FILE_REFRESH").job_id = job["id"]


CAPTURE_TITLES = {
    "camera": "camera render",
    "depth": "depth pass",
    "normal": "normal pass",
    "mist": "mist pass",
    "mask": "object mask",
    "image_editor": "Image Editor image",
    "sequencer": "Sequencer frame",
    "viewport": "viewport",
}
VIEW_TITLES = {"PERSP": "perspective", "ORTHO": "orthographic"}


def capture_text(record: dict[str, Any]) -> str:
    """ "image: depth pass of Shot Cam, frame 7, 512x512": where a captured input came from (its provenance)."""
    what = CAPTURE_TITLES.get(str(record.get("source", "")), str(record.get("source", "file")))
    source = record.get("camera") or record.get("image") or record.get("scene") or ""
    parts = [f"{what} of {source}" if source else what]
    if record.get("source") == "viewport":  # "viewport (solid, through Camera)": what the 3D View showed
        view = f"through {record['camera']}" if record.get("camera") else VIEW_TITLES.get(record.get("view", ""), "")
        shown = ", ".join(x for x in (str(record.get("shading", "")).lower(), view) if x)
        parts = [f"viewport ({shown})" if shown else "viewport"]
    if record.get("frame") is not None:
        parts.append(f"frame {record['frame']}")
    if record.get("width") and record.get("height"):
        parts.append(f"{record['width']}x{record['height']}")
    return f"{record.get('param', 'image')}: " + ", ".join(parts)


def draw_job_detail(layout: Any, job: dict[str, Any], chars: int = DEFAULT_CHARS) -> None:
    """The active job: progress, phase, backend and why, error with its hint, actions, and the step preview."""
    state = job.get("state", "queued")
    box = layout.box()
    draw_wrapped(box, f"{job_title(job)}: {state}", chars, STATE_ICONS.get(state, "QUESTION"))
    box.progress(factor=float(job.get("progress") or 0.0), type="BAR", text=row_phase(job))
    if state in ACTIVE_STATES and len(job.get("phase") or "") > ROW_PHASE_CHARS:
        draw_wrapped(box, job["phase"], chars, "BLANK1")
    draw_wrapped(box, backend_text(job), chars, "NETWORK_DRIVE")
    plan = job.get("plan") or []
    if plan and plan[0].get("reason"):
        draw_wrapped(box, plan[0]["reason"], chars, "FORWARD")
    for change in plan[0].get("changes", ()) if plan else ():
        draw_wrapped(box, change, chars, "MODIFIER")
    # Changes the job itself records (a frame count snapped to the model's grid, a degradation that ran).
    shown = set(plan[0].get("changes", ())) if plan else set()
    for change in job.get("adjustments") or ():
        if not any(change.startswith(c) for c in shown):
            draw_wrapped(box, change, chars, "MODIFIER")
    for record in job.get("captures") or ():
        draw_wrapped(box, capture_text(record), chars, "SCENE_DATA")
    error = job.get("error") or {}
    if state == "failed" and error:
        draw_wrapped(box, error.get("message", "Failed"), chars, "ERROR")
        if error.get("hint"):
            draw_wrapped(box, error["hint"], chars, "INFO")
    for note in (job.get("notes") or [])[-2:]:
        draw_wrapped(box, note, chars, "TEXT")
    actions = box.row(align=True)
    if state in ACTIVE_STATES:
        actions.operator("genbridge.cancel_job", text="Cancel", icon="X").job_id = job["id"]
    if state in STOPPED_STATES:
        actions.operator("genbridge.retry_job", text="Retry", icon="FILE_REFRESH").job_id = job["id"]
    if job.get("outputs"):
        actions.operator("genbridge.open_output", text="Open Output", icon="FILE_FOLDER").job_id = job["id"]
    if state == "done" and job.get("image_name"):
        # The landed image back into the scene: on the selected objects, or behind the camera.
        scene_row = box.row(align=True)
        scene_row.operator("genbridge.use_as_texture", text="Use as Texture", icon="TEXTURE").image = job["image_name"]
        scene_row.operator(
            "genbridge.camera_background", text="Camera Background", icon="IMAGE_BACKGROUND"
        ).image = job["image_name"]
    if job.get("preview_icon"):
        box.template_icon(icon_value=job["preview_icon"], scale=6.0)


def draw_jobs(layout: Any, state: PanelState) -> None:
    """The job list (a UIList over the WindowManager rows) and the details of its active job."""
    header = layout.row()
    header.label(text="Jobs", icon="SEQ_STRIP_DUPLICATE")
    if not state.jobs:
        layout.label(text="No jobs yet")
        return
    header.operator("genbridge.clear_jobs", text="", icon="TRASH")
    if state.list_owner is not None:
        layout.template_list(
            JOB_LIST, "", state.list_owner, "genbridge_jobs", state.list_owner, "genbridge_job_index", rows=3
        )
    job = state.jobs.get(state.active_job_id or "")
    if job is not None:
        draw_job_detail(layout, job, state.chars)

"""The storyboard section drawn from plain data: `draw_storyboard(layout, board, jobs)` only reads the scene's
storyboard properties and the session's job cache, so tests drive it with a recording layout. No bpy here."""

from __future__ import annotations

from typing import Any

from ..blender.choices import task_title
from ..runtime.services import SERVICE_TITLES
from ..runtime.vocabulary import ACTIVE_STATES as ACTIVE
from ..ui.draw import STATE_ICONS
from ..ui.wrap import DEFAULT_CHARS, draw_wrapped
from .cast_draw import take_cast_text

MENU_OPERATORS = (
    "genbridge.storyboard_from_logline",
    "genbridge.storyboard_cancel",
    # These act on the shot under the playhead when run from the menu or F3 search.
    "genbridge.storyboard_regenerate_keyframe",
    "genbridge.storyboard_regenerate_clip",
    "genbridge.storyboard_pick_take",
)


def _step_line(col: Any, take: Any, role: str, jobs: dict[str, dict[str, Any]]) -> None:
    job_id = getattr(take, f"{role}_job")
    row = jobs.get(job_id, {})
    state = row.get("state") or getattr(take, f"{role}_state")
    service = row.get("service") or getattr(take, f"{role}_service") or ""
    text = f"{task_title(role)}: {state}" + (f" ({SERVICE_TITLES.get(service, service)})" if service else "")
    if role == "clip" and state == "queued" and take.keyframe_state not in ("done",):
        text = "Clip: waits for its keyframe"
    # The state and its progress bar on two lines: side by side, the real GUI's sidebar cut both ("Keyframe:
    # submitte..." beside "Sending t...") at its default width.
    col.label(text=text, icon=STATE_ICONS.get(state, "QUESTION"))
    if state in ACTIVE:
        col.progress(factor=float(row.get("progress", 0.0)), text=row.get("phase", state))


def draw_storyboard(layout: Any, board: Any, jobs: dict[str, dict[str, Any]], chars: int = DEFAULT_CHARS) -> None:
    """Logline, the big button, status, and per shot: its takes, each step's state, and the shot's actions."""
    col = layout.column()
    col.label(text="Logline", icon="TEXT")
    col.prop(board, "logline", text="", placeholder="Who wants what, and what stands in the way")
    row = col.row(align=True)
    row.prop(board, "shot_count")
    op = row.operator("genbridge.storyboard_from_logline", text="Storyboard", icon="SEQUENCE")
    op.logline, op.shots = board.logline, board.shot_count
    if board.status:
        status = col.row()
        draw_wrapped(status.column(), f"Storyboard: {board.status}", chars - 3, "INFO")
        if any(jobs.get(j, {}).get("state") in ACTIVE for j in _job_ids(board)):
            status.operator("genbridge.storyboard_cancel", text="", icon="X")
    for index, shot in enumerate(board.shots):
        box = layout.box()
        draw_wrapped(box, f"Shot {index + 1} ({shot.duration:g} s): {shot.description}", chars, "SEQ_STRIP_META")
        if shot.camera:
            draw_wrapped(box, f"Camera: {shot.camera}", chars, "CAMERA_DATA")
        for t, take in enumerate(shot.takes):
            take_col = box.column(align=True)
            title = take_col.row()
            chosen = t == shot.chosen
            title.label(
                text=f"Take {take.number}" + (" (shown)" if chosen else ""),
                icon="RADIOBUT_ON" if chosen else "RADIOBUT_OFF",
            )
            if not chosen:
                pick = title.operator("genbridge.storyboard_pick_take", text="Pick")
                pick.shot_index, pick.take_index = index, t
            _step_line(take_col, take, "keyframe", jobs)
            if cast := take_cast_text(take):
                take_col.label(text=cast, icon="COMMUNITY")
            _step_line(take_col, take, "clip", jobs)
        actions = box.row(align=True)
        key = actions.operator("genbridge.storyboard_regenerate_keyframe", text="New Keyframe", icon="IMAGE_DATA")
        key.shot_index = index
        clip = actions.operator("genbridge.storyboard_regenerate_clip", text="New Clip", icon="FILE_MOVIE")
        clip.shot_index = index


def _job_ids(board: Any) -> list[str]:
    ids = [board.shotlist_job] if board.shotlist_job else []
    for shot in board.shots:
        for take in shot.takes:
            ids += [take.keyframe_job, take.clip_job]
    return ids

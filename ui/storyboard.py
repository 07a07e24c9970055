"""The Storyboard panel (Sequencer and 3D Viewport sidebars, GenBridge tab) and its menu entries.

`draw_storyboard(layout, board, jobs)` only reads the scene's storyboard properties and the session's plain job
cache, so it can be driven by a recording layout in tests.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import blender
from ..blender.choices import task_title
from ..runtime.handoff import ACTIVE_STATES as ACTIVE
from ..runtime.services import SERVICE_TITLES
from .draw import STATE_ICONS
from .panels import region_chars
from .wrap import DEFAULT_CHARS, draw_wrapped

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
    line = col.row()
    line.label(text=text, icon=STATE_ICONS.get(state, "QUESTION"))
    if state in ACTIVE:
        line.progress(factor=float(row.get("progress", 0.0)), text=row.get("phase", state))


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


class _StoryboardPanel(bpy.types.Panel):
    """A sub-panel of the GenBridge panel (so Blender stacks it below Jobs instead of over another section)."""

    bl_region_type = "UI"
    bl_category = "GenBridge"
    bl_label = "Storyboard"

    @classmethod
    def poll(cls, context: Any) -> bool:
        return blender.current() is not None and getattr(context.scene, "genbridge_storyboard", None) is not None

    def draw(self, context: Any) -> None:
        session = blender.current()
        board = getattr(context.scene, "genbridge_storyboard", None)
        if session is None or board is None:
            return
        draw_storyboard(self.layout, board, session.jobs, region_chars(context))


class GENBRIDGE_PT_storyboard_sequencer(_StoryboardPanel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_idname = "GENBRIDGE_PT_storyboard_sequencer"
    bl_parent_id = "GENBRIDGE_PT_sequencer"


class GENBRIDGE_PT_storyboard_view3d(_StoryboardPanel):
    bl_space_type = "VIEW_3D"
    bl_idname = "GENBRIDGE_PT_storyboard_view3d"
    bl_parent_id = "GENBRIDGE_PT_view3d"


def _draw_menu_entries(self: Any, context: Any) -> None:
    self.layout.separator()
    for op in MENU_OPERATORS:
        self.layout.operator(op)


CLASSES = (GENBRIDGE_PT_storyboard_sequencer, GENBRIDGE_PT_storyboard_view3d)


def register() -> None:
    """The entries in the GenBridge menu (for F3 search)."""
    menu = getattr(bpy.types, "GENBRIDGE_MT_menu", None)
    if menu is not None:
        menu.append(_draw_menu_entries)


def unregister() -> None:
    menu = getattr(bpy.types, "GENBRIDGE_MT_menu", None)
    if menu is not None:
        menu.remove(_draw_menu_entries)

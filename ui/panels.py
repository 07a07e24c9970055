"""The GenBridge sidebar panels in the 3D Viewport, the Sequencer and the Image Editor.

Per editor: a parent panel "GenBridge" (notice, missing dependencies) with sub-panels Services, Generate and
Jobs (and Storyboard, from the `storyboard` package), so Blender lays the sections out and none is drawn over another.
Draw code reads the session's caches only (no I/O, no waiting).
"""

from __future__ import annotations

import time
from typing import Any

import bpy

from .. import blender
from ..blender.joblist import active_job_id
from .draw import PanelState, draw_generate, draw_head, draw_jobs, draw_status
from .wrap import chars_per_line

SPACES = {"VIEW_3D": "view3d", "SEQUENCE_EDITOR": "sequencer", "IMAGE_EDITOR": "image"}
CATEGORY = "GenBridge"


def panel_state(context: Any) -> PanelState:
    """Gather what the panel shows from the session caches and the context (no I/O, no waiting)."""
    session = blender.current()
    if session is None:
        return PanelState(enabled=False)
    wm = context.window_manager
    scene = context.scene
    return PanelState(
        endpoints=session.endpoints,
        services=session.services,
        checking=session.services_checking,
        jobs=session.jobs,
        active_job_id=active_job_id(wm),
        settings=getattr(scene, "genbridge", None) if scene is not None else None,
        list_owner=wm,
        notice=session.notice,
        now=time.time(),
        dependency_problems=session.dependency_problems,
        chars=region_chars(context),
    )


def region_chars(context: Any) -> int:
    """Characters per label line in the region being drawn (the sidebar's width changes as the user drags it)."""
    region = getattr(context, "region", None)
    scale = getattr(getattr(context.preferences, "system", None), "ui_scale", 1.0) if context.preferences else 1.0
    return chars_per_line(region.width if region is not None else 0, scale)


class _Section(bpy.types.Panel):
    """Not registered itself: each editor gets its own subclasses (see `panel_classes`)."""

    bl_region_type = "UI"
    bl_category = CATEGORY

    @classmethod
    def poll(cls, context: Any) -> bool:
        return blender.current() is not None


class _Main(_Section):
    bl_label = "GenBridge"

    @classmethod
    def poll(cls, context: Any) -> bool:
        return True  # says "not enabled" itself

    def draw(self, context: Any) -> None:
        draw_head(self.layout, panel_state(context))


class _Services(_Section):
    bl_label = "Services"

    def draw(self, context: Any) -> None:
        draw_status(self.layout, panel_state(context), title=False)


class _Generate(_Section):
    bl_label = "Generate"

    def draw(self, context: Any) -> None:
        settings = getattr(context.scene, "genbridge", None)
        if settings is not None:
            session = blender.current()
            draw_generate(self.layout, settings, getattr(session, "capturing", "") if session else "")


class _Jobs(_Section):
    bl_label = "Jobs"

    def draw(self, context: Any) -> None:
        draw_jobs(self.layout, panel_state(context))


def _panel(space: str, suffix: str, base: type, parent: str | None) -> type:
    name = f"GENBRIDGE_PT_{SPACES[space]}{suffix}"
    attrs: dict[str, Any] = {"bl_space_type": space, "bl_idname": name}
    if parent:
        attrs["bl_parent_id"] = parent
    return type(name, (base,), attrs)


def panel_classes() -> list[type]:
    """Parent first (Blender needs it registered before its children), then the sections in drawing order."""
    classes: list[type] = []
    for space in SPACES:
        parent = f"GENBRIDGE_PT_{SPACES[space]}"
        classes.append(_panel(space, "", _Main, None))
        for suffix, base in (("_services", _Services), ("_generate", _Generate), ("_jobs", _Jobs)):
            classes.append(_panel(space, suffix, base, parent))
    return classes


CLASSES = tuple(panel_classes())

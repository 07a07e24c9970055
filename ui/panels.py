"""The GenBridge sidebar panel in the 3D Viewport, the Sequencer and the Image Editor."""

from __future__ import annotations

import time
from typing import Any

import bpy

from .. import bridge
from .draw import PanelState, draw_panel
from .props import active_job_id


def panel_state(context: Any) -> PanelState:
    """Gather what the panel shows from the session caches and the context (no I/O, no waiting)."""
    session = bridge.SESSION
    if session is None:
        return PanelState(enabled=False)
    wm = context.window_manager
    scene = context.scene
    return PanelState(
        services=session.services,
        checking=session.services_checking,
        jobs=session.jobs,
        active_job_id=active_job_id(wm),
        settings=getattr(scene, "genbridge", None) if scene is not None else None,
        list_owner=wm,
        notice=session.notice,
        now=time.time(),
        dependency_problems=session.dependency_problems,
    )


class _GenBridgePanel:
    bl_region_type = "UI"
    bl_category = "GenBridge"
    bl_label = "GenBridge"

    def draw(self, context: Any) -> None:
        draw_panel(self.layout, panel_state(context))


class GENBRIDGE_PT_view3d(_GenBridgePanel, bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_idname = "GENBRIDGE_PT_view3d"


class GENBRIDGE_PT_sequencer(_GenBridgePanel, bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_idname = "GENBRIDGE_PT_sequencer"


class GENBRIDGE_PT_image(_GenBridgePanel, bpy.types.Panel):
    bl_space_type = "IMAGE_EDITOR"
    bl_idname = "GENBRIDGE_PT_image"


CLASSES = (GENBRIDGE_PT_view3d, GENBRIDGE_PT_sequencer, GENBRIDGE_PT_image)

"""The GenBridge sidebar panel in the 3D Viewport, the Sequencer and the Image Editor."""

from __future__ import annotations

from typing import Any

import bpy

from .. import bridge
from .draw import draw_jobs, draw_status


class _GenBridgePanel:
    bl_region_type = "UI"
    bl_category = "GenBridge"
    bl_label = "GenBridge"

    def draw(self, context: Any) -> None:
        layout = self.layout
        session = bridge.SESSION
        if session is None:
            layout.label(text="GenBridge is not enabled", icon="ERROR")
            return
        draw_status(layout, session.services, session.services_checking)
        layout.operator("genbridge.generate", icon="RENDER_STILL")
        draw_jobs(layout, session.jobs)


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

"""Reports from the session: a timer cannot call `Operator.report`, so `blender.notify` runs this tiny operator,
whose report goes to the status bar and the Info log like any other (it never blocks or opens a popup)."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty

from ..blender.bpytypes import OperatorResult

LEVELS = [("INFO", "Info", ""), ("WARNING", "Warning", ""), ("ERROR", "Error", "")]


class GENBRIDGE_OT_report(bpy.types.Operator):
    """Show a GenBridge message in the status bar"""

    bl_idname = "genbridge.report"
    bl_label = "GenBridge Message"
    bl_description = "Show a GenBridge message in the status bar and the Info log"
    bl_options = {"INTERNAL"}

    message: StringProperty(name="Message")
    level: EnumProperty(name="Level", items=LEVELS, default="INFO")

    def execute(self, context: Any) -> OperatorResult:
        self.report({self.level}, self.message)
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_report,)

"""Check the configured services (the probe runs on the loop thread; results land in the status panel)."""

from __future__ import annotations

from typing import Any

import bpy

from .. import blender
from ..blender.bpytypes import OperatorResult


class GENBRIDGE_OT_check_services(bpy.types.Operator):
    """Ask every configured service for its version, VRAM and health"""

    bl_idname = "genbridge.check_services"
    bl_label = "Check Services"
    bl_description = "Ask every configured ComfyUI, WanGP and LiteLLM server for its version, VRAM and health"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        session = blender.current()
        if session is None:
            cls.poll_message_set("GenBridge is not enabled: enable it in Preferences > Add-ons")
            return False
        if session.services_checking:
            cls.poll_message_set("A check is already running: the results appear in the GenBridge panel")
            return False
        return True

    def execute(self, context: Any) -> OperatorResult:
        blender.running().check_services()
        self.report({"INFO"}, "Checking GenBridge services...")
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_check_services,)

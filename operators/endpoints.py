"""Preferences rows: add, remove and test one endpoint of one service. These change only the add-on's
preferences (not undoable .blend data) and are not searchable (INTERNAL): they belong to the preferences page."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty, IntProperty

from .. import blender, preferences
from ..blender.bpytypes import OperatorResult
from ..runtime.services import DEFAULT_URLS, SERVICE_TITLES, SERVICES

SERVICE_ITEMS = [(s, SERVICE_TITLES[s], "") for s in SERVICES]


def _prefs_poll(cls: Any, context: Any) -> bool:
    if preferences.get(context) is None:
        cls.poll_message_set("GenBridge is not enabled: enable it in Preferences > Add-ons")
        return False
    return True


def _prefs(context: Any) -> Any:
    """The preferences (the operators' polls made sure the add-on is enabled)."""
    prefs = preferences.get(context)
    if prefs is None:
        raise RuntimeError("GenBridge is not enabled")
    return prefs


def _mark_dirty(context: Any) -> None:
    context.preferences.is_dirty = True  # so auto-save preferences keeps the change
    blender.preferences_changed()  # the next request and check use the new list


class GENBRIDGE_OT_endpoint_add(bpy.types.Operator):
    """Add a server for this service"""

    bl_idname = "genbridge.endpoint_add"
    bl_label = "Add Server"
    bl_description = "Add a server for this service (starts with the service's usual local address)"
    bl_options = {"REGISTER", "INTERNAL"}

    service: EnumProperty(name="Service", items=SERVICE_ITEMS)

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _prefs_poll(cls, context)

    def execute(self, context: Any) -> OperatorResult:
        prefs = _prefs(context)
        row = prefs.endpoints(self.service).add()
        row.url = DEFAULT_URLS[self.service]
        _mark_dirty(context)
        return {"FINISHED"}


class GENBRIDGE_OT_endpoint_remove(bpy.types.Operator):
    """Remove this server"""

    bl_idname = "genbridge.endpoint_remove"
    bl_label = "Remove Server"
    bl_description = "Remove this server from the list (jobs already sent to it keep running there)"
    bl_options = {"REGISTER", "INTERNAL"}

    service: EnumProperty(name="Service", items=SERVICE_ITEMS)
    index: IntProperty(name="Index", min=0)

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _prefs_poll(cls, context)

    def execute(self, context: Any) -> OperatorResult:
        rows = _prefs(context).endpoints(self.service)
        if self.index >= len(rows):
            return {"CANCELLED"}
        rows.remove(self.index)
        _mark_dirty(context)
        return {"FINISHED"}


class GENBRIDGE_OT_endpoint_test(bpy.types.Operator):
    """Probe this one server now"""

    bl_idname = "genbridge.endpoint_test"
    bl_label = "Test Server"
    bl_description = "Ask this server for its version and VRAM; the answer appears next to it"
    bl_options = {"REGISTER", "INTERNAL"}

    service: EnumProperty(name="Service", items=SERVICE_ITEMS)
    index: IntProperty(name="Index", min=-1, default=-1, description="Row to test (-1: the default local address)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        if blender.current() is None:
            cls.poll_message_set("GenBridge is not enabled: enable it in Preferences > Add-ons")
            return False
        return _prefs_poll(cls, context)

    def execute(self, context: Any) -> OperatorResult:
        rows = _prefs(context).endpoints(self.service)
        if 0 <= self.index < len(rows):
            ep = rows[self.index]
            row = {"url": ep.url.strip(), "key": ep.key or None, "label": ep.label}
            if self.service == "comfyui":
                row |= {"kind": ep.kind, "partner_key": ep.partner_key or None}
        else:
            row = {"url": DEFAULT_URLS[self.service], "key": None, "label": ""}
        blender.running().test_endpoint(self.service, row)
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_endpoint_add, GENBRIDGE_OT_endpoint_remove, GENBRIDGE_OT_endpoint_test)

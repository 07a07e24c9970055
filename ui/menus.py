"""A GenBridge submenu in the editors' menus: in Blender 4.x F3 search only finds operators that sit in menus."""

from __future__ import annotations

from typing import Any

import bpy

MENU_OPERATORS = ("genbridge.generate", "genbridge.check_services", "genbridge.cancel_job")
PARENT_MENUS = ("VIEW3D_MT_view", "SEQUENCER_MT_add", "IMAGE_MT_image", "TEXT_MT_format")


class GENBRIDGE_MT_menu(bpy.types.Menu):
    bl_idname = "GENBRIDGE_MT_menu"
    bl_label = "GenBridge"

    def draw(self, context: Any) -> None:
        for op in MENU_OPERATORS:
            self.layout.operator(op)


def _draw_submenu(self: Any, context: Any) -> None:
    self.layout.separator()
    self.layout.menu(GENBRIDGE_MT_menu.bl_idname)


def register() -> None:
    for name in PARENT_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(_draw_submenu)


def unregister() -> None:
    for name in PARENT_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.remove(_draw_submenu)


CLASSES = (GENBRIDGE_MT_menu,)

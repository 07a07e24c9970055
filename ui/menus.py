"""A GenBridge submenu in the editors' menus: in Blender 4.x F3 search only finds operators that sit in menus."""

from __future__ import annotations

from typing import Any

import bpy

# Every operator a user may want to search for (F3). Operators marked INTERNAL (preferences rows, reports)
# are not searchable and are not listed; a test checks that every other GenBridge operator is here.
MENU_OPERATORS = (
    ("genbridge.generate", "PLAY"),
    ("genbridge.pick_template", "VIEWZOOM"),
    ("genbridge.check_services", "FILE_REFRESH"),
    ("genbridge.cancel_job", "X"),
    ("genbridge.retry_job", "FILE_REFRESH"),
    ("genbridge.open_output", "FILE_FOLDER"),
    ("genbridge.clear_jobs", "TRASH"),
    ("genbridge.use_as_texture", "TEXTURE"),
    ("genbridge.camera_background", "IMAGE_BACKGROUND"),
)
PARENT_MENUS = ("VIEW3D_MT_view", "SEQUENCER_MT_add", "IMAGE_MT_image", "TEXT_MT_format")


def draw_menu(layout: Any) -> None:
    for op, icon in MENU_OPERATORS:
        layout.operator(op, icon=icon)


class GENBRIDGE_MT_menu(bpy.types.Menu):
    """GenBridge: generate, check services, manage jobs"""

    bl_idname = "GENBRIDGE_MT_menu"
    bl_label = "GenBridge"

    def draw(self, context: Any) -> None:
        draw_menu(self.layout)


def draw_submenu(self: Any, context: Any) -> None:
    self.layout.separator()
    self.layout.menu(GENBRIDGE_MT_menu.bl_idname, icon="NETWORK_DRIVE")


def register() -> None:
    for name in PARENT_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(draw_submenu)


def unregister() -> None:
    for name in PARENT_MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.remove(draw_submenu)


CLASSES = (GENBRIDGE_MT_menu,)

"""The Storyboard panel (Sequencer and 3D Viewport sidebars, GenBridge tab) and its menu entries; what it draws
is in `draw` (pure, tested with a recording layout)."""

from __future__ import annotations

from typing import Any

import bpy

from .. import blender
from ..ui.panels import region_chars
from .cast_draw import draw_cast
from .draw import MENU_OPERATORS, draw_storyboard


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


class _CastPanel(bpy.types.Panel):
    """Beside the Storyboard panel: the characters every shot keeps, and their reference images."""

    bl_region_type = "UI"
    bl_category = "GenBridge"
    bl_label = "Cast"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return blender.current() is not None and getattr(context.scene, "genbridge_storyboard", None) is not None

    def draw(self, context: Any) -> None:
        board = getattr(context.scene, "genbridge_storyboard", None)
        if board is not None:
            draw_cast(self.layout, board, region_chars(context))


class GENBRIDGE_PT_cast_sequencer(_CastPanel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_idname = "GENBRIDGE_PT_cast_sequencer"
    bl_parent_id = "GENBRIDGE_PT_sequencer"


class GENBRIDGE_PT_cast_view3d(_CastPanel):
    bl_space_type = "VIEW_3D"
    bl_idname = "GENBRIDGE_PT_cast_view3d"
    bl_parent_id = "GENBRIDGE_PT_view3d"


def _draw_menu_entries(self: Any, context: Any) -> None:
    self.layout.separator()
    for op in MENU_OPERATORS:
        self.layout.operator(op)


CLASSES = (
    GENBRIDGE_PT_storyboard_sequencer,
    GENBRIDGE_PT_storyboard_view3d,
    GENBRIDGE_PT_cast_sequencer,
    GENBRIDGE_PT_cast_view3d,
)


def register() -> None:
    """The entries in the GenBridge menu (for F3 search)."""
    menu = getattr(bpy.types, "GENBRIDGE_MT_menu", None)
    if menu is not None:
        menu.append(_draw_menu_entries)


def unregister() -> None:
    menu = getattr(bpy.types, "GENBRIDGE_MT_menu", None)
    if menu is not None:
        menu.remove(_draw_menu_entries)

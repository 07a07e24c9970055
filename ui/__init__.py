"""Panels, menus, the job list and the preferences layout. Draw code reads cached plain data only (no I/O).

Submodules that import bpy are imported inside the functions below, so the pure modules (`draw`, `wrap`,
`preferences_draw`) import without Blender (plain pytest tests them with a recording layout).
"""

from __future__ import annotations

from typing import Any


def classes() -> list[Any]:
    from . import lists, menus, panels, props

    return [*props.CLASSES, *lists.CLASSES, *panels.CLASSES, *menus.CLASSES]


def register() -> None:
    from . import menus, props

    props.register()
    menus.register()


def unregister() -> None:
    from . import menus, props

    menus.unregister()
    props.unregister()

"""Panels, menus and the preferences layout. Draw code reads cached plain data only (no I/O in draw)."""

from __future__ import annotations

from typing import Any

from . import menus, panels, storyboard


def classes() -> list[Any]:
    return [*panels.CLASSES, *menus.CLASSES, *storyboard.CLASSES]


def register() -> None:
    menus.register()
    storyboard.register()


def unregister() -> None:
    storyboard.unregister()
    menus.unregister()

"""Operators: each snapshots its inputs to plain data and enqueues; none blocks or touches the network."""

from __future__ import annotations

from typing import Any

from . import endpoints, generate, jobs, notify, services, storyboard, storyboard_props

MODULES = (services, generate, jobs, endpoints, notify, storyboard_props, storyboard)


def classes() -> list[Any]:
    return [cls for module in MODULES for cls in module.CLASSES]


def register() -> None:
    """After the classes: the storyboard's Scene properties and its job-state listener."""
    storyboard_props.register()
    storyboard.register()


def unregister() -> None:
    storyboard.unregister()
    storyboard_props.unregister()

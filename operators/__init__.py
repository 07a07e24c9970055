"""Operators: each snapshots its inputs to plain data and enqueues; none blocks or touches the network."""

from __future__ import annotations

from typing import Any

from . import generate, jobs, services, storyboard, storyboard_props

MODULES = (services, generate, jobs, storyboard_props, storyboard)


def classes() -> list[Any]:
    return [cls for module in MODULES for cls in module.CLASSES]

"""Operators: each snapshots its inputs to plain data and enqueues; none blocks or touches the network."""

from __future__ import annotations

from typing import Any

from . import endpoints, generate, jobs, notify, scene_results, services

MODULES = (services, generate, jobs, endpoints, notify, scene_results)


def classes() -> list[Any]:
    return [cls for module in MODULES for cls in module.CLASSES]

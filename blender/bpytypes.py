"""Type names for the Blender side (stdlib only; used in annotations, so nothing here runs bpy)."""

from __future__ import annotations

from typing import Literal

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]

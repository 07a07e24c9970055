"""The job list: a UIList over the WindowManager's rows; each row is drawn from the session's job cache."""

from __future__ import annotations

from typing import Any

import bpy

from .. import blender
from .draw import draw_job_item


class GENBRIDGE_UL_jobs(bpy.types.UIList):
    """GenBridge jobs, newest first"""

    bl_idname = "GENBRIDGE_UL_jobs"

    def draw_item(
        self,
        context: bpy.types.Context,
        layout: bpy.types.UILayout,
        data: Any | None,
        item: Any | None,
        icon: int | None,
        active_data: Any,
        active_property: str | None,
        index: int | None = 0,
        flt_flag: int | None = 0,
    ) -> None:
        session = blender.current()
        draw_job_item(layout, session.jobs.get(item.job_id) if session and item is not None else None)


CLASSES = (GENBRIDGE_UL_jobs,)

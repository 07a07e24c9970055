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
        context: Any,
        layout: Any,
        data: Any,
        item: Any,
        icon: int,
        active_data: Any,
        active_property: str,
        index: int = 0,
        flt_flag: int = 0,
    ) -> None:
        session = blender.current()
        draw_job_item(layout, session.jobs.get(item.job_id) if session else None)


CLASSES = (GENBRIDGE_UL_jobs,)

"""Job list actions: cancel, retry, open the output folder."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import StringProperty

from .. import bridge

ACTIVE_STATES = {"queued", "submitted", "running", "downloading"}


class GENBRIDGE_OT_cancel_job(bpy.types.Operator):
    """Cancel a GenBridge job"""

    bl_idname = "genbridge.cancel_job"
    bl_label = "Cancel Job"
    bl_description = "Cancel this job: removed from the server queue, or interrupted if it is running"
    bl_options = {"REGISTER"}

    job_id: StringProperty(name="Job ID")

    @classmethod
    def poll(cls, context: Any) -> bool:
        if bridge.SESSION is None:
            cls.poll_message_set("GenBridge is not enabled")
            return False
        return True

    def execute(self, context: Any) -> set[str]:
        session = bridge.session()
        job_ids = [self.job_id] if self.job_id else [j for j, r in session.jobs.items() if r["state"] in ACTIVE_STATES]
        if not job_ids:
            self.report({"INFO"}, "No GenBridge job is running")
            return {"CANCELLED"}
        for job_id in job_ids:
            session.cancel(job_id)
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_cancel_job,)

"""Job list actions: cancel, retry, open the output folder, clear finished jobs. All only touch the job cache
or enqueue, so none of them is undoable."""

from __future__ import annotations

import os
from typing import Any

import bpy
from bpy.props import StringProperty

from .. import blender
from ..blender.bpytypes import OperatorResult
from ..blender.joblist import active_job_id
from ..runtime.vocabulary import ACTIVE_STATES, STOPPED_STATES
from .generate import free_channel


def _jobs_where(predicate: Any) -> list[dict[str, Any]]:
    session = blender.current()
    return [job for job in session.jobs.values() if predicate(job)] if session else []


def _chosen(op: Any, context: Any, predicate: Any) -> dict[str, Any] | None:
    """The job named by `job_id`, else the job list's active row, else the newest job matching `predicate`."""
    jobs = blender.running().jobs
    for job_id in (op.job_id, active_job_id(context.window_manager)):
        if job_id and job_id in jobs and predicate(jobs[job_id]):
            return jobs[job_id]
    matching = sorted(_jobs_where(predicate), key=lambda j: j.get("created_at", 0.0))
    return matching[-1] if matching else None


def _poll_jobs(cls: Any, predicate: Any, message: str) -> bool:
    if blender.current() is None:
        cls.poll_message_set("GenBridge is not enabled: enable it in Preferences > Add-ons")
        return False
    if not _jobs_where(predicate):
        cls.poll_message_set(message)
        return False
    return True


def _is_active(job: dict[str, Any]) -> bool:
    return job.get("state") in ACTIVE_STATES


def _is_finished(job: dict[str, Any]) -> bool:
    return job.get("state") in STOPPED_STATES


def _has_outputs(job: dict[str, Any]) -> bool:
    return bool(job.get("outputs"))


class GENBRIDGE_OT_cancel_job(bpy.types.Operator):
    """Cancel a GenBridge job"""

    bl_idname = "genbridge.cancel_job"
    bl_label = "Cancel Job"
    bl_description = (
        "Cancel a GenBridge job (this row's, or every running job from the menu): removed from the server "
        "queue, or interrupted if it is running"
    )
    bl_options = {"REGISTER"}

    job_id: StringProperty(name="Job ID", description="The job to cancel (empty: every running job)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _poll_jobs(cls, _is_active, "No GenBridge job is queued or running")

    def execute(self, context: Any) -> OperatorResult:
        session = blender.running()
        if self.job_id:
            job_ids = [self.job_id] if _is_active(session.jobs.get(self.job_id, {})) else []
        else:
            job_ids = [job["id"] for job in _jobs_where(_is_active)]
        if not job_ids:
            self.report({"INFO"}, "That GenBridge job has already finished")
            return {"CANCELLED"}
        for job_id in job_ids:
            session.cancel(job_id)
        self.report({"INFO"}, f"Cancelling {len(job_ids)} GenBridge job(s)")
        return {"FINISHED"}


class GENBRIDGE_OT_retry_job(bpy.types.Operator):
    """Run a finished, failed or cancelled GenBridge job again"""

    bl_idname = "genbridge.retry_job"
    bl_label = "Retry Job"
    bl_description = (
        "Queue a finished, failed or cancelled job again with the same settings "
        "(this row's job, or the selected one from the menu)"
    )
    bl_options = {"REGISTER"}

    job_id: StringProperty(name="Job ID", description="The job to run again (empty: the selected job)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _poll_jobs(cls, _is_finished, "No finished, failed or cancelled GenBridge job to retry")

    def execute(self, context: Any) -> OperatorResult:
        job = _chosen(self, context, _is_finished)
        if job is None:
            self.report({"WARNING"}, "Pick a finished, failed or cancelled job to retry")
            return {"CANCELLED"}
        spec = retry_spec(job)
        new_id = blender.running().submit(spec)
        self.report({"INFO"}, f"GenBridge job {job['id'][:8]} queued again as {new_id[:8]}")
        return {"FINISHED"}


def retry_spec(job: dict[str, Any]) -> dict[str, Any]:
    """The same request, read from the job's journaled snapshot (the one record of a job, also after a restart):
    same task, inputs (with the seed it used), template, service and target; a strip lands again at the same
    frame, on a channel that is free now."""
    target = dict(job.get("target") or {})
    if target.get("kind") in ("movie_strip", "image_strip"):
        scene = bpy.data.scenes.get(target.get("scene", "")) or bpy.context.scene
        target["channel"] = free_channel(scene, int(target.get("frame_start", 1)))
    return {
        "task": job.get("task", "image"),
        "inputs": dict(job.get("inputs") or {}),
        "template": job.get("template"),
        "requested_service": job.get("requested_service"),
        "chosen": list(job.get("chosen") or []),  # what the user set stays theirs on the retry too
        "group": job.get("group"),
        "target": target,
    }


def open_folder(path: str) -> None:
    """Open a folder in the system's file browser (Blender does it without blocking)."""
    bpy.ops.wm.path_open(filepath=path)


class GENBRIDGE_OT_open_output(bpy.types.Operator):
    """Open the folder holding a job's output files"""

    bl_idname = "genbridge.open_output"
    bl_label = "Open Job Output"
    bl_description = "Open the folder with this job's generated files in your file browser"
    bl_options = {"REGISTER"}

    job_id: StringProperty(name="Job ID", description="The job whose outputs to show (empty: the selected job)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _poll_jobs(cls, _has_outputs, "No GenBridge job has output files yet")

    def execute(self, context: Any) -> OperatorResult:
        job = _chosen(self, context, _has_outputs)
        if job is None:
            self.report({"WARNING"}, "This job has no output files yet")
            return {"CANCELLED"}
        open_folder(os.path.dirname(job["outputs"][0]))
        return {"FINISHED"}


class GENBRIDGE_OT_clear_jobs(bpy.types.Operator):
    """Remove finished jobs from the GenBridge job list"""

    bl_idname = "genbridge.clear_jobs"
    bl_label = "Clear Finished Jobs"
    bl_description = "Remove finished, failed and cancelled jobs from the job list (their results stay in Blender)"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _poll_jobs(cls, _is_finished, "No finished GenBridge job to clear")

    def execute(self, context: Any) -> OperatorResult:
        removed = blender.running().clear_finished()
        self.report({"INFO"}, f"Removed {removed} GenBridge job(s) from the list")
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_cancel_job, GENBRIDGE_OT_retry_job, GENBRIDGE_OT_open_output, GENBRIDGE_OT_clear_jobs)

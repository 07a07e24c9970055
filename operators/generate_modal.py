"""Generate's captures in the UI: when the operator is invoked (sidebar button, F3) and the job needs captures, it
becomes a modal that makes them one step per timer tick, each render as Blender's own render job
(`blender/capture_job.py`), shows which one in the status bar and the Generate section, and queues the job when the
last is written. Esc (or a cancelled render) stops it: settings restored, nothing queued. Scripts and the bpy module
(no event loop to come back to) take the blocking path of `execute`. Main thread only.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import blender
from ..blender.bpytypes import OperatorResult
from ..blender.redraw import tag_genbridge_regions

CAPTURE_TICK_S = 0.05  # the capture modal's timer: one step per tick, so Blender redraws between steps


class CaptureModal(bpy.types.Operator):
    """The invoke / modal half of Generate (the operator defines `request` and `execute`)."""

    def request(self, context: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        raise NotImplementedError

    def queued(self, job_id: str, captures: dict[str, dict[str, Any]]) -> OperatorResult:
        names = ", ".join(options["source"] for options in captures.values())
        self.report({"INFO"}, f"GenBridge job {job_id[:8]} queued with the {names} capture")
        return {"FINISHED"}

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        if bpy.app.background or context.window is None:
            return self.execute(context)  # no event loop to come back to: the blocking path
        request = self.request(context)
        if request is None:
            return {"CANCELLED"}
        spec, captures = request
        if not captures:
            job_id = blender.running().submit(spec)
            self.report({"INFO"}, f"GenBridge job {job_id[:8]} queued")
            return {"FINISHED"}
        from ..blender.capture_job import CaptureRun

        session = blender.running()
        self._run = CaptureRun(session, spec, captures, window=context.window, area=context.area)
        self._captures = captures
        wm = context.window_manager
        self._timer = wm.event_timer_add(CAPTURE_TICK_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, len(captures))
        self._show(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> OperatorResult:
        from ..blender.capture import CaptureError
        from ..blender.capture_common import CaptureCancelled

        run = self._run
        if event.type == "ESC" and event.value == "PRESS":
            run.stop()  # at the next tick (a running render job swallows Esc itself and stops)
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":  # (any timer: a step more is harmless; events carry no timer to tell them apart)
            return {"PASS_THROUGH"}
        try:
            done = run.step()
        except CaptureError as exc:
            self._end(context, cancel=True)
            self.report({"WARNING"} if isinstance(exc, CaptureCancelled) else {"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # noqa: BLE001 - whatever broke, the user's settings come back and nothing is queued
            self._end(context, cancel=True)
            self.report(
                {"ERROR"}, f"GenBridge could not make the capture ({type(exc).__name__}: {exc}); nothing was queued"
            )
            return {"CANCELLED"}
        if not done:
            self._show(context)
            return {"RUNNING_MODAL"}
        self._end(context, cancel=False)
        return self.captured(context, run)

    def captured(self, context: Any, run: Any) -> OperatorResult:
        """Every capture is written: queue the job (a cast reference keeps its capture instead: see cast_ops)."""
        job_id = blender.running().submit(run.spec())
        return self.queued(job_id, self._captures)

    def cancel(self, context: Any) -> None:
        """Blender removed the operator (a file loaded, the window closed): restore and queue nothing."""
        self._end(context, cancel=True)

    def _show(self, context: Any) -> None:
        status = self._run.status()
        session = blender.current()
        if session is not None and session.capturing != status:
            session.capturing = status  # the Generate section shows it too
            tag_genbridge_regions(context.window_manager)
        context.window_manager.progress_update(len(self._run.records))
        if context.workspace is not None:
            context.workspace.status_text_set(status)

    def _end(self, context: Any, *, cancel: bool) -> None:
        run = getattr(self, "_run", None)
        if run is None:
            return
        if cancel:
            run.cancel()
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        session = blender.current()
        if session is not None:
            session.capturing = ""
            session.capture_steps_ms = list(run.steps_ms)  # the last capture's main-thread steps (GUI suite)
            session.changed()
        setattr(self, "_run", None)  # noqa: B010 - ended: a late timer event or cancel() finds nothing to do

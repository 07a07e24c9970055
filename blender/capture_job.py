"""A job's captures made without freezing Blender: the Generate operator, when invoked from the UI (button, F3),
steps through them from its modal handler, one step per timer event, and queues the job when the last is written.

Each render capture (camera, preview, passes, Sequencer frame) is prepared (`capture.prepare`: the scene set up,
the user's values remembered), rendered by Blender's own render job (`render.render` invoked: the render runs in
Blender's job thread while the main thread keeps drawing and handling events; its progress shows in the status bar,
and Esc stops it), then finished (file written, provenance made) and closed (settings restored) on a later tick.
A pass's finishing is split (`capture_common.SplitFinish`): that tick reads the EXR's pixels (bpy, a few ms) and
restores the settings; the normalising and PNG encoding (pure, ~1 s at 1280x720 in a Blender without numpy) run in a
worker thread (`finish_thread.FinishThread`) polled on later ticks; the next capture (or the job) waits for its file.
The Image Editor's image and the viewport are made in one tick (they render nothing slow).

Thread rules: main thread only (bpy), but for the pass encoding's worker thread (no bpy). The loop thread is held still
(`Runtime.held_still`) from the moment a render job starts until it has ended, and only then (bpy crashed when the loop
thread compiled a module during a render); the hold is bounded by `loop.HOLD_LIMIT_S` (30 s): a longer render lets jobs
run again meanwhile. Between ticks the loop runs freely. The render writes Blender's "Render Result" as F12 does; a
setting the user changes during the render that the capture also changed (resolution, camera, engine) is put back to the
value before the capture.
Scripts and the bpy module keep the blocking path (`Session.with_captures`): render jobs never run there.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bpy

from ..runtime import gcpause
from .capture import capture, prepare
from .capture_common import UNCOMPRESSED_EXR, CaptureCancelled, CaptureError, Prepared, Saved, SplitFinish
from .finish_thread import FinishThread
from .redraw import tag_genbridge_regions

if TYPE_CHECKING:
    from ..runtime.loop import Park

TITLES = {"image_editor": "the Image Editor's image", "sequencer": "the Sequencer frame", "viewport": "the viewport"}
PARK_WAIT_S = 30.0  # as the blocking path's loop.BLOCKING_PARK_WAIT_S, but waited tick by tick
FIRST_PARK_WAIT_S = 0.5  # the one bounded wait on the main thread when the park is asked for (as before)
START_GRACE_TICKS = 3  # a render job that is not running after this many ticks, with no handler called, failed


def title(options: dict[str, Any]) -> str:
    """What a capture is called in the status bar ("depth", "preview", "camera render")."""
    source = str(options.get("source", ""))
    if source == "camera":
        return "preview" if options.get("engine") == "WORKBENCH" else "camera render"
    return TITLES.get(source, source)


def where(options: dict[str, Any]) -> str:
    """The camera and frame a capture was given, for the status bar (" of CamB at frame 250"); empty when it uses
    the active camera at the current frame, so two captures of a first-last-frame job can be told apart."""
    parts = []
    if options.get("camera"):
        parts.append(f" of {options['camera']}")
    if options.get("frame") is not None:
        parts.append(f" at frame {options['frame']}")
    return "".join(parts)


def written_by_the_job(prep: Prepared) -> Path | None:
    """Let the render job write the capture's first file in its own thread (saving a 1280x720 PNG on the main
    thread took ~0.1 s): the output path and format are set for the render (and put back with the rest); returns
    the file Blender will write. If it is not there afterwards, finishing saves the Render Result instead."""
    if prep.output is None:
        return None
    target, file_format, depth = prep.output
    render = prep.scene.render
    image = render.image_settings
    values = Saved(
        (render, "filepath"),
        (render, "use_file_extension"),
        (image, "file_format"),
        (image, "color_mode"),
        (image, "color_depth"),
        (image, "exr_codec"),
    )
    prep.cleanup.insert(0, values.restore)
    image.file_format, image.color_mode, image.color_depth = file_format, "RGBA", depth
    if file_format == "OPEN_EXR":
        image.exr_codec = UNCOMPRESSED_EXR
    render.use_file_extension = True
    # A still render's file takes the path as given ('#' is not a frame number there), its extension kept.
    written = target.with_name(f"{target.stem}-render{target.suffix}")
    render.filepath = str(written)
    return written


class RenderWatch:
    """Blender's render handlers, registered only while one of our render jobs runs: they just note the outcome."""

    def __init__(self) -> None:
        self.complete = self.cancelled = False
        self._handlers = (
            (bpy.app.handlers.render_complete, self._on_complete),
            (bpy.app.handlers.render_cancel, self._on_cancel),
        )
        for handlers, fn in self._handlers:
            handlers.append(fn)

    def _on_complete(self, *_args: Any) -> None:
        self.complete = True

    def _on_cancel(self, *_args: Any) -> None:
        self.cancelled = True

    def remove(self) -> None:
        for handlers, fn in self._handlers:
            if fn in handlers:
                handlers.remove(fn)


@contextlib.contextmanager
def render_kept_in_ui() -> Any:
    """Start a render without opening a render window: Preferences > Interface > Temporary Editors > Render In is
    read when the render job starts, so it is 'Keep User Interface' for that moment only, then put back, and the
    preferences are left as clean (unsaved-changes flag) as they were."""
    prefs: Any = bpy.context.preferences
    view = prefs.view
    before, dirty = view.render_display_type, prefs.is_dirty
    if before == "NONE":
        yield
        return
    view.render_display_type = "NONE"
    try:
        yield
    finally:
        view.render_display_type = before
        prefs.is_dirty = dirty


def render_running() -> bool:
    running = bpy.app.is_job_running  # the stubs claim it returns None; it returns a bool
    return bool(running("RENDER"))  # type: ignore[func-returns-value]


class CaptureRun:
    """The captures of one job (`{param: {"source": ..., options}}`), made one step at a time by `step()`.

    The job's id is fixed here so the captures land in its output folder; `spec()` is the job to queue once `step()`
    says all are done. `cancel()` (Esc, a failure, the operator removed) restores the settings of the capture in
    progress, removes the files written so far and queues nothing."""

    def __init__(
        self, session: Any, spec: dict[str, Any], sources: dict[str, dict[str, Any]], *, window: Any, area: Any
    ):
        self.session = session
        self.job_id = str(spec.get("id") or uuid.uuid4())
        self.base = {**spec, "id": self.job_id}
        self.folder = session.job_folder(str(spec.get("task", "")), self.job_id)
        self.pending = [(param, dict(options)) for param, options in sources.items()]
        self.total = len(self.pending)
        self.records: list[dict[str, Any]] = []
        self.window, self.area = window, area
        self.current: tuple[str, dict[str, Any], Prepared] | None = None
        self.watch: RenderWatch | None = None
        self.hold: contextlib.ExitStack | None = None
        self.park: Park | None = None  # the loop thread asked to park for the next capture (see _loop_parked)
        self.park_deadline = 0.0
        self.waited = 0  # ticks since the current render job started
        self.stopping = False  # Esc came while a render job ran: stop once it has ended
        self.steps_ms: list[float] = []  # main-thread time of each step, in order
        self.written: Path | None = None  # the file the current render job writes (write_still)
        # A pass being encoded in a worker thread after its render (param, options for the title, the thread).
        self.finishing: tuple[str, dict[str, Any], FinishThread] | None = None

    # -- what the user sees ---------------------------------------------------------------------------------------
    def status(self) -> str:
        if self.current is not None:
            param, options, _prep = self.current
        elif self.finishing is not None:  # still that capture: its file is being written
            param, options, _thread = self.finishing
        elif self.pending:
            param, options = self.pending[0]
        else:
            return "GenBridge: queuing the job"
        number = len(self.records) + 1
        what = f"{title(options)}{where(options)} for '{param}'"
        return f"GenBridge: capturing {what} ({number} of {self.total}) — Esc to cancel"

    @property
    def rendering(self) -> bool:
        return self.current is not None

    # -- the steps ------------------------------------------------------------------------------------------------
    def step(self) -> bool:
        """One step (start a render, or finish one, or make a quick capture); True once every capture is written.
        Raises CaptureError (the message says what to do); the caller then calls `cancel()`. Each step's main-thread
        time is kept in `steps_ms` (plain data: the GUI suite and the job's log read it)."""
        start = time.perf_counter()
        try:
            return self._step()
        finally:
            self.steps_ms.append(round((time.perf_counter() - start) * 1000, 1))

    def _step(self) -> bool:
        if self.stopping and not render_running():
            raise CaptureCancelled("GenBridge capture cancelled: nothing was queued.")
        if self.finishing is not None:
            return self._finished()
        if self.current is not None:
            if not self._render_ended():
                return False
            param, options, prep = self.current
            self.current = None
            try:
                written, self.written = self.written, None
                if written is not None and written.is_file():
                    result: Any = written  # the render job wrote the file in its own thread
                else:
                    result = bpy.data.images.get("Render Result") or _no_result()
                finishing, record = None, {}
                if isinstance(prep.finish, SplitFinish):
                    finishing = prep.finish.later(result)  # a pass: the EXR read here, encoded in a worker thread
                else:
                    record = prep.finish(result)
            finally:
                prep.close()  # the settings come back now, also while a pass is still being encoded
            if finishing is None:
                self._add(param, record)
                return not self.pending
            # Started after close(): a thread already holding the GIL would make close() wait for it in 5 ms slices.
            self.finishing = (param, options, FinishThread(finishing, f"{param}-{prep.source}"))
            return False
        if not self.pending:
            return True
        if not self._loop_parked():
            return False  # the loop thread is inside a long callback: ask again next tick, the UI stays live
        param, options = self.pending.pop(0)
        source = str(options.pop("source"))
        options_for_title = {"source": source, **options}
        ready = prepare(source, self.folder, param=param, **options)
        if ready is None:  # nothing slow to render: made now
            self._add(param, capture(source, self.folder, param=param, **options))
            if self.park is not None:
                self.park.release()
                self.park = None
            return not self.pending
        self.current = (param, options_for_title, ready)
        self._start_render(ready)
        return False

    def _finished(self) -> bool:
        """Poll the pass being encoded in its worker thread: False until its file is written; a failure there is
        raised as a CaptureError saying what to do."""
        assert self.finishing is not None
        param, options, thread = self.finishing
        if not thread.done():
            return False
        self.finishing = None
        try:
            record = thread.outcome()
        except OSError as exc:
            raise CaptureError(
                f"GenBridge could not write the {title(options)} capture for '{param}' ({exc.strerror or exc}): "
                "check that the output folder is writable and has space, then Generate again."
            ) from None
        except Exception as exc:  # noqa: BLE001 - the worker's error, reported as the capture's
            raise CaptureError(
                f"GenBridge could not finish the {title(options)} capture for '{param}' ({type(exc).__name__}: "
                f"{exc}); nothing was queued. Generate again; if it fails again, render the pass with F12 to check it."
            ) from None
        self._add(param, record)
        return not self.pending

    def _start_render(self, prep: Prepared) -> None:
        if render_running():
            raise CaptureError("Blender is rendering: wait for that render to end, then Generate again.")
        self.watch, self.waited = RenderWatch(), 0
        self.hold = contextlib.ExitStack()  # released when the render job has ended
        self.hold.enter_context(gcpause.gc_paused())  # see runtime.gcpause: no collection while Blender renders
        if self.park is not None:  # the loop thread stays parked until then
            self.hold.callback(self.park.release)
            self.park = None
        self.written = written_by_the_job(prep)
        kwargs: dict[str, Any] = {"write_still": self.written is not None}
        if prep.layer is not None:
            kwargs["layer"] = prep.layer.name
        override = {"window": self.window, "scene": prep.scene}
        if self.area is not None:
            override["area"] = self.area
        try:
            with render_kept_in_ui(), bpy.context.temp_override(**override):
                started = bpy.ops.render.render("INVOKE_DEFAULT", **kwargs)
        except RuntimeError as exc:
            raise CaptureError(f"Blender could not start the render ({exc}).") from None
        if "CANCELLED" in (started or ()):
            raise CaptureError("Blender could not start the render; see the Info editor for why.")

    def _render_ended(self) -> bool:
        """Whether the current render job has ended; raises CaptureError if it was cancelled or made nothing."""
        assert self.watch is not None
        self.waited += 1
        if render_running():  # also when cancelled: the settings are put back only once the job has let go
            return False
        if self.watch.cancelled:
            self._release()
            raise CaptureCancelled("GenBridge capture cancelled (its render was stopped): nothing was queued.")
        if not self.watch.complete and self.waited < START_GRACE_TICKS:
            return False
        complete = self.watch.complete
        self._release()
        if not complete:
            raise CaptureError("Blender's render ended without an image; see the Info editor for why.")
        return True

    def _loop_parked(self) -> bool:
        """Whether GenBridge's loop thread is parked for the next capture, asking it to park if not yet asked.

        bpy crashed when the loop thread imported a module while Blender rendered; the loop can be inside one long
        callback (the job service's start imports pydantic, aiohttp and the backends, seconds on a first run). The
        blocking path waits for it; here the modal asks again each tick instead of rendering unparked."""
        if self.park is None:
            self.park = self.session.runtime.request_park()
            self.park_deadline = time.monotonic() + PARK_WAIT_S
            # An idle loop parks within a millisecond: wait that out once (bounded) rather than lose a tick.
            if self.park.parked.wait(FIRST_PARK_WAIT_S):
                return True
        if self.park.parked.is_set():
            return True
        if time.monotonic() > self.park_deadline:
            raise CaptureError(
                f"GenBridge's background thread did not pause for the capture within {PARK_WAIT_S:.0f} s "
                "(it is busy, e.g. starting up): nothing was queued. Generate again in a moment."
            )
        return False

    def _release(self) -> None:
        if self.watch is not None:
            self.watch.remove()
            self.watch = None
        if self.hold is not None:
            self.hold.close()
            self.hold = None

    def _add(self, param: str, record: dict[str, Any]) -> None:
        self.records.append(record)
        tag_genbridge_regions(bpy.context.window_manager)  # the sidebar shows which capture is next

    def spec(self) -> dict[str, Any]:
        """The job with its captured inputs and their provenance (call once `step()` returned True)."""
        inputs = dict(self.base.get("inputs") or {})
        inputs.update({record["param"]: record["path"] for record in self.records})
        captures = list(self.base.get("captures") or []) + self.records
        return {**self.base, "inputs": inputs, "captures": captures}

    def stop(self) -> None:
        """Esc: stop at the next step (after the render job in progress, if any, has ended; Esc stops that too)."""
        self.stopping = True

    def cancel(self) -> None:
        """Stop: put the settings of the capture in progress back, remove the files written, queue nothing. A
        render job still running is left to end by itself (Esc stops it): its settings are restored meanwhile."""
        self._release()
        if self.park is not None:  # asked to park (or parked) for a capture that will not run
            self.park.release()
            self.park = None
        if self.finishing is not None:  # a pass still encoding: its result is dropped, its file never left behind
            self.finishing[2].discard()
            self.finishing = None
        if self.written is not None:  # a render that wrote its file before it was stopped
            with contextlib.suppress(OSError):
                self.written.unlink(missing_ok=True)
            self.written = None
        if self.current is not None:
            _param, _options, prep = self.current
            self.current = None
            prep.close()
        for record in self.records:
            with contextlib.suppress(OSError):
                Path(record["path"]).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty: a folder with anything else in it stays
        self.records, self.pending = [], []


def _no_result() -> Any:
    raise CaptureError("Blender rendered but made no Render Result.")

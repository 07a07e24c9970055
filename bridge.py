"""The bridge between the job runtime and Blender: the one module (besides UI code) that touches bpy data.

Thread contract, written down where it is kept: the loop thread never reads or writes bpy; it posts plain-data
events to the dispatcher. This module's handlers run only inside the persistent `bpy.app.timers` callback on
Blender's main thread; they land results (images, movie and image strips, text blocks) and keep the plain-data
caches (`jobs`, `services`) that panels draw from. While Blender renders or saves, the tick defers and events wait.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import bpy

from . import preferences
from .runtime import Runtime
from .runtime.dispatcher import MainThreadDispatcher

log = logging.getLogger("genbridge.bridge")

PROVENANCE_KEYS = ("job_id", "service", "instance", "template", "prompt", "seed", "task")

# Called on the main thread with a job's row after each state change (a finished job's outputs have landed by
# then). Features that chain jobs, like the storyboard, listen here; a failing listener is logged, never raised.
JOB_STATE_LISTENERS: list[Any] = []


class Session:
    """Everything GenBridge keeps while enabled: the runtime, the dispatcher, and what the panels show."""

    def __init__(self, package: str, *, client_factory: Any = None) -> None:
        self.package = package
        self.saving = False
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> latest snapshot (+ live progress), for panels
        self.services: dict[str, dict[str, Any]] = {}  # url -> last probe result as plain data
        self.services_checking = False
        self.dispatcher = MainThreadDispatcher(bpy.app.timers, is_busy=self._blender_busy)
        self.runtime = Runtime(
            settings=lambda: preferences.snapshot(self.data_dir),
            emit=self.dispatcher.post,
            client_factory=client_factory,
        )
        for kind, handler in (
            ("state", self._on_state),
            ("progress", self._on_progress),
            ("text", self._on_text),
            ("output", self._on_output),
            ("preview", self._on_preview),
            ("log", self._on_log),
            ("services", self._on_services),
        ):
            self.dispatcher.add_handler(kind, handler)

    @property
    def data_dir(self) -> str:
        """The extension's user folder (journal, default outputs); created on first use, never in register()."""
        return bpy.utils.extension_path_user(self.package, create=True)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Register the timer and handlers. The loop thread is NOT started here: it starts on first use."""
        self.dispatcher.start()
        for name, fn in self._app_handlers():
            if fn not in getattr(bpy.app.handlers, name):
                getattr(bpy.app.handlers, name).append(fn)

    def stop(self) -> bool:
        """Journal in-flight jobs as interrupted, stop and join the loop thread, remove the timer and handlers."""
        ended = self.runtime.shutdown(1.0)
        self.dispatcher.stop()
        self.dispatcher.remove_handlers()
        for name, fn in self._app_handlers():
            handlers = getattr(bpy.app.handlers, name)
            while fn in handlers:
                handlers.remove(fn)
        return ended

    def _app_handlers(self) -> list[tuple[str, Any]]:
        return [("save_pre", _on_save_pre), ("save_post", _on_save_post), ("load_post", _on_load_post)]

    def _blender_busy(self) -> bool:
        if self.saving:
            return True
        return any(bpy.app.is_job_running(kind) for kind in ("RENDER", "COMPOSITE", "OBJECT_BAKE"))

    # -- user actions (main thread; never block) ----------------------------------------------------------------
    def submit(self, spec: dict[str, Any]) -> str:
        """Queue a job from a plain-data snapshot and show it in the job list at once."""
        handle = self.runtime.submit(spec)
        self.jobs[handle.job_id] = {
            "id": handle.job_id,
            "task": spec.get("task", ""),
            "state": "queued",
            "progress": 0.0,
            "phase": "Queued",
            "inputs": dict(spec.get("inputs", {})),
            "target": dict(spec.get("target", {})),
            "created_at": time.time(),
            "group": spec.get("group"),
            "depends_on": list(spec.get("depends_on", [])),
        }
        return handle.job_id

    def cancel(self, job_id: str) -> None:
        self.runtime.cancel(job_id)

    def check_services(self) -> None:
        """Probe every endpoint on the loop thread; results arrive as a "services" event."""
        self.services_checking = True
        post = self.dispatcher.post

        async def probe(service: Any) -> None:
            from .runtime.events import ServicesEvent

            results = await service.probe_all()
            post(ServicesEvent(results=[r.model_dump(mode="json") for r in results]))

        self.runtime.update_settings()
        future = self.runtime.run(probe)
        future.add_done_callback(lambda f: f.exception() and post(_services_failed(f.exception())))

    # -- handlers (main thread, inside the timer) ----------------------------------------------------------------
    def _on_state(self, event: Any) -> None:
        row = self.jobs.setdefault(event.job_id, {"id": event.job_id})
        if event.job:
            row.update(event.job)
        row["state"] = event.state
        row["phase"] = event.phase or row.get("phase", "")
        for listener in list(JOB_STATE_LISTENERS):
            try:
                listener(row)
            except Exception:  # one feature's bug must not stop the job list from updating
                log.exception("job state listener %r failed for job %s", listener, event.job_id)
        if event.state == "done":
            self._notify(f"GenBridge: {row.get('task', 'job')} finished")
        elif event.state == "failed" and row.get("error"):
            self._notify(f"GenBridge: {row['error'].get('message', 'failed')}", error=True)

    def _on_progress(self, event: Any) -> None:
        row = self.jobs.get(event.job_id)
        if row is not None:
            row["progress"] = event.progress or 0.0
            if event.phase:
                row["phase"] = event.phase

    def _on_log(self, event: Any) -> None:
        row = self.jobs.get(event.job_id)
        if row is not None:
            row.setdefault("notes", []).append(event.text)

    def _on_preview(self, event: Any) -> None:
        row = self.jobs.get(event.job_id)
        if row is None or not event.path:
            return
        image = load_image(event.path, name=f"GenBridge preview {event.job_id[:8]}", reload=True)
        row["preview_image"] = image.name

    def _on_text(self, event: Any) -> None:
        row = self.jobs.get(event.job_id)
        if row is None:
            return
        text = text_block_for(row)
        append_text(text, event.text or "")
        row["text_block"] = text.name

    def _on_output(self, event: Any) -> None:
        row = self.jobs.get(event.job_id)
        if row is None or not event.path:
            return
        row.setdefault("outputs", [])
        if event.path not in row["outputs"]:
            row["outputs"].append(event.path)
        land_output(row, event.path)

    def _on_services(self, event: Any) -> None:
        self.services_checking = False
        stamp = time.time()
        for result in event.results:
            self.services[result["url"]] = {**result, "checked_at": stamp}

    def _notify(self, message: str, *, error: bool = False) -> None:
        wm = bpy.context.window_manager
        if wm is not None:
            wm["genbridge_last_message"] = message
        log.log(logging.WARNING if error else logging.INFO, message)


# -- landing results (main thread) ------------------------------------------------------------------------------
def provenance(row: dict[str, Any]) -> dict[str, Any]:
    """What made this result: service, instance, template, prompt, seed, job id (stored as custom properties)."""
    inputs = row.get("inputs") or {}
    values = {
        "job_id": row.get("id", ""),
        "service": row.get("service") or "",
        "instance": row.get("instance") or "",
        "template": row.get("template") or "",
        "prompt": str(inputs.get("prompt", "")),
        "seed": row.get("seed") if row.get("seed") is not None else -1,
        "task": row.get("task", ""),
    }
    return {f"genbridge_{k}": v for k, v in values.items()}


def tag(id_data: Any, row: dict[str, Any]) -> None:
    for key, value in provenance(row).items():
        id_data[key] = value


def load_image(path: str, *, name: str | None = None, reload: bool = False) -> Any:
    image = bpy.data.images.load(path, check_existing=True)
    if reload:
        image.reload()
    if name:
        image.name = name
    return image


def strips_of(scene: Any) -> Any:
    """The strip collection: `strips` in 4.4+ and 5.x, `sequences` before."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def target_scene(target: dict[str, Any]) -> Any:
    return bpy.data.scenes.get(target.get("scene", "")) or bpy.context.scene


def land_output(row: dict[str, Any], path: str) -> Any:
    """Put one output file where the job's target says; returns the Blender data it created."""
    target = row.get("target") or {}
    kind = target.get("kind", "none")
    suffix = Path(path).suffix.lower()
    if kind in ("image", "none") and suffix in (".png", ".jpg", ".jpeg", ".webp", ".exr", ".tif", ".tiff"):
        image = load_image(path, name=target.get("name") or None)
        tag(image, row)
        if target.get("show_in_image_editor"):
            show_in_image_editor(image)
        return image
    if kind in ("movie_strip", "image_strip"):
        scene = target_scene(target)
        strips = strips_of(scene)
        name = target.get("name") or Path(path).stem
        channel, frame = int(target.get("channel", 1)), int(target.get("frame_start", 1))
        if kind == "movie_strip" and suffix in (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"):
            strip = strips.new_movie(name=name, filepath=path, channel=channel, frame_start=frame)
        else:
            strip = strips.new_image(name=name, filepath=path, channel=channel, frame_start=frame)
            if target.get("duration"):
                strip.frame_final_duration = int(target["duration"])
        tag(strip, row)
        return strip
    if kind == "text":
        text = text_block_for(row)
        if not text.as_string() and suffix in (".txt", ".md", ".json"):
            text.from_string(Path(path).read_text(encoding="utf-8", errors="replace"))
        tag(text, row)
        return text
    return None


def show_in_image_editor(image: Any) -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                return


def text_block_for(row: dict[str, Any]) -> Any:
    target = row.get("target") or {}
    name = row.get("text_block") or target.get("name") or f"GenBridge {row.get('task', 'text')}"
    text = bpy.data.texts.get(name)
    if text is None:
        text = bpy.data.texts.new(name)
        row["text_block"] = text.name
    return text


def append_text(text: Any, tokens: str) -> None:
    """Append streamed tokens at the end of a Text block (cost independent of the text's length)."""
    last = len(text.lines) - 1
    text.cursor_set(last, character=len(text.lines[last].body))
    text.write(tokens)


def _services_failed(exc: BaseException | None) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(kind="services", results=[], error=str(exc))


# -- app handlers (persistent: they must survive file loads) -------------------------------------------------------
SESSION: Session | None = None


@bpy.app.handlers.persistent
def _on_save_pre(*_args: Any) -> None:
    if SESSION is not None:
        SESSION.saving = True


@bpy.app.handlers.persistent
def _on_save_post(*_args: Any) -> None:
    if SESSION is not None:
        SESSION.saving = False


@bpy.app.handlers.persistent
def _on_load_post(*_args: Any) -> None:
    # A persistent timer survives loads; re-arm it anyway in case another add-on or Blender dropped it.
    if SESSION is not None:
        SESSION.saving = False
        SESSION.dispatcher.start()


def start(package: str, *, client_factory: Any = None) -> Session:
    global SESSION
    if SESSION is None:
        SESSION = Session(package, client_factory=client_factory)
        SESSION.start()
    return SESSION


def stop() -> bool:
    global SESSION
    session, SESSION = SESSION, None
    return session.stop() if session is not None else True


def session() -> Session:
    if SESSION is None:
        raise RuntimeError("GenBridge is not enabled")
    return SESSION

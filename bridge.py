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
from types import SimpleNamespace
from typing import Any

import bpy

from . import preferences
from .runtime import Runtime
from .runtime.dispatcher import MainThreadDispatcher
from .runtime.netpolicy import redact_url

log = logging.getLogger("genbridge.bridge")

PROVENANCE_KEYS = ("job_id", "service", "instance", "template", "prompt", "seed", "task")

# Called on the main thread with a job's row after each state change (a finished job's outputs have landed by
# then). Features that chain jobs, like the storyboard, listen here; a failing listener is logged, never raised.
JOB_STATE_LISTENERS: list[Any] = []
RESUME_DELAY_S = 1.0  # after enabling, let Blender finish starting before the loop thread starts


class Session:
    """Everything GenBridge keeps while enabled: the runtime, the dispatcher, and what the panels show."""

    def __init__(self, package: str, *, client_factory: Any = None) -> None:
        self.package = package
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> latest snapshot (+ live progress), for panels
        self.services: dict[str, dict[str, Any]] = {}  # url -> last probe result as plain data
        self.services_checking = False
        self.endpoint_tests: dict[str, dict[str, Any]] = {}  # "service|url" -> last Test result (preferences)
        self.notice: dict[str, Any] | None = None  # last notification: text, level, at (the panel repeats it)
        # 0.8 ms of main-thread work per tick at most: a burst (50 jobs starting at once is ~500 events, ~1.4 ms)
        # is spread over a few ticks instead of one long one; at 20 ticks/s that still drains ~5,000 events/s.
        self.dispatcher = MainThreadDispatcher(bpy.app.timers, is_busy=self._blender_busy, budget_s=0.0008)
        self.runtime = Runtime(
            settings=lambda: preferences.snapshot(self.data_dir),
            emit=self.dispatcher.post,
            client_factory=client_factory,
            # Live VRAM, health and queue depth for the router, and fresh status rows for the panel.
            monitor_health=client_factory is None,
        )
        self.dependency_problems: list[str] = []
        self.resume_callback = self._resume  # timers match by identity: keep this one bound method
        for kind, handler in (
            ("state", self._on_state),
            ("progress", self._on_progress),
            ("text", self._on_text),
            ("output", self._on_output),
            ("preview", self._on_preview),
            ("log", self._on_log),
            ("services", self._on_services),
            ("endpoint_test", self._on_endpoint_test),
            ("dependencies", self._on_dependencies),
        ):
            self.dispatcher.add_handler(kind, handler)

    @property
    def saving(self) -> bool:
        """True between save_pre and save_post/save_post_fail: a dispatcher hold, so it can never outlive the save."""
        return self.dispatcher.holding("saving")

    @saving.setter
    def saving(self, value: bool) -> None:
        if value:
            self.dispatcher.hold("saving")
        else:
            self.dispatcher.release("saving")

    @property
    def data_dir(self) -> str:
        """The extension's user folder (journal, default outputs); created on first use, never in register()."""
        return bpy.utils.extension_path_user(self.package, create=True)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Register the timer and handlers. The loop thread is NOT started here: it starts on first use, or
        shortly after enabling (never inside register()) when the journal holds jobs to re-attach."""
        self.dispatcher.start()
        if not bpy.app.timers.is_registered(self.resume_callback):
            bpy.app.timers.register(self.resume_callback, first_interval=RESUME_DELAY_S)
        for name, fn in self._app_handlers():
            if fn not in getattr(bpy.app.handlers, name):
                getattr(bpy.app.handlers, name).append(fn)

    def _resume(self) -> None:
        """One-shot timer: re-attach to jobs that were still on the servers when Blender closed."""
        try:
            self.runtime.resume()
        except Exception:
            log.exception("GenBridge could not re-attach to earlier jobs")

    def stop(self) -> bool:
        """Journal in-flight jobs as interrupted, stop and join the loop thread, remove the timer and handlers."""
        ended = self.runtime.shutdown(1.0)
        if bpy.app.timers.is_registered(self.resume_callback):
            bpy.app.timers.unregister(self.resume_callback)
        self.dispatcher.stop()
        self.dispatcher.remove_handlers()
        for name, fn in self._app_handlers():
            handlers = getattr(bpy.app.handlers, name)
            while fn in handlers:
                handlers.remove(fn)
        return ended

    def _app_handlers(self) -> list[tuple[str, Any]]:
        handlers = [("save_pre", _on_save_pre), ("save_post", _on_save_post), ("load_post", _on_load_post)]
        if hasattr(bpy.app.handlers, "save_post_fail"):  # a failed save ends the hold too (4.5 and 5.0 have it)
            handlers.append(("save_post_fail", _on_save_post))
        return handlers

    def _blender_busy(self) -> bool:
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
            "spec": dict(spec),  # what Retry sends again
        }
        sync_job_list(self.jobs)
        return handle.job_id

    def clear_finished(self) -> int:
        """Drop finished jobs from the list (their results stay in Blender); returns how many went."""
        done = [job_id for job_id, row in self.jobs.items() if row.get("state") in FINISHED_STATES]
        for job_id in done:
            del self.jobs[job_id]
        sync_job_list(self.jobs)
        return len(done)

    def test_endpoint(self, service: str, row: dict[str, Any]) -> None:
        """Probe one endpoint (from the preferences) on the loop thread; the result lands in `endpoint_tests`."""
        key = endpoint_key(service, row["url"])
        self.endpoint_tests[key] = {"checking": True, "url": row["url"], "service": service}
        post = self.dispatcher.post

        async def probe(job_service: Any) -> None:
            post(SimpleNamespace(kind="endpoint_test", key=key, result=await probe_one(job_service, service, row)))

        self.runtime.update_settings()
        future = self.runtime.run(probe)
        future.add_done_callback(
            lambda f: (
                f.exception()
                and post(
                    SimpleNamespace(
                        kind="endpoint_test",
                        key=key,
                        result={"reachable": False, "error": {"message": str(f.exception()), "hint": ""}},
                    )
                )
            )
        )

    def cancel(self, job_id: str) -> None:
        self.runtime.cancel(job_id)

    def check_services(self) -> None:
        """Probe every endpoint on the loop thread; results arrive as a "services" event."""
        self.services_checking = True
        post = self.dispatcher.post

        async def probe(service: Any) -> None:
            await service.probe_all()  # the job service posts the results as a "services" event

        self.runtime.update_settings()
        future = self.runtime.run(probe)
        future.add_done_callback(lambda f: f.exception() and post(_services_failed(f.exception())))

    # -- handlers (main thread, inside the timer) ----------------------------------------------------------------
    def _on_state(self, event: Any) -> None:
        known = event.job_id in self.jobs
        row = self.jobs.setdefault(event.job_id, {"id": event.job_id, "created_at": time.time()})
        previous = row.get("state")
        if event.job:
            row.update({k: v for k, v in event.job.items() if k not in ("target", "inputs") or not row.get(k)})
        row["state"] = event.state
        row["phase"] = event.phase or row.get("phase", "")
        if not known:
            sync_job_list(self.jobs)
        if previous == event.state:
            return
        for listener in list(JOB_STATE_LISTENERS):
            try:
                listener(row)
            except Exception:  # one feature's bug must not stop the job list from updating
                log.exception("job state listener %r failed for job %s", listener, event.job_id)
        if event.state == "done":
            self._notify(f"GenBridge: {row.get('task', 'job')} {row.get('id', '')[:8]} finished", sound=True)
        elif event.state == "failed":
            error = row.get("error") or {}
            hint = f" {error['hint']}" if error.get("hint") else ""
            self._notify(f"GenBridge: {error.get('message', 'the job failed')}{hint}", error=True)

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
        try:
            image.preview_ensure()
            row["preview_icon"] = image.preview.icon_id  # the panel draws it with template_icon, no I/O in draw
        except (AttributeError, RuntimeError):
            row.pop("preview_icon", None)

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
        if getattr(event, "error", None):
            self._notify(f"GenBridge: could not check the services: {event.error}", error=True)

    def _on_dependencies(self, event: Any) -> None:
        """A bundled library is missing or broken: keep the problems for the panels and preferences, say it once."""
        self.dependency_problems = list(event.problems)
        self._notify("GenBridge: " + " ".join(self.dependency_problems), error=True)

    def _on_endpoint_test(self, event: Any) -> None:
        self.endpoint_tests[event.key] = {**event.result, "checked_at": time.time()}
        redraw_preferences()

    def _notify(self, message: str, *, error: bool = False, sound: bool = False) -> None:
        """Tell the user without blocking: panel notice, status bar report, optional sound (off by default)."""
        level = "ERROR" if error else "INFO"
        self.notice = {"text": message, "level": level, "at": time.time()}
        wm = bpy.context.window_manager
        if wm is not None:
            wm["genbridge_last_message"] = message
        log.log(logging.WARNING if error else logging.INFO, message)
        prefs = preferences.get()
        if prefs is not None and not error and not prefs.notify_on_finish:
            return
        report(message, level)
        if sound and prefs is not None and prefs.notify_sound:
            play_finish_sound()


# -- landing results (main thread) ------------------------------------------------------------------------------
def provenance(row: dict[str, Any]) -> dict[str, Any]:
    """What made this result: service, instance, template, prompt, seed, job id (stored as custom properties)."""
    inputs = row.get("inputs") or {}
    values = {
        "job_id": row.get("id", ""),
        "service": row.get("service") or "",
        "instance": redact_url(row.get("instance") or ""),  # saved in the .blend: never a user:password@
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
    return SimpleNamespace(kind="services", results=[], error=str(exc))


# -- caches the UI draws from (main thread) -------------------------------------------------------------------------
FINISHED_STATES = frozenset({"done", "failed", "cancelled", "interrupted"})


def endpoint_key(service: str, url: str) -> str:
    return f"{service}|{url.strip().rstrip('/')}"


async def probe_one(job_service: Any, service: str, row: dict[str, Any]) -> dict[str, Any]:
    """Loop thread: probe one endpoint with a fresh client (so a just-edited key is used), as plain data."""
    from .runtime.errors import GenBridgeError, error_from_exception
    from .runtime.settings import Endpoint

    try:
        endpoint = Endpoint.build(service, row["url"], key=row.get("key"), label=row.get("label", ""))
        client = job_service.client_factory(endpoint, job_service.settings)
        try:
            result = await client.probe()
        finally:
            await client.close()
        return dict(result.model_dump(mode="json"))
    except Exception as exc:  # noqa: BLE001 - a bad URL or refused host is an answer to show, not a crash
        err = exc if isinstance(exc, GenBridgeError) else error_from_exception(exc, service=service)
        return {"service": service, "url": redact_url(row["url"]), "reachable": False, "error": err.to_dict()}


def sync_job_list(jobs: dict[str, dict[str, Any]]) -> None:
    """Mirror the job cache into the WindowManager rows the UIList draws (newest first); keeps the selection."""
    wm = bpy.context.window_manager
    rows = getattr(wm, "genbridge_jobs", None) if wm is not None else None
    if rows is None:
        return
    wanted = [j["id"] for j in sorted(jobs.values(), key=lambda j: j.get("created_at", 0.0), reverse=True)]
    if [r.job_id for r in rows] == wanted:
        return
    selected = rows[wm.genbridge_job_index].job_id if 0 <= wm.genbridge_job_index < len(rows) else ""
    rows.clear()
    for job_id in wanted:
        rows.add().job_id = job_id
    wm.genbridge_job_index = wanted.index(selected) if selected in wanted else 0


def report(message: str, level: str = "INFO") -> None:
    """A status bar / Info log report from the timer (needs a window in the context; skipped without one)."""
    if bpy.app.background:
        # No status bar to show it in, and running an operator from a timer under a window override crashed
        # the bpy module (4.5) intermittently: log instead. The panel repeats the notice either way.
        log.log(logging.WARNING if level in ("WARNING", "ERROR") else logging.INFO, "%s", message)
        return
    wm = bpy.context.window_manager
    if wm is None or not wm.windows or not hasattr(bpy.ops.genbridge, "report"):
        return
    try:
        with bpy.context.temp_override(window=wm.windows[0]):
            bpy.ops.genbridge.report(message=message[:1000], level=level)
    except (RuntimeError, TypeError) as exc:
        log.debug("could not report %r: %s", message, exc)


_SOUND: dict[str, Any] = {}


def play_finish_sound() -> None:
    """A short beep through Blender's audio module (only when enabled in the preferences)."""
    try:
        import aud

        device = _SOUND.setdefault("device", aud.Device())
        _SOUND["handle"] = device.play(aud.Sound.sine(880).limit(0, 0.15).volume(0.3))
    except Exception as exc:  # noqa: BLE001 - no audio device is fine: the status bar already told the user
        log.debug("no finish sound: %s", exc)


def release_sound() -> None:
    """Drop the audio device (at unregister), so nothing keeps audio alive at exit."""
    _SOUND.clear()


def redraw_preferences() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


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
        sync_job_list(SESSION.jobs)  # a loaded file may bring a new WindowManager without the list rows


def start(package: str, *, client_factory: Any = None) -> Session:
    global SESSION
    if SESSION is None:
        SESSION = Session(package, client_factory=client_factory)
        SESSION.start()
    return SESSION


def stop() -> bool:
    global SESSION
    session, SESSION = SESSION, None
    release_sound()
    return session.stop() if session is not None else True


def session() -> Session:
    if SESSION is None:
        raise RuntimeError("GenBridge is not enabled")
    return SESSION

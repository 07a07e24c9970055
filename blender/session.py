"""The session: everything GenBridge keeps while enabled (runtime, dispatcher, the caches the panels draw from).

Thread contract, written down where it is kept: the loop thread never reads or writes bpy; it posts `MainEvent`s
(plain data) to the dispatcher. The handlers below run only inside the persistent `bpy.app.timers` callback on
Blender's main thread: they keep the plain-data caches (`jobs`, `services`, `endpoint_tests`), hand results to
`landing`, tell the user through `notify`, and ask for a redraw of the GenBridge regions. While Blender renders
or saves, the tick defers and events wait. Preferences are read only through the `PreferenceReaders` passed in.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from ..runtime import Runtime
from ..runtime.dispatcher import MainThreadDispatcher
from ..runtime.endpoint_rows import row_problem
from ..runtime.handoff import MainEvent
from ..runtime.loop import BLOCKING_PARK_WAIT_S
from ..runtime.netpolicy import redact_url
from ..runtime.services import DEFAULT_URLS, SERVICES
from ..runtime.vocabulary import STOPPED_STATES
from .choices import task_title
from .hooks import JOB_STATE_LISTENERS
from .joblist import sync_job_list
from .landing import append_text, land_output, load_image, text_block_for
from .notify import play_finish_sound, report
from .probes import endpoint_key, probe_one
from .redraw import RedrawThrottle, tag_genbridge_regions

log = logging.getLogger("genbridge.session")

RESUME_DELAY_S = 1.0  # after enabling, let Blender finish starting before the loop thread starts
CHECK_DONE = "check-done"  # the `key` of the event that ends a Check the user asked for
IDLE_TICK_S = 0.1  # an event posted while idle waits at most this long, so the panel shows it within ~0.2 s


@dataclass(frozen=True)
class PreferenceReaders:
    """How the session reads the add-on preferences (main thread), passed in so nothing here imports them."""

    settings: Callable[[str], dict[str, Any]]  # data_dir -> plain settings for `Settings.from_mapping`
    notify: Callable[[], tuple[bool, bool]]  # (report finished jobs, play a sound)


def configured_endpoints(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The enabled endpoints of a settings snapshot, keyed like the status rows ("service|url"), in order.

    As in `Settings`: a service missing from the snapshot has its default local URL; an empty list turns it off."""
    rows: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        for number, row in enumerate(snapshot.get(service, [{"url": DEFAULT_URLS[service]}]), 1):
            if row.get("enabled", True) and str(row.get("url", "")).strip():
                # A row the runtime leaves out (user info in its URL, a too-short key) shows why on its status row,
                # worded as the runtime words it; the password of such a URL is never kept in this cache.
                problem = row_problem(service, row, number)
                url = redact_url(str(row["url"]).strip().rstrip("/"))
                key = endpoint_key(service, url)
                if problem:  # its own status row, even beside a good row for the same server (a fix half done)
                    key = f"{key}#{number}"
                rows[key] = {
                    "service": service,
                    "url": url,
                    "label": row.get("label") or "",
                    "kind": row.get("kind") or "native",
                    # Only a fingerprint: enough to forget a check made with another key, and no secret in a cache
                    # that panels read.
                    "key": hashlib.sha256(str(row.get("key") or "").encode()).hexdigest()[:16],
                    **({"problem": problem.to_dict()} if problem else {}),
                }
    return rows


class Session:
    """Everything GenBridge keeps while enabled: the runtime, the dispatcher, and what the panels show."""

    def __init__(self, package: str, readers: PreferenceReaders, *, client_factory: Any = None) -> None:
        self.package = package
        self.readers = readers
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> latest journaled snapshot (+ live progress)
        self.endpoints: dict[str, dict[str, Any]] = {}  # "service|url" -> the configured, enabled endpoint
        self.services: dict[str, dict[str, Any]] = {}  # "service|url" -> its latest check, as plain data
        self.capturing = ""  # what the Generate operator is capturing now ("" when nothing), for the panel
        self.capture_steps_ms: list[float] = []  # main-thread time of each step of the last capture run
        self.services_checking = False
        self.endpoint_tests: dict[str, dict[str, Any]] = {}  # "service|url" -> last Test result (preferences)
        self.notice: dict[str, Any] | None = None  # last notification: text, level, at (the panel repeats it)
        self.dependency_problems: list[str] = []
        self._data_dir = ""
        self._sent: dict[str, Any] | None = None  # the settings snapshot the runtime last received
        self.redraw = RedrawThrottle()
        # 0.8 ms of main-thread work per tick at most: a burst (50 jobs starting at once is ~500 events, ~1.4 ms)
        # is spread over a few ticks instead of one long one; at 20 ticks/s that still drains ~5,000 events/s.
        self.dispatcher = MainThreadDispatcher(
            bpy.app.timers,
            is_busy=self._blender_busy,
            budget_s=0.0008,
            idle_interval=IDLE_TICK_S,
            after_drain=self._after_drain,
        )
        self.runtime = Runtime(
            settings=self._read_settings,
            emit=self.dispatcher.post,
            client_factory=client_factory,
            # Live VRAM, health and queue depth for the router, and fresh status rows for the panel.
            monitor_health=client_factory is None,
        )
        self.resume_callback = self._resume  # timers match by identity: keep this one bound method
        self._app_handlers = self._make_app_handlers()
        handlers: dict[str, Callable[[MainEvent], None]] = {
            "state": self._on_state,
            "progress": self._on_progress,
            "text": self._on_text,
            "output": self._on_output,
            "preview": self._on_preview,
            "log": self._on_log,
            "services": self._on_services,
            "endpoint_test": self._on_endpoint_test,
            "dependencies": self._on_dependencies,
        }
        for kind, handler in handlers.items():
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
        if not self._data_dir:
            self._data_dir = bpy.utils.extension_path_user(self.package, create=True)
        return self._data_dir

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Register the timer and handlers. The loop thread is NOT started here: it starts on first use, or
        shortly after enabling (never inside register()) when the journal holds jobs to re-attach."""
        self.dispatcher.start()
        if not bpy.app.timers.is_registered(self.resume_callback):
            bpy.app.timers.register(self.resume_callback, first_interval=RESUME_DELAY_S)
        for name, fn in self._app_handlers:
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
        for name, fn in self._app_handlers:
            handlers = getattr(bpy.app.handlers, name)
            while fn in handlers:
                handlers.remove(fn)
        return ended

    def _make_app_handlers(self) -> list[tuple[str, Callable[..., None]]]:
        """Persistent handlers (they must survive file loads), made once so removing finds the same objects."""

        @bpy.app.handlers.persistent
        def _on_save_pre(*_args: Any) -> None:
            self.saving = True

        @bpy.app.handlers.persistent
        def _on_save_post(*_args: Any) -> None:
            self.saving = False

        @bpy.app.handlers.persistent
        def _on_load_post(*_args: Any) -> None:
            # A persistent timer survives loads; re-arm it anyway in case another add-on or Blender dropped it.
            self.saving = False
            self.dispatcher.start()
            self._sync_job_list()  # a loaded file may bring a new WindowManager without the list rows

        handlers = [("save_pre", _on_save_pre), ("save_post", _on_save_post), ("load_post", _on_load_post)]
        if hasattr(bpy.app.handlers, "save_post_fail"):  # a failed save ends the hold too (4.5 and 5.0 have it)
            handlers.append(("save_post_fail", _on_save_post))
        return handlers

    def _blender_busy(self) -> bool:
        running = bpy.app.is_job_running  # the stubs claim it returns None; it returns a bool
        return any(running(kind) for kind in ("RENDER", "COMPOSITE", "OBJECT_BAKE"))  # type: ignore[func-returns-value]

    # -- settings (main thread) ---------------------------------------------------------------------------------
    def _read_settings(self) -> dict[str, Any]:
        """The runtime's settings source: a fresh preferences snapshot, remembered as the one the runtime has."""
        snapshot = self.readers.settings(self.data_dir)
        self._sent = snapshot
        self._set_endpoints(snapshot)
        return snapshot

    def sync_settings(self) -> bool:
        """Hand changed preferences to the runtime before a request or check; True if they had changed."""
        snapshot = self.readers.settings(self.data_dir)
        self._set_endpoints(snapshot)
        if snapshot == self._sent:
            return False
        if self.runtime.started:
            self.runtime.update_settings()  # reads them again through `_read_settings`, in order with requests
        return True

    def preferences_changed(self) -> None:
        """An endpoint (URL, key, enabled, label) or setting was edited: status rows follow at once."""
        self.sync_settings()
        self.changed()

    def _set_endpoints(self, snapshot: dict[str, Any]) -> None:
        """Keep the status rows to exactly the configured endpoints; forget checks made with other settings."""
        endpoints = configured_endpoints(snapshot)
        if endpoints == self.endpoints:
            return
        for key in list(self.services):
            if endpoints.get(key) != self.endpoints.get(key):
                del self.services[key]  # removed, or its key or label changed: that check no longer applies
        self.endpoints = endpoints
        self.changed()

    # -- user actions (main thread; never block) ----------------------------------------------------------------
    def submit(self, spec: dict[str, Any]) -> str:
        """Queue a job from a plain-data snapshot and show it in the job list at once.

        The row holds only what the list shows until the job's first state event brings its journaled snapshot;
        the spec itself is not kept: Retry and landing read the journaled job."""
        self.sync_settings()
        handle = self.runtime.submit(spec)
        self.jobs[handle.job_id] = {
            "id": handle.job_id,
            "task": spec.get("task", ""),
            "state": "queued",
            "progress": 0.0,
            "phase": "Queued",
            "created_at": time.time(),
        }
        self._sync_job_list()
        self.changed()
        return handle.job_id

    def job_folder(self, task: str, job_id: str) -> Path:
        """The job's output folder, as the job service names it (`<output>/<task>-<id>`), from the plain settings.

        Captured inputs are written here before the job is queued, so they stay with its results."""
        snapshot = self._sent or self.readers.settings(self.data_dir)
        output = str(snapshot.get("output_dir") or "")
        data_dir = str(snapshot.get("data_dir") or self.data_dir)
        root = Path(output).expanduser() if output else Path(data_dir).expanduser() / "outputs"
        return root / f"{task}-{job_id}"

    def template_dirs(self) -> list[str]:
        """The user's template folders from the preferences (plain strings; main thread)."""
        return [str(folder) for folder in self.readers.settings(self.data_dir).get("template_dirs") or []]

    def submit_with_captures(self, spec: dict[str, Any], sources: dict[str, dict[str, Any]]) -> str:
        """Capture each image input (`{param: {"source": ..., options}}`), then queue the job (see `with_captures`).
        A CaptureError queues nothing."""
        return self.submit(self.with_captures(spec, sources))

    def with_captures(self, spec: dict[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The spec with its image inputs captured into the job's folder (the id is fixed here so the folder is the
        job's), the files as its inputs and their provenance in `captures`. Main thread; a capture blocks for its
        render (see `capture`)."""
        from .capture import capture

        job_id = str(spec.get("id") or uuid.uuid4())
        folder = self.job_folder(str(spec.get("task", "")), job_id)
        inputs = dict(spec.get("inputs") or {})
        captures = list(spec.get("captures") or [])
        # Blender renders here, in place: wait for the loop to park (it may be starting the job service, importing).
        with self.runtime.held_still(BLOCKING_PARK_WAIT_S):
            for param, options in sources.items():
                options = dict(options)
                record = capture(options.pop("source"), folder, param=param, **options)
                inputs[param] = record["path"]
                captures.append(record)
        return {**spec, "id": job_id, "inputs": inputs, "captures": captures}

    def clear_finished(self) -> int:
        """Drop finished jobs from the list (their results stay in Blender); returns how many went."""
        done = [job_id for job_id, row in self.jobs.items() if row.get("state") in STOPPED_STATES]
        for job_id in done:
            del self.jobs[job_id]
        self._sync_job_list()
        self.changed()
        return len(done)

    def test_endpoint(self, service: str, row: dict[str, Any]) -> None:
        """Probe one endpoint (from the preferences) on the loop thread; the result lands in `endpoint_tests`."""
        key = endpoint_key(service, row["url"])
        self.endpoint_tests[key] = {"checking": True, "url": row["url"], "service": service}
        post = self.dispatcher.post

        async def probe(job_service: Any) -> None:
            post(MainEvent(kind="endpoint_test", key=key, result=await probe_one(job_service, service, row)))

        def failed(future: Any) -> None:
            if future.exception() is not None:
                error = {"message": str(future.exception()), "hint": ""}
                post(MainEvent(kind="endpoint_test", key=key, result={"reachable": False, "error": error}))

        self.sync_settings()
        self.runtime.run(probe).add_done_callback(failed)
        self.changed()

    def cancel(self, job_id: str) -> None:
        self.runtime.cancel(job_id)

    def check_services(self) -> None:
        """Probe every configured endpoint on the loop thread; results arrive as a "services" event."""
        self.services_checking = True
        post = self.dispatcher.post

        async def probe(job_service: Any) -> None:
            await job_service.probe_all()  # the job service posts the results as a "services" event...
            post(MainEvent(kind="services", key=CHECK_DONE))  # ...and this one, behind it, ends *this* check

        def failed(future: Any) -> None:
            if future.exception() is not None:
                post(MainEvent(kind="services", error=str(future.exception())))

        self.sync_settings()
        self.runtime.run(probe).add_done_callback(failed)
        self.changed()

    # -- handlers (main thread, inside the timer) ----------------------------------------------------------------
    def _on_state(self, event: MainEvent) -> None:
        known = event.job_id in self.jobs
        row = self.jobs.setdefault(event.job_id, {"id": event.job_id, "created_at": time.time()})
        previous = row.get("state")
        if event.job:
            row.update(event.job)  # the journaled snapshot: the one record of the job (target included)
        row["state"] = event.state
        row["phase"] = event.phase or row.get("phase", "")
        newly_failed = event.state == "failed" and previous != "failed"
        if not known or newly_failed:
            # A failure is what the user needs to read next: select it so the detail box describes it.
            self._sync_job_list(select=event.job_id if newly_failed else None)
        if previous == event.state:
            return
        for listener in list(JOB_STATE_LISTENERS):
            try:
                listener(row)
            except Exception:  # one feature's bug must not stop the job list from updating
                log.exception("job state listener %r failed for job %s", listener, event.job_id)
        if event.state == "done":
            title = task_title(str(row.get("task", "")))
            self._notify(f"GenBridge: {title} {str(row.get('id', ''))[:8]} finished", sound=True)
        elif event.state == "failed":
            error = row.get("error") or {}
            hint = f" {error['hint']}" if error.get("hint") else ""
            self._notify(f"GenBridge: {error.get('message', 'the job failed')}{hint}", error=True)

    def _on_progress(self, event: MainEvent) -> None:
        row = self.jobs.get(event.job_id)
        if row is not None:
            row["progress"] = event.progress or 0.0
            if event.phase:
                row["phase"] = event.phase

    def _on_log(self, event: MainEvent) -> None:
        row = self.jobs.get(event.job_id)
        if row is not None and event.text:
            row.setdefault("notes", []).append(event.text)

    def _on_preview(self, event: MainEvent) -> None:
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

    def _on_text(self, event: MainEvent) -> None:
        row = self.jobs.get(event.job_id)
        if row is None:
            return
        append_text(text_block_for(row), event.text or "")

    def _on_output(self, event: MainEvent) -> None:
        row = self.jobs.get(event.job_id)
        if row is None or not event.path:
            return
        outputs = row.setdefault("outputs", [])
        if event.path not in outputs:
            outputs.append(event.path)
        landed = land_output(row, event.path)
        if landed is not None and (row.get("target") or {}).get("kind", "none") in ("image", "none"):
            # The job's details offer "Use as Texture" and "Camera Background" for exactly this image (the one
            # the Image Editor shows may be another).
            row["image_name"] = landed.name

    def _on_services(self, event: MainEvent) -> None:
        if event.key == CHECK_DONE or event.error:
            # Only the end of the user's own check clears "Checking..." (the health monitor posts results too).
            self.services_checking = False
        if event.key == CHECK_DONE:
            return
        stamp = time.time()
        checked = {endpoint_key(r["service"], r["url"]): {**r, "checked_at": stamp} for r in event.results}
        # Exactly the configured endpoints, each with its latest check (a result for an endpoint edited away
        # while the check ran is dropped).
        if checked or not event.error:
            self.services = {key: result for key, result in checked.items() if key in self.endpoints}
        if event.error:
            self._notify(f"GenBridge: could not check the services: {event.error}", error=True)

    def _on_dependencies(self, event: MainEvent) -> None:
        """A bundled library is missing or broken: keep the problems for the panels and preferences, say it once."""
        self.dependency_problems = list(event.problems)
        self._notify("GenBridge: " + " ".join(self.dependency_problems), error=True)

    def _on_endpoint_test(self, event: MainEvent) -> None:
        self.endpoint_tests[event.key] = {**(event.result or {}), "checked_at": time.time()}

    # -- telling the user (main thread) ---------------------------------------------------------------------------
    def _notify(self, message: str, *, error: bool = False, sound: bool = False) -> None:
        """Tell the user without blocking: panel notice, status bar report, optional sound (off by default)."""
        level = "ERROR" if error else "INFO"
        self.notice = {"text": message, "level": level, "at": time.time()}
        wm = bpy.context.window_manager
        if wm is not None:
            wm["genbridge_last_message"] = message
        log.log(logging.WARNING if error else logging.INFO, message)
        report_finished, play_sound = self.readers.notify()
        if not error and not report_finished:
            return
        report(message, level)
        if sound and play_sound:
            play_finish_sound()

    def changed(self) -> None:
        """Something the panels show changed: redraw them (throttled) from the next tick on."""
        self.redraw.request()

    def _after_drain(self, handled: int) -> None:
        """Every tick: if events changed the caches, tag the GenBridge regions (at most ~10 redraws/s)."""
        if handled:
            self.redraw.request()
        if self.redraw.due():
            tag_genbridge_regions(bpy.context.window_manager)
            self.redraw.done()

    def _sync_job_list(self, *, select: str | None = None) -> None:
        sync_job_list(bpy.context.window_manager, self.jobs, select=select)

"""The job runtime: one loop thread, the job service on it, and a light facade for callers on any thread.

Importing this package is cheap (stdlib only): Blender's main thread uses `Runtime.submit()` and
`Runtime.cancel()`, which return at once; pydantic, aiohttp and the backends are imported on the loop thread
the first time a job or a probe needs them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import gcpause
from .handoff import MainEvent

if TYPE_CHECKING:
    from .loop import Park

log = logging.getLogger("genbridge.runtime")

SettingsSource = Callable[[], Any]  # returns a Settings or a plain mapping (a Blender preferences snapshot)


@contextlib.contextmanager
def _gc_paused_no_loop() -> Iterator[bool]:
    """`Runtime.held_still` before the loop thread exists: nothing to park (False), the garbage collector paused."""
    with gcpause.gc_paused():
        yield False


@dataclass
class JobHandle:
    """Returned at once by `Runtime.submit`; `done` resolves with the final job snapshot (headless use only)."""

    job_id: str
    runtime: Runtime
    done: concurrent.futures.Future[dict[str, Any]] = field(default_factory=concurrent.futures.Future)

    def cancel(self) -> None:
        self.runtime.cancel(self.job_id)


class Runtime:
    """The one runtime object: owns the loop thread and the job service that runs on it."""

    def __init__(
        self,
        *,
        settings: SettingsSource,
        emit: Callable[[Any], None],
        journal_path: Path | None = None,
        client_factory: Any | None = None,
        router_factory: Callable[[Any], Any] | None = None,
        monitor_health: bool = False,
        reattach: bool = True,
    ) -> None:
        from .redact import install_log_redaction

        install_log_redaction()  # a server that echoes a key must not get it into any log line
        self._settings_source = settings
        self._emit = emit
        self._journal_path = journal_path
        self._client_factory = client_factory
        self._router_factory = router_factory
        self._monitor_health = monitor_health  # probe endpoints in the background so plans see live VRAM/health
        self._reattach = reattach  # resume the journal's unfinished jobs when the job service starts
        self._loop_thread: Any = None  # LoopThread, created on first use (asyncio is not imported at enable)
        self._job_service: Any = None  # JobService, created on the loop thread
        self._init_error: BaseException | None = None
        self.dependency_problems: list[str] = []  # filled on the loop thread; the UI shows them
        self.resumed: list[str] = []  # ids of the journal's unfinished jobs taken up when the service started

    @property
    def started(self) -> bool:
        return self._loop_thread is not None and self._loop_thread.running

    @property
    def thread(self) -> Any:
        return self._loop_thread.thread if self._loop_thread is not None else None

    @property
    def service(self) -> Any:
        """The JobService (loop thread only; tests may read it after the loop has run)."""
        return self._job_service

    @property
    def _loop(self) -> Any:
        if self._loop_thread is None:
            from .loop import LoopThread

            self._loop_thread = LoopThread()
        return self._loop_thread

    def _ensure_started(self) -> None:
        if self.started:
            return
        # The settings snapshot is taken here, on the caller's (Blender's main) thread: bpy is never read elsewhere.
        snapshot = self._settings_source()
        self._loop.start()
        self._loop.set_before_stop(self._before_stop)
        self._loop.call_soon(self._create_service, snapshot)

    def _create_service(self, snapshot: Any) -> None:
        """Runs on the loop thread: the heavy imports happen here, never on Blender's main thread."""
        from .deps import check_dependencies
        from .errors import MissingDependency

        problems = check_dependencies()
        if problems:
            self.dependency_problems = problems
            self._init_error = MissingDependency(" ".join(problems))
            self._emit(MainEvent(kind="dependencies", problems=tuple(problems)))
            return
        try:
            from .journal import Journal
            from .service import JobService
            from .settings import Settings

            settings = self._load_settings(Settings, snapshot)
            journal_path = self._journal_path or settings.data_path / "journal.jsonl"
            router = self._router_factory(settings) if self._router_factory else None
            service = JobService(
                settings,
                self._emit,
                Journal(journal_path, keep_finished=settings.keep_finished_jobs),
                router=router,
                client_factory=self._client_factory,
            )
            # Import every configured backend now, before any job: an import in the middle of a job can coincide
            # with Blender rendering on the main thread (a capture), and bpy crashed when both happened at once.
            if self._client_factory is None:
                for endpoint in settings.all_endpoints():
                    service.client_for(endpoint)
            # Likewise read the bundled WanGP presets (a TOML file, cached for the session) now rather than in the
            # first WanGP job, which may run while Blender renders: a crash dump showed the loop thread in tomllib.
            self._warm_presets()
            self._job_service = service
            if self._monitor_health:
                self._job_service.start_health_monitor()
            if self._reattach:
                resumed = self._job_service.reattach_journaled()
                self.resumed = list(resumed)
                if resumed:
                    log.info("re-attached %d job(s) left running before the restart", len(resumed))
        except BaseException as exc:
            log.exception("GenBridge could not start its job service")
            self._init_error = exc

    @staticmethod
    def _warm_presets() -> None:
        from ..workflows.wan2gp_templates import preset_for_template

        try:
            preset_for_template("genbridge-warm-up")  # fills the cache; the name matches no preset
        except Exception:  # noqa: BLE001 - a broken presets file is reported by the job that needs it, not here
            log.warning("could not read the WanGP presets at start; the first WanGP job will say why")

    @staticmethod
    def _load_settings(settings_cls: Any, value: Any) -> Any:
        if isinstance(value, settings_cls):
            return value
        if isinstance(value, Mapping):
            # A preferences row that cannot be used (user info in its URL, a too-short key) turns off only that
            # row: its message is in `endpoint_problems` and on its status row, the other endpoints keep working.
            return settings_cls.from_mapping(value, source="GenBridge preferences", skip_bad_endpoints=True)
        raise TypeError(f"settings source returned {type(value).__name__}")

    async def _before_stop(self) -> None:
        if self._job_service is not None:
            await self._job_service.shutdown()

    # -- any thread ---------------------------------------------------------------------------------------------
    def held_still(self, max_wait_s: float = 0.5) -> contextlib.AbstractContextManager[bool]:
        """The loop thread parked for a block of main-thread work (a Blender render): see `LoopThread.held_still`;
        a blocking render passes `loop.BLOCKING_PARK_WAIT_S`."""
        if self._loop_thread is None:  # no loop to park; other threads still must not collect garbage meanwhile
            return _gc_paused_no_loop()
        return self._loop_thread.held_still(max_wait_s)

    def request_park(self) -> Park:
        """Ask the loop thread to park without waiting (see `LoopThread.request_park`); already parked when there is
        no loop thread yet."""
        from .loop import Park

        if self._loop_thread is None:
            park = Park()
            park.parked.set()
            return park
        return self._loop_thread.request_park()

    def submit(self, spec: Mapping[str, Any]) -> JobHandle:
        """Queue a job from a plain-data snapshot; returns at once. `spec` holds Job fields (task, inputs...)."""
        job_id = str(spec.get("id") or uuid.uuid4())
        handle = JobHandle(job_id, self)
        self._ensure_started()
        self._loop.call_soon(self._submit_on_loop, {**spec, "id": job_id}, handle.done)
        return handle

    def _submit_on_loop(self, spec: dict[str, Any], done: concurrent.futures.Future[dict[str, Any]]) -> None:
        from .errors import GenBridgeError, error_from_exception

        try:
            if self._job_service is None:
                raise self._init_error or RuntimeError("the job service is not running")
            from pydantic import ValidationError  # loop thread: pydantic is already loaded here

            from .jobs import Job

            try:
                job = Job.model_validate(spec)
            except ValidationError as exc:  # the request itself is malformed: say which fields
                from .errors import RejectedInput
                from .settings import validation_problems

                raise RejectedInput(f"The job request is invalid: {validation_problems(exc)}.") from None
        except Exception as exc:  # noqa: BLE001 - bad input gets a clear error and is not lost
            err = exc if isinstance(exc, GenBridgeError) else error_from_exception(exc)
            failed: dict[str, Any] = {
                # What was asked stays on the record (Retry reads it): the main thread keeps no copy of requests.
                **{
                    k: spec[k]
                    for k in ("inputs", "target", "template", "requested_service", "group", "chosen")
                    if k in spec
                },
                "id": spec["id"],
                "task": spec.get("task", "?"),
                "state": "failed",
                "error": err.to_dict(),
                "phase": f"Failed: {err.message}",
            }
            self._emit(MainEvent(kind="state", job_id=spec["id"], state="failed", phase=failed["phase"], job=failed))
            done.set_result(failed)
            return
        self._job_service.submit(job, done)

    def resume(self) -> bool:
        """Start the runtime if a journal exists, so jobs left on the servers re-attach; True if it started.

        For callers that start lazily (Blender): call it soon after enabling, never inside `register()`. Only a
        file check happens on the calling thread; the journal is read on the loop thread.
        """
        if self.started:
            return True
        if not self._reattach or not self._journal_candidate().is_file():
            return False
        self._ensure_started()
        return True

    def _journal_candidate(self) -> Path:
        """Where the journal will be, worked out without pydantic (a settings mapping holds `data_dir`)."""
        if self._journal_path is not None:
            return Path(self._journal_path)
        snapshot = self._settings_source()
        data_path = getattr(snapshot, "data_path", None)
        if data_path is None:
            from .paths import default_data_dir

            data_dir = snapshot.get("data_dir") if isinstance(snapshot, Mapping) else ""
            data_path = Path(data_dir).expanduser() if data_dir else default_data_dir()
        return Path(data_path) / "journal.jsonl"

    def cancel(self, job_id: str) -> None:
        """Cancel a job in any state (no-op for unknown or finished jobs). Never blocks."""
        if self.started:
            self._loop.call_soon(lambda: self._job_service and self._job_service.cancel(job_id))

    def update_settings(self) -> None:
        """Re-read the settings source (call after preferences change)."""
        if not self.started:
            return
        from_source = self._settings_source()

        def apply() -> None:
            from .settings import Settings

            if self._job_service is not None:
                value = (
                    from_source
                    if isinstance(from_source, Settings)
                    else Settings.from_mapping(from_source, source="GenBridge preferences", skip_bad_endpoints=True)
                )
                self._job_service.update_settings(value)

        self._loop.call_soon(apply)

    def run(self, coro_fn: Callable[[Any], Any]) -> concurrent.futures.Future[Any]:
        """Run `coro_fn(job_service)` on the loop thread (probes, template scans); returns a concurrent future."""
        self._ensure_started()

        async def call() -> Any:
            while self._job_service is None and self._init_error is None:
                import asyncio

                await asyncio.sleep(0)
            if self._init_error is not None:
                raise self._init_error
            return await coro_fn(self._job_service)

        return self._loop.run_coroutine(call())

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Journal in-flight jobs as interrupted, stop the loop, join the thread within `timeout`."""
        if self._loop_thread is None:
            return True
        ended = self._loop_thread.stop(timeout)
        self._job_service = None
        return ended

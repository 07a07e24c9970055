"""The job service: runs every job on the loop thread, from plan to outputs, and reports each change.

Lives only on the loop thread (imports aiohttp-backed clients and pydantic, which the main thread never pays
for). Each state change is journaled before it takes effect and then emitted as a plain-data `JobEvent`.
Fallback to the next plan step happens only for errors whose `fallback_ok` is true (unreachable, out of
memory, incompatible...), never for the user's own input errors (`runtime.errors.should_fall_back`).

The parts: `service_base.py` (state and record keeping), `reattach.py` (jobs back after a restart),
`rebalance.py` (moving waiting jobs between the endpoints of a pool), and this module (running jobs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
from typing import Any

from .backend import BackendClient, ProbeResult
from .errors import (
    Cancelled,
    GenBridgeError,
    LocalProblem,
    RejectedInput,
    error_from_exception,
    local_problem,
    should_fall_back,
)
from .events import BackendLog, BackendPreview, BackendProgress, BackendText, JobEvent, ServicesEvent
from .jobs import Job, JobState, PlanStep
from .reattach import FINISHED_STATES, REATTACH_STATES, REATTACHED, RESUBMITTED, UNREADABLE, Reattaching
from .rebalance import Rebalancing
from .redact import StreamRedactor
from .service_base import client_key
from .settings import Settings

log = logging.getLogger("genbridge.jobs")

DEFAULT_CANCEL_WAIT_S = 10.0  # for clients that do not say how long their server takes to confirm a cancel
CANCEL_MARGIN_S = 5.0

OUTPUT_REF = "$output_of"  # an input value {"$output_of": job_id, "index": 0} becomes that job's output path


__all__ = ["FINISHED_STATES", "REATTACHED", "REATTACH_STATES", "RESUBMITTED", "UNREADABLE", "JobService", "client_key"]


class JobService(Reattaching, Rebalancing):
    """Owns the jobs, their tasks and one client per endpoint. Every method runs on the loop thread."""

    def submit(self, job: Job, done: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        """Journal the job as queued, then start running it."""
        if done is not None:
            self._waiters.setdefault(job.id, []).append(done)
        self.jobs[job.id] = job
        self._finished[job.id] = asyncio.Event()
        self._record(job)
        self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")

    def cancel(self, job_id: str) -> bool:
        """Cancel a job in any state; False if unknown or already finished."""
        job = self.jobs.get(job_id)
        task = self._tasks.get(job_id)
        if job is None or job.state.terminal or task is None:
            return False
        self._moving.pop(job_id, None)  # the user's cancel wins over a move in flight
        task.cancel()
        return True

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.router.update_settings(settings)
        self._retire_stale_clients()

    def _retire_stale_clients(self) -> None:
        """Close clients of endpoints that changed or went away, unless a job still runs on them (it keeps
        its client to the end; the next request gets a fresh one)."""
        current = {client_key(ep) for ep in self.settings.all_endpoints(enabled_only=False)}
        for key, client in list(self._clients.items()):
            busy = any(j.active and (j.service, j.instance) == key[:2] for j in self.jobs.values())
            if key in current or busy:
                continue
            del self._clients[key]
            try:
                task = asyncio.get_running_loop().create_task(client.close())
            except RuntimeError:  # no loop (a headless caller outside the loop): nothing was opened on one
                continue
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def start_health_monitor(self) -> None:
        """Let the router probe every endpoint in the background (loop thread), off the decision path."""
        self.router.start_health_monitor(self.probe_all)

    async def shutdown(self) -> None:
        """Journal every active job as interrupted (its remote work goes on), stop tasks, close clients."""
        self._shutting_down = True
        try:
            await asyncio.wait_for(self.router.stop_health_monitor(), timeout=0.1)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("the health monitor did not stop in time")
        for job in self.jobs.values():
            if job.active:
                self._move(job, JobState.INTERRUPTED, "Interrupted: Blender closed while this job ran")
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=0.2)
        clients = list(self._clients.values())
        self._clients.clear()
        if clients:
            await asyncio.wait([asyncio.ensure_future(c.close()) for c in clients], timeout=0.2)

    async def probe_all(self) -> list[ProbeResult]:
        """Probe every enabled endpoint concurrently; results feed the router and go to the UI as one event."""
        endpoints = self.settings.all_endpoints()
        results = await asyncio.gather(*(self.client_for(ep).probe() for ep in endpoints))
        for result in results:
            self.router.observe_probe(result)
        self.emit(ServicesEvent(results=[r.model_dump(mode="json") for r in results]))
        return list(results)

    def _prepare_output_dir(self, job: Job) -> None:
        """Create the job's output folder, or raise LocalProblem naming what is wrong with it."""
        folder = self.output_dir(job)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = local_problem(exc, LocalProblem.default_hint) or LocalProblem(f"Cannot create {folder}: {exc}.")
            try:
                blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
            except OSError:  # the path itself is unusable (too long...): `problem` already says so
                blocker = None
            if blocker is not None:
                problem = LocalProblem(
                    f"The output folder cannot be created: {blocker} is a file, not a folder.",
                    "Choose another output folder (GenBridge preferences > Output Folder, or output_dir in "
                    "genbridge.toml), or move that file away.",
                )
            raise problem from None

    async def _run(self, job: Job, *, reattach: bool = False) -> None:
        step: PlanStep | None = None
        try:
            if reattach:
                # Already sent before the restart: no dependencies, seed or plan to resolve, and no fallback
                # (the work is on this server or nowhere). Leave `interrupted` first so a failure can land.
                self._move(job, JobState.SUBMITTED, REATTACHED)
                step = self._reattach_step(job)
                if job.remote_ids or await self._received_before_restart(job, step):
                    await self._run_on(job, step, reattach=True)
                    self._tell_router(self.router.record_success, step.instance)
                    return
                # Cut off while being sent and the server never got it: send it now like a new job.
                reattach, step = False, None
                self._reset_for_resubmit(job)
                self._move(job, JobState.QUEUED, RESUBMITTED)
            await self._wait_for_dependencies(job)
            self._resolve_seed(job)
            if not job.plan:
                # A pooled router may hold the job until an endpoint has room (late binding).
                job.plan = list(await self.router.plan_when_ready(job))
            base_inputs = dict(job.inputs)  # a degraded step's overrides must not leak into the next step
            base_adjustments = list(job.adjustments)  # nor its changes: the record describes what ran
            while True:
                try:
                    for index, step in enumerate(job.plan):
                        try:
                            job.inputs = dict(base_inputs)
                            job.adjustments = list(base_adjustments)
                            await self._run_on(job, step)
                            self._tell_router(self.router.record_success, step.instance)
                            return
                        except GenBridgeError as exc:
                            has_next = index < len(job.plan) - 1
                            if not isinstance(exc, LocalProblem):  # this computer's fault, not the server's
                                self._tell_router(self.router.record_failure, step.instance, exc)
                            if not should_fall_back(exc, has_next):
                                raise
                            nxt = job.plan[index + 1]
                            self._log(job, f"{step.label or step.service} failed ({exc.message}); trying {nxt.label}.")
                            self._move(job, JobState.QUEUED, f"Falling back to {nxt.label or nxt.service}")
                except asyncio.CancelledError:
                    to_url = self._moving.pop(job.id, None)
                    if to_url is None or step is None:
                        raise
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    self._moved(job, step, to_url)
        except asyncio.CancelledError:
            if self._shutting_down:
                raise
            await self._cancel_remote(job, step)
            self._finish(job, JobState.CANCELLED, "Cancelled", Cancelled("The job was cancelled."))
        except GenBridgeError as exc:
            self._finish(job, JobState.FAILED, "Failed", exc)
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job.id)
            self._finish(job, JobState.FAILED, "Failed", error_from_exception(exc))
        finally:
            # A re-attached job's duration is partial: do not let the router learn a speed from it.
            self._tell_router(self.router.job_finished, job.id, job.state == JobState.DONE and not reattach)
            self._resolve_waiters(job)
            if step is not None and not self._shutting_down:
                self._rebalance(step.instance)

    async def _run_on(self, job: Job, step: PlanStep, *, reattach: bool = False) -> None:
        client = self.client_for(self._endpoint(step))
        job.service, job.instance = step.service, step.instance
        if reattach:
            await self._reattach_on(job, step, client)
        else:
            await self._submit_on(job, step, client)
        try:
            async for event in client.events(job):
                self._apply(job, event)
        finally:
            self._release_text(job)  # at the end, on error and on cancel: before the job's final state is shown
        self._move(job, JobState.DOWNLOADING, "Downloading results")
        try:
            paths = await client.fetch_outputs(job, self.output_dir(job))
        except OSError as exc:
            # Disk full, a name too long, a folder that is a file: this computer's problem, never a fallback.
            output_hint = LocalProblem.default_hint
            raise local_problem(exc, output_hint) or error_from_exception(exc, service=step.service) from None
        job.outputs = [str(p) for p in paths]
        for path in job.outputs:
            self.emit(JobEvent(job_id=job.id, kind="output", path=path))
        self._finish(job, JobState.DONE, "Done (cached results)" if job.cached else "Done", None)

    async def _submit_on(self, job: Job, step: PlanStep, client: BackendClient) -> None:
        """Validate, then send the job; its remote id is journaled at once."""
        self._prepare_output_dir(job)  # before any GPU time is spent: a bad folder fails at once, on every plan step
        if step.free_vram_first and hasattr(client, "free_memory"):
            try:
                await client.free_memory()
            except GenBridgeError as exc:
                self._log(job, f"{step.label or step.service} could not free memory first: {exc.message}")
        if step.inputs_override:
            job.inputs = {**job.inputs, **step.inputs_override}
            for change in step.changes:
                note = f"{change} (to fit the free VRAM of {step.label or step.service})"
                job.adjustments.append(note)
                self._log(job, f"Changed: {note}")
        problems = await client.validate(job)
        if problems:
            raise RejectedInput(
                "; ".join(f"{p.field}: {p.message}" for p in problems) + ".",
                " ".join(p.hint for p in problems if p.hint) or None,
                service=step.service,
            )
        # Journal "about to send" with the id the server will know it by, so a crash mid-request can be resolved.
        planned = getattr(client, "remote_id_for", None)
        job.sending = {step.instance: planned(job) if planned is not None else ""}
        self._move(job, JobState.SUBMITTED, f"Sending to {step.label or step.service}")
        try:
            remote_id = await client.submit(job)
        except GenBridgeError:
            job.sending = {}  # the server answered (or was never reached): nothing to look up after a crash
            raise
        self._tell_router(self.router.job_sent, job.id, step.instance)
        job.remote_ids[step.instance] = remote_id
        job.sending = {}
        self._record(job)

    def _apply(self, job: Job, event: Any) -> None:
        if isinstance(event, BackendProgress):
            if event.running and job.state == JobState.SUBMITTED:
                self._move(job, JobState.RUNNING, event.phase or "Running")
                self._tell_router(self.router.job_started, job.id)
            job.progress = max(0.0, min(event.fraction, 0.99))
            job.phase = event.phase or job.phase
            self.emit(JobEvent(job_id=job.id, kind="progress", progress=job.progress, phase=job.phase))
        elif isinstance(event, BackendText):
            if job.state == JobState.SUBMITTED:
                self._move(job, JobState.RUNNING, "Writing")
            # A server may stream our key back as the "answer": mask it in what is shown, also when the key's
            # characters arrive in two or more chunks (the stream's redactor holds back a possible key start).
            stream = self._text_streams.get(job.id)
            if stream is None:
                stream = self._text_streams[job.id] = StreamRedactor()
            self._show_text(job, stream.feed(event.text))
        elif isinstance(event, BackendPreview):
            job.preview = event.path
            self.emit(JobEvent(job_id=job.id, kind="preview", path=event.path))
        elif isinstance(event, BackendLog):
            self._log(job, event.message)

    def _show_text(self, job: Job, text: str) -> None:
        if text:
            job.text += text
            self.emit(JobEvent(job_id=job.id, kind="text", text=text))

    def _release_text(self, job: Job) -> None:
        """Show what the job's stream still holds back (the start of a key that never came whole)."""
        stream = self._text_streams.pop(job.id, None)
        if stream is not None:
            self._show_text(job, stream.flush())

    async def _cancel_remote(self, job: Job, step: PlanStep | None) -> None:
        """Cancel on the server within the client's own deadline (`cancel_wait_s`), showing its phase meanwhile."""
        if step is None or job.state not in (JobState.SUBMITTED, JobState.RUNNING, JobState.DOWNLOADING):
            return
        client = self.client_for(self._endpoint(step))
        wait_s = float(getattr(client, "cancel_wait_s", DEFAULT_CANCEL_WAIT_S))
        job.phase = str(getattr(client, "cancel_phase", "") or "Cancelling")
        self.emit(JobEvent(job_id=job.id, kind="progress", progress=job.progress, phase=job.phase))
        where = step.label or step.service
        try:
            # A little over the client's deadline, so the client reports its own timeout first.
            await asyncio.wait_for(client.cancel(job), timeout=wait_s + CANCEL_MARGIN_S)
        except TimeoutError:
            self._log(job, f"{where} did not confirm the cancel within {wait_s:.0f} s; it may still finish its step.")
        except GenBridgeError as exc:
            self._log(job, f"Could not confirm the cancel with {where}: {exc.message}")
        except OSError as exc:
            self._log(job, f"Could not confirm the cancel with {where}: {exc or type(exc).__name__}")

    async def _wait_for_dependencies(self, job: Job) -> None:
        for dep_id in job.depends_on:
            event = self._finished.get(dep_id)
            if event is None:
                raise RejectedInput(f"This job waits for job {dep_id}, which GenBridge does not know.")
            if not event.is_set():  # not `state.terminal`: a re-attached parent is `interrupted` until it runs
                job.phase = "Waiting for an earlier step"
                self.emit(JobEvent(job_id=job.id, kind="progress", progress=0.0, phase=job.phase))
                await event.wait()
            dep = self.jobs[dep_id]
            if dep.state == JobState.CANCELLED:
                raise asyncio.CancelledError()
            if dep.state != JobState.DONE:
                raise GenBridgeError(
                    f"The step this job depends on ({dep.task}) did not finish: "
                    f"{dep.error.message if dep.error else dep.state.value}.",
                    "Fix or retry that step first.",
                )
        job.inputs = {k: self._resolve_ref(v) for k, v in job.inputs.items()}

    def _resolve_ref(self, value: Any) -> Any:
        if isinstance(value, dict) and OUTPUT_REF in value:
            dep = self.jobs[value[OUTPUT_REF]]
            index = int(value.get("index", 0))
            if index >= len(dep.outputs):
                raise RejectedInput(f"Job {dep.id} produced no output number {index + 1}.")
            return dep.outputs[index]
        return value

    @staticmethod
    def _resolve_seed(job: Job) -> None:
        """-1 (or no seed) means random; the seed actually used is recorded on the job."""
        if "seed" not in job.inputs:
            return
        seed = job.inputs.get("seed")
        if seed is None or int(seed) < 0:
            seed = random.randint(0, 2**31 - 1)
        job.seed = int(seed)
        job.inputs["seed"] = job.seed

"""The job service: runs every job on the loop thread, from plan to outputs, and reports each change.

Lives only on the loop thread (imports aiohttp-backed clients and pydantic, which the main thread never pays
for). Each state change is journaled before it takes effect and then emitted as a plain-data `JobEvent`.
Fallback to the next plan step happens only for errors whose `fallback_ok` is true (unreachable, out of
memory, incompatible...), never for the user's own input errors.

Re-attaching: when the service starts, every job the journal left unfinished comes back visibly (see
`reattach_journaled`): a job with a remote id is followed on its server (joining the normal flow at `events` ->
`fetch_outputs`); a job cut off while being sent is looked up on the server by the id journaled before the request
and followed, or sent again if the server never got it; a job that never reached a server runs again (dependents
wait for their parents as before); anything else fails with a message that says why. An unreachable server is
retried with backoff for `timeouts.reattach` seconds first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .backend import BackendClient, ClientFactory, ProbeResult
from .errors import (
    Cancelled,
    GenBridgeError,
    LocalProblem,
    RejectedInput,
    ServiceTimeout,
    Unreachable,
    error_from_exception,
    local_problem,
    should_fall_back,
)
from .events import BackendLog, BackendPreview, BackendProgress, BackendText, JobEvent, ServicesEvent
from .jobs import Job, JobErrorInfo, JobState, PlanStep
from .journal import Journal
from .redact import redact, redact_data
from .routing_api import JobRouter
from .services import SERVICE_TITLES
from .settings import Endpoint, Settings

log = logging.getLogger("genbridge.jobs")

# Journaled states of jobs that may still be alive on a server when the service starts: `interrupted` after a
# clean shutdown, the others after a crash (their process is gone, so they are interrupted too).
REATTACH_STATES = frozenset({"interrupted", "submitted", "running", "downloading"})
FINISHED_STATES = frozenset({"done", "failed", "cancelled"})
REATTACHED = "Re-attached after restart"
RESUBMITTED = "Queued again after restart (it had not reached a server)"
UNREADABLE = "GenBridge could not read this job back from its journal after the restart."
# Backoff while a server is unreachable during re-attach: 0.5 s, doubling, at most 10 s between tries.
REATTACH_FIRST_DELAY = 0.5
REATTACH_MAX_DELAY = 10.0
DEFAULT_CANCEL_WAIT_S = 10.0  # for clients that do not say how long their server takes to confirm a cancel
CANCEL_MARGIN_S = 5.0

OUTPUT_REF = "$output_of"  # an input value {"$output_of": job_id, "index": 0} becomes that job's output path


class JobService:
    """Owns the jobs, their tasks and one client per endpoint. Every method runs on the loop thread."""

    def __init__(
        self,
        settings: Settings,
        emit: Callable[[Any], None],
        journal: Journal,
        *,
        router: JobRouter | None = None,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._clock, self._sleep = clock, sleep  # injected so tests of waiting never wait on the wall clock
        self.emit = emit
        self.journal = journal
        if router is None:
            from ..routing import Router

            router = Router(settings)
        self.router = router
        if client_factory is None:
            from ..backends import make_client

            client_factory = make_client
        self.client_factory = client_factory
        self.jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, list[concurrent.futures.Future[dict[str, Any]]]] = {}
        # One client per endpoint *as configured*: a changed key or label gives a new client for the next request
        # (a client keeps its endpoint, so reusing it would keep sending the old key).
        self._clients: dict[tuple[str, str, str, str], BackendClient] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._moving: dict[str, str] = {}  # job id -> endpoint URL it was taken back for (see `_take_back`)
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._shutting_down = False

    # -- submission and control --------------------------------------------------------------------------------
    def submit(self, job: Job, done: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        """Journal the job as queued, then start running it."""
        if done is not None:
            self._waiters.setdefault(job.id, []).append(done)
        self.jobs[job.id] = job
        self._finished[job.id] = asyncio.Event()
        self._record(job)
        self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")

    def reattach_journaled(self) -> list[str]:
        """Bring back every unfinished job of the journal; returns their ids. None stays silently `queued`.

        - remote id known: followed on its server (`reattach`); a server that lost it fails it with "generate
          again": it is never resent on its own (a restart is often the crash this very job caused, and Retry
          resends it with the same inputs and seed);
        - cut off while being sent: the server is asked for the id journaled before the request; found, it is
          followed; never received, it is sent again (nothing ran twice);
        - never reached a server (queued, or interrupted before sending): queued again; a dependent whose parent
          finished simply runs, one whose parent failed fails saying why;
        - unreadable: failed with a message.
        """
        try:
            journaled = self.journal.latest()
        except Exception:  # a broken journal must not stop the service from starting
            log.exception("could not read the journal %s", self.journal.path)
            return []
        unfinished = {
            job_id: snap
            for job_id, snap in journaled.items()
            if snap.get("state") not in FINISHED_STATES and job_id not in self.jobs
        }
        for snapshot in unfinished.values():
            for dep_id in snapshot.get("depends_on") or ():
                parent = journaled.get(dep_id) if isinstance(dep_id, str) else None
                if parent is not None and dep_id not in unfinished and dep_id not in self.jobs:
                    self._adopt_finished(parent)
        resumed = []
        for job_id, snapshot in unfinished.items():
            try:
                job = Job.model_validate(snapshot)
            except ValueError:
                log.warning("journaled job %s is unreadable; it is failed, not re-attached", job_id)
                self._fail_unreadable(job_id, snapshot)
                resumed.append(job_id)
                continue
            if job.state != JobState.QUEUED and (job.remote_ids or job.sending):
                self.reattach(job)
            else:
                self.resubmit(job)
            resumed.append(job.id)
        return resumed

    def reattach(self, job: Job, done: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        """Follow a job submitted before a restart (same id, target and inputs) on the endpoint it ran on."""
        if done is not None:
            self._waiters.setdefault(job.id, []).append(done)
        job.state = JobState.INTERRUPTED  # whatever the journal said, the process that ran it is gone
        job.finished_at = None  # it is not finished: it runs again (an interrupted snapshot carries a time)
        self.jobs[job.id] = job
        self._finished[job.id] = asyncio.Event()
        self._tasks[job.id] = asyncio.get_running_loop().create_task(
            self._run(job, reattach=True), name=f"job-{job.id}"
        )

    def resubmit(self, job: Job) -> None:
        """Run again, from the start, a journaled job that never reached a server (nothing can run twice)."""
        self._reset_for_resubmit(job)
        job.state, job.phase = JobState.QUEUED, RESUBMITTED
        job.finished_at = None
        self.submit(job)
        self._log(job, "Blender closed before this job reached a server; it is queued again.")

    @staticmethod
    def _reset_for_resubmit(job: Job) -> None:
        job.plan = []  # plan again with today's servers and health
        job.remote_ids, job.sending = {}, {}
        job.error, job.progress, job.preview = None, 0.0, None

    def _adopt_finished(self, snapshot: dict[str, Any]) -> None:
        """Know a finished job again (without showing it), so a dependent can use its outputs or say it failed."""
        try:
            job = Job.model_validate(snapshot)
        except ValueError:
            return  # the dependent then fails saying its earlier step is unknown
        self.jobs[job.id] = job
        event = self._finished[job.id] = asyncio.Event()
        event.set()

    def _fail_unreadable(self, job_id: str, snapshot: dict[str, Any]) -> None:
        """A journaled job that no longer validates: journal and show it as failed, once, saying why."""
        error = GenBridgeError(UNREADABLE, "Generate it again.")
        task = snapshot.get("task")
        phase = f"Failed: {UNREADABLE}"
        failed = {
            "id": job_id,
            "task": task if isinstance(task, str) else "?",
            "state": "failed",
            "phase": phase,
            "error": error.to_dict(),
        }
        self.journal.append(failed)
        self.emit(JobEvent(job_id=job_id, kind="state", state="failed", phase=phase, job=failed))

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

    def client_for(self, endpoint: Endpoint) -> BackendClient:
        """The client of this endpoint as configured now (URL, key and label)."""
        key = client_key(endpoint)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self.client_factory(endpoint, self.settings)
        return client

    def output_dir(self, job: Job) -> Path:
        return self.settings.output_path / f"{job.task}-{job.id}"

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

    # -- running ------------------------------------------------------------------------------------------------
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
                # A pooled router may hold the job until an instance has room (late binding).
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
        async for event in client.events(job):
            self._apply(job, event)
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

    # -- moving waiting work to where it finishes sooner -----------------------------------------------------------
    def _rebalance(self, freed_url: str) -> None:
        """An instance has room again: ask the router whether a job waiting elsewhere should move to it."""
        move = self.router.rebalance(freed_url)
        job = self.jobs.get(move[0]) if move else None
        if move is None or job is None or job.state != JobState.SUBMITTED or job.id in self._moving:
            return
        if not job.instance:
            return
        task = asyncio.get_running_loop().create_task(self._take_back(job, job.instance, move[1]))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _take_back(self, job: Job, from_url: str, to_url: str) -> None:
        """Withdraw a job its server has not started; its task then re-plans it with `to_url` first."""
        step = next((s for s in job.plan if s.instance == from_url), None)
        if step is None:
            return
        client = self.client_for(self._endpoint(step))
        withdraw = getattr(client, "withdraw", None)  # optional: clients that can take back a queued job
        if withdraw is None:
            return
        try:
            withdrawn = await withdraw(job)
        except (GenBridgeError, OSError) as exc:
            self._log(job, f"Could not take the job back from {step.label or step.service}: {exc}")
            return
        task = self._tasks.get(job.id)
        if withdrawn and task is not None and not task.done() and job.state == JobState.SUBMITTED:
            self._moving[job.id] = to_url
            task.cancel()

    def _moved(self, job: Job, step: PlanStep, to_url: str) -> None:
        """The job was taken back from `step`'s server before it started: plan it again with `to_url` first."""
        job.remote_ids.pop(step.instance, None)
        job.plan = list(self.router.plan_move(job, to_url))
        where = job.plan[0].label or job.plan[0].service
        self._log(job, f"Moved from {step.label or step.service} to {where}: it will finish sooner there.")
        self._move(job, JobState.QUEUED, f"Moved to {where}: it finishes sooner there")

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

    async def _reattach_on(self, job: Job, step: PlanStep, client: BackendClient) -> None:
        """Tell the user and the router where the job is followed, and let the client pick it up."""
        where = self._where(step)
        self._log(job, f"{REATTACHED}: following it on {where} ({step.instance}).")
        self._tell_router(self.router.job_sent, job.id, step.instance)
        reattach = getattr(client, "reattach", None)  # optional: clients that need set-up for a foreign job
        if reattach is not None:
            await self._until_back(job, step, lambda: reattach(job))

    async def _received_before_restart(self, job: Job, step: PlanStep) -> bool:
        """For a job cut off while being sent: does the server have it under the id journaled before the request?"""
        where = self._where(step)
        planned = job.sending.get(step.instance, "")
        has_job = getattr(self.client_for(self._endpoint(step)), "has_job", None)
        if not planned or has_job is None:
            raise GenBridgeError(
                f"Blender closed while this job was being sent to {where}; GenBridge cannot tell whether {where} "
                "received it (the server names its jobs itself).",
                f"Look at {where}'s queue; if the job is not there, press Retry in the job list.",
                service=step.service,
            )
        known = bool(await self._until_back(job, step, lambda: has_job(planned)))
        if known:
            job.remote_ids[step.instance], job.sending = planned, {}
            self._record(job)
            self._log(job, f"{where} received this job just before Blender closed; following it.")
        else:
            self._log(job, f"Blender closed while sending this job and {where} never received it; sending it again.")
        return known

    async def _until_back(self, job: Job, step: PlanStep, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Run `attempt`, retrying with backoff while the server is unreachable, for `timeouts.reattach` seconds;
        meanwhile the job shows "Waiting for <server> to come back". Then fail its job saying so."""
        where = self._where(step)
        limit = self.settings.timeouts.reattach
        started, delay = self._clock(), REATTACH_FIRST_DELAY
        while True:
            try:
                return await attempt()
            except (Unreachable, ServiceTimeout) as exc:
                if self._clock() - started + delay > limit:
                    raise Unreachable(
                        f"{where} did not come back within {limit:g} s after the restart, so this job could not be "
                        f"followed ({exc.message})",
                        f"Start {where} again, then press Retry in the job list (it resends the same inputs and seed).",
                        service=step.service,
                    ) from None
                phase = f"Waiting for {where} to come back"
                if job.phase != phase:
                    job.phase = phase
                    self._log(job, f"{where} is not reachable yet ({exc.message}); retrying for up to {limit:g} s.")
                self.emit(JobEvent(job_id=job.id, kind="progress", progress=job.progress, phase=phase))
                await self._sleep(delay)
                delay = min(delay * 2, REATTACH_MAX_DELAY)

    def _where(self, step: PlanStep) -> str:
        """The server as the user knows it: the plan's label, else "ComfyUI at host:port"."""
        return step.label or f"{SERVICE_TITLES.get(step.service, step.service)} at {self._endpoint(step).name}"

    def _reattach_step(self, job: Job) -> PlanStep:
        """The plan step the job ran on before the restart (its instance, else the one that holds its remote id)."""
        instance = job.instance or next(iter(job.remote_ids or job.sending))
        for step in job.plan:
            if step.instance == instance and (job.service is None or step.service == job.service):
                return step
        service = job.service or job.requested_service
        if not service:
            raise GenBridgeError(
                "GenBridge cannot tell which service ran this job before the restart.", "Generate again."
            )
        return PlanStep(service=service, instance=instance, reason=REATTACHED)

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
            # A server may stream our key back as the "answer": mask it in what is shown (a key split across two
            # chunks is still masked in the journaled text, which is redacted whole).
            text = redact(event.text)
            job.text += text
            self.emit(JobEvent(job_id=job.id, kind="text", text=text))
        elif isinstance(event, BackendPreview):
            job.preview = event.path
            self.emit(JobEvent(job_id=job.id, kind="preview", path=event.path))
        elif isinstance(event, BackendLog):
            self._log(job, event.message)

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

    def _endpoint(self, step: PlanStep) -> Endpoint:
        for ep in self.settings.endpoints(step.service, enabled_only=False):
            if ep.url == step.instance:
                return ep
        return Endpoint(service=step.service, url=step.instance)  # type: ignore[arg-type]

    @staticmethod
    def _tell_router(hook: Callable[..., None], *args: Any) -> None:
        """Tell the router what happened (load, breakers); a failing hook is logged, the job goes on."""
        try:
            hook(*args)
        except Exception:
            log.exception("router hook %s failed", getattr(hook, "__name__", hook))

    # -- recording ----------------------------------------------------------------------------------------------
    def _record(self, job: Job) -> None:
        """Journal, then tell the main thread. Both see the same snapshot."""
        snapshot = redact_data(job.snapshot())
        try:
            self.journal.append(snapshot)
        except OSError:
            log.exception("could not journal job %s", job.id)
        self.emit(
            JobEvent(
                job_id=job.id, kind="state", state=job.state.value, progress=job.progress, phase=job.phase, job=snapshot
            )
        )

    def _move(self, job: Job, state: JobState, phase: str) -> None:
        # Journal the change before it takes effect: build the new snapshot on a copy first.
        future = job.model_copy(deep=True)
        future.move_to(state, phase)
        try:
            self.journal.append(redact_data(future.snapshot()))
        except OSError:
            log.exception("could not journal job %s", job.id)
        job.move_to(state, phase)
        self.emit(
            JobEvent(
                job_id=job.id,
                kind="state",
                state=job.state.value,
                progress=job.progress,
                phase=redact(job.phase),
                job=redact_data(job.snapshot()),
            )
        )

    def _finish(self, job: Job, state: JobState, phase: str, error: GenBridgeError | None) -> None:
        if job.state.terminal:
            return
        if error is not None:
            info = error.to_dict()
            job.error = JobErrorInfo(**info)
            log.info("job %s ended %s: %s", job.id, state.value, error)
        self._move(job, state, phase if error is None else f"{phase}: {error.message}")

    def _log(self, job: Job, message: str) -> None:
        message = redact(message)  # notes quote servers (fallback reasons, backend logs)
        log.info("job %s: %s", job.id, message)
        self.emit(JobEvent(job_id=job.id, kind="log", text=message))

    def _resolve_waiters(self, job: Job) -> None:
        event = self._finished.get(job.id)
        if event is not None:
            event.set()
        for fut in self._waiters.pop(job.id, []):
            if not fut.done():
                fut.set_result(job.snapshot())


def client_key(endpoint: Endpoint) -> tuple[str, str, str, str]:
    """What makes two endpoints the same client: service, URL, the key in effect (environment included), label."""
    return (endpoint.service, endpoint.url, endpoint.api_key or "", endpoint.label)

"""Re-attaching after a restart: every job the journal left unfinished comes back visibly.

A job with a remote id is followed on its server (joining the normal flow at `events` -> `fetch_outputs`); a job
cut off while being sent is looked up on the server by the id journaled before the request and followed, or sent
again if the server never got it; a job that never reached a server runs again (dependents wait for their parents
as before); anything else fails with a message that says why. An unreachable server is retried with backoff for
`timeouts.reattach` seconds first. Loop thread only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .backend import BackendClient
from .errors import GenBridgeError, ServiceTimeout, Unreachable
from .events import JobEvent
from .jobs import Job, JobState, PlanStep
from .service_base import ServiceBase
from .services import SERVICE_TITLES
from .vocabulary import FINISHED_STATES

log = logging.getLogger("genbridge.jobs")

# Journaled states of jobs that may still be alive on a server when the service starts: `interrupted` after a
# clean shutdown, the others after a crash (their process is gone, so they are interrupted too).
REATTACH_STATES = frozenset({"interrupted", "submitted", "running", "downloading"})
REATTACHED = "Re-attached after restart"
RESUBMITTED = "Queued again after restart (it had not reached a server)"
UNREADABLE = "GenBridge could not read this job back from its journal after the restart."
# Backoff while a server is unreachable during re-attach: 0.5 s, doubling, at most 10 s between tries.
REATTACH_FIRST_DELAY = 0.5
REATTACH_MAX_DELAY = 10.0


class Reattaching(ServiceBase):
    """The job service's re-attach half: journaled jobs back after a restart."""

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
        """The plan step the job ran on before the restart (its endpoint, else the one that holds its remote id)."""
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

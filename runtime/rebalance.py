"""Moving waiting work: when a server in a pool has room again, a job still queued (not started) on another
server moves there if the router says it will finish clearly sooner (the tail of a batch). Loop thread only.

The job is taken back from its server first (`withdraw`, optional on clients: only a job the server has not
started can be taken back); its task is then cancelled with a note in `_moving`, and `JobService._run` catches
that cancel and plans the job again with the new server first.
"""

from __future__ import annotations

import asyncio

from .errors import GenBridgeError
from .jobs import Job, JobState, PlanStep
from .service_base import ServiceBase


class Rebalancing(ServiceBase):
    """The job service's part that moves waiting jobs between the endpoints of a pool."""

    def _rebalance(self, freed_url: str) -> None:
        """An endpoint has room again: ask the router whether a job waiting elsewhere should move to it."""
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

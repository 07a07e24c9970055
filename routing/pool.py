"""A pool's waiting room: jobs waiting in GenBridge for room on a busy pool, in arrival order, and the moves that
even out the end of a batch. Loop thread only; the router owns one and asks it on every decision.

Waiting jobs are placed as a batch (list scheduling over the endpoints' learned speeds): without that, each job
would see the fast endpoints' short queues and wait for them, while a slower endpoint that could finish it sooner
stands idle. At the tail, when nothing waits any more, a job still queued on one server moves to another that
finishes it clearly sooner (`best_move`).
"""

from __future__ import annotations

from .breaker import USABLE_STATES
from .load import LoadTracker
from .policy import Policy
from .resources import Resources

_NEWCOMER = ""  # key of the simulation's result for a job that is not waiting yet: it comes after all of them


class WaitingRoom:
    """Jobs waiting for room in a pool, per service, in arrival order; what those ahead of a job will occupy."""

    def __init__(self, load: LoadTracker, resources: Resources) -> None:
        self.load = load
        self.resources = resources
        self._waiting: dict[str, dict[str, float]] = {}  # service -> {job id: work}
        self._cache: tuple[int, dict[str, dict[str, float]]] | None = None
        self.generation = 0  # bumped by every change that can alter a placement

    def enter(self, service: str, job_id: str, work: float) -> None:
        self._waiting.setdefault(service, {})[job_id] = work
        self.generation += 1

    def leave(self, service: str, job_id: str) -> None:
        self._waiting.get(service, {}).pop(job_id, None)
        self.generation += 1

    def has_waiting(self, service: str) -> bool:
        return bool(self._waiting.get(service))

    def ahead_of(self, job_id: str) -> dict[str, float]:
        """Seconds of work that jobs waiting ahead of `job_id` will add to each endpoint, by endpoint URL.

        Computed once per change of the pool and read by every waiting job.
        """
        if not any(self._waiting.values()):
            return {}
        cached = self._cache
        if cached is None or cached[0] != self.generation:
            cached = self._cache = (self.generation, self._simulate())
        ahead = cached[1]
        return ahead.get(job_id) or ahead.get(_NEWCOMER, {})

    def _simulate(self) -> dict[str, dict[str, float]]:
        load = self.load
        out: dict[str, dict[str, float]] = {}
        for service, waiting in self._waiting.items():
            never_v2 = self.resources.policy.api_v2_use == "never"  # those take no jobs: place none there
            urls = [
                i.url
                for i in self.resources.instances(service)
                if i.health() in USABLE_STATES and not (never_v2 and i.kind == "api_v2")
            ]
            if not urls:
                continue
            spw = {u: load.seconds_per_work(u) for u in urls}
            base = {u: load.expected_finish_s(u, 0.0) for u in urls}
            avail = dict(base)
            for job_id, work in waiting.items():
                out[job_id] = {u: avail[u] - base[u] for u in urls}
                best = min(urls, key=lambda u: avail[u] + work * spw[u])
                avail[best] += work * spw[best]
            out.setdefault(_NEWCOMER, {}).update({u: avail[u] - base[u] for u in urls})
        return out

    def move_for(self, freed_url: str, policy: Policy) -> tuple[str, str] | None:
        """After a job left `freed_url`: (job id, target URL) of a job queued on one server of its pool that should
        move to another, or None.

        Only when no job waits in GenBridge for that pool (those are placed by the router, which binds late), so
        this evens out the tail of a batch: a slow endpoint's queued job moves to a fast one that ran dry, or the
        other way round when that finishes it sooner.
        """
        inst = self.resources.get(freed_url)
        if inst is None or policy.pool.selection == "round_robin" or self.has_waiting(inst.service):
            return None
        pool = [i.url for i in self.resources.instances(inst.service)]
        cap = policy.pool.max_queued_per_instance
        for target in self.resources.instances(inst.service):
            if self.load.outstanding(target.url) >= cap or target.health() not in USABLE_STATES:
                continue
            if target.kind == "api_v2" and policy.api_v2_use == "never":
                continue
            job_id = self.load.best_move(target.url, [u for u in pool if u != target.url])
            if job_id is not None:
                return job_id, target.url
        return None

"""Load per instance: our jobs assigned to it, an estimate of their remaining work, and its learned speed.

Speed is learned from observed job durations as seconds per unit of work (megapixel-frame-steps). A server runs
its queue one job at a time, so a job's service time is measured from when it could start (it was sent, and the
instance's previous job had finished) to when it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

EWMA_ALPHA = 0.3  # weight of the newest observation: adapts within a few jobs, shrugs off one outlier
DEFAULT_SECONDS_PER_WORK = 1.0  # before anything was observed anywhere; only ratios between instances matter


@dataclass(slots=True)
class _Assignment:
    url: str
    work: float
    need_gb: float | None
    sent_at: float | None = None


@dataclass(slots=True)
class _InstanceLoad:
    jobs: dict[str, _Assignment] = field(default_factory=dict)
    work: float = 0.0
    last_finish: float = 0.0
    seconds_per_work: float | None = None
    observed: int = 0


class LoadTracker:
    """Which of our jobs are on which instance, and how fast each instance has been."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._jobs: dict[str, _Assignment] = {}
        self._loads: dict[str, _InstanceLoad] = {}
        self._mean_spw = DEFAULT_SECONDS_PER_WORK  # for unobserved instances; kept current by `finished`

    def _load(self, url: str) -> _InstanceLoad:
        load = self._loads.get(url)
        if load is None:
            load = self._loads[url] = _InstanceLoad()
        return load

    def reserve(self, job_id: str, url: str, work: float, need_gb: float | None = None) -> None:
        """Count `job_id` against `url` from now on (moves it if it was counted elsewhere)."""
        self._drop(job_id)
        a = self._jobs[job_id] = _Assignment(url, work, need_gb)
        load = self._load(url)
        load.jobs[job_id] = a
        load.work += work

    def sent(self, job_id: str, url: str) -> None:
        """The job was sent to `url` (after a fallback this may differ from where it was reserved)."""
        a = self._jobs.get(job_id)
        if a is None or a.url != url:
            self.reserve(job_id, url, a.work if a else 1.0, a.need_gb if a else None)
            a = self._jobs[job_id]
        a.sent_at = self.clock()

    def finished(self, job_id: str, ok: bool) -> None:
        """Release the job; when it succeeded, learn the instance's speed from how long it took."""
        a = self._jobs.get(job_id)
        if a is None:
            return
        load = self._load(a.url)
        now = self.clock()
        if ok and a.sent_at is not None:
            began = max(a.sent_at, load.last_finish)
            rate = max(now - began, 1e-6) / max(a.work, 1e-9)
            spw = load.seconds_per_work
            load.seconds_per_work = rate if spw is None else spw + EWMA_ALPHA * (rate - spw)
            load.observed += 1
            known = [x.seconds_per_work for x in self._loads.values() if x.seconds_per_work is not None]
            self._mean_spw = sum(known) / len(known)
        if a.sent_at is not None:
            load.last_finish = now
        self._drop(job_id)

    def _drop(self, job_id: str) -> None:
        a = self._jobs.pop(job_id, None)
        if a is None:
            return
        load = self._loads[a.url]
        load.jobs.pop(job_id, None)
        load.work = max(0.0, load.work - a.work) if load.jobs else 0.0

    def job(self, job_id: str) -> tuple[str, float | None] | None:
        a = self._jobs.get(job_id)
        return (a.url, a.need_gb) if a else None

    def needs_on(self, url: str) -> list[float]:
        load = self._loads.get(url)
        return [a.need_gb for a in load.jobs.values() if a.need_gb is not None] if load else []

    def outstanding(self, url: str) -> int:
        load = self._loads.get(url)
        return len(load.jobs) if load else 0

    def seconds_per_work(self, url: str) -> float:
        """Learned speed of `url`; unobserved instances get the average of the observed ones."""
        load = self._loads.get(url)
        if load is not None and load.seconds_per_work is not None:
            return load.seconds_per_work
        return self._mean_spw

    def observed(self, url: str) -> int:
        load = self._loads.get(url)
        return load.observed if load else 0

    def expected_finish_s(self, url: str, work: float, foreign_jobs: int = 0) -> float:
        """Seconds until a new job of `work` would finish on `url`: its backlog, then the job itself.

        `foreign_jobs` are jobs the server reports that are not ours; each counts as one job of average size.
        """
        load = self._loads.get(url)
        spw = self.seconds_per_work(url)
        if load is None or not load.jobs:
            return (work + foreign_jobs * work) * spw
        backlog = load.work + foreign_jobs * (load.work / len(load.jobs))
        # The head job has been running since the later of its send time and the previous job's end.
        started = [a for a in load.jobs.values() if a.sent_at is not None]
        done_s = 0.0
        if started:
            head = min(started, key=lambda a: a.sent_at or 0.0)
            elapsed = self.clock() - max(head.sent_at or 0.0, load.last_finish)
            done_s = min(max(elapsed, 0.0), 0.95 * head.work * spw)  # an overdue head is not "almost done"
        return backlog * spw - done_s + work * spw

"""Load per endpoint: our jobs assigned to it, an estimate of their remaining work, and its learned speed.

Speed is learned from observed job durations as seconds per unit of work (megapixel-frame-steps). A server runs
its queue one job at a time, so a job's service time is measured from when it could start (it was sent, and the
endpoint's previous job had finished) to when it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

EWMA_ALPHA = 0.3  # weight of the newest observation: adapts within a few jobs, shrugs off one outlier
DEFAULT_SECONDS_PER_WORK = 1.0  # before anything was observed anywhere; only ratios between endpoints matter
MOVE_COST_S = 0.05  # taking a waiting job back from a server and sending it elsewhere: two requests
MOVE_MARGIN = 0.15  # move only when the job finishes at least this fraction sooner elsewhere


@dataclass(slots=True)
class _Assignment:
    url: str
    work: float
    need_gb: float | None
    sent_at: float | None = None
    started: bool = False  # the server began running it (until then it may still be moved elsewhere)


@dataclass(slots=True)
class _EndpointLoad:
    jobs: dict[str, _Assignment] = field(default_factory=dict)
    work: float = 0.0
    last_finish: float = 0.0
    seconds_per_work: float | None = None
    observed: int = 0


class LoadTracker:
    """Which of our jobs are on which endpoint, and how fast each endpoint has been."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._jobs: dict[str, _Assignment] = {}
        self._loads: dict[str, _EndpointLoad] = {}
        self._mean_spw = DEFAULT_SECONDS_PER_WORK  # for unobserved endpoints; kept current by `finished`

    def _load(self, url: str) -> _EndpointLoad:
        load = self._loads.get(url)
        if load is None:
            load = self._loads[url] = _EndpointLoad()
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

    def started(self, job_id: str) -> None:
        """The server began running the job: from now on it stays where it is."""
        a = self._jobs.get(job_id)
        if a is not None:
            a.started = True

    def finished(self, job_id: str, ok: bool) -> None:
        """Release the job; when it succeeded, learn the endpoint's speed from how long it took."""
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
        """Learned speed of `url`; unobserved endpoints get the average of the observed ones."""
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

    def best_move(self, to_url: str, from_urls: list[str], margin: float = MOVE_MARGIN) -> str | None:
        """A job sent to one of `from_urls` but not started that would finish clearly sooner on `to_url`.

        For each such job: when it would finish where it waits (the work queued ahead of it there, then itself)
        against when it would finish on `to_url` (its backlog, then the job, plus the cost of moving). The job
        with the largest gain is returned when it finishes at least `margin` sooner (a fraction of its current
        finish), so a move is never made for a gain the estimates cannot tell from noise.
        """
        target_backlog = self.expected_finish_s(to_url, 0.0) + MOVE_COST_S
        to_spw = self.seconds_per_work(to_url)
        best: tuple[float, str] | None = None
        for url in from_urls:
            load = self._loads.get(url)
            if url == to_url or load is None or not load.jobs:
                continue
            spw = self.seconds_per_work(url)
            ahead_s = self._head_remaining_s(load, spw)
            for job_id, a in sorted(load.jobs.items(), key=lambda kv: kv[1].sent_at or float("inf")):
                if a.started or a.sent_at is None:
                    continue  # running jobs stay; reserved but unsent ones are placed by the admission rule
                stay_s = ahead_s + a.work * spw
                move_s = target_backlog + a.work * to_spw
                gain = stay_s - move_s
                if gain > margin * stay_s and (best is None or gain > best[0]):
                    best = (gain, job_id)
                ahead_s += a.work * spw
        return best[1] if best else None

    def _head_remaining_s(self, load: _EndpointLoad, spw: float) -> float:
        """Seconds left of the jobs already running on an endpoint."""
        now = self.clock()
        left = 0.0
        for a in load.jobs.values():
            if a.started and a.sent_at is not None:
                elapsed = now - max(a.sent_at, load.last_finish)
                left += max(a.work * spw - max(elapsed, 0.0), 0.05 * a.work * spw)
        return left

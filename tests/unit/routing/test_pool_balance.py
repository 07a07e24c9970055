"""A pool never leaves a server idle while work waits: waiting jobs are placed as a batch, and a job still
queued on one server moves to another that would finish it clearly sooner (issue 19.1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from genbridge.routing import Router
from genbridge.routing.load import LoadTracker
from genbridge.runtime.backend import ProbeResult
from genbridge.runtime.events import BackendProgress
from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService

SLOW, FAST = "http://127.0.0.1:8188", "http://127.0.0.1:8189"


def _learn(load: LoadTracker, clock, url: str, seconds_per_unit: float) -> None:
    load.reserve(f"learn-{url}", url, work=1.0)
    load.sent(f"learn-{url}", url)
    clock.advance(seconds_per_unit)
    load.finished(f"learn-{url}", ok=True)


def test_a_queued_job_moves_to_an_idle_instance_that_finishes_it_sooner(clock):
    load = LoadTracker(clock)
    _learn(load, clock, SLOW, 4.0)
    _learn(load, clock, FAST, 1.0)
    for job_id in ("running", "queued"):
        load.reserve(job_id, SLOW, work=2.0)
        load.sent(job_id, SLOW)
    load.started("running")
    # On SLOW "queued" starts after "running" (8 s) and takes 8 s more; idle FAST finishes it in about 2 s.
    assert load.best_move(FAST, [SLOW]) == "queued"


def test_a_started_job_never_moves_and_a_small_gain_moves_nothing(clock):
    load = LoadTracker(clock)
    _learn(load, clock, SLOW, 1.1)
    _learn(load, clock, FAST, 1.0)
    load.reserve("running", SLOW, work=2.0)
    load.sent("running", SLOW)
    load.started("running")
    assert load.best_move(FAST, [SLOW]) is None  # nothing waiting on SLOW
    load.reserve("next", SLOW, work=1.0)
    load.sent("next", SLOW)
    clock.advance(3.0)  # "running" is about done: "next" starts at once, and FAST is barely faster
    assert load.best_move(FAST, [SLOW]) is None


async def test_waiting_jobs_are_placed_as_a_batch_so_a_slower_instance_is_not_left_idle(h, clock):
    router = Router(h.make_settings(comfyui=2, wan2gp=0), clock=clock)
    _learn(router.load, clock, SLOW, 3.0)
    _learn(router.load, clock, FAST, 1.0)
    cap = router.policy.pool.max_queued_per_instance
    # FAST is full; SLOW holds one job with room for one more.
    for _ in range(cap):
        router.load.reserve(Job(task="image").id, FAST, 1.0)
    router.load.reserve("slow-head", SLOW, 1.0)
    waiting = [asyncio.ensure_future(router.plan_when_ready(Job(task="image"))) for _ in range(4)]
    await asyncio.sleep(0.05)
    # Alone, each job would wait for FAST (2 + 1 = 3 s there against 1 + 3 = 4 s on SLOW). As a batch, the
    # ones behind the first few finish sooner on SLOW, so one of them takes SLOW's free place at once.
    placed = [w for w in waiting if w.done()]
    assert len(placed) == 1
    assert placed[0].result()[0].instance == SLOW
    for w in waiting:
        w.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


class _QueueingClient:
    """One job at a time per server; a job not yet started can be withdrawn, as from ComfyUI's queue."""

    gates: dict[str, asyncio.Event] = {}
    locks: dict[str, asyncio.Lock] = {}
    running: set[str] = set()
    withdrawn: list[tuple[str, str]] = []
    can_withdraw = True

    def __init__(self, endpoint, settings) -> None:
        self.endpoint = endpoint
        self.service = endpoint.service

    async def probe(self) -> ProbeResult:
        return ProbeResult(service=self.service, url=self.endpoint.url, reachable=True, vram_free_gb=24)

    async def validate(self, job):
        return []

    async def submit(self, job) -> str:
        return job.id

    async def events(self, job):
        async with self.locks.setdefault(self.endpoint.url, asyncio.Lock()):
            self.running.add(job.id)
            yield BackendProgress(fraction=0.1, phase="running", running=True)
            await self.gates.setdefault(job.id, asyncio.Event()).wait()

    async def withdraw(self, job) -> bool:
        if not self.can_withdraw or job.id in self.running:
            return False
        self.withdrawn.append((job.id, self.endpoint.url))
        return True

    async def cancel(self, job) -> None:
        pass

    async def fetch_outputs(self, job, dest: Path) -> list[Path]:
        return []

    async def close(self) -> None:
        pass


async def _until(predicate, timeout: float = 2.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def test_service_moves_a_job_queued_on_a_slow_server_to_a_fast_one_that_ran_dry(h, clock, tmp_path):
    _QueueingClient.gates, _QueueingClient.locks, _QueueingClient.running = {}, {}, set()
    _QueueingClient.withdrawn = []
    settings = h.make_settings(comfyui=2, wan2gp=0, output_dir=str(tmp_path / "out"))
    router = Router(settings, clock=clock)
    _learn(router.load, clock, SLOW, 4.0)
    _learn(router.load, clock, FAST, 1.0)
    events: list = []
    service = JobService(
        settings, events.append, Journal(tmp_path / "journal.jsonl"), router=router, client_factory=_QueueingClient
    )
    slow_head, queued, fast_job = (Job(task="image", inputs={"steps": 20}) for _ in range(3))
    for job, url in ((slow_head, SLOW), (queued, SLOW), (fast_job, FAST)):
        job.plan = list(router.plan_move(job, url))
        service.submit(job)
    await _until(lambda: queued.state == JobState.SUBMITTED and fast_job.state == JobState.RUNNING)
    # FAST finishes its job and has nothing left; `queued` still waits behind SLOW's running job.
    _QueueingClient.gates.setdefault(fast_job.id, asyncio.Event()).set()
    await _until(lambda: queued.instance == FAST and queued.state == JobState.RUNNING)
    assert _QueueingClient.withdrawn == [(queued.id, SLOW)]
    assert SLOW not in queued.remote_ids
    assert queued.plan[0].instance == FAST and "moved here" in queued.plan[0].reason
    logs = [e.text for e in events if getattr(e, "kind", "") == "log"]
    assert any("Moved from ComfyUI at c0 to ComfyUI at c1" in text for text in logs)
    for job in (slow_head, queued):
        _QueueingClient.gates.setdefault(job.id, asyncio.Event()).set()
    await asyncio.wait_for(asyncio.gather(*(service._tasks[j.id] for j in (slow_head, queued))), 2)
    assert queued.state == JobState.DONE and slow_head.state == JobState.DONE
    journaled = service.journal.latest()[queued.id]
    assert journaled["instance"] == FAST
    await service.shutdown()


async def test_a_server_that_already_started_the_job_keeps_it(h, clock, tmp_path):
    _QueueingClient.gates, _QueueingClient.locks, _QueueingClient.running = {}, {}, set()
    _QueueingClient.withdrawn = []
    _QueueingClient.can_withdraw = False  # the server began it between the decision and the withdrawal
    try:
        settings = h.make_settings(comfyui=2, wan2gp=0, output_dir=str(tmp_path / "out"))
        router = Router(settings, clock=clock)
        _learn(router.load, clock, SLOW, 4.0)
        _learn(router.load, clock, FAST, 1.0)
        service = JobService(
            settings, lambda e: None, Journal(tmp_path / "j.jsonl"), router=router, client_factory=_QueueingClient
        )
        slow_head, queued, fast_job = (Job(task="image", inputs={"steps": 20}) for _ in range(3))
        for job, url in ((slow_head, SLOW), (queued, SLOW), (fast_job, FAST)):
            job.plan = list(router.plan_move(job, url))
            service.submit(job)
        await _until(lambda: fast_job.state == JobState.RUNNING and queued.state == JobState.SUBMITTED)
        _QueueingClient.gates.setdefault(fast_job.id, asyncio.Event()).set()
        await _until(lambda: fast_job.state == JobState.DONE)
        await asyncio.sleep(0.05)
        assert queued.instance == SLOW and queued.state == JobState.SUBMITTED
        for job in (slow_head, queued):
            _QueueingClient.gates.setdefault(job.id, asyncio.Event()).set()
        await asyncio.wait_for(asyncio.gather(*(service._tasks[j.id] for j in (slow_head, queued))), 2)
        assert queued.state == JobState.DONE and queued.instance == SLOW
        await service.shutdown()
    finally:
        _QueueingClient.can_withdraw = True

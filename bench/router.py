"""Router benchmark: decision time with cached health, and makespan over a pool of 3 instances of different speeds.

    python bench/router.py [--jobs 60] [--unit 0.01]

1. Median `Router.plan()` time with cached probes (5 instances over 3 services; target <= 50 us).
2. 60 image jobs of mixed sizes through the real JobService and Router over 3 ComfyUI instances whose speeds are
   1x, 2x and 4x (each runs its queue one job at a time, like ComfyUI). Makespan is divided by the ideal (total
   work / total capacity; target <= 1.10) for least-loaded selection (late binding, learned speeds) and for
   round-robin, in the same run. The instances are simulated in-process (see SimulatedComfyUI) so the figures
   measure the scheduling, not HTTP overhead on a shared 2-core machine.
The last line is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from genbridge.routing import Router
from genbridge.routing.policy import DEFAULT_POLICY_PATH
from genbridge.runtime.backend import ProbeResult
from genbridge.runtime.events import BackendProgress
from genbridge.runtime.jobs import Job
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService
from genbridge.runtime.settings import Settings

URLS = ["http://127.0.0.1:18188", "http://127.0.0.1:18189", "http://127.0.0.1:18190"]
SPEEDS = [1.0, 2.0, 4.0]  # work units per `unit` seconds


class SimulatedComfyUI:
    """A ComfyUI-like instance: one job at a time, each taking steps * unit / speed seconds."""

    speeds: dict[str, float] = {}
    unit = 0.01
    locks: dict[str, asyncio.Lock] = {}

    def __init__(self, endpoint, settings) -> None:
        self.endpoint = endpoint
        self.service = endpoint.service

    async def probe(self) -> ProbeResult:
        return ProbeResult(service="comfyui", url=self.endpoint.url, reachable=True, vram_free_gb=24, vram_total_gb=24)

    async def validate(self, job):
        return []

    async def submit(self, job) -> str:
        return job.id

    async def events(self, job):
        lock = self.locks.setdefault(self.endpoint.url, asyncio.Lock())
        async with lock:
            yield BackendProgress(fraction=0.1, phase="running", running=True)
            await asyncio.sleep(int(job.inputs["steps"]) * self.unit / self.speeds[self.endpoint.url])

    async def cancel(self, job) -> None:
        pass

    async def fetch_outputs(self, job, dest: Path) -> list[Path]:
        return []

    async def close(self) -> None:
        pass


def _settings(tmp: Path, policy_file: str = "") -> Settings:
    return Settings.from_mapping(
        {
            "comfyui": [{"url": u, "label": f"gpu{i}"} for i, u in enumerate(URLS)],
            "wan2gp": [{"url": "http://127.0.0.1:17866/mcp"}],
            "litellm": [{"url": "http://127.0.0.1:14000"}],
            "output_dir": str(tmp / "out"),
            "data_dir": str(tmp / "data"),
            "policy_file": policy_file,
        }
    )


def decision_time_us(tmp: Path, n: int = 5000) -> float:
    router = Router(_settings(tmp))
    for i, url in enumerate(URLS):
        router.observe_probe(
            ProbeResult(
                service="comfyui", url=url, reachable=True, vram_free_gb=20.0 - i, vram_total_gb=24.0, queue_depth=i
            )
        )
    jobs = [
        Job(task=t, inputs={"width": 1024, "height": 576, "frames": 81, "steps": 20})
        for t in ("keyframe", "quick_preview", "final_video", "text")
    ] * (n // 4)
    times = []
    for job in jobs:
        t0 = time.perf_counter()
        router.plan(job)
        times.append(time.perf_counter() - t0)
        router.job_finished(job.id, ok=True)
    return statistics.median(times) * 1e6


async def makespan(tmp: Path, policy_file: str, works: list[int], unit: float) -> float:
    settings = _settings(tmp, policy_file)
    SimulatedComfyUI.speeds = dict(zip(URLS, SPEEDS, strict=True))
    SimulatedComfyUI.unit = unit
    SimulatedComfyUI.locks = {}
    service = JobService(
        settings,
        lambda ev: None,
        Journal(tmp / f"journal-{len(policy_file)}.jsonl"),
        router=Router(settings),
        client_factory=SimulatedComfyUI,
    )
    jobs = [Job(task="image", inputs={"width": 1024, "height": 1024, "steps": w}) for w in works]
    t0 = time.perf_counter()
    for job in jobs:
        service.submit(job)
    await asyncio.wait_for(asyncio.gather(*(service._tasks[j.id] for j in jobs)), 600)
    elapsed = time.perf_counter() - t0
    failed = [j for j in jobs if j.state.value != "done"]
    await service.shutdown()
    if failed:
        raise SystemExit(f"{len(failed)} jobs did not finish: {failed[0].error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--unit", type=float, default=0.03, help="seconds per work unit at speed 1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        us = decision_time_us(tmp)
        print(f"decision time (median, cached health): {us:.1f} us (target <= 50)")

        rng = random.Random(6)
        works = [rng.randint(4, 16) for _ in range(args.jobs)]
        ideal = sum(works) * args.unit / sum(SPEEDS)
        rr_policy = tmp / "round_robin.toml"
        rr_policy.write_text(
            DEFAULT_POLICY_PATH.read_text().replace('selection = "least_loaded"', 'selection = "round_robin"')
        )
        ll = asyncio.run(makespan(tmp, "", works, args.unit))
        rr = asyncio.run(makespan(tmp, str(rr_policy), works, args.unit))
        print(f"{args.jobs} jobs over 3 simulated ComfyUI instances (speeds {SPEEDS}); ideal {ideal:.2f} s")
        print(f"least-loaded: makespan {ll:.2f} s, ratio {ll / ideal:.3f} (target <= 1.10)")
        print(f"round-robin:  makespan {rr:.2f} s, ratio {rr / ideal:.3f}")
        print(
            json.dumps(
                {
                    "decision_median_us": round(us, 2),
                    "jobs": args.jobs,
                    "instances": "simulated",
                    "speeds": SPEEDS,
                    "ideal_s": round(ideal, 3),
                    "least_loaded_makespan_s": round(ll, 3),
                    "least_loaded_ratio": round(ll / ideal, 3),
                    "round_robin_makespan_s": round(rr, 3),
                    "round_robin_ratio": round(rr / ideal, 3),
                }
            )
        )


if __name__ == "__main__":
    main()

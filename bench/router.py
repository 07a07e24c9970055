"""Router benchmark: decision time with cached health, and makespan over a pool of 3 instances of different speeds.

    python bench/router.py [--jobs 60] [--unit 0.08] [--simulated] [--no-monitor]
    python bench/router.py --mixed [--jobs 24] [--unit 0.08]

1. Median `Router.plan()` time with cached probes (5 instances over 3 services; target <= 50 us).
2. 60 image jobs of mixed sizes over 3 ComfyUI instances whose speeds are 1x, 2x and 4x, for least-loaded
   selection (late binding, learned speeds) and for round-robin, in the same run. By default the instances are
   three real `ComfyUIStandIn` servers on loopback (in a child process, as ComfyUI is), driven through the real
   stack: JobService, Router, the default client factory (ComfyUIClient: HTTP, one websocket per server, history,
   download), with the health monitor probing as in Blender. Each job is an API-format SD1.5 workflow whose
   KSampler has `steps` = its work units and a unique seed (so the stand-in's cache never skips it); the stand-in
   sleeps `step_delay` per step and runs its queue one prompt at a time, like ComfyUI.
   Ideal = total configured work / total capacity = sum(steps) * unit / sum(speeds), where instance i takes
   unit / speed_i seconds per step (node_delay = history_delay = 0, so steps are the only configured work; client
   and HTTP overhead count against the ratio). `--simulated` uses in-process fake clients instead (no HTTP), to
   separate scheduling from transport overhead.
3. `--mixed` instead: a mixed pool of two native ComfyUI stand-ins (1x, 2x) and one Comfy API v2 endpoint (the
   real comfy-api-proxy 0.1.6 in front of the 4x stand-in), for each `api_v2_use` policy (never, when_local_busy,
   always): makespan and the share of jobs sent to the v2 endpoint.
The last line is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

    running: set[str] = set()

    async def events(self, job):
        lock = self.locks.setdefault(self.endpoint.url, asyncio.Lock())
        async with lock:
            self.running.add(job.id)
            yield BackendProgress(fraction=0.1, phase="running", running=True)
            await asyncio.sleep(int(job.inputs["steps"]) * self.unit / self.speeds[self.endpoint.url])

    async def withdraw(self, job) -> bool:
        """Like deleting a prompt from ComfyUI's queue: only a job that has not started can be taken back."""
        return job.id not in self.running

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


async def run_all(service: JobService, jobs: list[Job]) -> float:
    """Submit every job at once, wait for all, shut the service down; the makespan in seconds."""
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
    elapsed = await run_all(service, jobs)
    return elapsed


# -- real stand-ins ------------------------------------------------------------------------------------------------
WORKFLOW_PATH = Path(__file__).resolve().parents[1] / "workflows" / "bundled" / "sd15_txt2img.json"


def serve_standins(unit: float) -> None:
    """Child-process mode: 3 stand-ins (speeds SPEEDS) on loopback; prints their URLs, serves until stdin closes."""
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models

    async def serve() -> None:
        async with contextlib.AsyncExitStack() as stack:
            servers = [
                await stack.enter_async_context(
                    ComfyUIStandIn(node_delay=0.0, step_delay=unit / speed, history_delay=0.0, models=bundled_models())
                )
                for speed in SPEEDS
            ]
            print(json.dumps([s.url for s in servers]), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(serve())


@contextlib.contextmanager
def standins(unit: float) -> Iterator[list[str]]:
    """The three stand-ins in a child process; yields their URLs (slowest first)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--unit", str(unit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise SystemExit("the ComfyUI stand-ins did not start")
        yield json.loads(line)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def workflow(steps: int, seed: int) -> dict[str, Any]:
    """An SD1.5 txt2img graph whose only cost on the stand-in is `steps` sampler steps; tiny output image."""
    graph = json.loads(WORKFLOW_PATH.read_text())
    for node in graph.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = steps
            node["inputs"]["seed"] = seed
        elif node["class_type"] == "EmptyLatentImage":
            node["inputs"]["width"] = node["inputs"]["height"] = 64
    return graph


async def busy_intervals(urls: list[str], prompt_ids: set[str]) -> dict[str, list[tuple[float, float]]]:
    """Per server, the (start, end) of each of our prompts from its history timestamps (ms)."""
    import aiohttp

    out: dict[str, list[tuple[float, float]]] = {}
    async with aiohttp.ClientSession() as session:
        for url in urls:
            async with session.get(f"{url}/history") as r:
                history = await r.json()
            spans = []
            for pid, entry in history.items():
                if pid not in prompt_ids:
                    continue
                stamps = {kind: data.get("timestamp") for kind, data in entry["status"]["messages"]}
                spans.append((stamps["execution_start"] / 1000, stamps["execution_success"] / 1000))
            out[url] = sorted(spans)
    return out


async def makespan_standins(
    tmp: Path, urls: list[str], policy_file: str, works: list[int], seed0: int, monitor: bool
) -> tuple[float, dict[str, Any]]:
    settings = Settings.from_mapping(
        {
            "comfyui": [{"url": u, "label": f"{s:g}x"} for u, s in zip(urls, SPEEDS, strict=True)],
            "output_dir": str(tmp / f"out-{seed0}"),
            "data_dir": str(tmp / f"data-{seed0}"),
            "policy_file": policy_file,
        }
    )
    router = Router(settings)
    service = JobService(settings, lambda ev: None, Journal(tmp / f"journal-{seed0}.jsonl"), router=router)
    if monitor:
        # As in Blender, the monitor has been probing since start-up: plans see cached health from the first job.
        service.start_health_monitor()
        assert router.monitor is not None
        while router.monitor.rounds < 1:
            await asyncio.sleep(0.01)
    jobs = [Job(task="image", inputs={"workflow": workflow(w, seed0 + i)}) for i, w in enumerate(works)]
    elapsed = await run_all(service, jobs)
    spans = await busy_intervals(urls, {j.id for j in jobs})
    detail: dict[str, Any] = {"per_instance": {}}
    for url, speed in zip(urls, SPEEDS, strict=True):
        mine = [j for j in jobs if j.instance == url]
        ivals = spans[url]
        overlaps = sum(1 for a, b in itertools.pairwise(ivals) if b[0] < a[1] - 1e-3)
        detail["per_instance"][f"{speed:g}x"] = {
            "jobs": len(mine),
            "work": sum(int(j.inputs["workflow"]["5"]["inputs"]["steps"]) for j in mine),
            "busy_s": round(sum(b - a for a, b in ivals), 3),
            "last_end_s": round(max((b for _, b in ivals), default=0.0) - ivals[0][0], 3) if ivals else 0.0,
            "overlapping_prompts": overlaps,
        }
    return elapsed, detail


V2_POLICIES = ("never", "when_local_busy", "always")


async def makespan_mixed(
    tmp: Path, urls: list[str], proxy_url: str, policy_file: str, works: list[int], seed0: int
) -> tuple[float, float, dict[str, int]]:
    """Two native instances and one Comfy API v2 endpoint: (makespan, share of jobs on v2, jobs per instance)."""
    labels = {urls[0]: "native 1x", urls[1]: "native 2x", proxy_url: "v2 4x"}
    settings = Settings.from_mapping(
        {
            "comfyui": [
                {"url": urls[0], "label": labels[urls[0]]},
                {"url": urls[1], "label": labels[urls[1]]},
                {"url": proxy_url, "label": labels[proxy_url], "kind": "api_v2"},
            ],
            "wan2gp": [],
            "litellm": [],
            "output_dir": str(tmp / f"out-{seed0}"),
            "data_dir": str(tmp / f"data-{seed0}"),
            "policy_file": policy_file,
        }
    )
    router = Router(settings)
    service = JobService(settings, lambda ev: None, Journal(tmp / f"journal-{seed0}.jsonl"), router=router)
    service.start_health_monitor()
    assert router.monitor is not None
    while router.monitor.rounds < 1:
        await asyncio.sleep(0.01)
    jobs = [Job(task="image", inputs={"workflow": workflow(w, seed0 + i)}) for i, w in enumerate(works)]
    elapsed = await run_all(service, jobs)
    per = {label: sum(1 for j in jobs if j.instance == url) for url, label in labels.items()}
    return elapsed, per[labels[proxy_url]] / len(jobs), per


def mixed(args: argparse.Namespace) -> None:
    from genbridge.standins.comfy_api_proxy import PROXY_VERSION, ProxyProcess

    rng = random.Random(7)
    works = [rng.randint(4, 16) for _ in range(args.jobs)]
    ideal = sum(works) * args.unit / sum(SPEEDS)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as d, standins(args.unit) as urls:
        tmp = Path(d)
        proxy = ProxyProcess(urls[2]).start()
        try:
            for index, use in enumerate(V2_POLICIES):
                policy = tmp / f"{use}.toml"
                policy.write_text(
                    DEFAULT_POLICY_PATH.read_text().replace('api_v2_use = "when_local_busy"', f'api_v2_use = "{use}"')
                )
                seed0 = rng.randrange(1 << 30) + index
                span, share, per = asyncio.run(makespan_mixed(tmp, urls, proxy.url, str(policy), works, seed0))
                results[use] = {"makespan_s": round(span, 3), "v2_share": round(share, 3), "jobs": per}
        finally:
            proxy.stop()
    print(
        f"{args.jobs} jobs ({sum(works)} work units) over 2 native ComfyUI stand-ins (1x, 2x) and 1 Comfy API v2 "
        f"endpoint (comfy-api-proxy {PROXY_VERSION} in front of a 4x stand-in), {args.unit:g} s per unit at 1x; "
        f"ideal with all three = {ideal:.2f} s, with the natives only = {sum(works) * args.unit / 3:.2f} s"
    )
    for use, r in results.items():
        print(
            f"  api_v2_use = {use:16s} makespan {r['makespan_s']:.2f} s (ratio {r['makespan_s'] / ideal:.2f}),"
            f" {r['v2_share'] * 100:.0f}% of jobs on v2, per instance {r['jobs']}"
        )
    print(
        json.dumps(
            {
                "mixed": True,
                "jobs": args.jobs,
                "unit_s": args.unit,
                "work_units": sum(works),
                "ideal_all_s": round(ideal, 3),
                "ideal_native_only_s": round(sum(works) * args.unit / 3, 3),
                "policies": results,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--unit", type=float, default=0.08, help="seconds per work unit (sampler step) at speed 1")
    parser.add_argument("--simulated", action="store_true", help="in-process simulated instances instead of stand-ins")
    parser.add_argument("--no-monitor", action="store_true", help="stand-ins: do not run the health monitor")
    parser.add_argument("--mixed", action="store_true", help="2 native stand-ins + 1 Comfy API v2 endpoint (proxy)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_standins(args.unit)
        return
    if args.mixed:
        mixed(args)
        return
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
        details: dict[str, Any] = {}
        if args.simulated:
            kind = "simulated"
            ll = asyncio.run(makespan(tmp, "", works, args.unit))
            rr = asyncio.run(makespan(tmp, str(rr_policy), works, args.unit))
        else:
            kind = "stand-in"
            seed0 = rng.randrange(1 << 30)
            with standins(args.unit) as urls:
                monitor = not args.no_monitor
                ll, details["least_loaded"] = asyncio.run(makespan_standins(tmp, urls, "", works, seed0, monitor))
                rr, details["round_robin"] = asyncio.run(
                    makespan_standins(tmp, urls, str(rr_policy), works, seed0 + 10_000, monitor)
                )
        print(
            f"{args.jobs} jobs ({sum(works)} work units) over 3 {kind} ComfyUI instances (speeds {SPEEDS}, "
            f"{args.unit:g} s per unit at 1x); ideal = {sum(works)} * {args.unit:g} / {sum(SPEEDS):g} = {ideal:.2f} s"
        )
        print(f"least-loaded: makespan {ll:.2f} s, ratio {ll / ideal:.3f} (target <= 1.05)")
        print(f"round-robin:  makespan {rr:.2f} s, ratio {rr / ideal:.3f}")
        effective: float | None = None
        if details:
            # What the stand-ins actually delivered: units per busy second, per instance, over both runs. The gap
            # between this and the configured capacity is the stand-in's own per-step cost (sleep overshoot and
            # two websocket messages per step), not scheduling.
            by_speed: dict[str, list[float]] = {}
            for d in details.values():
                for speed, r in d["per_instance"].items():
                    by_speed.setdefault(speed, [0.0, 0.0])
                    by_speed[speed][0] += r["work"]
                    by_speed[speed][1] += r["busy_s"]
            capacity = sum(w / b for w, b in by_speed.values() if b > 0)
            effective = sum(works) / capacity if capacity else None
            if effective:
                print(
                    f"  against the capacity the stand-ins delivered ({capacity * args.unit:.2f} of {sum(SPEEDS):g}"
                    f" configured): ideal {effective:.2f} s, least-loaded {ll / effective:.3f},"
                    f" round-robin {rr / effective:.3f}"
                )
        for name, detail in details.items():
            for speed, row in detail["per_instance"].items():
                print(
                    f"  {name:12s} {speed:>3s}: {row['jobs']:2d} jobs, {row['work']:3d} units,"
                    f" busy {row['busy_s']:.2f} s, last prompt ends at {row['last_end_s']:.2f} s,"
                    f" overlapping prompts {row['overlapping_prompts']}"
                )
        print(
            json.dumps(
                {
                    "decision_median_us": round(us, 2),
                    "jobs": args.jobs,
                    "instances": kind,
                    "speeds": SPEEDS,
                    "unit_s": args.unit,
                    "work_units": sum(works),
                    "ideal_s": round(ideal, 3),
                    "least_loaded_makespan_s": round(ll, 3),
                    "least_loaded_ratio": round(ll / ideal, 3),
                    "round_robin_makespan_s": round(rr, 3),
                    "round_robin_ratio": round(rr / ideal, 3),
                    **(
                        {
                            "delivered_ideal_s": round(effective, 3),
                            "least_loaded_ratio_delivered": round(ll / effective, 3),
                            "round_robin_ratio_delivered": round(rr / effective, 3),
                        }
                        if effective
                        else {}
                    ),
                    **({"per_instance": {k: v["per_instance"] for k, v in details.items()}} if details else {}),
                }
            )
        )


if __name__ == "__main__":
    main()

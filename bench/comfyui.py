"""ComfyUI client benchmark: the client's own CPU per job beside the round trip, download speed vs curl, RSS.

The stand-in runs in its own process (as ComfyUI does), so this process's CPU time is the client's alone:
`python bench/comfyui.py [--jobs 300] [--mb 200] [--version 0.3.64|0.38]`, or against any server with
`--url http://127.0.0.1:8188` (the download part then needs `--view-file NAME`, a file in that server's output
folder). Every job is a zero-work graph with a unique input (never a cache hit): submit, websocket messages,
completion and the outputs lookup. Targets: client CPU <= 1 ms per job, download >= 0.85x curl.
Prints figures, then a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings

WARMUP = 20


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_standin(root: Path, version: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m genbridge.standins.comfyui` on a free port, in its own process; returns it and its URL."""
    cmd = [sys.executable, "-m", "genbridge.standins.comfyui", "--port", "0", "--node-delay", "0"]
    cmd += ["--step-delay", "0", "--root", str(root), "--version", version]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"on (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the stand-in did not start: {line!r}")
    return proc, match.group(1)


def graph(i: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": i}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


async def one_job(client: ComfyUIClient, i: int, dest: Path) -> None:
    job = Job(task="image", inputs={"workflow": graph(i)})
    await client.submit(job)
    async for _ in client.events(job):
        pass
    await client.fetch_outputs(job, dest)


async def jobs_run(client: ComfyUIClient, jobs: int, dest: Path, seed: int) -> tuple[list[float], list[float], float]:
    """(wall ms per job, client CPU ms per job, RSS growth MB over the measured jobs)."""
    await client.probe()
    for i in range(WARMUP):
        await one_job(client, seed + i, dest)
    walls, cpus = [], []
    before = rss_mb()
    client.bare_cpu_ms = await bare_request_cpu(client)  # type: ignore[attr-defined]
    for i in range(jobs):
        w0, c0 = time.perf_counter(), time.process_time()
        await one_job(client, seed + WARMUP + i, dest)
        cpus.append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
    return walls, cpus, rss_mb() - before


async def bare_request_cpu(client: ComfyUIClient, n: int = 200) -> float:
    """CPU ms of one bare aiohttp GET /queue on this machine: a yardstick for the per-job figure."""
    session = client.http.session()
    url = client.http.url("/queue")
    c0 = time.process_time()
    for _ in range(n):
        async with session.get(url) as resp:
            json.loads(await resp.read())
    return (time.process_time() - c0) * 1000 / n


async def protocol_floor_cpu(url: str, jobs: int, seed: int) -> float:
    """CPU ms per job of the bare protocol with the same libraries and no GenBridge code: POST /prompt, then read
    the socket until `executing{node:null}`. What no client built on aiohttp + websockets can go below."""
    import uuid

    import aiohttp
    from websockets.asyncio.client import connect

    cid = uuid.uuid4().hex
    ws_url = "ws" + url[4:] + f"/ws?clientId={cid}"
    async with aiohttp.ClientSession() as http, connect(ws_url, compression=None, max_size=1 << 26) as ws:
        await ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))

        async def job(i: int) -> None:
            pid = str(uuid.uuid4())
            async with http.post(f"{url}/prompt", json={"prompt": graph(i), "client_id": cid, "prompt_id": pid}) as r:
                json.loads(await r.read())
            async for raw in ws:
                if isinstance(raw, str):
                    data = json.loads(raw).get("data") or {}
                    if data.get("prompt_id") == pid and "node" in data and data["node"] is None:
                        return

        for i in range(WARMUP):
            await job(seed + i)
        c0 = time.process_time()
        for i in range(jobs):
            await job(seed + WARMUP + i)
        return (time.process_time() - c0) * 1000 / jobs


async def download_once(client: ComfyUIClient, name: str, dest: Path, peak: list[float]) -> float:
    from genbridge.backends.comfyui.download import download

    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    params = {"filename": name, "subfolder": "", "type": "output"}
    await download(client.http, params, dest, limit_bytes=1 << 40, deadline_s=600)
    elapsed = time.perf_counter() - t0
    peak.append(dest.stat().st_size / 2**20)
    stop.set()
    sampler.join()
    return elapsed


def curl_once(url: str, name: str, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "-o", str(out), f"{url}/view?filename={name}&type=output"], check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="measured jobs (after 20 warm-up jobs)")
    parser.add_argument("--mb", type=int, default=200, help="size of the download test file")
    parser.add_argument("--url", help="measure against this server instead of a stand-in process")
    parser.add_argument("--view-file", help="with --url: a file in the server's output folder to download")
    parser.add_argument("--version", default="0.3.64", choices=["0.3.64", "0.38"], help="stand-in version")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        proc = None
        url, view_file = args.url, args.view_file
        if url is None:
            proc, url = start_standin(tmp_path / "comfy", args.version)
            view_file = "big.bin"
            with open(tmp_path / "comfy" / "output" / view_file, "wb") as fh:
                fh.truncate(args.mb << 20)
        settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
        client = ComfyUIClient(Endpoint(service="comfyui", url=url), settings)
        try:

            async def run_all() -> tuple[list[float], list[float], float, list[float], list[float], float]:
                seed = int(time.time()) % 100000
                walls, cpus, growth = await jobs_run(client, args.jobs, tmp_path / "jobs", seed)
                args.floor_cpu_ms = await protocol_floor_cpu(url, args.jobs, seed + 10**6)
                ours, peaks = [], []
                base = rss_mb()
                if view_file:
                    for _ in range(3):
                        peak = [rss_mb()]
                        ours.append(await download_once(client, view_file, tmp_path / "ours.bin", peak))
                        peaks.append(peak[0] - base)
                        args.mb = peak[-1]  # the real size (a --view-file on another server)
                        (tmp_path / "ours.bin").unlink()
                await client.close()
                return walls, cpus, growth, ours, peaks, base

            walls, cpus, growth, ours, peaks, _ = asyncio.run(run_all())
            args.bare_cpu_ms = getattr(client, "bare_cpu_ms", None)
            curls = [curl_once(url, view_file, tmp_path / "curl.bin") for _ in range(3)] if view_file else []
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    report(args, url, walls, cpus, growth, ours, curls, peaks)


def report(args, url, walls, cpus, growth, ours, curls, peaks) -> None:
    walls.sort()
    median, p99 = statistics.median(walls), walls[max(0, int(len(walls) * 0.99) - 1)]
    cpu = statistics.mean(cpus)
    cpu_median = statistics.median(cpus)
    where = "stand-in in its own process" if args.url is None else url
    print(f"{args.jobs} zero-work jobs over one websocket ({where}, version {args.version if not args.url else '?'}):")
    print(f"  client CPU per job: mean {cpu:.3f} ms, median {cpu_median:.3f} ms (target <= 1 ms)")
    bare, floor = args.bare_cpu_ms, args.floor_cpu_ms
    print(f"  protocol floor (same libraries, no GenBridge code): {floor:.3f} ms per job; client = {cpu / floor:.2f}x")
    print(f"  yardstick: one bare aiohttp GET costs {bare:.3f} ms CPU here, so a job costs {cpu / bare:.1f} of them")
    print(f"  round trip per job: median {median:.2f} ms, p99 {p99:.2f} ms (includes the server's own work)")
    print(f"  RSS growth over the measured jobs: {growth:.1f} MB")
    result = {
        "jobs": args.jobs,
        "server": "standin-process" if args.url is None else "url",
        "version": args.version if args.url is None else None,
        "client_cpu_ms_per_job": round(cpu, 3),
        "client_cpu_ms_per_job_median": round(cpu_median, 3),
        "protocol_floor_cpu_ms_per_job": round(floor, 3),
        "client_cpu_vs_floor": round(cpu / floor, 2),
        "bare_get_cpu_ms": round(bare, 3),
        "job_cpu_in_bare_gets": round(cpu / bare, 1),
        "round_trip_ms_median": round(median, 3),
        "round_trip_ms_p99": round(p99, 3),
        "rss_growth_mb_over_jobs": round(growth, 1),
    }
    if ours and curls:
        ours_mbs, curl_mbs = args.mb / min(ours), args.mb / min(curls)
        ratio = ours_mbs / curl_mbs
        speeds = f"client {ours_mbs:.0f} MB/s, curl {curl_mbs:.0f} MB/s, ratio {ratio:.2f} (>= 0.85)"
        print(f"  download {args.mb:.0f} MB: {speeds}")
        print(f"  peak RSS growth during the download: {max(peaks):.1f} MB (target <= 32 MB)")
        result |= {
            "download_mb": round(args.mb, 1),
            "client_mb_s": round(ours_mbs, 1),
            "curl_mb_s": round(curl_mbs, 1),
            "download_ratio_vs_curl": round(ratio, 3),
            "download_peak_rss_growth_mb": round(max(peaks), 1),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

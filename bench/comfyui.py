"""ComfyUI client benchmark against the stand-in: per-job overhead, download throughput vs curl, RSS growth.

Prints figures, then a JSON object on the last line.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.comfyui import ComfyUIStandIn

JOBS = 500
BIG_MB = 200


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def job_overhead(client: ComfyUIClient, dest: Path) -> list[float]:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    times = []
    await client.probe()
    for i in range(JOBS):
        graph["1"]["inputs"]["color"] = i  # never a cache hit
        job = Job(task="image", inputs={"workflow": graph})
        t0 = time.perf_counter()
        await client.submit(job)
        async for _ in client.events(job):
            pass
        await client.fetch_outputs(job, dest)
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def download_once(client: ComfyUIClient, dest: Path, peak: list[float]) -> float:
    from genbridge.backends.comfyui.download import download

    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    await download(
        client._http(),
        client._url("/view"),
        {"filename": "big.bin", "subfolder": "", "type": "output"},
        dest / "big.bin",
        limit_bytes=1 << 30,
        timeout=client._dl_timeout,
    )
    elapsed = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return elapsed


def main() -> None:
    standin = ComfyUIStandIn(node_delay=0.0, history_delay=0.0)
    with tempfile.TemporaryDirectory() as tmp, standin.running_in_thread() as server:
        tmp_path = Path(tmp)
        (server.output_dir / "big.bin").write_bytes(b"\x00" * (BIG_MB << 20))
        settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
        client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)

        async def run_all() -> tuple[list[float], list[float], list[float], float]:
            times = await job_overhead(client, tmp_path / "jobs")
            ours, peaks = [], []
            base = rss_mb()
            for _ in range(3):
                peak = [rss_mb()]
                ours.append(await download_once(client, tmp_path, peak))
                peaks.append(peak[0] - base)
                (tmp_path / "big.bin").unlink()
            await client.close()
            return times, ours, peaks, base

        times, ours, peaks, _ = asyncio.run(run_all())
        url = f"{server.url}/view?filename=big.bin&type=output"
        curls = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(["curl", "-s", "-o", str(tmp_path / "curl.bin"), url], check=True)
            curls.append(time.perf_counter() - t0)
    times.sort()
    median = statistics.median(times)
    p99 = times[int(len(times) * 0.99) - 1]
    ours_mbs, curl_mbs = BIG_MB / min(ours), BIG_MB / min(curls)
    ratio = ours_mbs / curl_mbs
    print(
        f"per-job round trip over one websocket ({JOBS} jobs, zero-work stand-in): median {median:.2f} ms, "
        f"p99 {p99:.2f} ms (target median <= 3 ms)"
    )
    print(f"download {BIG_MB} MB: client {ours_mbs:.0f} MB/s, curl {curl_mbs:.0f} MB/s, ratio {ratio:.2f} (>= 0.85)")
    print(f"peak RSS growth during download: {max(peaks):.1f} MB (target <= 32 MB)")
    print(
        json.dumps(
            {
                "jobs": JOBS,
                "job_overhead_ms_median": round(median, 3),
                "job_overhead_ms_p99": round(p99, 3),
                "download_mb": BIG_MB,
                "client_mb_s": round(ours_mbs, 1),
                "curl_mb_s": round(curl_mbs, 1),
                "download_ratio_vs_curl": round(ratio, 3),
                "peak_rss_growth_mb": round(max(peaks), 1),
            }
        )
    )


if __name__ == "__main__":
    main()

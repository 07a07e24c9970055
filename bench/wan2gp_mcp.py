"""WanGP MCP transport benchmark: tool-call round trips against the MCP SDK's own server in its three modes and the
WanGP stand-in, and the event-stream parser's throughput on long lines (it must stay linear).

Needs the `mcp` test dependency for the SDK server. Prints figures, then a JSON object on the last line.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from genbridge.backends.wan2gp.mcp_http import EventStream
from genbridge.backends.wan2gp.rpc import McpRpc
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "wan2gp"))
from test_mcp_protocol import SDK_MODES, sdk_server

CALLS = 60


async def round_trips(url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rpc = McpRpc(Endpoint(service="wan2gp", url=url), Settings(data_dir=tmp, output_dir=tmp))
        try:
            started = time.perf_counter()
            await rpc.initialize()
            first = (time.perf_counter() - started) * 1000
            times = []
            for _ in range(CALLS):
                t = time.perf_counter()
                await rpc.call_tool("wangp_get_model_schema", {"model_type": "t2v"})
                times.append((time.perf_counter() - t) * 1000)
        finally:
            await rpc.close()
    return {
        "initialize_ms": round(first, 2),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(sorted(times)[int(len(times) * 0.9)], 2),
    }


def parse_seconds(megabytes: int) -> float:
    line = b"data: " + b"x" * (megabytes * 1024 * 1024) + b"\n\n"
    stream = EventStream(limit=(megabytes + 1) * 1024 * 1024)
    started = time.perf_counter()
    for i in range(0, len(line), 64 * 1024):
        stream.feed(line[i : i + 64 * 1024])
    return time.perf_counter() - started


def main() -> None:
    results: dict[str, object] = {}
    for mode, (reply_form, state) in SDK_MODES.items():
        with sdk_server(reply_form, state) as url:
            results[mode] = asyncio.run(round_trips(url))
            print(f"{mode:<20} {results[mode]}")
    standin = Wan2GPStandIn(contract="v1")
    with standin.run_in_thread() as url:
        results["standin-v1"] = asyncio.run(round_trips(url))
        print(f"{'standin-v1':<20} {results['standin-v1']}")
    small, big = parse_seconds(5), parse_seconds(50)
    per_mb_small, per_mb_big = small / 5, big / 50
    print(
        f"event stream: 5 MB line {small:.3f} s, 50 MB line {big:.3f} s, per-MB ratio {per_mb_big / per_mb_small:.2f}"
    )
    results["sse_5mb_s"], results["sse_50mb_s"] = round(small, 4), round(big, 4)
    results["sse_linearity_ratio"] = round(per_mb_big / per_mb_small, 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

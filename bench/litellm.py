"""Benchmark the LiteLLM client: per-call overhead vs stdlib http.client, and bpy's cost per streamed token.

1. Starts the real LiteLLM proxy (mock model), then times sequential non-streaming calls through
   `LiteLLMClient.complete` and through a kept-alive stdlib `http.client` connection, interleaved in rounds so
   machine noise hits both alike. Headline: the client's CPU per call over stdlib's (target <= 1.2, issue 19.2);
   wall time per call is printed beside it (the proxy dominates it).
2. Runs real bpy (`$GENBRIDGE_BPY_PYTHON`, default .venvs/bpy-4.5.15/bin/python) in a subprocess and times what
   the bridge does per BackendText batch on the main thread: `text.cursor_set(last_line, character=len)` +
   `text.write(batch)`, reported in microseconds per token (target <= 20 us).

Run: `python bench/litellm.py [--calls 100 --rounds 3]`; a JSON object is printed on the last line. Exits 1 when
the Blender part could not run (a benchmark that silently measured half of itself is no benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from genbridge.backends.litellm import LiteLLMClient
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.litellm_proxy import start_litellm_proxy

MODEL = "llama3"
MESSAGES = [{"role": "user", "content": "Say hello"}]
BPY_PYTHON = os.environ.get(
    "GENBRIDGE_BPY_PYTHON", str(Path(__file__).resolve().parents[1] / ".venvs" / "bpy-4.5.15" / "bin" / "python")
)

BPY_SCRIPT = r"""
import json, sys, time
import bpy

tokens = int(sys.argv[1])
words = ["line\n" if i % 12 == 11 else f"tok{i} " for i in range(tokens)]
result = {}
for batch in (1, 5, 20):
    text = bpy.data.texts.new(f"genbridge-bench-{batch}")
    runs = []
    for _ in range(3):
        text.clear()
        started = time.perf_counter()
        for i in range(0, tokens, batch):
            # Exactly what the bridge does with one BackendText batch.
            last = len(text.lines) - 1
            text.cursor_set(last, character=len(text.lines[last].body))
            text.write("".join(words[i:i + batch]))
        runs.append((time.perf_counter() - started) / tokens * 1e6)
    assert text.as_string() == "".join(words)
    result[str(batch)] = sorted(runs)[1]
print(json.dumps({"us_per_token": result, "bpy": bpy.app.version_string}))
"""


class StdlibClient:
    """The baseline: one kept-alive http.client connection, JSON in and out."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def complete(self) -> str:
        body = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": False})
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/v1/chat/completions", body, self.headers)
                resp = self.conn.getresponse()
                data = json.loads(resp.read())
                return str(data["choices"][0]["message"]["content"])
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def time_calls(client: LiteLLMClient, stdlib: StdlibClient, calls: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"client": [], "stdlib": []}
    cpu: dict[str, float] = {"client": 0.0, "stdlib": 0.0}
    for _ in range(5):  # warm-up: connections, lazy imports, the proxy's first-call path
        await client.complete(MESSAGES, MODEL)
        stdlib.complete()
    for r in range(rounds):
        order = ("client", "stdlib") if r % 2 == 0 else ("stdlib", "client")
        for name in order:
            cpu_start = time.process_time()
            for _ in range(calls):
                started = time.perf_counter()
                if name == "client":
                    await client.complete(MESSAGES, MODEL)
                else:
                    stdlib.complete()
                times[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - cpu_start
    times["cpu_client"] = [cpu["client"] / (calls * rounds)]
    times["cpu_stdlib"] = [cpu["stdlib"] / (calls * rounds)]
    return times


def bpy_cost(tokens: int) -> dict[str, object]:
    try:
        out = subprocess.run(
            [BPY_PYTHON, "-c", BPY_SCRIPT, str(tokens)], capture_output=True, text=True, timeout=300, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": f"could not run bpy ({BPY_PYTHON}): {exc}"}
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=4000, help="tokens appended to the bpy Text block")
    args = parser.parse_args()

    print("starting the LiteLLM proxy...", file=sys.stderr)
    with start_litellm_proxy(with_upstream=False) as proxy:
        settings = Settings()
        client = LiteLLMClient(Endpoint(service="litellm", url=proxy.url, key=proxy.master_key), settings)
        stdlib = StdlibClient(proxy.url, proxy.master_key)

        async def go() -> dict[str, list[float]]:
            try:
                return await time_calls(client, stdlib, args.calls, args.rounds)
            finally:
                await client.close()

        times = asyncio.run(go())
    med_client = statistics.median(times["client"]) * 1000
    med_stdlib = statistics.median(times["stdlib"]) * 1000
    ratio = med_client / med_stdlib
    cpu_client, cpu_stdlib = times["cpu_client"][0] * 1000, times["cpu_stdlib"][0] * 1000
    cpu_ratio = cpu_client / cpu_stdlib
    print(f"per call, sequential, {args.calls * args.rounds} calls each (mock model via the real proxy):")
    print(f"  LiteLLMClient   client CPU {cpu_client:.3f} ms/call   wall median {med_client:6.2f} ms")
    print(f"  stdlib http     client CPU {cpu_stdlib:.3f} ms/call   wall median {med_stdlib:6.2f} ms")
    print(f"HEADLINE: client CPU per call {cpu_ratio:.2f}x stdlib's (target <= 1.2); wall time {ratio:.2f}x")

    bpy = bpy_cost(args.tokens)
    per_token = bpy.get("us_per_token", {})
    if isinstance(per_token, dict) and per_token:
        print(f"bpy {bpy.get('bpy')}: main-thread cost of applying tokens to a Text block ({args.tokens} tokens):")
        for batch, us in per_token.items():
            print(f"  batches of {batch:>2} tokens: {us:6.2f} us/token")
    else:
        print(f"bpy part skipped: {bpy.get('error')}")
    # Batches of 5 tokens ~ what a 30 ms window collects at ~150 tokens/s; batches of 1 is the worst case.
    headline = per_token.get("5") if isinstance(per_token, dict) else None
    result = {
        "cpu_ratio": round(cpu_ratio, 3),
        "cpu_ratio_target": 1.2,
        "client_ms_median": round(med_client, 3),
        "stdlib_ms_median": round(med_stdlib, 3),
        "overhead_ratio": round(ratio, 3),
        "overhead_ratio_target": 1.2,
        "client_cpu_ms_per_call": round(cpu_client, 3),
        "stdlib_cpu_ms_per_call": round(cpu_stdlib, 3),
        "bpy_us_per_token": round(headline, 3) if headline is not None else None,
        "bpy_us_per_token_by_batch": per_token,
        "bpy_us_per_token_target": 20,
        "calls": args.calls * args.rounds,
    }
    result["bpy_ran"] = headline is not None
    print(json.dumps(result))
    return 0 if headline is not None else 1


if __name__ == "__main__":
    sys.exit(main())

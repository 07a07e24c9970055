"""The real local model (SmolLM2-135M-Instruct on llama-cpp-python's server, behind the real LiteLLM proxy):
shot-list parse rate over different loglines, and whether a 2500-token answer arrives whole while the health
probe runs every second (directly against llama.cpp, whose server cuts an answer when another request arrives,
and through the proxy).

Run: `python bench/local_text.py [--loglines 8]` (needs `.venvs/llm` from ./dev setup); JSON on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from genbridge.runtime.events import BackendLog, BackendText
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.litellm_proxy import LOCAL_TEXT_MODEL, start_litellm_proxy
from genbridge.standins.local_llm import start_local_llm
from genbridge.workflows.text.jobs import TextJobClient

LOGLINES = [
    "A robot learns to paint in an abandoned museum",
    "A lighthouse keeper finds a glowing message in a bottle during a storm",
    "Two kids build a raft to cross their flooded town",
    "A chef loses her sense of taste the night before the final",
    "An astronaut hears music on the dark side of the moon",
    "A retired detective is hired by the ghost of his first suspect",
    "A girl trains a crow to steal back her grandmother's ring",
    "A night-shift nurse discovers the hospital has one floor too many",
    "A desert mechanic rebuilds a crashed plane to reach her brother",
    "A mapmaker finds an island that moves every night",
]
EOS_BIAS = {"0": -100, "2": -100}  # SmolLM2's <|endoftext|> and <|im_end|>: the answer runs to max_tokens


def client(url: str, key: str | None) -> TextJobClient:
    settings = Settings(timeouts=Timeouts(request=60.0, text=900.0))
    return TextJobClient(Endpoint(service="litellm", url=url, key=key), settings)


async def shotlists(c: TextJobClient, loglines: list[str]) -> dict[str, Any]:
    first_try = parsed = 0
    distinct = set()
    seconds = []
    for logline in loglines:
        job = Job(task="shotlist", inputs={"text_task": "shotlist", "variables": {"logline": logline, "shots": "3"}})
        job.inputs["model"] = LOCAL_TEXT_MODEL
        await c.submit(job)
        started = time.perf_counter()
        notes = [e.message async for e in c.events(job) if isinstance(e, BackendLog)]
        seconds.append(time.perf_counter() - started)
        shots = c._parsed.get(job.id)
        retried = any("Asking again" in n for n in notes)
        if shots is not None:
            parsed += 1
            first_try += not retried
            distinct.add(tuple(s.description for s in shots.shots))
        print(f"  {'ok ' if shots else 'BAD'} {seconds[-1]:5.1f} s  {logline[:50]:50} {notes[-1] if notes else ''}")
    n = len(loglines)
    return {
        "parsed": parsed,
        "first_try": first_try,
        "of": n,
        "distinct": len(distinct),
        "median_s": sorted(seconds)[n // 2],
    }


async def long_answer(c: TextJobClient, model: str, tokens: int) -> dict[str, Any]:
    job = Job(
        task="text",
        inputs={"prompt": "Write a very long story.", "model": model, "max_tokens": tokens, "temperature": 0.8},
    )
    await c.submit(job)
    job.inputs["logit_bias"] = EOS_BIAS
    c._requests[job.id]["logit_bias"] = EOS_BIAS
    probes = 0
    done = asyncio.Event()

    async def monitor() -> None:
        nonlocal probes
        while not done.is_set():
            await asyncio.sleep(1.0)
            await c.probe()
            probes += 1

    task = asyncio.create_task(monitor())
    notes: list[str] = []
    error = ""
    started = time.perf_counter()
    try:
        async for event in c.events(job):
            if isinstance(event, BackendLog):
                notes.append(event.message)
            elif isinstance(event, BackendText):
                pass
    except Exception as exc:  # noqa: BLE001 - reported as the result
        error = str(exc)
    finally:
        done.set()
        await task
    whole = not error and any("length limit" in n for n in notes)
    return {
        "whole": whole,
        "chars": len(c.text_of(job)),
        "probes_during": probes,
        "seconds": round(time.perf_counter() - started, 1),
        "error": error[:200],
    }


async def main_async(n: int, tokens: int) -> dict[str, Any]:
    with (
        start_local_llm(interrupt_requests=True) as llm,
        start_litellm_proxy(with_upstream=False, local_llm_url=llm.url) as proxy,
    ):
        via_proxy = client(proxy.url, proxy.master_key)
        direct = client(llm.url, None)
        try:
            print(f"Shot lists from {n} loglines (3 shots each) on {LOCAL_TEXT_MODEL} through the proxy:")
            rate = await shotlists(via_proxy, LOGLINES[:n])
            print(f"{tokens}-token answers with a probe every second:")
            d = await long_answer(direct, "any", tokens)
            print(f"  directly from llama.cpp: {d}")
            p = await long_answer(via_proxy, LOCAL_TEXT_MODEL, tokens)
            print(f"  through the proxy:       {p}")
        finally:
            await via_proxy.close()
            await direct.close()
    return {"shotlist": rate, "long_direct": d, "long_proxy": p}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loglines", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=2500)
    args = parser.parse_args()
    result = asyncio.run(main_async(min(args.loglines, len(LOGLINES)), args.tokens))
    rate = result["shotlist"]
    print(
        f"HEADLINE: shot lists parsed {rate['parsed']}/{rate['of']} ({rate['first_try']} on the first try), "
        f"{rate['distinct']} distinct; {args.tokens}-token answer whole: direct {result['long_direct']['whole']}, "
        f"proxy {result['long_proxy']['whole']}"
    )
    print(json.dumps(result))
    ok = rate["parsed"] == rate["of"] and result["long_direct"]["whole"] and result["long_proxy"]["whole"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

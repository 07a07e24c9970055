"""`python -m genbridge route`: show the routing plan for a job (first choice, fallbacks, reasons), without running it.

    python -m genbridge route --task quick_preview --width 832 --height 480 --frames 81 [--probe] [--json]

Without --probe the plan uses the configured VRAM (the manual override, WanGP's memory profile) and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..runtime.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("route", help="show which service and server a job would go to, and why")
    p.add_argument("--task", required=True, help="task id, e.g. quick_preview, final_video, keyframe, text")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--resolution", help='"WIDTHxHEIGHT" (instead of --width/--height)')
    p.add_argument("--frames", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--service", help="force a service (comfyui, wan2gp, litellm); default Auto")
    p.add_argument("--vram", type=float, help="free VRAM in GB to assume (overrides probes)")
    p.add_argument("--probe", action="store_true", help="probe the endpoints first for live VRAM, health, queues")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("width", "height", "resolution", "frames", "steps")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


async def _probe(settings: Settings) -> list[Any]:
    from .check import probe_endpoints

    return await probe_endpoints(settings)


def plan_for(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], list[str]]:
    """The plan for the job the arguments describe, and notes on where the numbers came from."""
    from ..routing import Router
    from ..runtime.jobs import Job

    router = Router(settings)
    notes: list[str] = []
    if args.probe:
        results = asyncio.run(_probe(settings))
        for result in results:
            router.observe_probe(result)
            state = (
                "reachable" if result.reachable else f"unreachable ({result.error.message if result.error else '?'})"
            )
            notes.append(f"probed {result.service} at {result.url}: {state}")
    else:
        notes.append("not probed: using configured VRAM (manual override, WanGP memory profile); add --probe for live")
    if settings.vram_override_gb is not None:
        notes.append(f"free VRAM set to {settings.vram_override_gb:g} GB by your settings")
    job = Job(task=args.task, inputs=_inputs(args), requested_service=args.service)
    return router.plan(job), notes


def run(args: argparse.Namespace) -> int:
    from ._headless import load_settings

    settings = load_settings(args, vram_override_gb=args.vram)
    steps, notes = plan_for(args, settings)
    if args.json:
        print(json.dumps({"task": args.task, "notes": notes, "plan": [s.model_dump(mode="json") for s in steps]}))
        return 0
    for note in notes:
        print(f"# {note}")
    for number, step in enumerate(steps, 1):
        print(f"{number}. {step.reason}")
        if step.free_vram_first:
            print("   first: ask the server to free its cached models")
        for key, value in step.inputs_override.items():
            print(f"   input {key} = {value}")
    return 0

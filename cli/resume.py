"""`python -m genbridge resume`: take up the jobs the journal left unfinished, headless, and collect their outputs.

The same job service as Blender after a restart, so the same outcomes and messages: jobs still on a server are
followed ("Re-attached after restart"), jobs cut off while being sent are looked up or sent again, jobs that never
reached a server run again, and anything else fails saying why. Progress goes to stderr, output paths to stdout.
`--journal` points at another journal, e.g. the one Blender keeps in the extension's user folder.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from pathlib import Path
from typing import Any

from ..runtime.vocabulary import FINISHED_STATES


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "resume", help="re-attach the jobs an earlier run (or Blender) left unfinished and collect their outputs"
    )
    p.add_argument("--journal", help="journal file (default: journal.jsonl in the data folder)")
    p.add_argument("--output", help="output folder (overrides settings)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="stop waiting after this many seconds (unfinished jobs stay resumable)",
    )


def run(args: argparse.Namespace) -> int:
    from ..runtime import Runtime
    from ._headless import load_settings, print_progress

    settings = load_settings(args, output_dir=args.output)
    journal = Path(args.journal).expanduser() if args.journal else settings.data_path / "journal.jsonl"
    if not journal.is_file():
        print(f"Nothing to resume: there is no journal at {journal}.", file=sys.stderr)
        return 0
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    runtime = Runtime(settings=lambda: settings, emit=events.put, journal_path=journal, monitor_health=True)
    try:
        runtime.resume()
        problems = runtime.run(_journal_problems).result(60)  # the job service exists and has taken the jobs up
        if problems:
            print(f"The journal {journal} has damaged lines, skipped: {'; '.join(problems)}", file=sys.stderr)
        ids = list(runtime.resumed)
        if not ids:
            print(f"Nothing to resume: every job in {journal} has finished.", file=sys.stderr)
            return 0
        print(f"Resuming {len(ids)} unfinished job(s) from {journal}", file=sys.stderr)
        finals = _wait(events, set(ids), args.timeout, print_progress)
    except KeyboardInterrupt:
        print("\nStopped; the unfinished jobs stay in the journal: run resume again.", file=sys.stderr)
        return 130
    finally:
        runtime.shutdown(2.0)  # jobs still running are journaled as interrupted: a later resume takes them up
    return _report(ids, finals)


async def _journal_problems(job_service: Any) -> list[str]:
    return list(job_service.journal.problems)


def _wait(events: Any, ids: set[str], timeout: float | None, on_event: Any) -> dict[str, dict[str, Any]]:
    """Print events until every resumed job finished or `timeout` passed; the final snapshot of each finished one."""
    finals: dict[str, dict[str, Any]] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while len(finals) < len(ids) and (deadline is None or time.monotonic() < deadline):
        try:
            event = events.get(timeout=0.1)
        except queue.Empty:
            continue
        on_event(event)
        if event.kind == "state" and event.job_id in ids and event.state in FINISHED_STATES:
            finals[event.job_id] = event.job or {"id": event.job_id, "state": event.state}
    return finals


def _report(ids: list[str], finals: dict[str, dict[str, Any]]) -> int:
    """Output paths on stdout; for the others the same message and hint Blender shows."""
    worst = 0
    for job_id in ids:
        final = finals.get(job_id)
        name = f"{(final or {}).get('task', 'job')} {job_id[:8]}"
        if final is None:
            print(f"{name}: still running; run resume again to collect it.", file=sys.stderr)
            worst = max(worst, 3)
        elif final.get("state") == "done":
            print(f"GenBridge: {name} finished", file=sys.stderr)
            for path in final.get("outputs") or []:
                print(path)
        else:
            error = final.get("error") or {}
            hint = f" {error['hint']}" if error.get("hint") else ""
            print(f"GenBridge: {name}: {error.get('message', final.get('state'))}{hint}", file=sys.stderr)
            worst = max(worst, 1)
    return worst

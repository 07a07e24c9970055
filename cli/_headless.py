"""Run jobs headless: the same Runtime and job service Blender uses, with events printed instead of drawn."""

from __future__ import annotations

import concurrent.futures
import queue
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..runtime import Runtime
from ..runtime.settings import Settings

# The job service gives a remote cancel 10 s (`JobService._cancel_remote`); a little more covers journaling it.
CANCEL_WAIT_S = 12.0


def load_settings(args: Any, **overrides: Any) -> Settings:
    """Settings from --config / env, with per-command overrides such as a --url for one service."""
    settings = Settings.load(getattr(args, "config", None))
    changes = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=changes) if changes else settings


def with_url(settings: Settings, service: str, url: str | None) -> Settings:
    """Replace the endpoints of `service` with one URL (the --url option)."""
    if not url:
        return settings
    from ..runtime.settings import Endpoint

    return settings.model_copy(update={service: [Endpoint.build(service, url, source="--url")]})


def print_progress(event: Any) -> None:
    """A compact progress line on stderr."""
    if event.kind == "progress" and event.progress is not None:
        print(f"\r  {event.job_id[:8]} {event.progress * 100:5.1f}% {event.phase or '':<50}", end="", file=sys.stderr)
    elif event.kind == "state":
        print(f"\r  {event.job_id[:8]} {event.state:<11} {event.phase or '':<50}", file=sys.stderr)
    elif event.kind == "log":
        print(f"\n  {event.job_id[:8]} note: {event.text}", file=sys.stderr)


CANCEL_GRACE_S = 10.0  # after --timeout, how long cancelled jobs get to confirm before the command returns anyway


def _fail_unfinished(handles: list[Any], timeout: float | None) -> None:
    for h in handles:
        if not h.done.done():
            message = f"The job did not finish within the {timeout or 0:g} s timeout and did not confirm its cancel."
            h.done.set_result(
                {
                    "id": h.job_id,
                    "state": "failed",
                    "phase": f"Failed: {message}",
                    "error": {"code": "timeout", "message": message, "hint": "Check the service, then try again."},
                }
            )


class _RepeatFilter:
    """True for a state event that repeats the job's last one (the journal re-records a job with its remote id)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Any, Any]] = {}

    def __call__(self, event: Any) -> bool:
        if getattr(event, "kind", None) != "state":
            return False
        key = (event.state, event.phase)
        if self._last.get(event.job_id) == key:
            return True
        self._last[event.job_id] = key
        return False


def _timed_out(final: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """A job cancelled because --timeout passed says it timed out, not that someone cancelled it."""
    if final.get("state") != "cancelled":
        return final
    message = f"The job timed out: it did not finish within the {timeout or 0:g} s timeout, so it was cancelled."
    hint = "Raise --timeout, or use a lighter model, fewer frames or steps."
    return {**final, "phase": f"Timed out: {message}", "error": {"code": "timeout", "message": message, "hint": hint}}


def run_jobs(
    specs: Iterable[Mapping[str, Any]],
    settings: Settings,
    on_event: Callable[[Any], None] | None = print_progress,
    *,
    timeout: float | None = None,
    client_factory: Any = None,
) -> list[dict[str, Any]]:
    """Submit every spec, deliver events on this thread, return the final snapshots in order."""
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    runtime = Runtime(
        settings=lambda: settings,
        emit=events.put,
        client_factory=client_factory,
        monitor_health=client_factory is None,
        # A command runs its own jobs; jobs left by an earlier interrupted command are not picked up here.
        reattach=False,
    )
    handles = [runtime.submit(spec) for spec in specs]
    repeated = _RepeatFilter()
    deadline = None if timeout is None else time.monotonic() + timeout
    give_up_at: float | None = None
    timed_out = False
    try:
        while not all(h.done.done() for h in handles):
            if deadline is not None and time.monotonic() > deadline:
                for h in handles:
                    h.cancel()
                deadline, give_up_at = None, time.monotonic() + CANCEL_GRACE_S
                timed_out = True
            if give_up_at is not None and time.monotonic() > give_up_at:
                _fail_unfinished(handles, timeout)  # a cancel that never lands must not hang the command
                break
            try:
                event = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if on_event is not None and not repeated(event):
                on_event(event)
        while on_event is not None:
            try:
                event = events.get_nowait()
                if not repeated(event):
                    on_event(event)
            except queue.Empty:
                break
        finals = [h.done.result() for h in handles]
        return [_timed_out(f, timeout) if timed_out else f for f in finals]
    except KeyboardInterrupt:
        for h in handles:
            h.cancel()
        # Shutting down at once would stop the loop before the cancel reaches the server (the job would keep
        # running there): wait, bounded, for each job to end; a second Ctrl-C stops waiting.
        print("\nCancelling on the server (Ctrl-C again to stop waiting)...", file=sys.stderr)
        try:
            concurrent.futures.wait([h.done for h in handles], timeout=CANCEL_WAIT_S)
        except KeyboardInterrupt:
            pass
        raise
    finally:
        runtime.shutdown(2.0)

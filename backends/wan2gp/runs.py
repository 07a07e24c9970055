"""One WanGP job between submit and fetch, and waiting for the server to finish it. Loop thread only.

A job cut short locally (cancelled, timed out) still holds the server until WanGP says it is done; these helpers
learn its job id from a generate call still in flight and poll it to the end within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from ...runtime.errors import GenBridgeError
from .contract import Contract
from .errors import ToolError
from .models import JobSnapshot
from .rpc import McpRpc


@dataclass
class Run:
    """What the client knows about one job between submit and fetch."""

    job_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # job input ("start_image", "end_image") -> local file
    notes: list[str] = field(default_factory=list)
    server_id: str | None = None
    snapshot: JobSnapshot | None = None
    cancel_sent: bool = False
    cancelled_locally: bool = False
    submitting: asyncio.Future[Any] | None = None  # the generate call, shielded so a cancel cannot lose its job id
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def adopt_server_id(run: Run, deadline: float) -> None:
    """Learn the job id of a generate call still in flight when the job was cancelled."""
    if run.server_id is not None or run.submitting is None:
        return
    with contextlib.suppress(GenBridgeError, asyncio.TimeoutError):
        timeout = max(0.0, deadline - time.monotonic())
        reply = await asyncio.wait_for(asyncio.shield(run.submitting), timeout=timeout)
        snapshot = JobSnapshot.model_validate(reply)
        run.server_id, run.snapshot = snapshot.job_id, snapshot
        if snapshot.done:
            run.done.set()


async def poll_until_done(
    rpc: McpRpc, contract: Contract, run: Run, deadline: float, poll_interval: tuple[float, float]
) -> None:
    """Poll the job (no events) until the server says done or `deadline` (monotonic) passes."""
    await adopt_server_id(run, deadline)
    delay = poll_interval[0]
    while run.server_id is not None and not run.done.is_set() and time.monotonic() < deadline:
        snapshot = JobSnapshot.model_validate(await rpc.call_tool(*contract.get_job(run.server_id, 0)))
        run.snapshot = snapshot
        if snapshot.done:
            run.done.set()
            break
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run.done.wait(), timeout=min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, poll_interval[1])


async def server_running_count(rpc: McpRpc, contract: Contract) -> int:
    """Generations started elsewhere (the WanGP UI, other clients): v2 tells us, v1 cannot (0)."""
    call = contract.list_queue()
    if call is None:
        return 0
    try:
        value = await rpc.call_tool(*call)
    except ToolError:
        return 0
    if not isinstance(value, dict):
        return 0
    return int(value.get("running_count", 0) or 0) + int(value.get("queued_count", 0) or 0)

"""What the job service needs from a router, written down: a Protocol, so the service depends on an interface
and not on `routing/` (which depends on the runtime, not the other way round).

`routing.Router` implements it; tests may pass any object that does. Every method runs on the loop thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .backend import ProbeResult
from .jobs import Job, PlanStep
from .settings import Settings


class JobRouter(Protocol):
    """Plans jobs over the endpoints and learns from what happens to them."""

    # -- what the router is told
    def update_settings(self, settings: Settings) -> None:
        """New endpoints or policy; what was learned about unchanged endpoints is kept."""
        ...

    def observe_probe(self, result: ProbeResult) -> None:
        """Health, VRAM and queue depth of one endpoint, from a probe."""
        ...

    def record_success(self, url: str) -> None:
        """A job step succeeded on `url` (closes its breaker)."""
        ...

    def record_failure(self, url: str, exc: BaseException) -> None:
        """A job step failed on `url` (feeds its breaker, or remembers out-of-memory and incompatibility)."""
        ...

    def job_sent(self, job_id: str, url: str) -> None:
        """The job was sent to `url` (load accounting)."""
        ...

    def job_started(self, job_id: str) -> None:
        """The server began running the job: it can no longer be moved."""
        ...

    def job_finished(self, job_id: str, ok: bool) -> None:
        """The job ended; a success teaches its endpoint's speed."""
        ...

    # -- what the router decides
    def plan(self, job: Job) -> list[PlanStep]:
        """The ordered plan for `job` now (first step, then fallbacks)."""
        ...

    async def plan_when_ready(self, job: Job) -> list[PlanStep]:
        """Like `plan`, but may hold the job until its best endpoint has room (late binding in pools)."""
        ...

    def rebalance(self, freed_url: str) -> tuple[str, str] | None:
        """(job id, target URL) of a job waiting on one server that should move to another, if any."""
        ...

    def plan_move(self, job: Job, to_url: str) -> list[PlanStep]:
        """The plan of a job taken back from its server: `to_url` first."""
        ...

    # -- the background health monitor
    def start_health_monitor(self, probe_all: Callable[[], Awaitable[list[ProbeResult]]]) -> None:
        """Probe every endpoint in the background with `probe_all`."""
        ...

    async def stop_health_monitor(self) -> None:
        """Stop the monitor (bounded)."""
        ...

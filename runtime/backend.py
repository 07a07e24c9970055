"""The contract every backend client implements, and the records it exchanges with the job service.

A client is bound to one endpoint and lives on the loop thread; the job service keeps one client per endpoint,
so a ComfyUI server gets one websocket however many jobs run. The lifecycle of a job on a client is:
`validate` (problems before anything is sent) -> `submit` (returns the remote id, journaled at once) ->
`events` (an async iterator that ends when the server says the job is finished, or raises a GenBridgeError)
-> `fetch_outputs` (streams files into the job's output folder). `cancel` may be called at any point.
`reattach` resumes `events` for a job submitted before a restart, from its journaled remote ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .events import BackendEvent
from .jobs import Job, JobErrorInfo
from .settings import Endpoint, Settings


class ProbeResult(BaseModel):
    """What one endpoint told us about itself; `reachable=False` comes with an `error`."""

    model_config = ConfigDict(frozen=True)

    service: str
    url: str
    label: str = ""
    reachable: bool
    version: str = ""
    latency_ms: float | None = None
    device: str = ""  # "cuda", "cpu", "mps"...
    vram_free_gb: float | None = None
    vram_total_gb: float | None = None
    queue_depth: int = 0
    models: dict[str, list[str]] = Field(default_factory=dict)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    error: JobErrorInfo | None = None
    checked_at: float = 0.0


class Problem(BaseModel):
    """A reason a job cannot run as asked, with a fix the UI can offer (e.g. {"frames": 81})."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str
    hint: str = ""
    fix: dict[str, Any] | None = None


@runtime_checkable
class BackendClient(Protocol):
    """One endpoint of one service, driven from the loop thread."""

    service: str
    endpoint: Endpoint

    async def probe(self) -> ProbeResult:
        """Version, capabilities, models, VRAM, health; never raises for an unreachable server."""
        ...

    async def validate(self, job: Job) -> list[Problem]:
        """Everything wrong with the job for this server, found before anything is sent."""
        ...

    async def submit(self, job: Job) -> str:
        """Send the job; return the remote id (also stored in job.remote_ids)."""
        ...

    def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Progress, previews, text; ends when the job is finished on the server, raises GenBridgeError on failure."""
        ...

    async def cancel(self, job: Job) -> None:
        """Stop the job on the server (or in the client-side queue); idempotent."""
        ...

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Stream the job's outputs into `dest` (created), returning the written files."""
        ...

    async def close(self) -> None:
        """Release sockets and sessions."""
        ...


class ClientFactory(Protocol):
    def __call__(self, endpoint: Endpoint, settings: Settings) -> BackendClient: ...

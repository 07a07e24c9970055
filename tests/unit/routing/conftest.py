"""Shared helpers for router tests: settings with pools, probe results, a manual clock, a scripted client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from genbridge.runtime.backend import ProbeResult
from genbridge.runtime.errors import GenBridgeError
from genbridge.runtime.events import BackendProgress
from genbridge.runtime.settings import Settings


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(comfyui: int = 1, wan2gp: int = 1, litellm: int = 1, **extra) -> Settings:
    """Settings with `n` endpoints per service on distinct loopback ports, labelled c0, c1, w0..."""
    data = {
        "comfyui": [{"url": f"http://127.0.0.1:{8188 + i}", "label": f"c{i}"} for i in range(comfyui)],
        "wan2gp": [{"url": f"http://127.0.0.1:{7866 + i}/mcp", "label": f"w{i}"} for i in range(wan2gp)],
        "litellm": [{"url": f"http://127.0.0.1:{4000 + i}", "label": f"l{i}"} for i in range(litellm)],
        **extra,
    }
    return Settings.from_mapping(data)


def probe(
    service: str,
    url: str,
    *,
    reachable: bool = True,
    free: float | None = None,
    total: float | None = None,
    queue: int = 0,
    device: str = "cuda",
) -> ProbeResult:
    return ProbeResult(
        service=service,
        url=url,
        reachable=reachable,
        vram_free_gb=free,
        vram_total_gb=total if total is not None else free,
        queue_depth=queue,
        device=device,
    )


class RoutingScriptedClient:
    """A backend whose submit raises the error scripted for its URL; otherwise the job finishes at once."""

    errors: dict[str, GenBridgeError] = {}

    def __init__(self, endpoint, settings) -> None:
        self.endpoint = endpoint
        self.service = endpoint.service
        self.submitted: list[str] = []

    async def probe(self) -> ProbeResult:
        return ProbeResult(service=self.service, url=self.endpoint.url, reachable=True)

    async def validate(self, job):
        return []

    async def submit(self, job):
        error = self.errors.get(self.endpoint.url)
        if error is not None:
            raise error
        self.submitted.append(job.id)
        return f"remote-{job.id}"

    async def events(self, job):
        await asyncio.sleep(0)
        yield BackendProgress(fraction=0.5, phase="working", running=True)

    async def cancel(self, job):
        pass

    async def fetch_outputs(self, job, dest: Path):
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / "out.txt"
        out.write_text("ok")
        return [out]

    async def close(self):
        pass


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def h():
    """Helpers for tests (importlib mode cannot import conftest): make_settings, probe, ScriptedClient, Clock."""
    from types import SimpleNamespace

    return SimpleNamespace(
        make_settings=make_settings, probe=probe, ScriptedClient=RoutingScriptedClient, Clock=ManualClock
    )

"""A scriptable in-process backend for runtime tests (the real clients are tested against stand-in servers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from genbridge.runtime.backend import ProbeResult, Problem
from genbridge.runtime.errors import GenBridgeError
from genbridge.runtime.events import BackendProgress, BackendText


class ScriptedClient:
    """Behaves per endpoint label: 'fail:<ErrorClass>' raises it on submit, 'slow' never finishes."""

    service = "comfyui"

    def __init__(
        self,
        endpoint,
        settings,
        *,
        steps: int = 3,
        delay: float = 0.0,
        error: GenBridgeError | None = None,
        problems: list[Problem] | None = None,
        hang: bool = False,
    ):
        self.endpoint = endpoint
        self.service = endpoint.service
        self.steps, self.delay, self.error, self.problems, self.hang = steps, delay, error, problems or [], hang
        self.submitted: list[str] = []
        self.cancelled: list[str] = []

    async def probe(self) -> ProbeResult:
        return ProbeResult(service=self.service, url=self.endpoint.url, reachable=True, version="fake")

    async def validate(self, job):
        return list(self.problems)

    async def submit(self, job):
        if self.error is not None:
            raise self.error
        self.submitted.append(job.id)
        return f"remote-{job.id}"

    async def events(self, job):
        if self.hang:
            await asyncio.Event().wait()
        for i in range(self.steps):
            await asyncio.sleep(self.delay)
            yield BackendProgress(fraction=(i + 1) / (self.steps + 1), phase=f"step {i + 1}")
        if job.task == "text":
            yield BackendText(text="hello ")
            yield BackendText(text="world")

    async def cancel(self, job):
        self.cancelled.append(job.id)

    async def fetch_outputs(self, job, dest: Path):
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / "out.txt"
        out.write_text(job.text or "image")
        return [out]

    async def close(self):
        pass


import pytest  # noqa: E402


@pytest.fixture
def scripted():
    """The ScriptedClient class, for client_factory lambdas."""
    return ScriptedClient

"""Shared fixtures: a stand-in WanGP server per contract and a client bound to it (fast polling)."""

from __future__ import annotations

import pytest
from genbridge.backends.wan2gp import Wan2GPClient
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn

CONTRACTS = [("v1", True), ("v1-late", True), ("v2", True), ("v2", False)]


def make_client(url: str, tmp_path, key: str | None = None) -> Wan2GPClient:
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    client = Wan2GPClient(Endpoint(service="wan2gp", url=url, key=key), settings)
    client.poll_interval = (0.02, 0.1)
    client.cancel_wait_s = 10.0
    return client


def video_job(**inputs) -> Job:
    return Job(task="video", inputs={"model": "t2v", "prompt": "a paper boat", "steps": 4, **inputs})


@pytest.fixture(params=CONTRACTS, ids=["v1", "v1-late", "v2-async", "v2-sync"])
async def server(request, tmp_path):
    contract, async_generate = request.param
    standin = Wan2GPStandIn(
        contract=contract, async_generate=async_generate, output_dir=tmp_path / "wan2gp", step_delay=0.01
    )
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def client(server, tmp_path):
    c = make_client(server.url, tmp_path)
    yield c
    await c.close()


@pytest.fixture
def new_client(tmp_path):
    """Factory: a client for any URL (closed by the test)."""
    return lambda url, key=None: make_client(url, tmp_path, key)


@pytest.fixture
def job_factory():
    """Factory: a t2v video job with overrides."""
    return video_job

"""Fixtures: a stand-in ComfyUI in the test's loop (once per server version) and a client with small timeouts."""

from __future__ import annotations

import pytest
from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.comfyui import ComfyUIStandIn

# Every behavioural test runs against both server generations people use: the captured 0.3.64 and 0.38.
STANDIN_VERSIONS = ["0.3.64", "0.38"]


@pytest.fixture(params=STANDIN_VERSIONS)
async def server(request, tmp_path):
    async with ComfyUIStandIn(root=tmp_path / "comfy", version=request.param) as s:
        yield s


@pytest.fixture
def settings(tmp_path):
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        # connect 3 s: a websocket handshake on the loaded 2-core CI machine once took over 1 s (a false failure
        # of a re-attach test); the fault tests that need a quick failure get refused connections, not slow ones.
        timeouts=Timeouts(connect=3.0, request=2.0, silence=2.0, download=10.0),
    )


@pytest.fixture
async def client(server, settings):
    c = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)
    yield c
    await c.close()


def basic_graph(color: int = 0, prefix: str = "blender_test/basic", batch: int = 2) -> dict:
    """EmptyImage 64x64 -> SaveImage, as in 02_basic_success."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": batch, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


async def run_job(client, job: Job, dest):
    """submit -> events -> fetch_outputs, like the job service; returns (events, paths)."""
    await client.submit(job)
    events = [ev async for ev in client.events(job)]
    paths = await client.fetch_outputs(job, dest)
    return events, paths


@pytest.fixture
def helpers():
    class H:
        graph = staticmethod(basic_graph)
        run = staticmethod(run_job)

    return H

"""The real comfy-api-proxy (pinned 0.1.6, a subprocess on 127.0.0.1) in front of a 0.38 ComfyUI stand-in (its
atomic cancel is what the proxy calls), once per test module; clients with small timeouts."""

from __future__ import annotations

import pytest
from genbridge.backends.comfyui_v2 import ComfyAPIv2Client
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.comfy_api_proxy import ProxyProcess, ThreadedStandIn
from genbridge.standins.comfyui import bundled_models

TOKEN = "v2-test-token-5c1f"


@pytest.fixture(scope="module")
def standin():
    s = ThreadedStandIn(node_delay=0.02, step_delay=0.01, models=bundled_models()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def proxy(standin):
    p = ProxyProcess(standin.url, token=TOKEN).start()
    yield p
    p.stop()


@pytest.fixture
def settings(tmp_path):
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        timeouts=Timeouts(connect=2.0, request=5.0, silence=5.0, download=20.0),
    )


def endpoint(proxy, key: str | None = TOKEN, **kw) -> Endpoint:
    return Endpoint(service="comfyui", url=proxy.url, kind="api_v2", key=key, **kw)


@pytest.fixture
async def client(proxy, settings):
    c = ComfyAPIv2Client(endpoint(proxy), settings)
    c.poll_s, c.stream_check_s = 0.05, 0.5
    yield c
    await c.close()


def basic_graph(prefix: str = "v2/basic", batch: int = 2) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": batch, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def sampler_graph(steps: int = 6, prefix: str = "v2/sampled") -> dict:
    """A KSampler (per-step progress and binary previews in the stand-in) feeding a SaveImage."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


async def submit(client, job: Job) -> str:
    """What the job service does: send, then keep the server's id under this endpoint."""
    remote = await client.submit(job)
    job.remote_ids[client.endpoint.url] = remote
    return remote


async def run_job(client, job: Job, dest):
    await submit(client, job)
    events = [ev async for ev in client.events(job)]
    paths = await client.fetch_outputs(job, dest)
    return events, paths

"""The stand-in's binary frames and download faults: sampler previews (type 1 without feature flags, type 4 with
them, in the captured orders), SaveImageWebsocket images, a 13 MB frame, and `/view` cut mid-body."""

from __future__ import annotations

import asyncio
import struct

import aiohttp
import pytest
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.standins.comfyui.wire import preview_metadata, run_prompt, sampler_graph

pytestmark = pytest.mark.timeout(60)

MODELS = {"checkpoints": ["m.safetensors"]}
SAMPLER = sampler_graph("m.safetensors", steps=3)
WEBSOCKET = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 3, "color": 255}},
    "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
}
VERSIONS = ["0.3.64", "0.38"]


@pytest.fixture(params=VERSIONS)
async def sampler_server(request, tmp_path):
    async with ComfyUIStandIn(root=tmp_path / "comfy", version=request.param, models=MODELS) as s:
        yield s


def _around_binary(order: list[str]) -> list[tuple[str, str]]:
    i = order.index(next(o for o in order if o.startswith("binary")))
    return [(order[i - 1], order[i + 1])]


async def test_sampler_steps_send_type_1_previews_after_progress_without_feature_flags(sampler_server):
    _, frames = await run_prompt(sampler_server.url, SAMPLER)
    assert len(frames.binary) == 3
    assert all(struct.unpack(">II", f[:8]) == (1, 2) and f[8:16] == b"\x89PNG\r\n\x1a\n" for f in frames.binary)
    assert _around_binary(frames.order) == [("text:progress", "text:progress_state")]
    assert [p["value"] for p in frames.of("progress")] == [1, 2, 3]


async def test_sampler_steps_send_type_4_previews_naming_the_prompt_with_feature_flags(sampler_server):
    pid, frames = await run_prompt(sampler_server.url, SAMPLER, flags=True)
    assert len(frames.binary) == 3
    meta, image = preview_metadata(frames.binary[0])
    assert meta == {
        "node_id": "4",
        "prompt_id": pid,
        "display_node_id": "4",
        "parent_node_id": None,
        "real_node_id": "4",
        "image_type": "image/png",
    }
    assert image.startswith(b"\x89PNG")
    assert _around_binary(frames.order) == [("text:progress_state", "text:progress")]


async def test_websocket_saver_sends_each_image_as_a_frame_and_has_no_outputs(server):
    pid, frames = await run_prompt(server.url, WEBSOCKET)
    assert len(frames.binary) == 3 and not frames.of("executed")
    assert [p["value"] for p in frames.of("progress")] == [0, 1, 2]
    assert server.history[pid]["outputs"] == {}


async def test_get_image_size_broadcasts_a_text_frame_to_every_socket(server):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 40, "height": 30, "batch_size": 3, "color": 77}},
        "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    _, frames = await run_prompt(server.url, graph)
    (frame,) = frames.binary
    assert frame == struct.pack(">II", 3, 1) + b"2" + b"width: 40, height: 30\n batch size: 3"  # capture 16
    assert frames.of("executed")[0]["output"] == {"text": ["40"]}


async def test_one_large_frame_is_sent_whole(server):
    server.faults.large_frame_bytes = 13_000_000
    _, frames = await run_prompt(server.url, WEBSOCKET, flags=True)
    sizes = sorted(len(f) for f in frames.binary)
    assert sizes[-1] >= 13_000_000 and sizes[0] < 100_000  # only the next frame is large


async def test_previews_can_be_switched_off_per_prompt_on_0_38(sampler_server):
    _, frames = await run_prompt(sampler_server.url, SAMPLER, extra={"extra_data": {"preview_method": "none"}})
    assert (len(frames.binary) == 0) is sampler_server.v038


async def _fetch(url: str, params: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, params=params, headers=headers or {}) as resp:
        return resp.status, await resp.read()


async def test_view_download_can_be_cut_and_resumed_with_range(server):
    data = bytes(range(256)) * 1000
    (server.output_dir / "big.bin").write_bytes(data)
    params = {"filename": "big.bin", "subfolder": "", "type": "output"}
    server.faults.cut_view_after, server.faults.cut_view_times = 1000, 1
    with pytest.raises(aiohttp.ClientPayloadError):
        await _fetch(f"{server.url}/view", params)
    assert server.faults.cut_view_after is None  # one cut, then healthy again
    status, rest = await _fetch(f"{server.url}/view", params, {"Range": "bytes=1000-"})
    assert status == 206 and data[:1000] + rest == data


async def test_the_clients_downloads_resume_through_real_cuts(server, client, helpers, tmp_path):
    from genbridge.runtime.jobs import Job

    server.faults.cut_view_after, server.faults.cut_view_times = 100, 2  # each PNG is a few hundred bytes
    job = Job(task="image", inputs={"workflow": helpers.graph(color=77, prefix="cut/img")})
    _, paths = await helpers.run(client, job, tmp_path / "dest")
    assert [p.name for p in paths] == ["img_00001_.png", "img_00002_.png"]
    assert all(p.read_bytes() == (server.output_dir / "cut" / p.name).read_bytes() for p in paths)
    assert server.faults.cut_view_times == 0 and sum(1 for _, p in server.requests if p == "/view") >= 4


async def test_an_interrupt_during_sampling_stops_inside_the_sampler(sampler_server):
    sampler_server.step_delay = 0.05
    task = asyncio.create_task(run_prompt(sampler_server.url, sampler_graph("m.safetensors", steps=40)))
    while sampler_server.running_node != "4":
        await asyncio.sleep(0.01)
    async with aiohttp.ClientSession() as http, http.post(f"{sampler_server.url}/interrupt", json={}) as resp:
        assert resp.status == 200
    _, frames = await task
    (stopped,) = frames.of("execution_interrupted")
    assert stopped["node_id"] == "4" and sorted(stopped["executed"]) == ["1", "2", "3"]
    assert len(frames.of("progress")) < 40

"""The stand-in's 0.38 mode, per `protocols/comfyui-0.38.md`: jobs API, UUID prompt ids, bearer token,
Fetch-Metadata guard, intermediate and 3D outputs, the dynamic SaveVideo schema, feature flags, `activity`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.standins.comfyui.wire import run_prompt

pytestmark = pytest.mark.timeout(30)

BASIC = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "gb/basic"}},
}


@pytest.fixture
async def new(tmp_path):
    async with ComfyUIStandIn(root=tmp_path / "comfy", version="0.38") as s:
        yield s


async def _get(url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body


async def _post(url: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, json=body, **kw) as resp:
        out = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, out


async def _until_running(server: ComfyUIStandIn, pid: str) -> None:
    while not (server.running and server.running[1] == pid):
        await asyncio.sleep(0.01)


def _graph(color: int) -> dict[str, Any]:
    graph = json.loads(json.dumps(BASIC))
    graph["1"]["inputs"]["color"] = color
    return graph


async def test_jobs_api_is_a_bare_404_on_0_3_64_and_paginated_on_0_38(server):
    status, body = await _get(f"{server.url}/api/jobs?limit=1")
    if not server.v038:
        assert (status, body) == (404, b"")
        return
    assert status == 200 and body == {
        "jobs": [],
        "pagination": {"offset": 0, "limit": 1, "total": 0, "has_more": False},
    }


async def test_a_job_is_pending_then_completed_with_its_outputs_and_unknown_ids_are_404(new):
    new.node_delay = 0.5  # the first job holds the worker while the second waits
    first = (await _post(f"{new.url}/prompt", {"prompt": _graph(1)}))[1]["prompt_id"]
    second = (await _post(f"{new.url}/prompt", {"prompt": _graph(2)}))[1]["prompt_id"]
    await _until_running(new, first)
    assert (await _get(f"{new.url}/api/jobs/{first}"))[1]["status"] == "in_progress"
    assert (await _get(f"{new.url}/api/jobs/{second}"))[1]["status"] == "pending"
    for _ in range(100):
        _, job = await _get(f"{new.url}/api/jobs/{second}")
        if job["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert job["outputs"]["2"]["images"][0]["type"] == "output" and job["outputs_count"] == 1
    assert job["preview_output"]["filename"] == job["outputs"]["2"]["images"][0]["filename"]
    assert job["workflow"]["prompt"]["1"]["inputs"]["color"] == 2 and job["execution_status"]["status_str"] == "success"
    assert await _get(f"{new.url}/api/jobs/{uuid.uuid4()}") == (404, {"error": "Job not found"})
    _, listing = await _get(f"{new.url}/api/jobs?status=completed&sort_order=asc")
    assert [j["id"] for j in listing["jobs"]] == [first, second] and listing["pagination"]["total"] == 2
    assert (await _get(f"{new.url}/api/jobs?status=done"))[0] == 400


async def test_cancel_dequeues_a_pending_job_interrupts_a_running_one_and_ignores_finished_ones(new):
    new.node_delay = 1.0  # long enough that the running job is still running when it is cancelled
    running = (await _post(f"{new.url}/prompt", {"prompt": _graph(3)}))[1]["prompt_id"]
    pending = (await _post(f"{new.url}/prompt", {"prompt": _graph(4)}))[1]["prompt_id"]
    await _until_running(new, running)
    assert await _post(f"{new.url}/api/jobs/{pending}/cancel") == (200, {"cancelled": True})
    assert pending not in {item[1] for item in new.queue}
    assert await _post(f"{new.url}/api/jobs/{running}/cancel") == (200, {"cancelled": True})
    for _ in range(100):
        if running in new.history:
            break
        await asyncio.sleep(0.05)
    assert (await _get(f"{new.url}/api/jobs/{running}"))[1]["status"] == "cancelled"
    assert await _post(f"{new.url}/api/jobs/{running}/cancel") == (200, {"cancelled": False})
    assert (await _post(f"{new.url}/api/jobs/cancel", {"job_ids": ["not-a-uuid"]}))[0] == 400


@pytest.mark.parametrize("bad", ["abc", "3E18A0C2-0000-4000-8000-000000000000", uuid.uuid4().hex, 12])
async def test_a_non_canonical_prompt_id_is_refused_only_by_0_38(server, bad):
    status, body = await _post(f"{server.url}/prompt", {"prompt": BASIC, "prompt_id": bad})
    if server.v038:
        assert status == 400 and body["error"]["type"] == "invalid_prompt_id" and body["node_errors"] == {}
        assert body["error"]["message"] == "prompt_id must be a valid UUID"
    else:
        assert status == 200 and body["prompt_id"] == str(bad)  # 0.3.64 stores any value as str(value)


async def test_a_null_prompt_id_gets_a_fresh_uuid(new):
    status, body = await _post(f"{new.url}/prompt", {"prompt": BASIC, "prompt_id": None})
    assert status == 200 and str(uuid.UUID(body["prompt_id"])) == body["prompt_id"]


async def test_bearer_token_guards_http_and_the_websocket_handshake(tmp_path):
    async with ComfyUIStandIn(root=tmp_path / "c", version="0.38", token="s3cret") as server:
        status, body = await _get(f"{server.url}/system_stats")
        assert status == 401 and "error" in body
        assert (await _get(f"{server.url}/system_stats", headers={"Authorization": "Bearer wrong"}))[0] == 401
        assert (await _get(f"{server.url}/system_stats", headers={"Authorization": "Bearer s3cret"}))[0] == 200
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(f"{server.url}/ws?clientId=a")
            assert info.value.status == 401
            async with http.ws_connect(f"{server.url}/ws?clientId=b", headers={"Authorization": "Bearer s3cret"}) as ws:
                assert (await ws.receive_json())["type"] == "status"
            async with http.ws_connect(f"{server.url}/ws?clientId=c&token=s3cret") as ws:
                assert (await ws.receive_json())["type"] == "status"
        _, frames = await run_prompt(server.url, BASIC, headers={"Authorization": "Bearer s3cret"})
        assert frames.of("execution_success")


async def test_cross_site_fetch_metadata_is_refused_by_0_38_only(server):
    status, _ = await _get(f"{server.url}/system_stats", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == (403 if server.v038 else 200)


async def test_an_options_preflight_gets_an_empty_200_on_any_route(server):
    async with aiohttp.ClientSession() as http, http.options(f"{server.url}/prompt") as resp:
        assert (resp.status, await resp.read()) == (200, b"")


async def test_feature_flags_reply_lists_the_newer_flags_on_0_38(server):
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.url}/ws?clientId=f") as ws:
        await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        assert (await ws.receive_json())["type"] == "status"
        reply = await ws.receive_json()
    assert reply["type"] == "feature_flags" and reply["data"]["max_upload_size"] == server.max_upload_size
    assert ("supports_model_type_tags" in reply["data"]) is server.v038


VIDEO = {
    "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
    "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
    "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
}


async def test_loadvideo_shows_its_input_as_an_intermediate_output_also_when_cached(server):
    (server.dirs["input"] / "clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    pid, frames = await run_prompt(server.url, VIDEO)
    nodes = [e["node"] for e in frames.of("executed")]
    outputs = server.history[pid]["outputs"]
    if not server.v038:
        assert nodes == ["3"] and set(outputs) == {"3"}
        return
    item = {"filename": "clip.mp4", "subfolder": "", "type": "input"}
    assert nodes == ["1", "3"] and outputs["1"] == {"images": [item], "animated": [True]}
    pid, frames = await run_prompt(server.url, VIDEO)  # fully cached: LoadVideo is replayed before success
    order = [t for t, _ in frames.texts]
    assert [e["node"] for e in frames.of("executed")][-1] == "1"
    assert order.index("execution_success") > max(i for i, t in enumerate(order) if t == "executed")
    assert "1" in server.history[pid]["outputs"]


MESH = {
    "1": {"class_type": "EmptyLatentHunyuan3Dv2", "inputs": {"resolution": 64, "batch_size": 1}},
    "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
    "3": {
        "class_type": "VAEDecodeHunyuan3D",
        "inputs": {"samples": ["1", 0], "vae": ["2", 0], "num_chunks": 8000, "octree_resolution": 16},
    },
    "4": {"class_type": "VoxelToMeshBasic", "inputs": {"voxel": ["3", 0], "threshold": 0.6}},
    "5": {"class_type": "SaveGLB", "inputs": {"mesh": ["4", 0], "filename_prefix": "mesh/gb"}},
}


async def test_a_3d_saver_reports_3d_items_and_on_0_38_a_result_string(server):
    pid, _ = await run_prompt(server.url, MESH)
    ui = server.history[pid]["outputs"]["5"]
    (item,) = ui["3d"]
    assert {k: item[k] for k in ("filename", "subfolder", "type")} == {
        "filename": "gb_00001_.glb",
        "subfolder": "mesh",
        "type": "output",
    }
    assert ("id" in item and "preview_id" in item) is server.v038  # 0.38's assets system tags saved files
    assert (server.output_dir / "mesh" / "gb_00001_.glb").is_file()
    assert ui.get("result") == (["mesh/gb_00001_.glb [output]"] if server.v038 else None)


def _save_video(**format_inputs: Any) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8.0}},
        "3": {"class_type": "SaveVideo", "inputs": {"video": ["2", 0], "filename_prefix": "v/clip", **format_inputs}},
    }


async def test_savevideo_schema_is_dynamic_on_0_38_and_validates_dotted_sub_inputs(server):
    _, info = await _get(f"{server.url}/object_info/SaveVideo")
    spec = info["SaveVideo"]["input"]["required"]["format"]
    flat = await _post(f"{server.url}/prompt", {"prompt": _save_video(format="mp4", codec="h264")})
    assert flat[0] == 200  # the 0.3.x flat form stays valid on both
    if not server.v038:
        assert spec[0] == "COMBO"
        return
    assert spec[0] == "COMFY_DYNAMICCOMBO_V3" and [o["key"] for o in spec[1]["options"]][:2] == ["auto", "mp4"]
    assert (await _post(f"{server.url}/prompt", {"prompt": _save_video(**{"format": "mp4", "format.codec": "av1"})}))[
        0
    ] == 200
    status, body = await _post(
        f"{server.url}/prompt", {"prompt": _save_video(**{"format": "mp4", "format.codec": "x"})}
    )
    assert status == 400 and body["node_errors"]["3"]["errors"][0]["extra_info"]["input_name"] == "format.codec"
    status, body = await _post(f"{server.url}/prompt", {"prompt": _save_video(format="mp4")})
    assert status == 400 and body["node_errors"]["3"]["errors"][0]["type"] == "required_input_missing"
    status, body = await _post(f"{server.url}/prompt", {"prompt": _save_video(format="mov")})
    assert status == 400 and body["node_errors"]["3"]["errors"][0]["type"] == "value_not_in_list"


async def test_a_loader_reports_its_loading_activity_on_0_38(tmp_path):
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    for version in ("0.3.64", "0.38"):
        models = {"checkpoints": ["m.safetensors"]}
        async with ComfyUIStandIn(root=tmp_path / version, version=version, models=models) as server:
            _, frames = await run_prompt(server.url, graph)
        activity = [n.get("activity") for s in frames.of("progress_state") for n in s["nodes"].values()]
        assert ("loading" in activity) is (version == "0.38")


async def test_0_38_describes_uploads_as_assets_and_marks_view_nosniff(server):
    form = aiohttp.FormData()
    form.add_field("image", b"\x89PNG\r\n\x1a\nbytes", filename="up.png", content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/upload/image", data=form) as resp:
            reply = await resp.json()
        async with http.get(f"{server.url}/view", params={"filename": "up.png", "type": "input"}) as resp:
            sniff = resp.headers.get("X-Content-Type-Options")
    assert {k: reply[k] for k in ("name", "subfolder", "type")} == {"name": "up.png", "subfolder": "", "type": "input"}
    if server.v038:
        assert reply["asset"]["size"] == 13 and reply["asset"]["mime_type"] == "image/png"
        assert sniff == "nosniff"
    else:
        assert "asset" not in reply and sniff is None

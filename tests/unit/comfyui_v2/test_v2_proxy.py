"""The Comfy API v2 client against the real comfy-api-proxy 0.1.6 in front of the 0.38 ComfyUI stand-in."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from genbridge.backends.comfyui_v2 import ComfyAPIv2Client
from genbridge.runtime.errors import AuthError, Cancelled, RejectedInput
from genbridge.runtime.events import BackendLog, BackendPreview, BackendProgress
from genbridge.runtime.jobs import Job
from genbridge.standins.placeholder import placeholder_png

from .conftest import TOKEN, basic_graph, endpoint, run_job, sampler_graph, submit


async def test_a_job_runs_with_progress_over_sse_and_its_outputs_are_downloaded(client, standin, tmp_path):
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=200)})
    events, paths = await run_job(client, job, tmp_path / "out")
    progress = [e for e in events if isinstance(e, BackendProgress)]
    assert any("step" in e.phase for e in progress), "live step progress comes from the SSE stream"
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(
        isinstance(e, BackendLog) and "Pre-flight is not available on this endpoint" in e.message for e in events
    )
    assert [p.name for p in paths] == ["sampled_00001_.png"]
    remote = job.remote_ids[client.endpoint.url]
    saved = standin.server.dirs["output"] / "v2" / "sampled_00001_.png"
    assert paths[0].read_bytes() == saved.read_bytes()
    assert standin.server.history[remote]["prompt"][1] == remote  # the proxy's job id is ComfyUI's prompt id


async def test_step_previews_arrive_as_files(client, tmp_path):
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=150, prefix="v2/previewed")})
    events, _ = await run_job(client, job, tmp_path / "out")
    previews = [e for e in events if isinstance(e, BackendPreview)]
    assert previews, "the stand-in sends a preview per step; the proxy forwards about two a second"
    data = open(previews[-1].path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff"


async def test_two_outputs_with_the_same_name_get_distinct_local_files(client, tmp_path):
    dest = tmp_path / "out"
    job = Job(task="image", inputs={"workflow": basic_graph(prefix="v2/same", batch=2)})
    _, paths = await run_job(client, job, dest)
    assert len({p.name for p in paths}) == 2 and all(p.parent == dest for p in paths)


async def test_cancel_stops_the_job_on_comfyui(client, standin, tmp_path):
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=400, prefix="v2/cancelled")})
    remote = await submit(client, job)
    with pytest.raises(Cancelled) as info:
        async for event in client.events(job):
            if isinstance(event, BackendProgress) and event.running and "step" in event.phase:
                await client.cancel(job)
    assert info.value.remote_id == remote and client.endpoint.url in info.value.endpoint
    status = standin.server.history[remote]["status"]
    assert any(m[0] == "execution_interrupted" for m in status["messages"])
    await client.cancel(job)  # idempotent


async def test_an_uploaded_image_is_deduplicated_by_its_blake3_hash(client, standin, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(placeholder_png(f"v2 dedupe {tmp_path.name}", 8, 8))
    graph = {
        "10": {"class_type": "LoadImage", "inputs": {"image": str(photo)}},
        "11": {"class_type": "ImageInvert", "inputs": {"image": ["10", 0]}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "v2/inv"}},
    }
    uploads_before = standin.server.requests.count(("POST", "/upload/image"))
    first = Job(task="image", inputs={"workflow": json.loads(json.dumps(graph))})
    events1, _ = await run_job(client, first, tmp_path / "out1")
    second = Job(task="image", inputs={"workflow": json.loads(json.dumps(graph))})
    events2, paths = await run_job(client, second, tmp_path / "out2")
    assert standin.server.requests.count(("POST", "/upload/image")) == uploads_before + 1
    assert not any("already has these bytes" in getattr(e, "message", "") for e in events1)
    assert any("already has these bytes" in getattr(e, "message", "") for e in events2)
    sent = standin.server.history[second.remote_ids[client.endpoint.url]]["prompt"][2]["10"]["inputs"]["image"]
    assert (standin.server.dirs["input"] / sent).read_bytes() == photo.read_bytes() and paths


async def test_without_the_blake3_module_the_image_is_just_uploaded(client, standin, tmp_path, monkeypatch):
    from genbridge.backends.comfyui_v2 import assets

    monkeypatch.setattr(assets, "blake3_hash", lambda path: None)
    photo = tmp_path / "photo.png"
    photo.write_bytes(placeholder_png(f"v2 nohash {tmp_path.name}", 8, 8))
    graph = {
        "10": {"class_type": "LoadImage", "inputs": {"image": str(photo)}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "v2/nohash"}},
    }
    before = standin.server.requests.count(("POST", "/upload/image"))
    _, paths = await run_job(client, Job(task="image", inputs={"workflow": graph}), tmp_path / "out")
    assert standin.server.requests.count(("POST", "/upload/image")) == before + 1 and paths


async def test_too_many_streams_falls_back_to_polling_and_still_finishes(client, proxy, tmp_path):
    # A long job, queued behind ours, whose streams fill the proxy's 8 slots (the limit is per proxy, not per job).
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=100, prefix="v2/polled")})
    await submit(client, job)
    blocker = Job(task="image", inputs={"workflow": sampler_graph(steps=5000, prefix="v2/blocker")})
    blocker_id = await submit(client, blocker)
    url = f"{proxy.url}/api/v2/jobs/{blocker_id}/events"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        held = []
        try:
            for _ in range(9):  # the proxy allows 8 concurrent streams (earlier tests' may still be closing)
                refused = await session.get(url, headers=headers)
                if refused.status == 429:
                    break
                await refused.content.readline()
                held.append(refused)
            assert refused.status == 429 and refused.headers["Retry-After"] == "5"
            assert (await refused.json())["error"]["code"] == "too_many_streams"
            events = [e async for e in client.events(job)]
        finally:
            for resp in held:
                resp.close()
            await client.cancel(blocker)
    note = [e.message for e in events if isinstance(e, BackendLog) and "too many live streams" in e.message]
    assert note and "again in 5 s" in note[0]
    assert isinstance(events[-1], BackendProgress) and events[-1].fraction == 1.0
    assert await client.fetch_outputs(job, tmp_path / "out")


@pytest.mark.parametrize("key", [None, "wrong-token-123"])
async def test_the_proxy_token_is_required_and_a_wrong_one_refused(proxy, settings, key):
    c = ComfyAPIv2Client(endpoint(proxy, key=key), settings)
    try:
        probe = await c.probe()
        assert not probe.reachable and probe.error is not None and probe.error.code == "auth"
        assert "Set the endpoint's key" in probe.error.hint
        with pytest.raises(AuthError) as info:
            await c.submit(Job(task="image", inputs={"workflow": basic_graph()}))
        assert "Comfy API v2 at http://127.0.0.1" in info.value.message
        assert TOKEN not in str(info.value) and (key is None or key not in str(info.value))
    finally:
        await c.close()


async def test_a_good_token_probes_healthy(client):
    probe = await client.probe()
    assert probe.reachable and probe.capabilities["api"] == "v2" and probe.capabilities["preflight"] is False


async def test_a_workflow_comfyui_rejects_names_the_node(client):
    graph = basic_graph()
    graph["1"]["inputs"]["width"] = "wide"
    with pytest.raises(RejectedInput) as info:
        await client.submit(Job(task="image", inputs={"workflow": graph}))
    assert "rejected the workflow" in info.value.message and "node 1" in info.value.message


async def test_a_job_is_reattached_by_a_new_client_after_a_restart(proxy, settings, standin, tmp_path):
    first = ComfyAPIv2Client(endpoint(proxy), settings)
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=60, prefix="v2/reattached")})
    remote = await submit(first, job)
    await first.close()  # Blender quits; the job goes on on the server
    second = ComfyAPIv2Client(endpoint(proxy), settings)
    second.poll_s = 0.05
    try:
        await second.reattach(job)
        events = [e async for e in second.events(job)]
        paths = await second.fetch_outputs(job, tmp_path / "out")
    finally:
        await second.close()
    assert any(isinstance(e, BackendLog) and "still has this job" in e.message for e in events)
    assert [p.name for p in paths] == ["reattached_00001_.png"]
    assert standin.server.history[remote]["prompt"][1] == remote


async def test_reattaching_a_job_the_server_does_not_know_says_generate_again(client):
    job = Job(task="image", inputs={"workflow": basic_graph()})
    job.remote_ids[client.endpoint.url] = "0b6f3f9e-4a7e-4f55-9d4c-0c6f1f0a9b11"
    with pytest.raises(Exception) as info:
        await client.reattach(job)
    assert "no longer knows this job" in str(info.value) and "Retry" in info.value.hint


async def test_the_partner_key_reaches_comfyui_but_never_the_job_record(proxy, settings, standin, tmp_path):
    partner = "comfy-org-partner-key-9f2e"
    c = ComfyAPIv2Client(endpoint(proxy, partner_key=partner), settings)
    c.poll_s = 0.05
    try:
        job = Job(task="image", inputs={"workflow": basic_graph(prefix="v2/partner")})
        events, _ = await run_job(c, job, tmp_path / "out")
    finally:
        await c.close()
    remote = job.remote_ids[c.endpoint.url]
    assert standin.server.history[remote]["prompt"][3]["api_key_comfy_org"] == partner
    assert partner not in job.model_dump_json() and partner not in json.dumps([e.model_dump() for e in events])


async def test_an_online_endpoint_needs_online_access(settings):
    from genbridge.runtime.errors import OnlineAccessRefused

    c = ComfyAPIv2Client(
        __import__("genbridge.runtime.settings", fromlist=["Endpoint"]).Endpoint(
            service="comfyui", url="https://cloud.comfy.org", kind="api_v2", key="k-123456"
        ),
        settings,
    )
    try:
        probe = await c.probe()
        assert not probe.reachable and probe.error is not None and probe.error.code == OnlineAccessRefused.code
        with pytest.raises(OnlineAccessRefused):
            await asyncio.wait_for(c.submit(Job(task="image", inputs={"workflow": basic_graph()})), 5)
    finally:
        await c.close()

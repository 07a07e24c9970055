"""The storyboard's keyframes while the local ComfyUI is busy: with api_v2_use = "when_local_busy" they go to the
Comfy API v2 endpoint (the real comfy-api-proxy), run there end to end through the job service, and each plan
says why."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

from genbridge import storyboard as sb
from genbridge.backends.comfyui import ComfyUIClient
from genbridge.routing import Router
from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService
from genbridge.runtime.settings import Settings, Timeouts
from genbridge.standins.comfy_api_proxy import ThreadedStandIn
from genbridge.standins.comfyui import bundled_models
from genbridge.standins.litellm_proxy import MOCK_SHOTLIST

from .conftest import TOKEN, sampler_graph


async def test_keyframes_go_to_v2_while_the_local_comfyui_is_busy(proxy, tmp_path):
    local = ThreadedStandIn(node_delay=0.02, step_delay=0.01, models=bundled_models()).start()
    try:
        # Someone else's long job keeps the local ComfyUI busy.
        foreign = str(uuid.uuid4())
        body = json.dumps({"prompt": sampler_graph(steps=3000, prefix="foreign/long"), "prompt_id": foreign})
        req = urllib.request.Request(f"{local.url}/prompt", body.encode(), {"Content-Type": "application/json"})
        await asyncio.to_thread(urllib.request.urlopen, req, None, 5)
        settings = Settings.from_mapping(
            {
                "comfyui": [
                    {"url": local.url, "label": "workstation"},
                    {"url": proxy.url, "label": "proxy", "kind": "api_v2", "key": TOKEN},
                ],
                "wan2gp": [],
                "output_dir": str(tmp_path / "out"),
                "data_dir": str(tmp_path / "data"),
            }
        )
        settings = settings.model_copy(update={"timeouts": Timeouts(connect=2, request=5, silence=5, download=20)})
        router = Router(settings)
        native = ComfyUIClient(settings.comfyui[0], settings)
        router.observe_probe(await native.probe())  # what the health monitor would tell it: one job running
        await native.close()
        shots = sb.shots_from_shotlist(json.loads(MOCK_SHOTLIST), sb.StoryboardOptions(fps=24, start_frame=1))
        specs = [s for s in sb.plan_storyboard(shots, group="g", scene="S") if s["task"] == "keyframe"]
        service = JobService(settings, lambda e: None, Journal(tmp_path / "journal.jsonl"), router=router)
        jobs = [Job.model_validate(spec) for spec in specs]
        for job in jobs:
            job.inputs["steps"] = 4  # small and quick; the routing is what is tested
            service.submit(job)
        tasks = [service._tasks[j.id] for j in jobs]
        await asyncio.wait(tasks, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        # The other user's job ends (they cancel it): keyframes queued locally behind it may run now.
        cancel = urllib.request.Request(f"{local.url}/api/jobs/{foreign}/cancel", b"", method="POST")
        await asyncio.to_thread(urllib.request.urlopen, cancel, None, 5)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        await service.shutdown()
    finally:
        local.stop()
    assert [j.state for j in jobs] == [JobState.DONE] * len(jobs), [j.error for j in jobs]
    assert all(j.outputs for j in jobs)
    on_v2 = [j for j in jobs if j.instance == proxy.url]
    assert on_v2, [j.plan[0].reason for j in jobs]
    first = on_v2[0]
    assert first.plan[0].label == "Comfy API v2 at proxy"
    assert 'Comfy API v2 allowed: every local ComfyUI is busy (api_v2_use = "when_local_busy")' in first.plan[0].reason
    journaled = service.journal.latest()[first.id]
    assert journaled["remote_ids"][proxy.url] and TOKEN not in (tmp_path / "journal.jsonl").read_text()

"""Through the job service: a job on the Comfy API v2 endpoint is journaled with the server's id, survives a
restart of GenBridge (a new service reading the journal follows it on the proxy) and its outputs arrive."""

from __future__ import annotations

import asyncio

from genbridge.routing import Router
from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService
from genbridge.runtime.settings import Settings, Timeouts

from .conftest import TOKEN, sampler_graph


async def _until(predicate, timeout: float = 30.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def _v2_only(url: str, tmp_path) -> Settings:
    """Settings with the proxy as the only endpoint of any service, and short timeouts."""
    return Settings.from_mapping(
        {
            "comfyui": [{"url": url, "label": "proxy", "kind": "api_v2", "key": TOKEN}],
            "wan2gp": [],
            "litellm": [],
            "output_dir": str(tmp_path / "out"),
            "data_dir": str(tmp_path / "data"),
        }
    ).model_copy(update={"timeouts": Timeouts(connect=2, request=5, silence=5, download=20)})


async def test_a_v2_job_is_reattached_after_a_restart_and_finishes(proxy, standin, tmp_path):
    settings = _v2_only(proxy.url, tmp_path)
    path = tmp_path / "journal.jsonl"
    before = JobService(settings, lambda e: None, Journal(path), router=Router(settings))
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=250, prefix="v2/restarted")})
    before.submit(job)
    await _until(lambda: bool(job.remote_ids))  # sent and journaled with the server's id
    remote = job.remote_ids[proxy.url]
    await before.shutdown()  # Blender quits while the job runs on the server
    assert Journal(path).latest()[job.id]["remote_ids"] == {proxy.url: remote}

    logs: list[str] = []
    after = JobService(
        settings, lambda e: logs.append(getattr(e, "text", "") or ""), Journal(path), router=Router(settings)
    )
    assert after.reattach_journaled() == [job.id]
    await asyncio.wait_for(after._tasks[job.id], 60)
    again = after.jobs[job.id]
    await after.shutdown()
    assert again.state == JobState.DONE, again.error
    assert [p.rsplit("/", 1)[-1] for p in again.outputs] == ["restarted_00001_.png"]
    assert any("still has this job" in text for text in logs)
    assert standin.server.history[remote]["prompt"][1] == remote  # ran once, under the id journaled before
    assert TOKEN not in path.read_text()


async def test_a_send_cut_off_by_a_crash_is_found_by_its_label_and_followed(proxy, standin, tmp_path):
    """Blender died after POST /jobs left but before the reply: the journal holds only the label sent with it."""
    from genbridge.backends.comfyui_v2 import ComfyAPIv2Client
    from genbridge.runtime.jobs import PlanStep

    settings = _v2_only(proxy.url, tmp_path)
    job = Job(task="image", inputs={"workflow": sampler_graph(steps=60, prefix="v2/cutoff")})
    sender = ComfyAPIv2Client(settings.comfyui[0], settings)
    try:
        remote = await sender.submit(job)  # it arrived; the answer never made it to the journal
    finally:
        await sender.close()
    job.plan = [PlanStep(service="comfyui", instance=proxy.url, label="proxy", reason="test")]
    job.state, job.instance, job.service = JobState.SUBMITTED, proxy.url, "comfyui"
    job.sending = {proxy.url: sender.remote_id_for(job)}
    path = tmp_path / "journal.jsonl"
    Journal(path).append(job.model_dump(mode="json"))
    logs: list[str] = []
    after = JobService(
        settings, lambda e: logs.append(getattr(e, "text", "") or ""), Journal(path), router=Router(settings)
    )
    assert after.reattach_journaled() == [job.id]
    await asyncio.wait_for(after._tasks[job.id], 60)
    again = after.jobs[job.id]
    await after.shutdown()
    assert again.state == JobState.DONE, again.error
    assert any("received this job just before Blender closed" in text for text in logs)
    assert [p.rsplit("/", 1)[-1] for p in again.outputs] == ["cutoff_00001_.png"]
    assert sum(1 for entry in standin.server.history.values() if entry["prompt"][1] == remote) == 1

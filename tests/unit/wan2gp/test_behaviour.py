"""The behavioural suite every contract passes (v1, late v1, v2 async, v2 sync), against the stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from genbridge.runtime.errors import OutOfMemory, ServerError
from genbridge.runtime.events import BackendLog, BackendProgress
from genbridge.standins.placeholder import placeholder_png


async def run_job(client, job, dest: Path):
    problems = await client.validate(job)
    assert problems == []
    await client.submit(job)
    events = [event async for event in client.events(job)]
    return events, await client.fetch_outputs(job, dest)


async def test_a_job_produces_an_mp4_copied_from_the_shared_disk(server, client, job_factory, tmp_path):
    events, outputs = await run_job(client, job_factory(), tmp_path / "dest")
    assert len(outputs) == 1 and outputs[0].suffix == ".mp4"
    assert outputs[0].read_bytes()[4:8] == b"ftyp"
    assert outputs[0].parent == tmp_path / "dest"
    phases = [e.phase for e in events if isinstance(e, BackendProgress)]
    assert "Sampling step 4/4" in phases and any(p.startswith("Loading model") for p in phases)
    fractions = [e.fraction for e in events if isinstance(e, BackendProgress)]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0


async def test_outputs_come_by_download_ticket_when_the_server_path_is_not_readable(
    server, client, job_factory, tmp_path
):
    server.share_paths = False
    _, outputs = await run_job(client, job_factory(), tmp_path / "dest")
    assert outputs[0].read_bytes()[4:8] == b"ftyp"
    assert any(
        "create_gallery_download" in name or "create_gallery_download" in str(args.get("action"))
        for name, args in server.calls
    )


async def test_v1_submits_never_wait_on_the_server(server, client, job_factory, tmp_path):
    await run_job(client, job_factory(), tmp_path / "dest")
    (generate,) = server.generate_calls()
    if server.contract == "v2" and not server.async_generate:
        assert generate["wait"] is True and generate["timeout_s"] <= 5
    else:
        assert generate["wait"] is False


async def test_a_job_submitted_while_another_runs_waits_then_runs(server, client, job_factory, tmp_path):
    server.step_delay = 0.03
    first, second = job_factory(), job_factory(prompt="second")
    for job in (first, second):
        assert await client.validate(job) == []
        await client.submit(job)
    results = await asyncio.wait_for(asyncio.gather(run_events(client, first), run_events(client, second)), timeout=30)
    waiting = [e for e in results[1] if isinstance(e, BackendProgress) and not e.running]
    assert waiting and "1 job ahead" in waiting[0].phase
    assert len(server.generate_calls()) == 2  # no busy refusal: the second was only sent after the first ended
    assert all(j.done for j in server.jobs.values())
    assert (await client.fetch_outputs(second, tmp_path / "second"))[0].is_file()


async def run_events(client, job):
    return [event async for event in client.events(job)]


async def test_cancelling_a_waiting_job_never_reaches_the_server(server, client, job_factory):
    server.step_delay = 0.05
    first, second = job_factory(), job_factory(prompt="never sent")
    for job in (first, second):
        await client.validate(job)
        await client.submit(job)
    first_task = asyncio.create_task(run_events(client, first))
    second_task = asyncio.create_task(run_events(client, second))
    for _ in range(200):
        if client.queue.waiting == [second.id]:
            break
        await asyncio.sleep(0.01)
    assert client.queue.waiting == [second.id]
    second_task.cancel()
    await client.cancel(second)
    with pytest.raises(asyncio.CancelledError):
        await second_task
    await asyncio.wait_for(first_task, timeout=30)
    prompts = [call["source" if "source" in call else "settings"]["prompt"] for call in server.generate_calls()]
    assert prompts == ["a paper boat"]


async def test_cancelling_a_running_job_cancels_it_on_the_server(server, client, job_factory):
    server.step_delay = 0.05
    job = job_factory(steps=200)
    await client.validate(job)
    await client.submit(job)
    task = asyncio.create_task(run_events(client, job))
    for _ in range(300):
        if server.active is not None and len(server.active.events) > 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await client.cancel(job)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.active.done and server.active.cancel_requested
    assert server.active.result["cancelled"] is True
    for _ in range(100):  # the slot comes back once the server confirmed
        if client.queue.holder is None:
            break
        await asyncio.sleep(0.01)
    assert client.queue.holder is None


async def test_unknown_model_fails_before_anything_is_sent_and_names_similar_models(server, client, job_factory):
    problems = await client.validate(job_factory(model="t2v_2_3"))
    assert [p.field for p in problems] == ["model"]
    assert "t2v_2_2" in problems[0].message and problems[0].fix == {"model": problems[0].fix["model"]}
    assert server.generate_calls() == []


@pytest.mark.parametrize("resolution, valid", [("830x480", "832x480"), ("big", "832x480")])
async def test_bad_resolution_fails_before_anything_is_sent_and_says_what_is_valid(
    server, client, job_factory, resolution, valid
):
    problems = await client.validate(job_factory(resolution=resolution))
    assert [p.field for p in problems] == ["resolution"]
    assert "multiples of 16" in problems[0].message and valid in problems[0].message
    assert problems[0].fix == {"resolution": valid}
    assert server.generate_calls() == []


@pytest.mark.parametrize(
    "model, asked, snapped",
    [("t2v", 80, 81), ("hunyuan_1_5_t2v", 50, 49), ("ltx2_22B_distilled", 30, 33), ("t2v", 2, 5)],
)
async def test_frames_snap_to_the_family_rule_and_the_user_is_told(server, client, job_factory, model, asked, snapped):
    job = job_factory(model=model, frames=asked, steps=1)
    assert await client.validate(job) == []
    await client.submit(job)
    events = await run_events(client, job)
    logs = [e.message for e in events if isinstance(e, BackendLog)]
    assert any(f"{asked} -> {snapped}" in m for m in logs)
    assert job.inputs["frames"] == snapped
    sent = server.generate_calls()[0]
    assert sent.get("source", sent.get("settings"))["video_length"] == snapped


async def test_a_start_image_goes_up_by_upload_ticket(server, client, job_factory, tmp_path):
    image = tmp_path / "start.png"
    image.write_bytes(placeholder_png("start", 64, 48))
    await run_job(client, job_factory(model="i2v_2_2", start_image=str(image), steps=1), tmp_path / "dest")
    sent = server.generate_calls()[0]
    settings = sent.get("source", sent.get("settings"))
    assert settings["image_start"] in server.gallery and settings["image_prompt_type"] == "S"
    uploaded = Path(server.gallery[settings["image_start"]]["_path"])
    assert uploaded.read_bytes() == image.read_bytes()


async def test_out_of_memory_on_the_server_is_reported_as_out_of_memory(server, client, job_factory):
    server.inject_failure("oom")
    job = job_factory()
    await client.validate(job)
    await client.submit(job)
    with pytest.raises(OutOfMemory):
        await run_events(client, job)
    assert client.queue.holder is None


async def test_a_failed_weight_download_says_what_to_check(server, client, job_factory):
    server.inject_failure("download")
    job = job_factory()
    await client.validate(job)
    await client.submit(job)
    with pytest.raises(ServerError) as err:
        await run_events(client, job)
    assert "weights" in err.value.message and "internet" in err.value.hint


async def test_a_server_busy_with_another_client_is_waited_for(server, client, job_factory, tmp_path):
    server.external_busy = 2
    events, outputs = await run_job(client, job_factory(steps=1), tmp_path / "dest")
    assert outputs[0].is_file()
    if server.contract != "v2":  # v2 asks list_queue first; v1 learns it from the refusal
        assert any("busy" in e.phase for e in events if isinstance(e, BackendProgress))


async def test_probe_reports_contract_models_queue_and_memory_needs(server, client):
    result = await client.probe()
    assert result.reachable
    assert result.capabilities["contract"] == server.contract
    assert result.capabilities["async_generate"] == server.async_generate
    assert "t2v" in result.models["video"] and len(result.models["video"]) == 144
    assert result.capabilities["vram_needed_gb"] == 12.0 and result.queue_depth == 0

"""Hostile end images and template values on WanGP: a folder, a flood of a path, a text file named .png, odd
template values. Each gets a short message naming what to fix, nothing is sent for a refused job, nothing is
written outside the output folder and the endpoint's key appears nowhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from genbridge.backends.wan2gp import Wan2GPClient
from genbridge.runtime.errors import GenBridgeError
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.placeholder import placeholder_png
from genbridge.standins.wan2gp import Wan2GPStandIn

SECRET = "sk-wan-endimage-KEY-7731"


@pytest.fixture
async def served(tmp_path):
    standin = Wan2GPStandIn(contract="v2", output_dir=tmp_path / "wan2gp", step_delay=0.005, token=SECRET)
    await standin.start()
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    client = Wan2GPClient(Endpoint(service="wan2gp", url=standin.url, key=SECRET), settings)
    client.poll_interval = (0.01, 0.05)
    yield standin, client
    await client.close()
    await standin.stop()


def flf(tmp_path: Path, **inputs) -> Job:
    first = tmp_path / "first.png"
    first.write_bytes(placeholder_png("first", 32, 32))
    return Job(
        task="video", inputs={"model": "flf2v_720p", "prompt": "p", "steps": 1, "start_image": str(first), **inputs}
    )


async def test_a_folder_or_a_flood_of_a_path_is_a_short_message(served, tmp_path):
    standin, client = served
    (problem,) = await asyncio.wait_for(client.validate(flf(tmp_path, end_image=str(tmp_path))), 5)
    assert problem.field == "end_image" and problem.message == f"{tmp_path} is a folder, not an image file"
    flood = "x" * 100_000
    (problem,) = await asyncio.wait_for(client.validate(flf(tmp_path, end_image=flood)), 5)
    assert len(problem.message) < 300 and problem.message.endswith("... does not exist")
    assert standin.generate_calls() == []


async def test_a_text_file_named_png_is_refused_with_the_servers_reason_and_nothing_generated(served, tmp_path):
    standin, client = served
    fake = tmp_path / "last.png"
    fake.write_text(f"not an image; key {SECRET[:4]}")
    job = flf(tmp_path, end_image=str(fake))
    assert await client.validate(job) == []
    await client.submit(job)
    with pytest.raises(GenBridgeError) as err:
        await asyncio.wait_for(_drain(client, job), 10)
    assert "cannot identify image file" in err.value.message and "last.png" in err.value.message
    assert SECRET not in err.value.message + err.value.hint
    assert standin.generate_calls() == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*")), "nothing landed"


async def test_odd_template_values_are_passed_on_or_refused_never_a_crash(served, tmp_path):
    _standin, client = served
    job = flf(tmp_path, model="wan2.1_flf2v_720p_14B_fp8_e4m3fn.safetensors", fps="fast", cfg=float("nan"))
    job.template = "wan21_flf2v"
    assert await client.validate(job) == []  # WanGP's own checks decide about these raw settings
    run = client._runs[job.id]
    assert run.settings["force_fps"] == "fast" and run.settings["model_type"] == "flf2v_720p"
    bad = flf(tmp_path, settings=["not", "a", "table"])
    bad.template = "wan21_flf2v"
    problems = await client.validate(bad)
    assert [p.message for p in problems] == ["extra settings must be key=value pairs"]


async def test_a_flf_job_writes_only_into_its_output_folder(served, tmp_path):
    _standin, client = served
    last = tmp_path / "last.png"
    last.write_bytes(placeholder_png("last", 32, 32))
    job = flf(tmp_path, end_image=str(last))
    before = {p for p in tmp_path.rglob("*") if "wan2gp" not in p.parts}
    assert await client.validate(job) == []
    await client.submit(job)
    await asyncio.wait_for(_drain(client, job), 20)
    dest = tmp_path / "out" / "job"
    outputs = await client.fetch_outputs(job, dest)
    after = {p for p in tmp_path.rglob("*") if "wan2gp" not in p.parts}
    assert all(dest in p.parents or p == dest or p in (tmp_path / "out",) for p in after - before)
    assert outputs and all(dest in p.parents for p in outputs)


async def _drain(client, job) -> None:
    async for _event in client.events(job):
        pass

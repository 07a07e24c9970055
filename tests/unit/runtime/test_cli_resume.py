"""`genbridge resume`: headless, the journal's unfinished jobs are taken up, their progress shown and their outputs
collected, with the messages Blender shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from genbridge.cli import main
from genbridge.runtime.jobs import JobState
from genbridge.runtime.settings import Endpoint
from genbridge.standins.comfyui import ComfyUIStandIn

from .test_reattach import GRAPH, interrupt_a_running_comfyui_job, journal_job, make_settings


@pytest.fixture
def comfyui(tmp_path):
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=0.6).running_in_thread() as server:
        yield server


@pytest.fixture
def env(tmp_path, monkeypatch, comfyui):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("GENBRIDGE_COMFYUI_URLS", comfyui.url)
    monkeypatch.delenv("GENBRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_resume_collects_the_outputs_of_the_jobs_left_unfinished(tmp_path, comfyui, env, capsys):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=comfyui.url)])
    running = interrupt_a_running_comfyui_job(settings)
    other = {**GRAPH, "1": {**GRAPH["1"], "inputs": {**GRAPH["1"]["inputs"], "width": 32}}}  # not a cache hit
    never_sent = journal_job(
        settings, task="image", requested_service="comfyui", inputs={"workflow": other}, state=JobState.INTERRUPTED
    )
    capsys.readouterr()

    assert main(["resume", "--timeout", "60"]) == 0
    out = capsys.readouterr()
    paths = [Path(line) for line in out.out.split()]
    assert len(paths) == 2 and all(p.is_file() and (tmp_path / "out") in p.parents for p in paths)
    assert "Resuming 2 unfinished job(s)" in out.err
    assert "Re-attached after restart" in out.err
    assert "queued again" in out.err
    assert f"GenBridge: image {running[:8]} finished" in out.err
    assert f"GenBridge: image {never_sent['id'][:8]} finished" in out.err

    assert main(["resume"]) == 0
    assert "Nothing to resume: every job in" in capsys.readouterr().err


def test_resume_reports_a_lost_job_with_the_message_blender_shows(tmp_path, comfyui, env, capsys):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=comfyui.url)])
    lost = journal_job(
        settings,
        task="image",
        service="comfyui",
        instance=comfyui.url,
        remote_ids={comfyui.url: "5a0e4d2c-0000-4000-8000-000000000000"},
        state=JobState.RUNNING,
    )
    assert main(["resume", "--timeout", "30"]) == 1
    err = capsys.readouterr().err
    assert f"GenBridge: image {lost['id'][:8]}: ComfyUI was restarted and lost this job; generate again." in err
    assert "Retry" in err


def test_resume_without_a_journal_says_there_is_nothing_to_do(tmp_path, env, capsys):
    assert main(["resume"]) == 0
    assert "Nothing to resume: there is no journal at" in capsys.readouterr().err

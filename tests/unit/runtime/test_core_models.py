"""Job state machine, journal, settings, network policy and safe output paths."""

from __future__ import annotations

import json

import pytest
from genbridge.runtime.errors import ConfigError, OnlineAccessRefused, UnsafePath
from genbridge.runtime.jobs import InvalidTransition, Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.netpolicy import ensure_allowed, is_loopback
from genbridge.runtime.paths import safe_output_path
from genbridge.runtime.settings import Settings


def test_a_job_moves_along_the_state_machine_and_refuses_illegal_moves():
    job = Job(task="image")
    job.move_to(JobState.SUBMITTED)
    job.move_to(JobState.RUNNING)
    job.move_to(JobState.DONE)
    assert job.progress == 1.0 and job.finished_at is not None
    with pytest.raises(InvalidTransition):
        job.move_to(JobState.RUNNING)


def test_every_active_state_can_be_cancelled_or_interrupted():
    for state in (JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING, JobState.DOWNLOADING):
        for end in (JobState.CANCELLED, JobState.INTERRUPTED):
            job = Job(task="image", state=state)
            job.move_to(end)
            assert job.state == end


def test_journal_returns_the_latest_snapshot_per_job_and_skips_torn_lines(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    job = Job(task="image")
    journal.append(job.snapshot())
    job.move_to(JobState.SUBMITTED)
    job.remote_ids["http://127.0.0.1:8188"] = "abc"
    journal.append(job.snapshot())
    with journal.path.open("a") as fh:
        fh.write('{"t": 1, "job": {"id"')  # a crash mid-write
    latest = journal.latest()
    assert latest[job.id]["state"] == "submitted"
    assert latest[job.id]["remote_ids"] == {"http://127.0.0.1:8188": "abc"}


def test_journal_compacts_to_one_line_per_job(tmp_path):
    journal = Journal(tmp_path / "j.jsonl", max_bytes=2000)
    jobs = [Job(task="image") for _ in range(3)]
    for _ in range(10):
        for job in jobs:
            journal.append(job.snapshot())
    lines = journal.path.read_text().splitlines()
    assert len(lines) <= 3 + 10
    assert {json.loads(line)["job"]["id"] for line in lines} == {j.id for j in jobs}


def test_settings_load_from_toml_then_environment(tmp_path):
    toml = tmp_path / "genbridge.toml"
    toml.write_text(
        'allow_online = true\n[[comfyui]]\nurl = "http://gpu-box:8188"\nlabel = "gpu"\n[timeouts]\nrequest = 12\n'
    )
    env = {"GENBRIDGE_LITELLM_URLS": "http://127.0.0.1:4001, http://127.0.0.1:4002", "GENBRIDGE_VRAM_GB": "6"}
    s = Settings.load(toml, env=env)
    assert [e.name for e in s.comfyui] == ["gpu"]
    assert [e.url for e in s.litellm] == ["http://127.0.0.1:4001", "http://127.0.0.1:4002"]
    assert s.vram_override_gb == 6.0 and s.timeouts.request == 12 and s.allow_online


def test_a_bad_setting_names_the_field_and_the_file(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text('wan2gp_profile = 9\n[[comfyui]]\nurl = "gpu-box"\n')
    with pytest.raises(ConfigError) as err:
        Settings.load(toml, env={})
    assert "bad.toml" in err.value.message and "wan2gp_profile" in err.value.message


def test_keys_are_secret_and_the_environment_overrides_them(monkeypatch):
    s = Settings.from_mapping({"litellm": [{"url": "http://127.0.0.1:4000", "key": "sk-secret"}]})
    ep = s.litellm[0]
    assert "sk-secret" not in repr(s) and "sk-secret" not in s.model_dump_json()
    assert ep.api_key == "sk-secret"
    monkeypatch.setenv("GENBRIDGE_LITELLM_KEY", "sk-env")
    assert ep.api_key == "sk-env"


def test_loopback_is_allowed_and_other_hosts_need_online_access():
    assert is_loopback("http://127.0.0.2:1") and is_loopback("http://localhost:8188") and is_loopback("http://[::1]:4")
    ensure_allowed("http://127.0.0.1:8188", online_access=False)
    ensure_allowed("http://10.0.0.5:8188", online_access=True)
    with pytest.raises(OnlineAccessRefused) as err:
        ensure_allowed("http://gpu-box:8188", online_access=False, service="ComfyUI")
    assert "Allow Online Access" in err.value.hint


@pytest.mark.parametrize(
    ("subfolder", "name"),
    [
        ("", "../escape.png"),
        ("..", "x.png"),
        ("a/../..", "x.png"),
        ("/etc", "passwd"),
        ("", "/abs.png"),
        ("C:\\", "x.png"),
        ("", "a\\..\\..\\x.png"),
        ("", "sub/x.png"),
        ("", ".."),
    ],
)
def test_server_names_that_escape_the_output_folder_are_refused(tmp_path, subfolder, name):
    with pytest.raises(UnsafePath):
        safe_output_path(tmp_path, subfolder, name)


def test_safe_names_land_inside_the_output_folder(tmp_path):
    path = safe_output_path(tmp_path, "video/2025", "Comfy_00001_.png")
    assert path == tmp_path.resolve() / "video" / "2025" / "Comfy_00001_.png"

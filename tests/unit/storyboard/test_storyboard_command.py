"""The storyboard command uses real services only where the user configured them; stand-ins elsewhere."""

from __future__ import annotations

from pathlib import Path

from genbridge.cli.storyboard import configured_services


def test_nothing_configured_means_stand_ins_for_every_service(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert configured_services(None, env={}) == set()


def test_a_url_in_the_environment_marks_that_service_real(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"GENBRIDGE_COMFYUI_URL": "http://127.0.0.1:8188", "GENBRIDGE_LITELLM_URLS": "http://127.0.0.1:4000"}
    assert configured_services(None, env=env) == {"comfyui", "litellm"}


def test_a_service_table_in_the_settings_file_marks_that_service_real(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "gb.toml"
    toml.write_text('[[wan2gp]]\nurl = "http://10.0.0.5:7866/mcp"\n')
    assert configured_services(str(toml), env={}) == {"wan2gp"}
    assert configured_services(None, env={"GENBRIDGE_CONFIG": str(toml)}) == {"wan2gp"}


def test_a_bad_cast_file_stops_the_command_before_anything_starts(tmp_path: Path, capsys):
    import argparse

    from genbridge.cli.storyboard import run

    bad = tmp_path / "cast.toml"
    bad.write_text('[[characters]]\nname = "Mara"\nreferences = ["missing.png"]\n')
    args = argparse.Namespace(logline="x", out=str(tmp_path / "out"), shots=1, timeout=1.0, cast=str(bad))
    assert run(args) == 2
    err = capsys.readouterr().err
    assert f'{bad}, character "Mara": the reference image {tmp_path / "missing.png"} does not exist' in err
    assert not (tmp_path / "out").exists()  # no stand-in, no Blender, no output folder


def test_the_report_notes_fewer_shots_and_shows_no_time_for_a_job_that_failed_at_once(capsys):
    from genbridge.cli.storyboard import print_report

    failed = {"id": "j1", "role": "shot list", "shot": None, "service": "litellm", "task": "shotlist"}
    failed.update(state="failed", seconds=0.0, reason="text goes to LiteLLM", depends_on=[], error="no JSON")
    summary = {"jobs": [failed], "strips": [], "blend": "b.blend", "timings": {}, "status": "failed", "shots": 2}
    started = {"litellm": {"kind": "local"}}
    print_report(summary, started, {"total": 1.0}, asked_shots=3)
    out = capsys.readouterr().out
    assert "0.0 s" not in out and "failed          -  why: text goes to LiteLLM" in out
    assert "(2 shots; 3 were asked, the model planned fewer)" in out
    assert "small local model" in out and "(local model)" in out


def test_a_shot_prompt_never_reads_comma_full_stop():
    from genbridge.storyboard.model import shot_prompt

    prompt = shot_prompt("The keeper climbs through,", camera="slow dolly in...", style="noir;")
    assert prompt == "The keeper climbs through. Camera: slow dolly in. Style: noir."

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

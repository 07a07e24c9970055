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

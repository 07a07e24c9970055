"""What the user sees of WanGP jobs on the command line and in the job details (issue 17.1, 17.3, 17.6)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from genbridge.cli import generate as generate_cli
from genbridge.cli.generate_wan2gp import run_wan2gp
from genbridge.standins.wan2gp import Wan2GPStandIn
from genbridge.ui.draw import PanelState, draw_panel


def _args(url: str, tmp_path: Path, *sets: str, timeout: float = 60, model: str = "t2v") -> argparse.Namespace:
    return argparse.Namespace(
        service="wan2gp",
        model=model,
        prompt="a fox",
        url=url,
        output=str(tmp_path / "out"),
        sets=list(sets),
        timeout=timeout,
        config=None,
    )


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_VRAM_GB", "6")  # a small GPU: the router would like to make the job lighter
    monkeypatch.chdir(tmp_path)


def test_an_explicit_model_and_huge_frame_count_are_refused_with_the_limit_not_swapped(cli_env, tmp_path, capsys):
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.0)
    with standin.run_in_thread() as url:
        code = run_wan2gp(_args(url, tmp_path, "resolution=320x192", "frames=100001", "steps=1"))
        assert standin.generate_calls() == []  # nothing sent: no t2v_1.3B, no 49 frames
    err = capsys.readouterr().err
    assert code == 1
    assert "100001 frames is over Wan2.1 Text2video 14B's limit of 97" in err and "nearest valid count is 97" in err
    assert "t2v_1.3B" not in err


def test_a_snapped_frame_count_is_printed_and_submitted_is_printed_once(cli_env, tmp_path, capsys):
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.0)
    with standin.run_in_thread() as url:
        assert run_wan2gp(_args(url, tmp_path, "frames=80", "steps=2")) == 0
        sent = standin.generate_calls()[0]["source"]
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "changed: frames 80 -> 81: Wan2.1 Text2video 14B needs 4k+1 (at least 5) frames" in err
    assert sum(" submitted " in line for line in err.splitlines()) == 1
    assert sent["model_type"] == "t2v" and sent["video_length"] == 81


def test_a_timeout_says_it_timed_out(cli_env, tmp_path, capsys):
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.05)
    with standin.run_in_thread() as url:
        assert run_wan2gp(_args(url, tmp_path, "steps=400", timeout=1.0)) == 1
    err = capsys.readouterr().err
    assert "error: The job timed out: it did not finish within the 1 s timeout" in err


def test_generate_help_lists_the_wan2gp_settings_per_model_family(capsys):
    parser = argparse.ArgumentParser(prog="genbridge")
    generate_cli.add_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "--help"])
    out = capsys.readouterr().out
    for key in ("resolution", "frames", "steps", "start_image", "override_profile", "negative_prompt", "seed"):
        assert f"  {key}" in out
    assert "Wan 2.1 / 2.2" in out and "LTX" in out and "Hunyuan" in out


class _Layout:
    """Just enough of a Blender layout to collect label texts."""

    def __init__(self, labels: list[str]) -> None:
        self._labels = labels

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if name == "label":
                self._labels.append(kwargs.get("text", ""))
            return _Layout(self._labels)

        return call


def test_the_job_details_show_the_recorded_changes_next_to_the_plans():
    job = {
        "id": "j1",
        "task": "video",
        "state": "running",
        "progress": 0.2,
        "phase": "Sampling",
        "created_at": 1.0,
        "service": "wan2gp",
        "plan": [{"service": "wan2gp", "label": "w0", "reason": "w0: fits", "changes": ["steps 30 -> 18"]}],
        "adjustments": ["steps 30 -> 18 (to fit the free VRAM of w0)", "frames 80 -> 81: t2v needs 4k+1 frames"],
    }
    labels: list[str] = []
    draw_panel(
        _Layout(labels),
        PanelState(
            jobs={"j1": job}, active_job_id="j1", settings=argparse.Namespace(task="video"), list_owner=object()
        ),
    )
    text = " ".join(labels)  # long lines are wrapped into several labels
    assert "steps 30 -> 18" in text and "frames 80 -> 81: t2v needs 4k+1 frames" in text
    assert "(to fit the free VRAM" not in text  # the plan already shows that change: not twice

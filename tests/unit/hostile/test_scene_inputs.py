"""Hostile `render:` inputs (issue 16.5): bad references, a missing or misbehaving Blender, a capture that hangs.
Each ends with a message naming the problem and the fix, within its time bound, writing nothing outside the job
folder; nothing reaches a server (the URL points at a closed port) and the configured key never shows."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from genbridge.cli import main
from genbridge.cli.scene_inputs import parse_render_ref, run_capture
from genbridge.runtime.errors import ConfigError, LocalProblem, RejectedInput

pytestmark = pytest.mark.timeout(30)

DEAD = "http://127.0.0.1:9"
SECRET = "sk-scene-secret-0123456789"


def fake_blender(tmp_path: Path, body: str) -> Path:
    """A stand-in for the bpy interpreter: a Python script run by this interpreter."""
    script = tmp_path / "fake-bpy-python"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def blend(tmp_path: Path) -> Path:
    path = tmp_path / "shot.blend"
    path.write_bytes(b"BLENDER-v405")
    return path


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("render:", "does not name a .blend file and a camera"),
        ("render:{blend}", "does not name a .blend file and a camera"),
        ("render:{blend}:", "names no camera"),
        ("render:{blend}:Cam:../../etc", 'unknown capture "../../etc"'),
        ("render:{missing}:Cam", "does not exist"),
    ],
)
def test_bad_references_say_how_to_write_one(blend, tmp_path, value, message):
    with pytest.raises(RejectedInput) as info:
        parse_render_ref(value.format(blend=blend, missing=tmp_path / "gone.blend"))
    assert message in info.value.message
    assert "render:" in info.value.hint


def test_plain_paths_and_cameras_with_colons_parse(blend):
    assert parse_render_ref(str(blend)) is None  # a file path is not a render reference
    ref = parse_render_ref(f"render:{blend}:Cam: Wide:depth")
    assert ref is not None and (ref.camera, ref.kind) == ("Cam: Wide", "depth")


def test_a_missing_blender_names_the_variable_to_set(blend, tmp_path):
    ref = parse_render_ref(f"render:{blend}:Cam")
    assert ref is not None
    with pytest.raises(ConfigError) as info:
        run_capture(ref, "image", tmp_path / "job", python=tmp_path / "no-python")
    assert "GENBRIDGE_BPY_PYTHON" in info.value.hint


def test_a_blender_that_crashes_or_says_nothing_is_named_not_a_traceback(blend, tmp_path):
    ref = parse_render_ref(f"render:{blend}:Cam")
    assert ref is not None
    python = fake_blender(tmp_path, "print('Segmentation fault', file=sys.stderr); sys.exit(139)")
    with pytest.raises(LocalProblem) as info:
        run_capture(ref, "image", tmp_path / "job", python=python)
    assert "exit 139" in info.value.message and "Segmentation fault" in info.value.message


def test_a_capture_that_hangs_ends_at_the_timeout(blend, tmp_path):
    ref = parse_render_ref(f"render:{blend}:Cam:preview")
    assert ref is not None
    python = fake_blender(tmp_path, "time.sleep(60)")
    with pytest.raises(LocalProblem) as info:
        run_capture(ref, "image", tmp_path / "job", python=python, timeout=1)
    assert "within 1 s" in info.value.message and ":preview" in info.value.hint


def test_cli_reports_a_capture_error_and_sends_nothing(blend, tmp_path, monkeypatch, capsys):
    python = fake_blender(tmp_path, "print('GENBRIDGE_CAPTURE_ERROR There is no camera called \"Cam\".')")
    monkeypatch.setenv("GENBRIDGE_BPY_PYTHON", str(python))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_COMFYUI_KEY", SECRET)
    code = main(
        [
            "generate",
            "--service",
            "comfyui",
            "--workflow",
            "sd15_img2img",
            "--set",
            "prompt=x",
            "--input",
            f"image=render:{blend}:Cam",
            "--url",
            DEAD,
            "--output",
            str(tmp_path / "out"),
        ]
    )
    out, err = capsys.readouterr()
    assert code != 0 and 'no camera called "Cam"' in err and "Traceback" not in out + err
    assert SECRET not in out + err
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".png"]


def test_a_trailing_frame_picks_the_frame_and_an_at_sign_in_a_name_stays_in_it(blend):
    ref = parse_render_ref(f"render:{blend}:Cam:depth@end")
    assert ref is not None and (ref.camera, ref.kind, ref.frame) == ("Cam", "depth", "end")
    ref = parse_render_ref(f"render:{blend}:Cam@12")
    assert ref is not None and (ref.camera, ref.kind, ref.frame) == ("Cam", "camera", 12)
    ref = parse_render_ref(f"render:{blend}:Cam:preview@START")
    assert ref is not None and (ref.kind, ref.frame) == ("preview", "start")
    ref = parse_render_ref(f"render:{blend}:Cam@current")
    assert ref is not None and (ref.camera, ref.frame) == ("Cam", None)
    ref = parse_render_ref(f"render:{blend}:Cam@Wide")  # not a frame: part of the camera's name
    assert ref is not None and (ref.camera, ref.kind, ref.frame) == ("Cam@Wide", "camera", None)
    ref = parse_render_ref(f"render:{blend}:Cam:mist@-4")
    assert ref is not None and (ref.kind, ref.frame) == ("mist", -4)

"""Headless scene inputs: `generate --input image=render:<file.blend>:<camera>:depth` runs the capture in a bpy
subprocess (this very interpreter as $GENBRIDGE_BPY_PYTHON), uploads it to the ComfyUI stand-in and journals the
provenance; a bad reference is refused with what to write instead."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import pytest
from genbridge.cli import main
from genbridge.cli.scene_inputs import parse_render_ref
from genbridge.runtime.errors import RejectedInput


@pytest.fixture
def blend(tmp_path):
    """A .blend whose active scene has a near plane over a far one and a camera "Shot Cam" looking down."""
    scene = bpy.data.scenes.new("Headless Capture")
    objs = []
    for name, size, z in (("Far", 40.0, -10.0), ("Near", 2.0, 1.0)):
        mesh = bpy.data.meshes.new(name)
        h = size / 2
        mesh.from_pydata([(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], [], [(0, 1, 2, 3)])
        obj = bpy.data.objects.new(name, mesh)
        obj.location = (0, 0, z)
        scene.collection.objects.link(obj)
        objs.append(obj)
    cam = bpy.data.objects.new("Shot Cam", bpy.data.cameras.new("Shot Cam"))
    cam.location = (0, 0, 9)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.frame_current = 4
    window = bpy.context.window
    before = window.scene
    path = tmp_path / "shot.blend"
    try:
        window.scene = scene  # the file opens on this scene
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    finally:
        window.scene = before
        for obj in (*objs, cam):
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(scene)
    return path


def test_render_input_is_captured_in_blender_uploaded_and_journaled(blend, tmp_path, monkeypatch, capsys):
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models

    monkeypatch.setenv("GENBRIDGE_BPY_PYTHON", sys.executable)
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out"
    with ComfyUIStandIn(models=bundled_models()).running_in_thread() as comfy:
        code = main(
            [
                "generate",
                "--service",
                "comfyui",
                "--workflow",
                "sd15_depth_controlnet",
                "--set",
                "prompt=a stone cottage",
                "--set",
                "steps=1",
                "--set",
                "width=96",
                "--set",
                "height=64",
                "--input",
                f"image=render:{blend}:Shot Cam:depth",
                "--url",
                comfy.url,
                "--output",
                str(out),
                "--timeout",
                "240",
            ]
        )
        captured = capsys.readouterr()
        assert code == 0, captured.err
        (capture,) = out.glob("image-*/capture-image-depth.png")
        uploaded = [p.read_bytes() for p in comfy.dirs["input"].rglob("*") if p.is_file()]
    assert capture.read_bytes() in uploaded
    records = [json.loads(line) for line in (tmp_path / "data" / "journal.jsonl").read_text().splitlines()]
    job = next(r for r in reversed(records) if (r.get("job") or r).get("captures"))
    (prov,) = (job.get("job") or job)["captures"]
    assert {k: prov[k] for k in ("param", "source", "camera", "frame", "width", "height", "bit_depth")} == {
        "param": "image",
        "source": "depth",
        "camera": "Shot Cam",
        "frame": 4,
        "width": 96,
        "height": 64,
        "bit_depth": 8,
    }
    assert prov["blend_file"] == str(blend) and prov["path"] == str(capture)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("render:scene.txt:Cam", "does not name a .blend file and a camera"),
        ("render:{blend}:", "names no camera"),
        ("render:{blend}:Cam:albedo", 'unknown capture "albedo"'),
        ("render:/nowhere/x.blend:Cam", "does not exist"),
    ],
)
def test_a_bad_render_reference_says_how_to_write_it(blend, value, message):
    with pytest.raises(RejectedInput) as info:
        parse_render_ref(value.format(blend=blend))
    assert message in info.value.message
    assert "render:<file.blend>:<camera>" in info.value.hint or "render:" in info.value.hint


def test_a_camera_the_file_lacks_is_reported_by_blender(blend, tmp_path, monkeypatch):
    from genbridge.cli.scene_inputs import run_capture

    ref = parse_render_ref(f"render:{blend}:Nope:preview")
    assert ref is not None and ref.kind == "preview"
    with pytest.raises(RejectedInput, match='no camera called "Nope"'):
        run_capture(ref, "image", tmp_path / "job", width=32, height=32, python=Path(sys.executable), timeout=120)


def test_a_file_that_is_not_a_blend_is_refused_with_blenders_reason(tmp_path):
    from genbridge.cli.scene_inputs import run_capture

    fake = tmp_path / "notes.blend"
    fake.write_bytes(b"not a blend file\x00" * 10)
    ref = parse_render_ref(f"render:{fake}:Camera")
    assert ref is not None
    with pytest.raises(RejectedInput) as info:
        run_capture(ref, "image", tmp_path / "job", python=Path(sys.executable), timeout=120)
    assert info.value.message.startswith(f"Blender could not capture {fake}")
    assert not (tmp_path / "job").exists() or not any((tmp_path / "job").iterdir())


def test_a_frame_after_the_reference_renders_that_frame_and_one_outside_the_scene_is_refused(blend, tmp_path):
    from genbridge.cli.scene_inputs import run_capture

    ref = parse_render_ref(f"render:{blend}:Shot Cam:preview@end")
    assert ref is not None and ref.frame == "end"
    record = run_capture(ref, "end_image", tmp_path / "job", width=32, height=32, python=Path(sys.executable))
    assert (record["camera"], record["frame"], record["source"]) == ("Shot Cam", 250, "camera")  # the default end
    late = parse_render_ref(f"render:{blend}:Shot Cam:preview@900")
    assert late is not None
    with pytest.raises(RejectedInput, match=r"Frame 900 is outside the scene \"Headless Capture\"'s frames 1\.\.250"):
        run_capture(late, "end_image", tmp_path / "late", width=32, height=32, python=Path(sys.executable))

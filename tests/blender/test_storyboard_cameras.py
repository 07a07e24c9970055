"""Storyboard keyframes from the shot's camera, in real bpy: a scene with two cameras bound to timeline markers;
when the shot list arrives, each shot starting under a bound camera gets an image-to-image keyframe whose image
input is that camera's render (in the job's folder, provenance naming the camera); a shot before any bound
marker stays text-to-image."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


@pytest.fixture
def scene(gb):
    scene = bpy.data.scenes.new("Storyboard Cameras")
    scene.render.engine = "BLENDER_WORKBENCH"  # the scene's engine is what the keyframe capture uses
    plane = bpy.data.objects.new("Ground", bpy.data.meshes.new("Ground"))
    plane.data.from_pydata([(-5, -5, 0), (5, -5, 0), (5, 5, 0), (-5, 5, 0)], [], [(0, 1, 2, 3)])
    scene.collection.objects.link(plane)
    cams = []
    for name, x in (("Cam Wide", 0.0), ("Cam Close", 2.0)):
        cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        cam.location = (x, 0, 8)
        scene.collection.objects.link(cam)
        cams.append(cam)
    scene.camera = cams[0]
    # Shots of 1 s at 24 fps from frame 1: shot 1 = 1..24, shot 2 = 25..48, shot 3 = 49..72.
    scene.timeline_markers.new("wide", frame=25).camera = cams[0]
    scene.timeline_markers.new("close", frame=49).camera = cams[1]
    scene.frame_current = 10
    yield scene
    for cam in cams:
        data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(data)
    mesh = plane.data
    bpy.data.objects.remove(plane)
    bpy.data.meshes.remove(mesh)
    bpy.data.scenes.remove(scene)


def test_keyframes_are_made_from_the_camera_bound_at_each_shots_start(gb, scene, tmp_path, monkeypatch):
    operators = importlib.import_module(f"{PKG}.storyboard.operators")
    session = gb.blender.running()
    sent: list[dict] = []
    monkeypatch.setattr(session, "submit", lambda spec: sent.append(spec) or spec["id"])
    shotlist = tmp_path / "shotlist.json"
    shotlist.write_text(
        json.dumps({"shots": [{"description": d, "duration": 1.0} for d in ("dawn", "the wide", "the close-up")]})
    )
    board = scene.genbridge_storyboard
    board.group, board.shot_count, board.fps, board.start_frame = "cams", 3, 24, 1
    operators._start_shots(scene, board, {"outputs": [str(shotlist)]})

    keys = [spec for spec in sent if spec["task"] == "keyframe"]
    assert len(keys) == 3 and board.status == "generating"
    assert keys[0]["template"] is None and not keys[0].get("captures") and "image" not in keys[0]["inputs"]
    assert "camera_capture" not in keys[0]
    for spec, camera, frame in ((keys[1], "Cam Wide", 25), (keys[2], "Cam Close", 49)):
        assert "camera_capture" not in spec  # the plan's request is consumed, never sent
        assert spec["template"] == "sd15_img2img"
        (record,) = spec["captures"]
        assert (record["source"], record["camera"], record["frame"], record["param"]) == (
            "camera",
            camera,
            frame,
            "image",
        )
        path = Path(spec["inputs"]["image"])
        assert path == Path(record["path"]) and path.is_file()
        assert path.parent.name == f"keyframe-{spec['id']}"  # in the keyframe job's own output folder
    assert scene.frame_current == 10  # the playhead is back where the user left it
    # The clips still start from their keyframe job's output.
    clips = [spec for spec in sent if spec["task"] != "keyframe"]
    assert [c["depends_on"] for c in clips] == [[k["id"]] for k in keys]

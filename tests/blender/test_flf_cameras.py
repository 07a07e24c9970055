"""First-last frame from the scene, in real bpy: a square animated from x=-3 (frame 1) to x=+3 (frame 10) seen by
two cameras. Each image parameter is captured from its own camera at its own frame (Scene Start / Scene End by
default in a first-last-frame template), the two PNGs differ where the square is, the provenance records camera
and frame, and the scene's frame, evaluated animation and active camera are put back (after success, a failure and
a cancel). Through the Generate operator: the panel's defaults and the `sources` JSON, sent to the ComfyUI stand-in
(both images uploaded) and, routed to WanGP, as image_start + image_end."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import bpy
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("idle_loop")  # steps CaptureRuns by hand: see the fixture

PKG = "bl_ext.user_default.genbridge"
SIZE = (64, 48)


def mod(name: str):
    return importlib.import_module(f"{PKG}.blender.{name}")


@pytest.fixture
def scene(gb):
    scene = bpy.data.scenes.new("FLF Cameras Test")
    mesh = bpy.data.meshes.new("Square")
    mesh.from_pydata([(-0.8, -0.8, 0), (0.8, -0.8, 0), (0.8, 0.8, 0), (-0.8, 0.8, 0)], [], [(0, 1, 2, 3)])
    square = bpy.data.objects.new("Square", mesh)
    scene.collection.objects.link(square)
    square.location.x = -3.0
    square.keyframe_insert("location", index=0, frame=1)
    square.location.x = 3.0
    square.keyframe_insert("location", index=0, frame=10)
    cams = []
    for name, x in (("CamA", 0.0), ("CamB", 2.0)):
        cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        cam.location = (x, 0, 10)  # looking straight down at the square's path
        scene.collection.objects.link(cam)
        cams.append(cam)
    scene.camera = cams[0]
    scene.frame_start, scene.frame_end = 1, 10
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent = True  # the square is where alpha is
    # The window's scene, as in the GUI: only its frame changes evaluate the animation (frame_set on another scene
    # leaves the objects where they were), so the test sees whether the capture put the evaluated scene back.
    window = bpy.context.window_manager.windows[0]
    previous, window.scene = window.scene, scene
    scene.view_layers[0].update()  # its depsgraph made, as a shown scene's is in the GUI
    scene.frame_set(5)
    try:
        yield scene
    finally:
        window.scene = previous
    action = square.animation_data.action if square.animation_data else None
    bpy.data.objects.remove(square)
    bpy.data.meshes.remove(mesh)
    if action is not None:
        bpy.data.actions.remove(action)
    for cam in cams:
        data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(data)
    bpy.data.scenes.remove(scene)


def square_x(path: str) -> float:
    """Where the square is in the picture: the mean column of its pixels, 0 = left edge, 1 = right edge."""
    img = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = img.size
        buf = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(buf)
    finally:
        bpy.data.images.remove(img)
    alpha = buf.reshape(h, w, 4)[:, :, 3] > 0.5
    assert alpha.any(), f"the square is not in {path}"
    return float(np.nonzero(alpha)[1].mean()) / (w - 1)


def state(scene) -> tuple:
    square = scene.objects["Square"]
    return scene.frame_current, scene.camera.name, round(square.matrix_world.translation.x, 4)


def test_start_and_end_frames_give_two_pictures_and_the_scene_comes_back(scene, tmp_path):
    before = state(scene)
    capture = mod("capture")
    first = capture.capture_camera(tmp_path, param="start_image", scene=scene, width=64, height=48, frame="start")
    last = capture.capture_camera(tmp_path, param="end_image", scene=scene, width=64, height=48, frame="end")
    assert (first["frame"], last["frame"]) == (1, 10)
    assert first["camera"] == last["camera"] == "CamA"
    assert Path(first["path"]).name == "capture-start_image-camera.png"
    left, right = square_x(first["path"]), square_x(last["path"])
    assert left < 0.2 and right > 0.8, (left, right)  # x=-3 near the left edge, x=+3 near the right one
    assert state(scene) == before  # frame 5, CamA active, the square evaluated at frame 5 again

    numbered = capture.capture_camera(tmp_path, param="mid", scene=scene, width=64, height=48, frame=6)
    assert numbered["frame"] == 6 and 0.4 < square_x(numbered["path"]) < 0.7
    assert state(scene) == before


def test_a_named_camera_is_rendered_and_the_active_one_is_kept(scene, tmp_path):
    before = state(scene)
    capture = mod("capture")
    a = capture.capture_camera(tmp_path, param="a", scene=scene, width=64, height=48, frame=10, engine="WORKBENCH")
    b = capture.capture_camera(tmp_path, param="b", scene=scene, width=64, height=48, frame=10, camera="CamB")
    assert (a["camera"], b["camera"], b["frame"]) == ("CamA", "CamB", 10)
    assert square_x(b["path"]) < square_x(a["path"]) - 0.1  # CamB stands 2 m to the right: the square is further left
    depth = capture.capture_pass("depth", tmp_path, param="d", scene=scene, width=32, height=24, frame="end")
    assert (depth["camera"], depth["frame"]) == ("CamA", 10)
    assert state(scene) == before


def test_the_frame_comes_back_after_a_failure_and_a_cancel(scene, tmp_path, monkeypatch):
    before = state(scene)
    common = mod("capture_common")
    prep = mod("capture").prepare("camera", tmp_path, scene=scene, width=32, height=24, frame="end", camera="CamB")
    assert (scene.frame_current, scene.camera.name) == (10, "CamB")  # what the render job renders
    prep.close()  # Esc / a cancelled render job: CaptureRun.cancel closes the capture in progress
    assert state(scene) == before

    def broken(_scene, _layer):
        raise common.CaptureError("Blender could not render the scene; see the console for why.")

    monkeypatch.setattr(common, "render_scene", broken)
    for source in ("camera", "depth"):
        with pytest.raises(common.CaptureError, match="could not render"):
            mod("capture").capture(source, tmp_path, scene=scene, width=32, height=24, frame="start")
        assert state(scene) == before, source


def test_a_camera_run_cancelled_mid_render_puts_the_frame_back(gb, scene):
    session = gb.blender.running()
    job = mod("capture_job")
    sources = {"end_image": {"source": "camera", "scene": scene, "width": 32, "height": 24, "frame": "end"}}
    run = job.CaptureRun(session, {"task": "image", "inputs": {}}, sources, window=None, area=None)
    before = state(scene)
    param, options = run.pending.pop(0)
    source = options.pop("source")
    run.current = (param, {"source": source}, mod("capture").prepare(source, run.folder, param=param, **options))
    assert scene.frame_current == 10
    run.cancel()
    assert state(scene) == before


@pytest.mark.parametrize(
    ("frame", "says"),
    [(11, 'Frame 11 is outside the scene "FLF Cameras Test"\'s frames 1..10'), ("last", '"last" is no frame')],
)
def test_a_frame_outside_the_scene_is_refused_before_anything_changes(scene, tmp_path, frame, says):
    before = state(scene)
    with pytest.raises(mod("capture_common").CaptureError, match=says):
        mod("capture").capture_camera(tmp_path, scene=scene, width=32, height=24, frame=frame)
    with pytest.raises(mod("capture_common").CaptureError, match=r'no camera called "CamC" \(cameras: .*CamA'):
        mod("capture").capture_camera(tmp_path, scene=scene, width=32, height=24, camera="CamC", frame="end")
    assert state(scene) == before and not list(tmp_path.iterdir())


# -- through the Generate operator -----------------------------------------------------------------------------------


@contextlib.contextmanager
def shown(scene):
    assert bpy.context.window_manager.windows[0].scene == scene  # the fixture shows it
    try:
        yield
    finally:
        bpy.context.window_manager.genbridge_jobs.clear()


@contextlib.contextmanager
def services(gb, pump, *, comfyui: bool):
    """The add-on's session with either the ComfyUI stand-in or (only) the WanGP stand-in configured."""
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models
    from genbridge.standins.wan2gp import Wan2GPStandIn

    prefs = bpy.context.preferences.addons[PKG].preferences
    with contextlib.ExitStack() as stack:
        comfy = wan = None
        if comfyui:
            comfy = stack.enter_context(ComfyUIStandIn(models=bundled_models()).running_in_thread())
            urls = {"comfyui": comfy.url}
        else:
            wan = Wan2GPStandIn(contract="v2", step_delay=0.0)
            urls = {"wan2gp": stack.enter_context(wan.run_in_thread())}
        for service in ("comfyui", "wan2gp"):
            prefs.endpoints(service).clear()
            if service in urls:
                prefs.endpoints(service).add().url = urls[service]
        gb.blender.stop()
        session = gb.blender.start(PKG, gb.preferences.READERS)
        session.check_services()  # the loop thread imports its modules before anything renders
        pump(session, lambda: not session.services_checking, timeout=60)
        try:
            yield session, comfy, wan
        finally:
            gb.blender.stop()
            for service in ("comfyui", "wan2gp"):
                prefs.endpoints(service).clear()
            gb.blender.start(PKG, gb.preferences.READERS)


def flf_rows(scene, source: str = "PREVIEW") -> dict:
    settings = scene.genbridge
    settings.task, settings.template = "quick_preview", "wan21_flf2v"
    rows = {row.name: row for row in settings.params}
    rows["prompt"].string_value = "the square slides across"
    rows["start_image"].image_source = rows["end_image"].image_source = source
    rows["frames"].int_value, rows["steps"].int_value = 17, 1
    rows["width"].int_value, rows["height"].int_value = 64, 48
    return rows


def test_the_flf_template_defaults_to_scene_start_and_end(scene):
    with shown(scene):
        rows = flf_rows(scene)
    assert (rows["start_image"].image_frame, rows["end_image"].image_frame) == ("START", "END")
    assert rows["start_image"].image_camera is None  # empty: the scene's active camera


def finish(session, pump, job_id):
    pump(session, lambda: session.jobs[job_id]["state"] in ("done", "failed", "cancelled"), timeout=90)
    job = session.jobs[job_id]
    assert job["state"] == "done", job.get("error")
    return job, {record["param"]: record for record in job["captures"]}


def test_generate_captures_start_and_end_and_uploads_both_to_comfyui(gb, scene, editor, pump_until):
    before = state(scene)
    with shown(scene), services(gb, pump_until, comfyui=True) as (session, comfy, _wan):
        rows = flf_rows(scene)
        rows["end_image"].image_camera = scene.objects["CamB"]
        earlier = set(session.jobs)
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.generate(service="comfyui") == {"FINISHED"}
        assert state(scene) == before
        (job_id,) = set(session.jobs) - earlier
        job, records = finish(session, pump_until, job_id)
        start, end = records["start_image"], records["end_image"]
        assert (start["camera"], start["frame"], end["camera"], end["frame"]) == ("CamA", 1, "CamB", 10)
        assert square_x(start["path"]) < 0.2 < 0.6 < square_x(end["path"])
        uploaded = {p.read_bytes() for p in comfy.dirs["input"].rglob("*") if p.is_file()}
        assert {Path(r["path"]).read_bytes() for r in (start, end)} <= uploaded
        assert job["inputs"]["start_image"] == start["path"] and job["inputs"]["end_image"] == end["path"]
    from genbridge.ui.draw import capture_text

    assert capture_text(start).startswith("start_image: camera render of CamA, frame 1,")
    assert capture_text(end).startswith("end_image: camera render of CamB, frame 10,")


def test_generate_routed_to_wangp_sends_the_two_frames_as_image_start_and_image_end(gb, scene, editor, pump_until):
    with shown(scene), services(gb, pump_until, comfyui=False) as (session, _comfy, wan):
        flf_rows(scene)
        earlier = set(session.jobs)
        with editor("SEQUENCE_EDITOR"):
            assert bpy.ops.genbridge.generate() == {"FINISHED"}  # Auto: no ComfyUI, so WanGP
        (job_id,) = set(session.jobs) - earlier
        job, records = finish(session, pump_until, job_id)
        assert job["service"] == "wan2gp"
        (sent,) = wan.generate_calls()
        settings = sent["settings"]
        assert settings["image_prompt_type"] == "SE"
        for key, param in (("image_start", "start_image"), ("image_end", "end_image")):
            sent_bytes = Path(wan.gallery[settings[key]]["_path"]).read_bytes()
            assert sent_bytes == Path(records[param]["path"]).read_bytes(), key
        assert (records["start_image"]["frame"], records["end_image"]["frame"]) == (1, 10)


def test_the_sources_json_names_camera_and_frame_and_refuses_unknown_ones(gb, scene, editor, pump_until):
    import json

    with shown(scene), services(gb, pump_until, comfyui=True) as (session, _comfy, _wan):
        flf_rows(scene, source="NONE")
        earlier = set(session.jobs)
        sources = {
            "start_image": {"source": "PREVIEW", "camera": "CamB", "frame": 3},
            "end_image": {"source": "preview", "frame": "END"},
        }
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.generate(service="comfyui", sources=json.dumps(sources)) == {"FINISHED"}
            for wrong, says in (
                ({"start_image": {"source": "CAMERA", "camera": "CamC"}}, "'start_image': There is no camera called"),
                ({"end_image": {"source": "CAMERA", "frame": 40}}, "'end_image': Frame 40 is outside the scene"),
                ({"end_image": {"source": "FILE", "path": "a.png", "frame": 4}}, "a frame is chosen only for"),
            ):
                with pytest.raises(RuntimeError, match=says):
                    bpy.ops.genbridge.generate(service="comfyui", sources=json.dumps({**sources, **wrong}))
        (job_id,) = set(session.jobs) - earlier  # the refused ones queued nothing
        _job, records = finish(session, pump_until, job_id)
        start, end = records["start_image"], records["end_image"]
        assert (start["camera"], start["frame"], end["camera"], end["frame"]) == ("CamB", 3, "CamA", 10)

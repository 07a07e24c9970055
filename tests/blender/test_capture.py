"""Blender as the source, in real bpy: camera render, depth / normal / mist passes, object mask, Image Editor image
and Sequencer frame from a small scene (a near cube over a far plane, a camera looking down); pixel values checked;
each sent through the session as an uploaded ComfyUI input (ComfyUI stand-in on a thread) and a WanGP ticket upload
(WanGP stand-in), the job's record holding the capture's provenance."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import bpy
import numpy as np
import pytest

PKG = "bl_ext.user_default.genbridge"
SIZE = (64, 48)


def capture_module():
    return importlib.import_module(f"{PKG}.blender.capture")


@pytest.fixture
def scene(gb):
    """A scene of its own (the test session's other scenes stay untouched): cube at 8 m, plane at 20 m."""
    scene = bpy.data.scenes.new("Capture Test")
    made = []
    for name, size, z in (("Far", 40.0, -10.0), ("Near", 2.0, 1.0)):
        mesh = bpy.data.meshes.new(name)
        half = size / 2
        verts = [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)]
        mesh.from_pydata(verts, [], [(0, 1, 2, 3)])
        obj = bpy.data.objects.new(name, mesh)
        obj.location = (0, 0, z)
        scene.collection.objects.link(obj)
        made.append(obj)
    cam = bpy.data.objects.new("Shot Cam", bpy.data.cameras.new("Shot Cam"))
    cam.location = (0, 0, 9)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = 320, 240  # the capture uses the job's size instead
    scene.frame_current = 7
    yield scene
    for obj in (*made, cam):
        data = obj.data
        bpy.data.objects.remove(obj)
        if isinstance(data, bpy.types.Mesh):
            bpy.data.meshes.remove(data)
        else:
            bpy.data.cameras.remove(data)
    bpy.data.scenes.remove(scene)


def pixels(path: str) -> np.ndarray:
    """The PNG's stored values (0..1, row 0 = top), read back through Blender without colour management."""
    img = bpy.data.images.load(path, check_existing=False)
    try:
        img.colorspace_settings.name = "Non-Color"
        w, h = img.size
        buf = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(buf)
    finally:
        bpy.data.images.remove(img)
    return buf.reshape(h, w, 4)[::-1]


CENTRE, CORNER = (24, 32), (3, 3)  # the cube fills the centre; the far plane the corners


def test_camera_render_uses_the_jobs_size_and_keeps_the_scene_as_it_was(scene, tmp_path):
    record = capture_module().capture_camera(tmp_path, scene=scene, width=SIZE[0], height=SIZE[1], engine="WORKBENCH")
    assert Path(record["path"]).parent == tmp_path and Path(record["path"]).is_file()
    assert pixels(record["path"]).shape == (SIZE[1], SIZE[0], 4)
    assert {k: record[k] for k in ("source", "camera", "frame", "engine", "width", "height", "scene")} == {
        "source": "camera",
        "camera": "Shot Cam",
        "frame": 7,
        "engine": "BLENDER_WORKBENCH",
        "width": 64,
        "height": 48,
        "scene": "Capture Test",
    }
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.engine) == (
        320,
        240,
        bpy.data.scenes.new("Default Engine").render.engine,
    )


def test_depth_pass_is_white_near_and_dark_far_in_16_bit(scene, tmp_path):
    record = capture_module().capture_pass("depth", tmp_path, scene=scene, width=SIZE[0], height=SIZE[1], bit_depth=16)
    px = pixels(record["path"])
    assert px[CENTRE][0] == pytest.approx(1.0, abs=1e-3)  # the nearest surface is white
    assert px[CORNER][0] == pytest.approx(0.05, abs=2e-3)  # the farthest surface is dark but not background
    assert Path(record["path"]).read_bytes()[24] == 16  # IHDR bit depth
    assert (record["source"], record["bit_depth"], record["view_layer"]) == ("depth", 16, scene.view_layers[0].name)
    assert scene.view_layers[0].material_override is None and not scene.render.film_transparent


def test_normal_pass_faces_the_camera_and_mist_grows_with_distance(scene, tmp_path):
    cap = capture_module()
    normal = pixels(cap.capture_pass("normal", tmp_path, scene=scene, width=SIZE[0], height=SIZE[1])["path"])
    assert normal[CENTRE][:3] == pytest.approx([0.5, 0.5, 1.0], abs=0.01)  # facing the camera: (128, 128, 255)
    scene.world = bpy.data.worlds.new("Mist World")
    scene.world.mist_settings.start, scene.world.mist_settings.depth = 0.0, 20.0
    scene.world.mist_settings.falloff = "LINEAR"
    mist = pixels(cap.capture_pass("mist", tmp_path, scene=scene, width=SIZE[0], height=SIZE[1])["path"])
    assert mist[CENTRE][0] == pytest.approx(8 / 20, abs=0.01) and mist[CORNER][0] == pytest.approx(1.0, abs=0.01)


def test_object_mask_is_white_only_where_the_selected_object_is_seen(scene, tmp_path):
    record = capture_module().capture_pass(
        "mask", tmp_path, scene=scene, width=SIZE[0], height=SIZE[1], objects=["Near"]
    )
    px = pixels(record["path"])
    assert px[CENTRE][0] == 1.0 and px[CORNER][0] == 0.0
    assert set(np.unique(px[:, :, 0])) <= {0.0, 1.0}
    assert record["image"] == "Near"
    assert all(o.pass_index == 0 for o in scene.objects)  # the indices used for the mask were put back


@pytest.mark.parametrize(("kind", "bit_depth"), [("depth", 8), ("depth", 16), ("normal", 8), ("mist", 8), ("mask", 8)])
def test_without_numpy_each_pass_is_the_same_png(scene, tmp_path, monkeypatch, kind, bit_depth):
    """A Blender without numpy (Debian's 4.3.2) normalises and writes the pass in plain Python: the same values."""
    passes = importlib.import_module(f"{PKG}.blender.capture_passes")
    options = {"scene": scene, "width": SIZE[0], "height": SIZE[1], "bit_depth": bit_depth, "objects": ["Near"]}
    if kind != "mask":
        options.pop("objects")
    with_numpy = pixels(passes.capture_pass(kind, tmp_path / "numpy", **options)["path"])
    monkeypatch.setattr(passes, "_has_numpy", lambda: False)
    plain_path = passes.capture_pass(kind, tmp_path / "plain", **options)["path"]
    plain = pixels(plain_path)
    assert plain.shape == with_numpy.shape
    one_level = 1 / (65535 if bit_depth == 16 else 255)
    assert float(np.abs(plain - with_numpy).max()) <= one_level + 1e-6  # float32 vs float64 rounding at most
    assert Path(plain_path).read_bytes()[24] == bit_depth


def test_image_editor_image_is_sent_with_its_own_pixels(scene, tmp_path):
    image = bpy.data.images.new("Painted", 16, 8)
    image.generated_color = (1.0, 0.0, 0.0, 1.0)
    try:
        record = capture_module().capture_image(tmp_path, image="Painted", scene=scene)
        px = pixels(record["path"])
        assert px.shape == (8, 16, 4) and px[0, 0][:3] == pytest.approx([1.0, 0.0, 0.0])
        assert (record["source"], record["image"]) == ("image_editor", "Painted")
    finally:
        bpy.data.images.remove(image)


def test_sequencer_frame_under_the_playhead(scene, tmp_path):
    green = np.zeros((SIZE[1], SIZE[0], 3))
    green[:, :, 1] = 1.0
    capture_module().write_png(tmp_path / "green.png", green)
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strips.new_image("Green", str(tmp_path / "green.png"), channel=1, frame_start=5).frame_final_duration = 10
    record = capture_module().capture_sequencer(tmp_path / "job", scene=scene, width=SIZE[0], height=SIZE[1])
    r, g, b = pixels(record["path"])[CENTRE][:3]
    assert g > 0.5 and g > r + 0.2 and g > b + 0.2  # green through the scene view transform (AgX), as F12 saves it
    assert (record["source"], record["frame"]) == ("sequencer", 7)


def test_a_missing_camera_is_named_with_the_cameras_there_are(scene, tmp_path):
    cap = capture_module()
    with pytest.raises(cap.CaptureError, match=r'no camera called "Nope" \(cameras: .*Shot Cam'):
        cap.capture("camera", tmp_path, scene=scene, camera="Nope")


# ---------------------------------------------------------------------------------------------- to the servers


@contextlib.contextmanager
def standins_session(gb, pump):
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models
    from genbridge.standins.wan2gp import Wan2GPStandIn

    wan = Wan2GPStandIn(step_delay=0.0)
    with ComfyUIStandIn(models=bundled_models()).running_in_thread() as comfy, wan.run_in_thread() as wan_url:
        prefs = bpy.context.preferences.addons[PKG].preferences
        for service, url in (("comfyui", comfy.url), ("wan2gp", wan_url)):
            rows = prefs.endpoints(service)
            rows.clear()
            rows.add().url = url
        gb.blender.stop()
        session = gb.blender.start(PKG, gb.preferences.READERS)
        # Start the loop thread and let it import its modules before anything renders: once (4.5.15) the loop
        # thread compiling a module while Cycles rendered on the main thread crashed the process (see the report).
        session.check_services()
        pump(session, lambda: not session.services_checking, timeout=60)
        try:
            yield session, comfy, wan
        finally:
            gb.blender.stop()
            for service in ("comfyui", "wan2gp"):
                prefs.endpoints(service).clear()
            gb.blender.start(PKG, gb.preferences.READERS)


COMFY_CASES = [
    ("camera", "sd15_img2img", {"engine": "WORKBENCH"}),
    ("depth", "sd15_depth_controlnet", {}),
    ("normal", "sd15_img2img", {}),
    ("mask", "sd15_img2img", {"objects": ["Near"]}),
    ("image_editor", "flux_kontext_restyle", {"image": "Render Result"}),
    ("sequencer", "sd15_img2img", {}),
]


def test_each_capture_is_uploaded_to_comfyui_and_to_wan2gp_with_its_provenance(gb, scene, tmp_path, pump_until):
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    capture_module().write_png(tmp_path / "grey.png", np.full((SIZE[1], SIZE[0]), 0.5))
    strips.new_image("Grey", str(tmp_path / "grey.png"), channel=1, frame_start=1).frame_final_duration = 10
    with standins_session(gb, pump_until) as (session, comfy, wan):
        # Every capture is made before any job is queued: Blender rendering on the main thread while the loop thread
        # ran Python crashed bpy 4.5.15 twice in about ten runs (a segfault, see the report), which would end the
        # whole real-bpy suite. The operator test below queues one capture the way the panel does.
        specs = {}
        for source, template, options in COMFY_CASES:
            if source == "image_editor":  # a Render Result to read: render the camera once
                capture_module().capture_camera(tmp_path / "pre", scene=scene, width=SIZE[0], height=SIZE[1])
            if source != "sequencer":
                options = {**options, "width": SIZE[0], "height": SIZE[1]} if source != "image_editor" else options
            spec = {
                "task": "image",
                "template": template,
                "requested_service": "comfyui",
                "inputs": {"prompt": f"from the {source}", "seed": 1, "steps": 1},
            }
            specs[source] = session.with_captures(spec, {"image": {"source": source, "scene": scene, **options}})
        wan_spec = session.with_captures(
            {
                "task": "video",
                "requested_service": "wan2gp",
                "inputs": {"prompt": "push in", "model": "i2v_2_2", "frames": 17, "steps": 1},
            },
            {"start_image": {"source": "camera", "scene": scene, "width": 64, "height": 48, "engine": "WORKBENCH"}},
        )
        jobs = {source: session.submit(spec) for source, spec in specs.items()}
        wan_job = session.submit(wan_spec)
        every = [*jobs.values(), wan_job]
        done = ("done", "failed", "cancelled")
        pump_until(session, lambda: all(session.jobs[j]["state"] in done for j in every), timeout=120)
        uploaded = {p.read_bytes() for p in comfy.dirs["input"].rglob("*") if p.is_file()}
        for source, job_id in jobs.items():
            row = session.jobs[job_id]
            assert row["state"] == "done", (source, row.get("error"))
            (record,) = row["captures"]
            assert record["source"] == source and record["param"] == "image"
            assert Path(record["path"]).parent.name == f"image-{job_id}"  # in the job's own output folder
            assert Path(record["path"]).read_bytes() in uploaded  # exactly what was captured went up
            assert row["inputs"]["image"] == record["path"]
        assert session.jobs[jobs["camera"]]["captures"][0]["camera"] == "Shot Cam"
        assert session.jobs[jobs["depth"]]["captures"][0]["frame"] == 7
        row = session.jobs[wan_job]
        assert row["state"] == "done", row.get("error")
        (record,) = row["captures"]
        assert (record["param"], record["source"], record["camera"]) == ("start_image", "camera", "Shot Cam")
        gallery = {Path(item["_path"]).read_bytes() for item in wan.gallery.values() if item.get("_path")}
        assert Path(record["path"]).read_bytes() in gallery  # went up by upload ticket


def test_generate_from_the_depth_source_then_use_as_texture_and_camera_background(gb, scene, editor, pump_until):
    """What is checked on main, through the operators: Depth as the image source of the depth ControlNet template,
    Generate, the image lands; "Use as Texture" puts it on the cube; "Camera Background" shows it behind the camera."""
    window = bpy.context.window_manager.windows[0]
    before = window.scene
    window.scene = scene
    try:
        with standins_session(gb, pump_until) as (session, _comfy, _wan):
            earlier = set(session.jobs)  # other tests' jobs the restarted session took up from the journal
            with editor("VIEW_3D"):
                result = bpy.ops.genbridge.generate(
                    task="image",
                    template="sd15_depth_controlnet",
                    prompt="a stone cottage",
                    service="comfyui",
                    steps=1,
                    width=64,
                    height=64,
                    image_source="DEPTH",
                    result_name="From Depth",
                )
            assert result == {"FINISHED"}
            (job_id,) = set(session.jobs) - earlier
            pump_until(session, lambda: session.jobs[job_id]["state"] in ("done", "failed"), timeout=60)
            row = session.jobs[job_id]
            assert row["state"] == "done", row.get("error")
            (record,) = row["captures"]
            assert (record["source"], record["camera"], record["width"], record["height"]) == (
                "depth",
                "Shot Cam",
                64,
                64,
            )
            image = bpy.data.images["From Depth"]
        near = scene.objects["Near"]
        with editor("VIEW_3D"), bpy.context.temp_override(selected_objects=[near]):
            assert bpy.ops.genbridge.use_as_texture(image="From Depth") == {"FINISHED"}
        material = near.data.materials[0]
        assert [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE"] == [image]
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.camera_background(image="From Depth") == {"FINISHED"}
        assert scene.camera.data.show_background_images
        assert [b.image for b in scene.camera.data.background_images] == [image]
        bpy.data.images.remove(image)
        bpy.data.materials.remove(material)
    finally:
        window.scene = before
        bpy.context.window_manager.genbridge_jobs.clear()


def test_generate_refuses_a_capture_it_cannot_make_and_queues_nothing(gb, scene, editor):
    window = bpy.context.window_manager.windows[0]
    before = window.scene
    window.scene = scene
    session = gb.blender.running()
    jobs_before = set(session.jobs)
    try:
        with editor("VIEW_3D"), bpy.context.temp_override(selected_objects=[]):
            with pytest.raises(RuntimeError, match="Select the objects to mask"):
                bpy.ops.genbridge.generate(task="image", prompt="x", image_source="MASK", service="comfyui")
    finally:
        window.scene = before
    assert set(session.jobs) == jobs_before


def test_a_parameter_name_never_moves_the_capture_out_of_the_job_folder(scene, tmp_path):
    job = tmp_path / "job"
    record = capture_module().capture_camera(
        job, param="../../evil/x", scene=scene, width=16, height=16, engine="WORKBENCH"
    )
    assert Path(record["path"]).parent == job and record["param"] == "../../evil/x"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [Path(record["path"]).name]

"""The capture steps in real bpy: prepare / finish / close (the path the GUI's render job takes) restores the user's
settings whatever happens; the blocking path scripts take still works through `Generate` invoked without a window;
the viewport source says what to do in background mode; the step runner (`CaptureRun`) writes quick captures into
the job's folder and, cancelled, removes them and queues nothing. The render job itself runs only in the GUI
(tests/gui)."""

from __future__ import annotations

import importlib
from pathlib import Path

import bpy
import pytest

pytestmark = pytest.mark.usefixtures("idle_loop")  # steps CaptureRuns by hand: see the fixture

PKG = "bl_ext.user_default.genbridge"


def mod(name: str):
    return importlib.import_module(f"{PKG}.blender.{name}")


@pytest.fixture
def scene(gb, quad_under_camera):
    return quad_under_camera("Quad", "Job Cam")


def settings_of(scene) -> dict:
    render, layer = scene.render, scene.view_layers[0]
    return {
        "engine": render.engine,
        "size": (render.resolution_x, render.resolution_y, render.resolution_percentage),
        "film_transparent": render.film_transparent,
        "override": layer.material_override,
        "camera": scene.camera.name,
    }


def test_a_prepared_pass_changes_the_scene_only_until_closed_and_cleans_up(scene, tmp_path):
    before = settings_of(scene)
    materials = set(bpy.data.materials.keys())
    prep = mod("capture").prepare("depth", tmp_path, scene=scene, width=32, height=24)
    assert (scene.render.engine, scene.render.resolution_x, scene.render.resolution_y) == ("CYCLES", 32, 24)
    assert scene.view_layers[0].material_override is not None  # the render job would see exactly this
    prep.close()
    assert settings_of(scene) == before
    assert set(bpy.data.materials.keys()) == materials
    prep.close()  # a second close (cancel after a failure) changes nothing
    assert settings_of(scene) == before


def test_settings_come_back_when_the_render_fails(scene, tmp_path, monkeypatch):
    common = mod("capture_common")
    before, materials = settings_of(scene), set(bpy.data.materials.keys())

    def broken(_scene, _layer):
        raise common.CaptureError("Blender could not render the scene; see the console for why.")

    monkeypatch.setattr(common, "render_scene", broken)
    for source in ("camera", "depth", "mask", "normal"):
        extra = {"objects": ["Quad"]} if source == "mask" else {}
        with pytest.raises(common.CaptureError, match="could not render"):
            mod("capture").capture(source, tmp_path, scene=scene, width=40, height=30, **extra)
        assert settings_of(scene) == before, source
        assert set(bpy.data.materials.keys()) == materials, source
    assert not list(tmp_path.iterdir())


def test_settings_come_back_when_writing_the_file_fails(scene, tmp_path):
    before = settings_of(scene)
    prep = mod("capture").prepare("camera", tmp_path, scene=scene, width=40, height=30, engine="WORKBENCH")
    with pytest.raises(AttributeError):
        prep.finish(None)  # no Render Result to save: the finish step fails
    prep.close()
    assert settings_of(scene) == before


def test_the_blocking_path_renders_in_place_with_the_same_result(scene, tmp_path):
    record = mod("capture").capture("camera", tmp_path, scene=scene, width=40, height=30, engine="WORKBENCH")
    assert Path(record["path"]).is_file() and (record["width"], record["height"]) == (40, 30)
    assert record["engine"] == "BLENDER_WORKBENCH" and record["camera"] == "Job Cam"
    assert scene.render.resolution_percentage == 50


def test_the_viewport_needs_a_3d_view_on_screen(scene, tmp_path):
    cap = mod("capture")
    with pytest.raises(cap.CaptureError) as err:
        cap.capture("viewport", tmp_path, scene=scene, width=40, height=30)
    assert str(err.value) == "Viewport capture needs a 3D View on screen; use Camera or Preview in scripts."
    assert cap.prepare("viewport", tmp_path) is None  # made at once in the GUI, never as a render job
    assert not list(tmp_path.iterdir())


def test_generate_with_the_viewport_source_in_background_queues_nothing(gb, scene, editor):
    window = bpy.context.window_manager.windows[0]
    before, window.scene = window.scene, scene
    session = gb.blender.running()
    jobs_before = set(session.jobs)
    try:
        with editor("VIEW_3D"), pytest.raises(RuntimeError, match="Viewport capture needs a 3D View on screen"):
            bpy.ops.genbridge.generate("INVOKE_DEFAULT", task="image", prompt="x", image_source="VIEWPORT")
    finally:
        window.scene = before
    assert set(session.jobs) == jobs_before


def test_invoked_without_a_window_generate_captures_in_place_and_queues(gb, scene, editor, tmp_path):
    """The bpy module has no event loop for a modal: INVOKE_DEFAULT (what buttons and F3 use) takes the blocking
    path, so scripts that invoke the operator keep working."""
    window = bpy.context.window_manager.windows[0]
    before, window.scene = window.scene, scene
    session = gb.blender.running()
    jobs_before = set(session.jobs)
    try:
        with editor("VIEW_3D"):
            result = bpy.ops.genbridge.generate(
                "INVOKE_DEFAULT", task="image", prompt="x", image_source="PREVIEW", width=64, height=64
            )
    finally:
        window.scene = before
    assert result == {"FINISHED"}
    (job_id,) = set(session.jobs) - jobs_before
    folder = session.job_folder("image", job_id)
    assert (folder / "capture-image-camera.png").is_file()
    assert not bpy.app.is_job_running("RENDER")
    session.cancel(job_id)


def test_a_capture_run_writes_quick_captures_into_the_jobs_folder_and_a_cancel_removes_them(gb, scene):
    image = bpy.data.images.new("Run Source", 8, 8)
    session = gb.blender.running()
    job = mod("capture_job")
    spec = {"task": "image", "inputs": {"prompt": "x"}}
    sources = {"image": {"source": "image_editor", "image": "Run Source"}, "ref": {"source": "image_editor"}}
    try:
        run = job.CaptureRun(session, spec, sources, window=None, area=None)
        assert run.status() == "GenBridge: capturing the Image Editor's image for 'image' (1 of 2) — Esc to cancel"
        assert run.step() is False  # one capture per step
        (record,) = run.records
        assert Path(record["path"]).parent == run.folder and Path(record["path"]).is_file()
        assert "(2 of 2)" in run.status()
        run.cancel()
        assert not Path(record["path"]).exists() and not run.folder.exists()
        run = job.CaptureRun(session, spec, {"image": sources["image"]}, window=None, area=None)
        assert run.step() is True
        queued = run.spec()
        assert queued["id"] == run.job_id and queued["inputs"]["image"] == run.records[0]["path"]
        assert queued["captures"] == run.records and queued["inputs"]["prompt"] == "x"
    finally:
        bpy.data.images.remove(image)


def test_starting_a_render_leaves_the_render_window_preference_and_its_dirty_flag_as_they_were(gb):
    prefs = bpy.context.preferences
    before = (prefs.view.render_display_type, prefs.is_dirty)
    with mod("capture_job").render_kept_in_ui():
        assert prefs.view.render_display_type == "NONE"
    assert (prefs.view.render_display_type, prefs.is_dirty) == before


@pytest.mark.parametrize("source", ["camera", "depth"])
def test_the_file_the_render_job_writes_is_where_the_capture_expects_it(gb, scene, source):
    """The render job writes the capture's file in its own thread (`write_still`): run that render here (blocking,
    the same write) and check Blender wrote exactly the file the run waits for, which finishing moves in place."""
    session = gb.blender.running()
    job = mod("capture_job")
    run = job.CaptureRun(session, {"task": "image", "inputs": {}}, {}, window=None, area=None)
    before = {
        **settings_of(scene),
        "filepath": scene.render.filepath,
        "format": scene.render.image_settings.file_format,
    }
    options = {"engine": "WORKBENCH"} if source == "camera" else {}
    prep = mod("capture").prepare(source, run.folder, scene=scene, width=40, height=30, **options)
    try:
        expected = job.written_by_the_job(prep)
        with session.runtime.held_still(), bpy.context.temp_override(scene=scene):  # as the run holds it
            assert bpy.ops.render.render(write_still=True, scene=scene.name) == {"FINISHED"}
        assert expected is not None and expected.is_file(), sorted(p.name for p in expected.parent.iterdir())
        record = prep.finish(expected)
    finally:
        prep.close()
    assert Path(record["path"]).is_file() and not expected.exists()
    assert (record["width"], record["height"]) == (40, 30)
    after = {**settings_of(scene), "filepath": scene.render.filepath, "format": scene.render.image_settings.file_format}
    assert after == before
    run.records = [record]
    run.cancel()


def test_the_status_names_the_camera_and_frame_a_capture_was_given(gb, scene):
    """Two captures of a first-last-frame job differ only by camera and frame: the status bar tells them apart."""
    job = mod("capture_job")
    assert job.where({"source": "camera"}) == ""
    assert job.where({"source": "camera", "camera": "CamB", "frame": 250}) == " of CamB at frame 250"
    run = job.CaptureRun(
        gb.blender.running(),
        {"task": "video", "inputs": {"prompt": "x"}},
        {"end_image": {"source": "camera", "engine": "WORKBENCH", "camera": "CamB", "frame": 250}},
        window=None,
        area=None,
    )
    try:
        assert (
            run.status() == "GenBridge: capturing preview of CamB at frame 250 for 'end_image' (1 of 1) — Esc to cancel"
        )
    finally:
        run.cancel()


def test_a_capture_waits_tick_by_tick_for_the_loop_to_park_and_lets_it_go_after(gb, scene, monkeypatch):
    """bpy crashed when the loop thread imported a module while Blender rendered: the modal never captures while
    the loop is still busy (e.g. starting the job service), and never blocks waiting for it either."""
    Park = importlib.import_module(f"{PKG}.runtime.loop").Park

    bpy.data.images.new("Park Source", 8, 8)
    session = gb.blender.running()
    park = Park()
    monkeypatch.setattr(session.runtime, "request_park", lambda: park)
    job = mod("capture_job")
    spec = {"task": "image", "inputs": {"prompt": "x"}}
    run = job.CaptureRun(
        session, spec, {"image": {"source": "image_editor", "image": "Park Source"}}, window=None, area=None
    )
    try:
        assert run.step() is False and run.step() is False  # not parked: nothing captured, asked again next tick
        assert run.records == [] and len(run.pending) == 1 and not park.released.is_set()
        park.parked.set()
        assert run.step() is True
        assert len(run.records) == 1 and park.released.is_set()  # the loop runs again as soon as it is made
    finally:
        run.cancel()

"""First-last frame from Blender to WanGP (real bpy): the bundled wan21_flf2v template with two images, routed by
the router to the WanGP stand-in (no ComfyUI configured), uploads both and sends image_end with flags "SE"; the clip
lands as a movie strip."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


def png(path: Path, color: tuple[float, float, float, float]) -> str:
    picture = bpy.data.images.new(path.stem, 16, 16)
    picture.pixels[:] = list(color) * (16 * 16)
    picture.filepath_raw = str(path)
    picture.file_format = "PNG"
    picture.save()
    bpy.data.images.remove(picture)
    return str(path)


@pytest.fixture
def flf_scene(gb, restart_session, tmp_path):
    from genbridge.standins.wan2gp import Wan2GPStandIn

    standin = Wan2GPStandIn(contract="v2", output_dir=tmp_path / "wan2gp", step_delay=0.01)
    prefs = bpy.context.preferences.addons[PKG].preferences
    window = bpy.context.window_manager.windows[0]
    previous, scene = window.scene, bpy.data.scenes.new("GenBridge FLF test")
    window.scene = scene
    with standin.run_in_thread() as url:
        for service in ("comfyui", "wan2gp"):
            prefs.endpoints(service).clear()
        prefs.endpoints("wan2gp").add().url = url
        try:
            yield restart_session(None), standin, scene
        finally:
            prefs.endpoints("wan2gp").clear()
            bpy.context.window_manager.genbridge_jobs.clear()
            window.scene = previous
            bpy.data.scenes.remove(scene)


def test_the_flf_template_goes_to_wangp_with_its_end_image(flf_scene, editor, pump_until, tmp_path):
    session, standin, scene = flf_scene
    first = png(tmp_path / "first.png", (1.0, 0.0, 0.0, 1.0))
    last = png(tmp_path / "last.png", (0.0, 0.0, 1.0, 1.0))
    settings = scene.genbridge
    settings.task, settings.template = "quick_preview", "wan21_flf2v"  # service on Auto: the router prefers WanGP
    rows = {row.name: row for row in settings.params}
    rows["prompt"].string_value = "a dolly move from the red frame to the blue one"
    rows["start_image"].image_source, rows["start_image"].image_path = "FILE", first
    rows["end_image"].image_source, rows["end_image"].image_path = "FILE", last
    rows["frames"].int_value, rows["steps"].int_value = 17, 1
    with editor("SEQUENCE_EDITOR"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
    (job_id,) = session.jobs
    pump_until(session, lambda: session.jobs[job_id].get("state") in ("done", "failed"), timeout=60)
    job = session.jobs[job_id]
    assert job["state"] == "done", job.get("error")
    assert job["service"] == "wan2gp" and job["plan"][0]["service"] == "wan2gp"
    (sent,) = standin.generate_calls()
    settings_sent = sent["settings"]
    assert settings_sent["model_type"] == "flf2v_720p" and settings_sent["image_prompt_type"] == "SE"
    for key, path in (("image_start", first), ("image_end", last)):
        assert Path(standin.gallery[settings_sent[key]]["_path"]).read_bytes() == Path(path).read_bytes()
    assert set(job["chosen"]) >= {"start_image", "end_image", "frames", "steps", "prompt"}
    pump_until(session, lambda: scene.sequence_editor is not None and len(_strips(scene)) == 1, timeout=30)
    assert _strips(scene)[0].type == "MOVIE"


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)
